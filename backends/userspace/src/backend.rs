//! The userspace backend: objects loaded into the in-process VM, their
//! programs attached to hooks that need no kernel eBPF.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use unibpf_backend::{
    wait_readable, AttachTarget, Backend, BackendError, BackendKind, Errno, EventBatch,
    HostFeatures, LoadRequest, LoadedObject, MapHandle, Program, ProgramDesc, Result, Unsupported,
    Wake,
};

use unibpf_object::{Hook, ProgramSection};

use crate::helpers::ids;
use crate::hooks::packet::{PacketHook, PacketHooks};
use crate::hooks::process::{ProcessHook, ProcessHooks};
use crate::hooks::syscalls;
use crate::hooks::uprobe;
use crate::load::{self, Kconfig};
use crate::maps::MapLimits;
use crate::object::{ObjectCore, UserMapOps};

/// Runs objects in the in-process VM. Process hooks act on the target of
/// the [`ProcessHooks`] it is given (shared by a module's objects); packet
/// hooks on the interfaces programs attach to.
pub struct UserspaceBackend {
    hooks: Arc<ProcessHooks>,
    packets: Arc<PacketHooks>,
    limits: MapLimits,
    next_owner: usize,
}

impl UserspaceBackend {
    pub fn new(hooks: Arc<ProcessHooks>) -> Self {
        Self {
            hooks,
            packets: Arc::default(),
            limits: MapLimits::default(),
            next_owner: 0,
        }
    }
}

/// How a packet program runs here, for `--explain`.
fn packet_explain(hook: PacketHook) -> String {
    let what = match hook {
        PacketHook::Xdp => "XDP on copies of the frames the interface receives",
        // The target may name the other direction.
        PacketHook::Tc { .. } => "tc classifier on copies of the frames of its direction",
        PacketHook::Socket => "socket filter on copies of the frames of both directions",
    };
    format!(
        "{what}, from an AF_PACKET socket on the interface it attaches to (needs \
         CAP_NET_RAW); verdicts are observed and counted, not enforced"
    )
}

/// How a program of this section runs here, or why it cannot.
/// `target` is where the guest attaches it (None: where the section says).
fn hook_of(
    section: &ProgramSection,
    target: Option<&str>,
) -> std::result::Result<ProcessHook, Unsupported> {
    let refuse = |hook: String| Unsupported::Hook {
        backend: BackendKind::Userspace,
        hook,
    };
    let not_convertible = |what: &str, why: String| Unsupported::NotConvertible {
        missing: format!("{what} has no source without kernel eBPF"),
        why,
    };
    match section.hook {
        Hook::Tracepoint => {
            let (category, name) = match target {
                Some(t) => t.split_once('/').unwrap_or(("", t)),
                None => section
                    .tracepoint()
                    .ok_or_else(|| refuse(format!("{} without a tracepoint name", section.name)))?,
            };
            ProcessHook::of_tracepoint(category, name).map_err(|why| {
                // A syscall this architecture lacks (open, rmdir on arm64)
                // has no tracepoint in its kernel either: answer as the
                // kernel backend does, so that a program marked optional
                // is left out here too.
                let syscall = name
                    .strip_prefix("sys_enter_")
                    .or_else(|| name.strip_prefix("sys_exit_"));
                match syscall {
                    Some(n) if category == "syscalls" && syscalls::number(n).is_none() => {
                        Unsupported::NoTracepoint {
                            category: category.into(),
                            name: name.into(),
                        }
                    }
                    _ => not_convertible(&format!("tracepoint {category}/{name}"), why),
                }
            })
        }
        Hook::Uprobe {
            ret, multi: false, ..
        } => {
            let target = target.or(section.target.as_deref()).ok_or_else(|| {
                refuse(format!(
                    "{} without a target: attach it to BINARY:FUNCTION",
                    section.name
                ))
            })?;
            let point = uprobe::resolve(target)
                .map_err(|why| not_convertible(&format!("uprobe {target}"), why))?;
            Ok(ProcessHook::Uprobe { point, ret })
        }
        // uprobe.multi (a pattern of functions) is not resolved here yet;
        // packet hooks are not process hooks (see PacketHook).
        Hook::Uprobe { .. } => Err(refuse(format!(
            "{} programs ({}) yet",
            section.kind_word(),
            section.name
        ))),
        _ => Err(refuse(format!(
            "{} programs ({}): they have no source outside the kernel",
            section.kind_word(),
            section.name
        ))),
    }
}

fn probe_description(ret: bool, target: &str) -> String {
    let kind = if ret { "uretprobe" } else { "uprobe" };
    format!("{kind} on {target} by breakpoints in the traced processes")
}

/// How [`UserspaceBackend::supports`] describes a hook it can serve.
fn describe(hook: &ProcessHook, section: &ProgramSection) -> String {
    let target = section.target.as_deref().unwrap_or("");
    match hook {
        ProcessHook::SysEnter(_) | ProcessHook::SysExit(_) => {
            format!("tracepoint {target} by ptrace and seccomp on the traced processes")
        }
        ProcessHook::Uprobe { ret, .. } => probe_description(*ret, target),
        _ => format!("tracepoint {target} by ptrace events on the traced processes"),
    }
}

impl Backend for UserspaceBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Userspace
    }

    fn supports(
        &self,
        program: &Program,
        _host: &dyn HostFeatures,
    ) -> std::result::Result<String, Unsupported> {
        if let Some(hook) = PacketHook::of_section(&program.section) {
            return Ok(packet_explain(hook));
        }
        let description = match program.section.hook {
            // The guest names the function at attach: resolved then.
            Hook::Uprobe {
                multi: false, ret, ..
            } if program.section.target.is_none() => {
                probe_description(ret, "the function named at attach")
            }
            _ => describe(&hook_of(&program.section, None)?, &program.section),
        };
        if !self.hooks.has_target() {
            return Err(Unsupported::NotConvertible {
                missing: "no process to trace".into(),
                why: "the userspace backend traces the processes it is given: run with \
                      --cmd 'COMMAND ARGS' or --pid PID"
                    .into(),
            });
        }
        Ok(description)
    }

    fn load_object(&mut self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedObject>> {
        let btf = crate::emulated::btf::parsed();
        let image = load::load(request.elf, request.object, btf, &HostKconfig)
            .map_err(|e| BackendError::new(Errno::EINVAL, e.to_string()))?;
        let skipped = |name: &str| request.plan.skip_programs.iter().any(|s| s == name);
        if let Some((name, why)) = image.refused.iter().find(|(n, _)| !skipped(n)) {
            return Err(BackendError::new(
                Errno::EOPNOTSUPP,
                format!("program {name} cannot run in userspace: {why}"),
            ));
        }
        for p in &image.poisoned {
            tracing::debug!(
                "CO-RE: {} at {}+{} is not emulated; the program fails if it runs there",
                p.what,
                p.section,
                p.insn
            );
        }
        let core = Arc::new(ObjectCore::new(&image, &self.limits)?);
        for p in core.programs.iter().filter(|p| !skipped(&p.name)) {
            check_helpers(p)?;
        }
        self.next_owner += 1;
        Ok(Box::new(UserObject {
            core,
            owner: self.next_owner,
            hooks: Arc::clone(&self.hooks),
            packets: Arc::clone(&self.packets),
            skipped: request.plan.skip_programs.clone(),
        }))
    }
}

/// An unsupported helper is named at load time, as the kernel's verifier
/// would, not when the program first calls it.
fn check_helpers(p: &crate::object::UserProgram) -> Result<()> {
    let poison = load::POISON_HELPER as u32;
    match p
        .helper_ids()
        .into_iter()
        .find(|h| *h != poison && !ids::SUPPORTED.contains(h))
    {
        Some(h) => Err(BackendError::new(
            Errno::EOPNOTSUPP,
            format!(
                "program {} calls {}, which the userspace backend does not provide",
                p.name,
                ids::describe(h)
            ),
        )),
        None => Ok(()),
    }
}

/// `.kconfig` values userspace can know: the kernel version.
struct HostKconfig;

impl Kconfig for HostKconfig {
    fn value(&self, name: &str) -> Option<u64> {
        match name {
            "LINUX_KERNEL_VERSION" => kernel_version(),
            _ => None,
        }
    }
}

/// `KERNEL_VERSION(a, b, c)` of the running kernel.
fn kernel_version() -> Option<u64> {
    let uname = nix::sys::utsname::uname().ok()?;
    let release = uname.release().to_string_lossy().into_owned();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next()?,
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    Some(a << 16 | b << 8 | c.min(255))
}

/// An object loaded into the VM.
pub struct UserObject {
    core: Arc<ObjectCore>,
    owner: usize,
    hooks: Arc<ProcessHooks>,
    packets: Arc<PacketHooks>,
    /// Programs the selector left out here (optional ones whose
    /// tracepoint this host lacks): attaching one does nothing, as with
    /// the kernel backend.
    skipped: Vec<String>,
}

impl LoadedObject for UserObject {
    fn programs(&self) -> Vec<ProgramDesc> {
        self.core
            .programs
            .iter()
            .map(|p| ProgramDesc {
                name: p.name.clone(),
                section: p.section.name.clone(),
            })
            .collect()
    }

    fn attach(&mut self, program: &str, target: AttachTarget<'_>) -> Result<()> {
        if self.skipped.iter().any(|p| p == program) {
            tracing::warn!("program {program} was left out on this host; not attaching it");
            return Ok(());
        }
        let index = self
            .core
            .programs
            .iter()
            .position(|p| p.name == program)
            .ok_or_else(|| BackendError::new(Errno::ENOENT, format!("no program {program}")))?;
        let p = &self.core.programs[index];
        if let Some(hook) = PacketHook::of_section(&p.section) {
            return self.attach_packet(index, hook, target);
        }
        let named = match target {
            AttachTarget::Auto => None,
            AttachTarget::Named(t) => Some(t),
        };
        let hook = hook_of(&p.section, named)
            .map_err(|e| BackendError::new(Errno::EOPNOTSUPP, format!("{program}: {e}")))?;
        self.hooks
            .attach(self.owner, &self.core, index, hook)
            .map_err(|why| BackendError::new(Errno::EINVAL, format!("{program}: {why}")))
    }

    fn map_by_name(&mut self, name: &str) -> Result<MapHandle> {
        let (index, id, info) = self
            .core
            .map_by_name(name)
            .ok_or_else(|| BackendError::new(Errno::ENOENT, format!("no map {name}")))?;
        Ok(MapHandle {
            id,
            info,
            ops: Rc::new(UserMapOps {
                core: Arc::clone(&self.core),
                index,
                hooks: Some(Arc::clone(&self.hooks)),
            }),
        })
    }

    fn poll_events(
        &mut self,
        map_id: i32,
        timeout: Option<Duration>,
        wake: Wake<'_>,
        out: &mut EventBatch,
    ) -> Result<()> {
        if let Err(why) = self.hooks.release() {
            return Err(BackendError::new(Errno::ESRCH, why));
        }
        let index = self
            .core
            .map_index(map_id)
            .ok_or_else(|| BackendError::new(Errno::EBADF, format!("no event map {map_id}")))?;
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            // Armed before the look: a record queued after it wakes us.
            self.core.wake.arm();
            self.core
                .drain(index, out)
                .map_err(|e| BackendError::new(e, "not an event map"))?;
            if !out.is_empty() {
                return Ok(());
            }
            if wait_readable(&[wake], Some(Duration::ZERO)) {
                return Err(BackendError::new(Errno::EINTR, "interrupted"));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Ok(());
            }
            if wait_readable(&[self.core.wake.wake(), wake], left) {
                self.core.wake.clear();
            }
        }
    }
}

impl UserObject {
    /// Attaches packet program `index` to the interface `target` names.
    fn attach_packet(
        &mut self,
        index: usize,
        hook: PacketHook,
        target: AttachTarget<'_>,
    ) -> Result<()> {
        let p = &self.core.programs[index];
        let AttachTarget::Named(target) = target else {
            return Err(BackendError::new(
                Errno::EINVAL,
                format!(
                    "program {}: {} programs attach to a network interface the module names \
                     (bpf_set_prog_attach_target); it named none",
                    p.name,
                    hook.words()
                ),
            ));
        };
        p.section.check_target(target).map_err(|e| {
            BackendError::new(
                Errno::EINVAL,
                format!("program {}: {e}", unibpf_backend::Escaped(&p.name)),
            )
        })?;
        let (ifname, hook) = hook.at(target);
        self.packets
            .attach(self.owner, &self.core, index, hook, ifname)
    }
}

impl Drop for UserObject {
    fn drop(&mut self) {
        self.hooks.detach_all(self.owner);
        self.packets.detach_all(self.owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syscall tracepoint for a syscall this architecture lacks is
    /// absent, as the kernel backend reports it, so `UNIBPF_OPTIONAL`
    /// programs (opensnoop's `open` on arm64) are left out, not fatal.
    #[test]
    fn a_syscall_this_arch_lacks_is_a_missing_tracepoint() {
        let section = ProgramSection::parse("tracepoint/syscalls/sys_enter_no_such_call")
            .expect("a tracepoint section");
        match hook_of(&section, None) {
            Err(Unsupported::NoTracepoint { category, name }) => {
                assert_eq!(
                    (category.as_str(), name.as_str()),
                    ("syscalls", "sys_enter_no_such_call")
                );
            }
            other => panic!("{other:?}"),
        }
        let openat = ProgramSection::parse("tracepoint/syscalls/sys_exit_openat").expect("openat");
        assert!(matches!(
            hook_of(&openat, None),
            Ok(ProcessHook::SysExit(Some(_)))
        ));
        let other = ProgramSection::parse("tracepoint/sched/sched_switch").expect("sched_switch");
        assert!(matches!(
            hook_of(&other, None),
            Err(Unsupported::NotConvertible { .. })
        ));
    }
}
