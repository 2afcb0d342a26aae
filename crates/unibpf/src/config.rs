use std::sync::Arc;
use std::time::Duration;

use unibpf_abi::CallbackNames;
use unibpf_backend::{Backend, BackendError};
#[cfg(target_os = "linux")]
use unibpf_backend_userspace::ProcessHooks;
use unibpf_backend_userspace::UserspaceBackend;
use unibpf_host::Mask;
use unibpf_hostcall::Limits;
use unibpf_select::BackendChoice;

use unibpf_pipeline::{ExplainSink, HostState, PipelineConfig};

use crate::host_func::HostFunc;

/// Creates a backend for one module instance (each instance gets its own).
pub type BackendFactory = Arc<dyn Fn() -> Result<Box<dyn Backend>, BackendError> + Send + Sync>;

/// Runtime-wide settings.
#[derive(Clone)]
pub struct Config {
    /// The backends this runtime can load objects on, in order of preference.
    pub(crate) backends: Vec<BackendFactory>,
    /// Which of `backends` is the default userspace one, for [`Config::trace`].
    userspace_slot: Option<usize>,
    pub(crate) callbacks: CallbackNames,
    pub(crate) host_funcs: Vec<HostFunc>,
    pub(crate) grace: Duration,
    pub(crate) limits: Limits,
    pub(crate) pipeline: PipelineConfig,
    pub(crate) host: Arc<HostState>,
    /// Run each time a module's guest sleeps (see `Control::on_sleep`).
    pub(crate) on_guest_sleep: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Default for Config {
    /// The kernel backend, then the userspace one (with no process to
    /// trace until [`Config::trace`] names one), upstream callback names,
    /// a one-second stop grace, and [`Limits`] for untrusted modules.
    /// On Windows, the eBPF for Windows backend where its ebpfapi.dll
    /// loads, then the userspace one (which has no hooks there yet);
    /// loading an object neither can run fails with what is missing
    /// (without ebpfapi.dll, the one line saying eBPF for Windows is).
    /// Elsewhere the userspace backend alone.
    fn default() -> Self {
        #[cfg(target_os = "linux")]
        let (backends, userspace_slot) = (
            vec![
                Arc::new(|| {
                    Ok(Box::new(unibpf_backend_kernel::KernelBackend::new()) as Box<dyn Backend>)
                }) as BackendFactory,
                userspace(Arc::new(ProcessHooks::new(None))),
            ],
            Some(1),
        );
        #[cfg(not(target_os = "linux"))]
        let (backends, userspace_slot) = {
            #[cfg(windows)]
            let mut backends = windows_backends();
            #[cfg(not(windows))]
            let mut backends = Vec::new();
            backends.push(
                Arc::new(|| Ok(Box::new(UserspaceBackend::default()) as Box<dyn Backend>))
                    as BackendFactory,
            );
            let slot = backends.len() - 1;
            (backends, Some(slot))
        };
        Self {
            backends,
            userspace_slot,
            callbacks: CallbackNames::default(),
            host_funcs: Vec::new(),
            grace: Duration::from_secs(1),
            limits: Limits::default(),
            pipeline: PipelineConfig::default(),
            host: Arc::new(HostState::default()),
            on_guest_sleep: None,
        }
    }
}

/// A factory of userspace backends acting on `hooks`' processes.
#[cfg(target_os = "linux")]
fn userspace(hooks: Arc<ProcessHooks>) -> BackendFactory {
    Arc::new(move || Ok(Box::new(UserspaceBackend::new(Arc::clone(&hooks))) as Box<dyn Backend>))
}

/// The eBPF for Windows backend when its ebpfapi.dll loads, else none
/// (the pipeline then says that eBPF for Windows is not installed).
#[cfg(windows)]
fn windows_backends() -> Vec<BackendFactory> {
    if !unibpf_host::ebpf_for_windows().installed {
        return Vec::new();
    }
    vec![Arc::new(|| {
        unibpf_backend_windows::WindowsBackend::new()
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(|e| BackendError::new(unibpf_backend::Errno::EOPNOTSUPP, e.to_string()))
    }) as BackendFactory]
}

impl Config {
    /// Makes the userspace backend's process hooks act on `hooks` (a
    /// command it starts or a running process); keep a clone to learn when
    /// the traced processes have ended. One module should use it.
    #[cfg(target_os = "linux")]
    pub fn trace(mut self, hooks: Arc<ProcessHooks>) -> Self {
        // A guest that sleeps after attaching has settled: its command
        // runs even if it never polls or reads a map.
        let settled = Arc::clone(&hooks);
        self.on_guest_sleep = Some(Arc::new(move || settled.release_when_settled()));
        let factory = userspace(hooks);
        match self.userspace_slot.and_then(|i| self.backends.get_mut(i)) {
            Some(slot) => *slot = factory,
            None => {
                self.userspace_slot = Some(self.backends.len());
                self.backends.push(factory);
            }
        }
        self
    }

    /// Runs every object on the backend `factory` makes (replacing the
    /// defaults, the kernel and userspace backends).
    pub fn backend(mut self, factory: BackendFactory) -> Self {
        self.backends = vec![factory];
        self.userspace_slot = None;
        self
    }

    /// Adds a backend the selector may pick when the ones before it cannot
    /// run an object (or when it is forced).
    pub fn add_backend(mut self, factory: BackendFactory) -> Self {
        self.backends.push(factory);
        self
    }

    /// Names for the TinyGo `callback-wrapper` path.
    pub fn callback_names(mut self, names: CallbackNames) -> Self {
        self.callbacks = names;
        self
    }

    /// Makes an extra host function importable by every module.
    pub fn host_func(mut self, func: HostFunc) -> Self {
        self.host_funcs.push(func);
        self
    }

    /// Which backend runs programs: the first that can (`Auto`), or a
    /// forced one, which fails clearly where it cannot.
    pub fn backend_choice(mut self, choice: BackendChoice) -> Self {
        self.pipeline.choice = choice;
        self
    }

    /// Where kernel BTF comes from when the kernel has none (see
    /// `unibpf btf status`).
    pub fn btf(mut self, settings: unibpf_btf::Settings) -> Self {
        self.pipeline.btf = settings;
        self
    }

    /// Behave as if the host lacked these features (see `unibpf probe`).
    pub fn mask(mut self, mask: Mask) -> Self {
        self.pipeline.mask = mask;
        self
    }

    /// Receives one line per selector decision (`unibpf run --explain`).
    pub fn explain(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.pipeline.explain = Some(Arc::new(sink) as ExplainSink);
        self
    }

    /// What each module may use (and how many run at once); see [`Limits`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long [`crate::ModuleHandle::terminate`] waits after a graceful stop
    /// before it force-stops the guest.
    pub fn stop_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}
