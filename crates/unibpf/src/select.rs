//! Between the guest's load call and the backend: probe the host (once per
//! runtime), let the selector decide for the object, prepare what the plan
//! needs (a masked kernel BTF, a raised memlock limit), explain, then load.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use unibpf_backend::{Backend, BackendError, BackendKind, Errno, LoadPlan, LoadedObject};
use unibpf_host::{HostReport, KernelVersion, Mask};
use unibpf_object::BpfObject;
use unibpf_select::{BackendChoice, HostFeatures, Selection};

/// Receives `--explain` lines.
pub type ExplainSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Selection settings, shared by every module of a runtime.
#[derive(Clone, Default)]
pub(crate) struct SelectConfig {
    pub(crate) choice: BackendChoice,
    pub(crate) mask: Mask,
    pub(crate) explain: Option<ExplainSink>,
}

/// What the runtime learns once and reuses for every object.
#[derive(Default)]
pub(crate) struct HostState {
    report: OnceLock<Arc<HostReport>>,
    /// Masked copies of the kernel BTF, by the types they hide.
    masked_btf: Mutex<Vec<(Vec<String>, tempfile::TempPath)>>,
    memlock_raised: OnceLock<()>,
}

impl HostState {
    fn report(&self, mask: &Mask) -> Arc<HostReport> {
        self.report
            .get_or_init(|| Arc::new(HostReport::probe(mask)))
            .clone()
    }

    /// A copy of the running kernel's BTF with `types` renamed away.
    fn masked_btf(&self, types: &[String]) -> Result<PathBuf, String> {
        let mut cache = self.masked_btf.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, path)) = cache.iter().find(|(t, _)| t == types) {
            return Ok(path.to_path_buf());
        }
        let source = "/sys/kernel/btf/vmlinux";
        let bytes = std::fs::read(source).map_err(|e| format!("reading {source}: {e}"))?;
        let names: Vec<&str> = types.iter().map(String::as_str).collect();
        let hidden = unibpf_object::btf::hide_types(&bytes, &names).map_err(|e| e.to_string())?;
        let mut file = tempfile::Builder::new()
            .prefix("unibpf-masked-btf-")
            .tempfile()
            .map_err(|e| format!("creating a masked BTF file: {e}"))?;
        file.write_all(&hidden)
            .map_err(|e| format!("writing the masked BTF: {e}"))?;
        let path = file.into_temp_path();
        let out = path.to_path_buf();
        cache.push((types.to_vec(), path));
        Ok(out)
    }
}

/// The host report, as the selector asks about it.
struct HostView<'a>(&'a HostReport);

impl HostFeatures for HostView<'_> {
    fn missing(&self, feature: &str) -> Option<String> {
        self.0
            .feature(feature)
            .filter(|f| !f.available)
            .map(|f| f.detail.clone())
    }

    fn masked(&self, feature: &str) -> bool {
        self.0.feature(feature).is_some_and(|f| f.masked)
    }

    fn min_kernel(&self, feature: &str) -> Option<String> {
        unibpf_host::min_kernel(feature).map(|k| format!("{}.{}", k.major, k.minor))
    }

    fn tracepoint_exists(&self, category: &str, name: &str) -> Option<bool> {
        let events = [
            "/sys/kernel/tracing/events",
            "/sys/kernel/debug/tracing/events",
        ]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.is_dir())?;
        Some(events.join(category).join(name).is_dir())
    }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
const MEMCG_ACCOUNTING: KernelVersion = KernelVersion::new(5, 11, 0);

pub(crate) struct SelectingBackend {
    pub(crate) inner: Box<dyn Backend>,
    pub(crate) config: SelectConfig,
    pub(crate) host: Arc<HostState>,
}

impl SelectingBackend {
    /// A decision goes to the explain sink when there is one, else to the
    /// info log; never both, or `--explain -v` would print each twice.
    fn explain(&self, line: &str) {
        match &self.config.explain {
            Some(sink) => sink(line),
            None => tracing::info!("{line}"),
        }
    }

    fn prepare(&self, sel: &Selection, report: &HostReport) -> Result<LoadPlan, BackendError> {
        let mut plan = sel.plan.clone();
        if !sel.hide_kernel_types.is_empty() {
            let path = self
                .host
                .masked_btf(&sel.hide_kernel_types)
                .map_err(|e| BackendError::new(Errno::EIO, format!("masking kernel BTF: {e}")))?;
            plan.btf_custom_path = Some(path);
        }
        let kernel = report.assumed_kernel.or(report.facts.kernel.version);
        if kernel.is_some_and(|k| k < MEMCG_ACCOUNTING) && self.host.memlock_raised.get().is_none()
        {
            use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
            let (soft, hard) =
                getrlimit(Resource::RLIMIT_MEMLOCK).unwrap_or((RLIM_INFINITY, RLIM_INFINITY));
            let why = "kernels before 5.11 charge BPF maps to it";
            let line = if soft == RLIM_INFINITY {
                format!("RLIMIT_MEMLOCK is already unlimited ({why})")
            } else if setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY).is_ok() {
                format!("RLIMIT_MEMLOCK raised to unlimited: {why}")
            } else if soft < hard && setrlimit(Resource::RLIMIT_MEMLOCK, hard, hard).is_ok() {
                format!(
                    "RLIMIT_MEMLOCK raised to its hard limit, {} KiB: {why}",
                    hard / 1024
                )
            } else {
                format!(
                    "RLIMIT_MEMLOCK stays at {} KiB: raising it needs CAP_SYS_RESOURCE ({why})",
                    soft / 1024
                )
            };
            self.explain(&line);
            let _ = self.host.memlock_raised.set(());
        }
        Ok(plan)
    }
}

impl Backend for SelectingBackend {
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }

    fn load_object(
        &mut self,
        elf: &[u8],
        _plan: &LoadPlan,
    ) -> unibpf_backend::Result<Box<dyn LoadedObject>> {
        if self.inner.kind() != BackendKind::Kernel {
            // The selector knows the kernel's requirements only; other
            // backends take objects as they are until they declare theirs.
            return self.inner.load_object(elf, &LoadPlan::default());
        }
        let report = self.host.report(&self.config.mask);
        let object = match BpfObject::parse(elf) {
            Ok(o) => o,
            // libbpf has the last word on what it can open.
            Err(e) => {
                tracing::warn!("cannot read the object for selection ({e}); loading it as it is");
                let plan = LoadPlan {
                    tc_attach: unibpf_select::tc_attach(&HostView(&report)).0,
                    ..LoadPlan::default()
                };
                return self.inner.load_object(elf, &plan);
            }
        };
        // Without the privilege every probe fails alike: name that cause,
        // not the first feature that happened to be probed.
        let only_socket_filters = object
            .programs
            .iter()
            .all(|p| p.section == "socket" || p.section.starts_with("socket/"));
        if let Some(why) = report.facts.privileges.bpf_denied(only_socket_filters) {
            return Err(BackendError::new(Errno::EPERM, why));
        }
        let tracepoints = object
            .programs
            .iter()
            .any(|p| p.section.starts_with("tp/") || p.section.starts_with("tracepoint/"));
        if tracepoints && unibpf_backend_kernel::ensure_tracefs() {
            self.explain("mounted tracefs at /sys/kernel/tracing: tracepoint programs need it");
        }
        let available = [self.inner.kind()];
        let sel =
            unibpf_select::select(&object, &HostView(&report), self.config.choice, &available)
                .map_err(|e| BackendError::new(Errno::EOPNOTSUPP, e.to_string()))?;
        let plan = self.prepare(&sel, &report)?;
        for line in &sel.explain {
            self.explain(line);
        }
        self.inner.load_object(elf, &plan)
    }
}
