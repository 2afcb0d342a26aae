//! The backend interface.
//!
//! A backend takes a BPF ELF object, loads it somewhere (the Linux kernel, an
//! in-process eBPF VM, eBPF for Windows) and then serves attach requests, map
//! operations and event polling on it. Backends know nothing about WebAssembly:
//! the ABI layer translates guest pointers into the byte slices used here.

mod error;
mod events;
mod map;
pub mod target;

use std::fmt;
use std::time::Duration;

pub use error::{one_line, BackendError, Errno, Result};
pub use events::EventBatch;
pub use map::{MapHandle, MapInfo, MapKind, MapOps};
pub use target::{Escaped, TargetError};

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

/// Changes to make to an object between open and load, decided by the
/// selector from what the host can do. Empty means load as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadPlan {
    /// Ring buffer maps to create as perf event arrays instead (the compat
    /// header's fallback on hosts without ring buffers).
    pub ringbuf_to_perf: Vec<String>,
    /// Maps not to create (the compat heap where ring buffers exist).
    pub skip_maps: Vec<String>,
    /// Programs not to load.
    pub skip_programs: Vec<String>,
    /// Kernel BTF to resolve CO-RE against instead of the running kernel's
    /// (a masked copy, so existence checks see masked features missing).
    pub btf_custom_path: Option<std::path::PathBuf>,
    /// How tc classifiers are attached.
    pub tc_attach: TcAttach,
}

/// How the kernel backend attaches tc classifiers (`sched_cls` programs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcAttach {
    /// A tcx link (`BPF_LINK_CREATE`, kernel 6.6+): the kernel detaches it
    /// when its last fd closes, however the process ends.
    Link,
    /// A netlink filter on a clsact qdisc. The kernel keeps it after the
    /// process dies, so a guardian process removes it after a hard exit.
    /// The default: it works on every kernel with tc.
    #[default]
    Netlink,
}

impl TcAttach {
    pub fn name(self) -> &'static str {
        match self {
            TcAttach::Link => "tcx link",
            TcAttach::Netlink => "netlink filter",
        }
    }
}

impl LoadPlan {
    pub fn is_empty(&self) -> bool {
        *self == LoadPlan::default()
    }
}

/// Something that can load BPF objects.
pub trait Backend {
    fn kind(&self) -> BackendKind;

    /// Opens a complete BPF ELF object, applies `plan`, and loads it. The
    /// object stays loaded until the returned value is dropped, which also
    /// detaches every link it owns.
    fn load_object(&mut self, elf: &[u8], plan: &LoadPlan) -> Result<Box<dyn LoadedObject>>;
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
        wake: std::os::fd::BorrowedFd<'_>,
        out: &mut EventBatch,
    ) -> Result<()>;
}
