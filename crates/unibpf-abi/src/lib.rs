//! The `wasm_bpf` host ABI: the six functions upstream wasm-bpf modules import,
//! bit-compatible with upstream, plus the TinyGo `callback-wrapper` variant.
//!
//! This layer turns guest pointers into checked byte slices and guest handles into
//! backend objects. It knows nothing of libbpf: everything below goes through
//! [`unibpf_backend::Backend`].
//!
//! Deliberate differences from upstream, all toward safety:
//! - every record of a poll is delivered, in order (upstream keeps only the last);
//! - a module may only use map fds of its own objects;
//! - per-CPU values are bounds-checked at their full per-CPU size;
//! - `key == 0` in get-next-key means "first key" (NULL), as in libbpf;
//! - links belong to their object and go away with it;
//! - bad guest input gets a negative errno, never a trap;
//! - errnos use the guest's numbering (WASI's `errno.h`: `-EINTR` is -27), so
//!   guest code comparing against `-EINTR` or `-ENOENT` works.

mod handles;
mod maps;
mod poll;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use unibpf_backend::Loader;
use unibpf_hostcall::{Control, Limits};
use wasmi::{Linker, Module};

pub use handles::BpfCtx;

/// Import module of the six functions.
pub const MODULE: &str = "wasm_bpf";
/// The name modules built before February 2023 import from.
pub const LEGACY_MODULE: &str = "env";

/// Names of the TinyGo callback path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackNames {
    /// Module of the callback-less `wasm_bpf_buffer_poll` import.
    pub wrapper_module: String,
    /// Guest export called with `(ctx, data, size)` for each record.
    pub callback_export: String,
}

impl Default for CallbackNames {
    fn default() -> Self {
        Self {
            wrapper_module: "callback-wrapper".to_string(),
            callback_export: "go-callback".to_string(),
        }
    }
}

/// Access to the ABI state inside a store's data.
pub trait BpfView {
    fn bpf(&mut self) -> &mut BpfCtx;
}

/// Errors while wiring the ABI into a linker.
#[derive(Debug, thiserror::Error)]
pub enum AbiError {
    #[error("the module imports {module}.{name} with type {found}, which is not part of the wasm_bpf ABI (expected {expected})")]
    BadImportType {
        module: String,
        name: String,
        found: String,
        expected: &'static str,
    },
    #[error(transparent)]
    Wasmi(#[from] wasmi::Error),
    #[error(transparent)]
    Linker(#[from] wasmi::errors::LinkerError),
}

impl BpfCtx {
    /// The ABI state of one instance: where its objects load, run control,
    /// callback names, and the limits its objects, maps, links and
    /// callbacks obey.
    pub fn new(
        loader: Box<dyn Loader>,
        control: Arc<Control>,
        callbacks: CallbackNames,
        limits: Limits,
    ) -> Self {
        handles::new_ctx(loader, control, callbacks, limits)
    }
}

/// Defines the ABI functions `module` imports (under `wasm_bpf`, `env` and the
/// callback-wrapper module), binding `wasm_bpf_map_operate` to whichever pointer
/// width the module declares.
pub fn add_to_linker<T: BpfView + 'static>(
    linker: &mut Linker<T>,
    module: &Module,
    callbacks: &CallbackNames,
) -> Result<(), AbiError> {
    for ns in [MODULE, LEGACY_MODULE] {
        handles::define(linker, ns)?;
        maps::define(linker, ns, module)?;
        poll::define(linker, ns)?;
    }
    poll::define_wrapper(linker, &callbacks.wrapper_module)?;
    Ok(())
}
