//! The eBPF for Windows backend: objects (a variant built for efW, which
//! the pipeline swaps in for the guest's Linux object) are loaded through
//! the libbpf-compatible calls of `ebpfapi.dll`, loaded at run time so
//! that a host without eBPF for Windows gets one line, never a crash.
//!
//! The FFI is Windows-only; what it relies on and can be checked on bytes
//! (errno and map type numbers, efW's hooks, record delivery) is not.

pub mod delivery;
pub mod errno;
pub mod hooks;
pub mod probe;

#[cfg(windows)]
mod ffi;
#[cfg(windows)]
mod map;
#[cfg(windows)]
mod object;

#[cfg(windows)]
pub use object::WindowsBackend;

/// Why ebpfapi.dll cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DllError {
    #[error("eBPF for Windows is not installed (ebpfapi.dll does not load: {0})")]
    NotLoaded(String),
    #[error("ebpfapi.dll has no {0}: this eBPF for Windows is too old or not the real one")]
    MissingExport(&'static str),
}
