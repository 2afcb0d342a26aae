//! The data path between a guest's load call and a backend: read the object
//! once, let the selector pick the backend and the rewriting passes, apply
//! them, prepare what they need from the host (a kernel BTF, a raised memlock
//! limit), explain each decision, and load.
//!
//! The ABI calls this through [`unibpf_backend::Loader`]; backends never
//! call back into it.

mod host;

use std::sync::Arc;

use unibpf_backend::{
    Backend, BackendError, BackendKind, Errno, LoadRequest, Loaded, Loader, Result,
};
use unibpf_host::{HostReport, Mask};
use unibpf_object::{BpfObject, Hook};
use unibpf_select::{passes, BackendChoice, Selection};

pub use host::HostState;

/// Receives `--explain` lines.
pub type ExplainSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How a runtime's pipelines decide, shared by every module.
#[derive(Clone, Default)]
pub struct PipelineConfig {
    pub choice: BackendChoice,
    pub mask: Mask,
    pub explain: Option<ExplainSink>,
}

/// One module's pipeline: its own backend instances, the runtime's
/// settings and host knowledge.
pub struct Pipeline {
    backends: Vec<Box<dyn Backend>>,
    config: PipelineConfig,
    host: Arc<HostState>,
}

impl Pipeline {
    /// `backends` in order of preference (the selector takes the first that
    /// can run an object).
    pub fn new(
        backends: Vec<Box<dyn Backend>>,
        config: PipelineConfig,
        host: Arc<HostState>,
    ) -> Self {
        Self {
            backends,
            config,
            host,
        }
    }

    /// A decision goes to the explain sink when there is one, else to the
    /// info log; never both, or `--explain -v` would print each twice.
    fn explain(&self, line: &str) {
        match &self.config.explain {
            Some(sink) => sink(line),
            None => tracing::info!("{line}"),
        }
    }

    fn select(&self, object: &BpfObject, report: &HostReport) -> Result<Selection> {
        let backends: Vec<&dyn Backend> = self.backends.iter().map(|b| &**b).collect();
        let selected = unibpf_select::select(object, report, self.config.choice, &backends);
        // Without the privilege every kernel probe fails alike: name that
        // cause, not the first feature that happened to be probed.
        let kernel = matches!(&selected, Ok(s) if s.backend == BackendKind::Kernel);
        if kernel || selected.is_err() {
            let only_socket_filters = object
                .programs
                .iter()
                .all(|p| matches!(p.section.hook, Hook::SocketFilter));
            let could_be_kernel = self
                .backends
                .iter()
                .any(|b| b.kind() == BackendKind::Kernel);
            if could_be_kernel {
                if let Some(why) = report.facts.privileges.bpf_denied(only_socket_filters) {
                    return Err(BackendError::new(Errno::EPERM, why));
                }
            }
        }
        selected.map_err(|e| BackendError::new(Errno::EOPNOTSUPP, e.to_string()))
    }
}

impl Loader for Pipeline {
    fn load(&mut self, elf: &[u8]) -> Result<Loaded> {
        // Only objects the runtime can read go anywhere: what it checks
        // (sections, attach places) it must be able to see.
        let object = BpfObject::parse(elf).map_err(|e| {
            BackendError::new(Errno::EINVAL, format!("cannot read the BPF object: {e}"))
        })?;
        let report = self.host.report(&self.config.mask);
        let tracepoints = object
            .programs
            .iter()
            .any(|p| matches!(p.section.hook, Hook::Tracepoint));
        if tracepoints && unibpf_host::tracefs::ensure_mounted() {
            self.explain("mounted tracefs at /sys/kernel/tracing: tracepoint programs need it");
        }
        let selection = self.select(&object, &report)?;
        let mut prepared = passes::apply_all(elf, &selection.passes)
            .map_err(|e| BackendError::new(Errno::EINVAL, e.to_string()))?;
        if !prepared.hide_kernel_types.is_empty() {
            let path = self
                .host
                .masked_btf(&prepared.hide_kernel_types)
                .map_err(|e| BackendError::new(Errno::EIO, format!("masking kernel BTF: {e}")))?;
            prepared.plan.btf_custom_path = Some(path);
        }
        if selection.backend == BackendKind::Kernel {
            if let Some(line) = self.host.raise_memlock(&report) {
                self.explain(&line);
            }
        }
        for line in &selection.explain {
            self.explain(line);
        }
        // Passes that rewrote bytes changed what the object holds.
        let object = if prepared.elf == elf {
            object
        } else {
            BpfObject::parse(&prepared.elf)
                .map_err(|e| BackendError::new(Errno::EINVAL, format!("the adapted object: {e}")))?
        };
        let backend = self
            .backends
            .iter_mut()
            .find(|b| b.kind() == selection.backend)
            .ok_or_else(|| BackendError::new(Errno::EINVAL, "the selected backend vanished"))?;
        let request = LoadRequest {
            elf: &prepared.elf,
            object: &object,
            plan: &prepared.plan,
        };
        Ok(Loaded {
            object: backend.load_object(&request)?,
            backend: selection.backend,
        })
    }
}
