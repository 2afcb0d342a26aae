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

use crate::helpers::ids;
use crate::hooks::Hooks;
use crate::load::{self, Kconfig};
use crate::maps::MapLimits;
use crate::object::{ObjectCore, UserMapOps};

/// Runs objects in the in-process VM, their programs on the [`Hooks`] of
/// this OS: on Linux, process hooks act on the target of the
/// `ProcessHooks` it is given (shared by a module's objects) and packet
/// hooks on the interfaces programs attach to; elsewhere there are none
/// yet, so it loads objects and serves their maps but attaches nothing.
pub struct UserspaceBackend {
    hooks: Arc<Hooks>,
    limits: MapLimits,
    next_owner: usize,
}

impl UserspaceBackend {
    /// A backend whose process hooks act on `hooks`' target.
    #[cfg(target_os = "linux")]
    pub fn new(hooks: Arc<crate::ProcessHooks>) -> Self {
        Self::with_hooks(Hooks::new(hooks))
    }

    fn with_hooks(hooks: Hooks) -> Self {
        Self {
            hooks: Arc::new(hooks),
            limits: MapLimits::default(),
            next_owner: 0,
        }
    }
}

impl Default for UserspaceBackend {
    /// No process to trace (on Linux, attaching a process hook says how
    /// to name one).
    fn default() -> Self {
        Self::with_hooks(Hooks::default())
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
        self.hooks.supports(&program.section)
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

/// `KERNEL_VERSION(a, b, c)` of the running kernel; elsewhere there is
/// no Linux kernel to name.
#[cfg(not(target_os = "linux"))]
fn kernel_version() -> Option<u64> {
    None
}

/// `KERNEL_VERSION(a, b, c)` of the running kernel.
#[cfg(target_os = "linux")]
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
    hooks: Arc<Hooks>,
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
        self.hooks.attach(self.owner, &self.core, index, target)
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

impl Drop for UserObject {
    fn drop(&mut self) {
        self.hooks.detach_all(self.owner);
    }
}
