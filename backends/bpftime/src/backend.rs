//! A backend (the kernel one, in the loader bpftime's syscall server
//! serves) that starts the target at the module's first poll or map read.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use unibpf_backend::{
    AttachTarget, Backend, BackendError, BackendKind, Errno, EventBatch, HostFeatures, LoadRequest,
    LoadedObject, MapHandle, MapOps, Program, ProgramDesc, Result, Unsupported,
};

use unibpf_object::Hook;

use crate::Launcher;

/// `inner`, with the target started by `launcher` once the module
/// consumes: by then it has attached what it wanted, and the agent finds
/// it in the shared memory when it starts.
pub struct BpftimeBackend {
    inner: Box<dyn Backend>,
    launcher: Arc<Launcher>,
}

impl BpftimeBackend {
    pub fn new(inner: Box<dyn Backend>, launcher: Arc<Launcher>) -> Self {
        Self { inner, launcher }
    }
}

/// Whether `program` hooks syscalls (served by the agent transformer).
fn hooks_syscalls(program: &Program) -> bool {
    let target = program.section.target.as_deref().unwrap_or("");
    match program.section.hook {
        Hook::Tracepoint => target.starts_with("syscalls/") || target.starts_with("raw_syscalls/"),
        Hook::RawTracepoint { .. } => target.starts_with("sys_"),
        Hook::Ksyscall { .. } => true,
        _ => false,
    }
}

impl Backend for BpftimeBackend {
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }

    fn supports(
        &self,
        program: &Program,
        host: &dyn HostFeatures,
    ) -> std::result::Result<String, Unsupported> {
        self.inner.supports(program, host)
    }

    fn load_object(&mut self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedObject>> {
        let inner = self.inner.load_object(request)?;
        if request.object.programs.iter().any(hooks_syscalls) {
            self.launcher.need_syscall_trace();
        }
        Ok(Box::new(Loaded {
            inner,
            launcher: Arc::clone(&self.launcher),
        }))
    }
}

struct Loaded {
    inner: Box<dyn LoadedObject>,
    launcher: Arc<Launcher>,
}

fn release(launcher: &Launcher) -> Result<()> {
    launcher
        .release()
        .map_err(|why| BackendError::new(Errno::ESRCH, why))
}

impl LoadedObject for Loaded {
    fn programs(&self) -> Vec<ProgramDesc> {
        self.inner.programs()
    }

    fn attach(&mut self, program: &str, target: AttachTarget<'_>) -> Result<()> {
        self.inner.attach(program, target)
    }

    fn map_by_name(&mut self, name: &str) -> Result<MapHandle> {
        let mut handle = self.inner.map_by_name(name)?;
        handle.ops = Rc::new(ReleasingOps {
            inner: handle.ops,
            launcher: Arc::clone(&self.launcher),
        });
        Ok(handle)
    }

    fn poll_events(
        &mut self,
        map_id: i32,
        timeout: Option<Duration>,
        wake: std::os::fd::BorrowedFd<'_>,
        out: &mut EventBatch,
    ) -> Result<()> {
        release(&self.launcher)?;
        self.inner.poll_events(map_id, timeout, wake, out)
    }
}

/// Map operations that start the target before the first read (writes
/// are set-up, done before attaching).
struct ReleasingOps {
    inner: Rc<dyn MapOps>,
    launcher: Arc<Launcher>,
}

impl ReleasingOps {
    fn release(&self) -> std::result::Result<(), Errno> {
        // The launcher logs why; a map call carries only an errno.
        self.launcher.release().map_err(|_| Errno::ESRCH)
    }
}

impl MapOps for ReleasingOps {
    fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> std::result::Result<(), Errno> {
        self.release()?;
        self.inner.lookup(key, value, flags)
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> std::result::Result<(), Errno> {
        self.inner.update(key, value, flags)
    }

    fn delete(&self, key: &[u8], flags: u64) -> std::result::Result<(), Errno> {
        self.inner.delete(key, flags)
    }

    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> std::result::Result<(), Errno> {
        self.release()?;
        self.inner.next_key(key, next)
    }
}
