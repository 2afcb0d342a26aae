//! The backend interface.
//!
//! A backend takes a BPF ELF object, loads it somewhere (the Linux kernel, an
//! in-process eBPF VM, eBPF for Windows) and then serves attach requests, map
//! operations and event polling on it. Backends know nothing about WebAssembly:
//! the ABI layer translates guest pointers into the byte slices used here.

mod error;
mod escape;
mod events;
pub mod feature;
mod map;
mod plan;
mod wait;

use std::fmt;
use std::time::Duration;

pub use error::{one_line, BackendError, Errno, Result};
pub use escape::Escaped;
pub use events::EventBatch;
pub use feature::{Feature, Group, HostFeatures, UnknownFeature};
pub use map::{MapHandle, MapInfo, MapKind, MapOps};
pub use plan::{KprobeAsFentry, LoadPlan, TcAttach};
pub use unibpf_object::{BpfObject, Program, ProgramSection};
pub use wait::{wait_readable, Event, Wake};

/// Which backend runs an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// The host kernel's eBPF, through libbpf.
    Kernel,
    /// An eBPF VM inside the unibpf process.
    Userspace,
    /// eBPF for Windows (ebpfapi.dll).
    Windows,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Kernel => "kernel",
            BackendKind::Userspace => "userspace",
            BackendKind::Windows => "windows",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where to attach a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachTarget<'a> {
    /// Derive everything from the program's section name.
    Auto,
    /// A target whose meaning depends on the program type: a cgroup path for
    /// cgroup and sockops programs, an interface name for XDP and tc, a function
    /// for kprobes, `BINARY:FUNCTION` for uprobes.
    Named(&'a str),
}

impl<'a> AttachTarget<'a> {
    /// Upstream passes either NULL or an empty string to mean "auto".
    pub fn from_guest(target: Option<&'a str>) -> Self {
        match target {
            None | Some("") => AttachTarget::Auto,
            Some(t) => AttachTarget::Named(t),
        }
    }
}

/// A program inside a loaded object, as the backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramDesc {
    pub name: String,
    pub section: String,
}

/// An object ready to load: its bytes after the pipeline's passes, what
/// they hold (read once, by the pipeline), and what to change as it loads.
#[derive(Debug, Clone, Copy)]
pub struct LoadRequest<'a> {
    pub elf: &'a [u8],
    pub object: &'a BpfObject,
    pub plan: &'a LoadPlan,
}

/// Why a backend cannot run a program here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// The backend runs this kind of program, but the host lacks a feature.
    #[error("needs {} (kernel {}.{}+), which this host lacks: {why}", .feature.short_name(), .feature.min_kernel().0, .feature.min_kernel().1)]
    MissingFeature { feature: Feature, why: String },
    /// The kernel verifies this kind of program against its own BTF, which
    /// it lacks; BTF from anywhere else cannot stand in for it.
    #[error("needs the kernel's own BTF (/sys/kernel/btf/vmlinux), which this kernel lacks: the kernel checks {hook} programs against it, so BTF from elsewhere cannot stand in")]
    NeedsKernelBtf { hook: String },
    /// The tracepoint the section names does not exist on this host.
    #[error("tracepoint {category}/{name} does not exist on this host")]
    NoTracepoint { category: String, name: String },
    /// A program whose mechanism the host lacks, which cannot be converted
    /// to one the host has; `why` says which and why not.
    #[error("{missing}; {why}")]
    NotConvertible { missing: String, why: String },
    /// The backend does not run this kind of program at all.
    #[error("the {backend} backend does not run {hook}")]
    Hook { backend: BackendKind, hook: String },
}

/// Something that can load BPF objects.
pub trait Backend {
    fn kind(&self) -> BackendKind;

    /// Whether this backend can run `program` on this host; Ok says how
    /// (`tracepoint sched/sched_switch`), for `--explain`.
    fn supports(
        &self,
        program: &Program,
        host: &dyn HostFeatures,
    ) -> std::result::Result<String, Unsupported>;

    /// Loads the object, applying the request's plan. It stays loaded until
    /// the returned value is dropped, which also detaches every link it owns.
    fn load_object(&mut self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedObject>>;
}

/// What the ABI loads objects through: the pipeline that reads an object,
/// picks a backend, adapts the object and loads it.
pub trait Loader {
    fn load(&mut self, elf: &[u8]) -> Result<Loaded>;
}

/// An object a [`Loader`] loaded, and on which backend.
pub struct Loaded {
    pub object: Box<dyn LoadedObject>,
    pub backend: BackendKind,
}

/// A loaded object. Dropping it detaches its links, frees its pollers and closes
/// its maps and programs.
pub trait LoadedObject {
    fn programs(&self) -> Vec<ProgramDesc>;

    /// Attaches the named program. The link belongs to this object.
    fn attach(&mut self, program: &str, target: AttachTarget<'_>) -> Result<()>;

    /// The map called `name`, with an id the guest can use to name it later.
    fn map_by_name(&mut self, name: &str) -> Result<MapHandle>;

    /// Waits up to `timeout` (forever when `None`) for records on the event map
    /// `map_id` (a ring buffer or perf event array of this object), and appends
    /// every available record to `out`, in order. Once `wake` is readable it
    /// does not wait: it hands over the records already there, or returns
    /// `EINTR` when there are none.
    fn poll_events(
        &mut self,
        map_id: i32,
        timeout: Option<Duration>,
        wake: Wake<'_>,
        out: &mut EventBatch,
    ) -> Result<()>;
}

/// Loads every object on one backend as it is: no selection, no passes.
/// For tests and embedders that choose the backend themselves; the runtime
/// loads through its pipeline.
pub struct DirectLoader {
    backend: Box<dyn Backend>,
}

impl DirectLoader {
    pub fn new(backend: Box<dyn Backend>) -> Self {
        Self { backend }
    }
}

impl Loader for DirectLoader {
    fn load(&mut self, elf: &[u8]) -> Result<Loaded> {
        let object = BpfObject::parse(elf).map_err(|e| {
            BackendError::new(Errno::EINVAL, format!("cannot read the BPF object: {e}"))
        })?;
        let plan = LoadPlan::default();
        let request = LoadRequest {
            elf,
            object: &object,
            plan: &plan,
        };
        Ok(Loaded {
            object: self.backend.load_object(&request)?,
            backend: self.backend.kind(),
        })
    }
}
