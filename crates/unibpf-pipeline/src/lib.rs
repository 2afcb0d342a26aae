//! The data path between a guest's load call and a backend: read the object
//! once, let the selector pick the backend and the rewriting passes, apply
//! them, prepare what they need from the host (a kernel BTF, a raised memlock
//! limit), explain each decision, and load.
//!
//! The ABI calls this through [`unibpf_backend::Loader`]; backends never
//! call back into it.

mod host;
mod variant;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use unibpf_backend::{
    Backend, BackendError, BackendKind, Errno, LoadRequest, Loaded, Loader, Result,
};
use unibpf_host::{HostReport, Mask};
use unibpf_object::btf_ext::CoreObject;
use unibpf_object::{BpfObject, Hook};
use unibpf_select::{passes, BackendChoice, Selection};
use unibpf_variants::Platform;

pub use host::HostState;

/// Receives `--explain` lines.
pub type ExplainSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How a runtime's pipelines decide, shared by every module.
#[derive(Clone, Default)]
pub struct PipelineConfig {
    pub choice: BackendChoice,
    pub mask: Mask,
    pub explain: Option<ExplainSink>,
    /// Where kernel BTF comes from when the kernel has none.
    pub btf: unibpf_btf::Settings,
}

/// One module's pipeline: its own backend instances, the runtime's
/// settings and host knowledge, and the module (for BTF it bundles).
pub struct Pipeline {
    backends: Vec<Box<dyn Backend>>,
    config: PipelineConfig,
    host: Arc<HostState>,
    wasm: Arc<[u8]>,
    /// Where this module's kernel BTF came from, once looked up (a bundled
    /// entry's file lives as long as this).
    btf: Option<Result<unibpf_btf::Located, unibpf_btf::NotFound>>,
}

impl Pipeline {
    /// `backends` in order of preference (the selector takes the first that
    /// can run an object); `wasm` is the module, which may bundle BTF.
    pub fn new(
        backends: Vec<Box<dyn Backend>>,
        config: PipelineConfig,
        host: Arc<HostState>,
        wasm: Arc<[u8]>,
    ) -> Self {
        Self {
            backends,
            config,
            host,
            wasm,
            btf: None,
        }
    }

    /// The kernel BTF CO-RE resolves against, as a path for libbpf: None
    /// when the kernel's own will do (libbpf reads it itself). Looked up
    /// once per module, in the order `unibpf btf status` shows; `required`
    /// when the object has CO-RE relocations, which fail without it.
    fn kernel_btf(&mut self, report: &HostReport, required: bool) -> Result<Option<CustomBtf>> {
        if self.config.btf.user_file.is_none() && report.facts.btf.kernel_btf {
            return Ok(None);
        }
        if self.btf.is_none() {
            let kernel = unibpf_btf::KernelId::of_this_host().ok();
            let mut lines = Vec::new();
            let found = unibpf_btf::locate(
                &self.config.btf,
                kernel.as_ref(),
                Some(&self.wasm),
                &mut |line| lines.push(line.to_string()),
            );
            for line in &lines {
                self.explain(line);
            }
            if let Ok(located) = &found {
                self.explain(&format!(
                    "CO-RE: against BTF from {} ({})",
                    located.step(),
                    located.path().display()
                ));
            }
            self.btf = Some(found);
        }
        match &self.btf {
            Some(Ok(located)) => Ok(located.custom_path().map(|p| CustomBtf {
                path: p.to_path_buf(),
                full_file_in_cache: matches!(
                    located.step(),
                    unibpf_btf::Step::Cache | unibpf_btf::Step::Download
                ),
            })),
            Some(Err(not_found)) if required => {
                Err(BackendError::new(Errno::ENOENT, not_found.to_string()))
            }
            _ => Ok(None),
        }
    }

    /// For a full kernel BTF from the cache (or just downloaded into it),
    /// its min-core for this object, which libbpf reads far faster; the
    /// full file when that cannot be made (the reason is logged).
    fn min_core_of_cached(&self, custom: CustomBtf, elf: &[u8]) -> PathBuf {
        if !custom.full_file_in_cache {
            return custom.path;
        }
        let derived = unibpf_btf::Cache::open(self.config.btf.cache_dir.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|cache| {
                unibpf_btf::derived_min_core(cache.dir(), &custom.path, elf)
                    .map_err(|e| e.to_string())
            });
        match derived {
            Ok(path) => {
                self.explain(&format!(
                    "CO-RE: its min-core for this object ({})",
                    path.display()
                ));
                path
            }
            Err(why) => {
                tracing::debug!("no min-core of {}: {why}", custom.path.display());
                custom.path
            }
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

    /// When auto selection found no backend (`none_fits`), why each one
    /// besides the kernel's cannot run `object` either, as
    /// "; the userspace backend cannot run it either: ...": the kernel's
    /// reason alone would hide what the fallback lacks.
    fn others_refuse(&self, object: &BpfObject, report: &HostReport, none_fits: bool) -> String {
        if !none_fits || !matches!(self.config.choice, BackendChoice::Auto) {
            return String::new();
        }
        self.backends
            .iter()
            .filter(|b| b.kind() != BackendKind::Kernel)
            .filter_map(|b| {
                let only: [&dyn Backend; 1] = [&**b];
                unibpf_select::select(object, report, BackendChoice::Forced(b.kind()), &only)
                    .err()
                    .map(|e| {
                        // The kernel's reason already named the program.
                        let e = e.to_string();
                        let why = e
                            .strip_prefix("program ")
                            .and_then(|rest| rest.split_once(": "))
                            .map_or(e.as_str(), |(_, why)| why);
                        format!("; the {} backend cannot run it either: {why}", b.kind())
                    })
            })
            .collect()
    }

    /// The platform whose own variant of each object is loaded: the one
    /// of the backend the choice prefers (on Windows, eBPF for Windows
    /// cannot load Linux objects). None where Linux objects load as they
    /// are.
    fn variant_platform(&self) -> Option<Platform> {
        let preferred = match self.config.choice {
            BackendChoice::Auto => self.backends.first(),
            BackendChoice::Forced(kind) => self.backends.iter().find(|b| b.kind() == kind),
        }?;
        variant::platform_of(preferred.kind())
    }

    fn select(&self, object: &BpfObject, report: &HostReport) -> Result<Selection> {
        let backends: Vec<&dyn Backend> = self.backends.iter().map(|b| &**b).collect();
        let selected = unibpf_select::select(object, report, self.config.choice, &backends);
        // On Windows without eBPF for Windows nothing runs an object's
        // programs: name that, not what each backend lacks.
        let efw_may_run = matches!(
            self.config.choice,
            BackendChoice::Auto | BackendChoice::Forced(BackendKind::Windows)
        );
        if selected.is_err() && efw_may_run {
            if let Some(why) = report
                .facts
                .ebpf_for_windows
                .as_ref()
                .and_then(|e| e.missing())
            {
                return Err(BackendError::new(Errno::EOPNOTSUPP, why));
            }
        }
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
                .any(|b| b.kind() == BackendKind::Kernel)
                && matches!(
                    self.config.choice,
                    BackendChoice::Auto | BackendChoice::Forced(BackendKind::Kernel)
                );
            if could_be_kernel {
                if let Some(why) = report.facts.privileges.bpf_denied(only_socket_filters) {
                    let others = self.others_refuse(object, report, selected.is_err());
                    return Err(BackendError::new(Errno::EPERM, format!("{why}{others}")));
                }
            }
        }
        // Only when bpf() itself is refused (above) do the other backends'
        // reasons follow the kernel's: otherwise the kernel's reason is the
        // one to act on, and repeating each fallback's is noise.
        let mut selected =
            selected.map_err(|e| BackendError::new(Errno::EOPNOTSUPP, e.to_string()))?;
        if selected.backend != BackendKind::Kernel {
            // Without the privilege, name that as why the kernel was passed
            // over, not the first feature probe that failed because of it.
            if let Some(why) = report.facts.privileges.bpf_denied(false) {
                for line in &mut selected.explain {
                    if line.starts_with("not the kernel backend:") {
                        *line = format!("not the kernel backend: {why}");
                    }
                }
            }
        }
        Ok(selected)
    }
}

/// Kernel BTF for libbpf's `btf_custom_path`, and whether it is a full
/// file in the cache, worth minimising per object.
struct CustomBtf {
    path: PathBuf,
    full_file_in_cache: bool,
}

impl Loader for Pipeline {
    fn load(&mut self, elf: &[u8]) -> Result<Loaded> {
        // Only objects the runtime can read go anywhere: what it checks
        // (sections, attach places) it must be able to see.
        let object = BpfObject::parse(elf).map_err(|e| {
            BackendError::new(Errno::EINVAL, format!("cannot read the BPF object: {e}"))
        })?;
        // Where the backend needs its platform's build of the object, the
        // variant is what gets selected, adapted and loaded.
        let swap = match self.variant_platform() {
            Some(platform) => Some(variant::pick(&self.wasm, elf, &object, platform)?),
            None => None,
        };
        let (elf, object) = match swap {
            Some(swap) => {
                self.explain(&swap.explain);
                (std::borrow::Cow::Owned(swap.bytes), swap.object)
            }
            None => (std::borrow::Cow::Borrowed(elf), object),
        };
        let elf = &elf[..];
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
        if selection.backend == BackendKind::Kernel {
            let core = CoreObject::parse(&prepared.elf)
                .map(|c| c.relos().next().is_some())
                .unwrap_or(false);
            let masking = !prepared.hide_kernel_types.is_empty();
            let custom = if core || masking {
                self.kernel_btf(&report, core)?
            } else {
                None
            };
            prepared.plan.btf_custom_path = if masking {
                let source = custom
                    .as_ref()
                    .map_or(Path::new(unibpf_btf::KERNEL_BTF), |c| c.path.as_path());
                let path = self
                    .host
                    .masked_btf(source, &prepared.hide_kernel_types)
                    .map_err(|e| {
                        BackendError::new(Errno::EIO, format!("masking kernel BTF: {e}"))
                    })?;
                Some(path)
            } else {
                custom.map(|c| self.min_core_of_cached(c, &prepared.elf))
            };
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
