use std::error::Error;

use unibpf_hostcall::LimitExceeded;

/// A cause kept as it came: whatever failed while a module was being set up.
pub type Cause = Box<dyn Error + Send + Sync>;

/// Why a module could not run to completion. Each says what went wrong;
/// where something else caused it, that cause is the error's `source()`
/// ([`RunError::chain`] gives both on one line).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("not a WebAssembly module: it does not start with the \\0asm magic bytes; unibpf runs wasm32-wasi .wasm files")]
    NotWasm,
    #[error("not a valid WebAssembly module")]
    InvalidModule(#[source] wasmi::Error),
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    #[error("the module does not export its linear memory as `memory`")]
    NoMemory,
    #[error("the module has no `_start` function of type () -> (); is it a WASI command module?")]
    NoStart,
    #[error("the module cannot be linked")]
    Link(#[source] Cause),
    #[error("{doing}")]
    Setup {
        doing: &'static str,
        #[source]
        cause: Cause,
    },
    #[error("the guest trapped: {0}")]
    Trap(String),
    #[error("the module's thread panicked")]
    Panicked,
}

impl RunError {
    pub(crate) fn setup(doing: &'static str) -> impl FnOnce(Cause) -> RunError {
        move |cause| RunError::Setup { doing, cause }
    }

    /// The error and its causes on one line: `outer: inner: ...`, with
    /// control characters escaped.
    pub fn chain(&self) -> String {
        let mut line = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            line.push_str(": ");
            line.push_str(&cause.to_string());
            source = cause.source();
        }
        unibpf_backend::one_line(&line.split_whitespace().collect::<Vec<_>>().join(" "))
            .into_owned()
    }
}
