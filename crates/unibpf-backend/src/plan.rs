//! What the pipeline tells a backend to change as it loads an object.

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
    /// kprobe programs to load and attach as fentry (fexit) programs;
    /// their register reads were already pointed at the fentry context.
    pub kprobes_as_fentry: Vec<KprobeAsFentry>,
}

/// A kprobe program to run as an fentry program on `function`, or as an
/// fexit program for a kretprobe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KprobeAsFentry {
    pub program: String,
    pub function: String,
    pub exit: bool,
}

impl KprobeAsFentry {
    /// The section the program would have had as an fentry program.
    pub fn section(&self) -> String {
        let kind = if self.exit { "fexit" } else { "fentry" };
        format!("{kind}/{}", self.function)
    }
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
