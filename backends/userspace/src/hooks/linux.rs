//! The hooks of the userspace backend on Linux: which programs they serve
//! and how, and attaching programs to them.

use std::sync::Arc;

use unibpf_backend::{AttachTarget, BackendError, BackendKind, Errno, Result, Unsupported};
use unibpf_object::{Hook, ProgramSection};

use super::packet::{PacketHook, PacketHooks};
use super::process::{ProcessHook, ProcessHooks};
use super::syscalls;
use super::uprobe;
use crate::object::ObjectCore;

/// The hooks a backend's objects attach to: the processes of its
/// [`ProcessHooks`] and the interfaces programs name.
pub struct Hooks {
    process: Arc<ProcessHooks>,
    packets: PacketHooks,
}

impl Default for Hooks {
    /// No process to trace: attaching a process hook says how to name one.
    fn default() -> Self {
        Self::new(Arc::new(ProcessHooks::new(None)))
    }
}

impl Hooks {
    pub fn new(process: Arc<ProcessHooks>) -> Self {
        Self {
            process,
            packets: PacketHooks::default(),
        }
    }

    /// How a program of `section` runs here (for `--explain`), or why it
    /// cannot.
    pub fn supports(&self, section: &ProgramSection) -> std::result::Result<String, Unsupported> {
        if let Some(hook) = PacketHook::of_section(section) {
            return Ok(packet_explain(hook));
        }
        let description = match section.hook {
            // The guest names the function at attach: resolved then.
            Hook::Uprobe {
                multi: false, ret, ..
            } if section.target.is_none() => probe_description(ret, "the function named at attach"),
            _ => describe(&hook_of(section, None)?, section),
        };
        if !self.process.has_target() {
            return Err(Unsupported::NotConvertible {
                missing: "no process to trace".into(),
                why: "the userspace backend traces the processes it is given: run with \
                      --cmd 'COMMAND ARGS' or --pid PID"
                    .into(),
            });
        }
        Ok(description)
    }

    /// Attaches program `index` of `core` (an object `owner` loaded) to
    /// the hook its section names, or to `target`.
    pub fn attach(
        &self,
        owner: usize,
        core: &Arc<ObjectCore>,
        index: usize,
        target: AttachTarget<'_>,
    ) -> Result<()> {
        self.attach_any(owner, core, index, target)
            .inspect(|()| self.process.note_attach())
    }

    fn attach_any(
        &self,
        owner: usize,
        core: &Arc<ObjectCore>,
        index: usize,
        target: AttachTarget<'_>,
    ) -> Result<()> {
        let p = &core.programs[index];
        if let Some(hook) = PacketHook::of_section(&p.section) {
            return self.attach_packet(owner, core, index, hook, target);
        }
        let named = match target {
            AttachTarget::Auto => None,
            AttachTarget::Named(t) => Some(t),
        };
        let program = &p.name;
        let hook = hook_of(&p.section, named)
            .map_err(|e| BackendError::new(Errno::EOPNOTSUPP, format!("{program}: {e}")))?;
        self.process
            .attach(owner, core, index, hook)
            .map_err(|why| BackendError::new(Errno::EINVAL, format!("{program}: {why}")))
    }

    /// Lets the traced processes run (see [`ProcessHooks::release`]).
    pub fn release(&self) -> std::result::Result<(), String> {
        self.process.release()
    }

    /// Detaches everything `owner` attached.
    pub fn detach_all(&self, owner: usize) {
        self.process.detach_all(owner);
        self.packets.detach_all(owner);
    }

    /// Attaches packet program `index` to the interface `target` names.
    fn attach_packet(
        &self,
        owner: usize,
        core: &Arc<ObjectCore>,
        index: usize,
        hook: PacketHook,
        target: AttachTarget<'_>,
    ) -> Result<()> {
        let p = &core.programs[index];
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
        self.packets.attach(owner, core, index, hook, ifname)
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
