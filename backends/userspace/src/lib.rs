//! The userspace backend of unibpf: where kernel eBPF is unavailable,
//! programs run in-process.
//!
//! - [`vm`]: the eBPF interpreter (RFC 9669), memory-checked.
//! - [`load`]: ELF to linked, relocated programs with no system call;
//!   CO-RE resolves against the BTF of what [`emulated`] lays out.
//! - [`maps`]: the kernel's map types with values the VM uses in place.
//! - [`helpers`]: the helpers programs call.
//! - [`hooks`]: events from processes (ptrace) turned into tracepoint
//!   records; frames from packet sockets for XDP, tc and socket filters.
//!   Linux only: elsewhere the rest builds and every hooked program is
//!   refused in one line.
//! - [`UserspaceBackend`]: all of it behind the backend interface.

#![forbid(unsafe_code)]

mod backend;
pub mod emulated;
pub mod helpers;
pub mod hooks;
pub mod load;
pub mod maps;
mod object;
pub mod vm;
mod wake;

pub use backend::{UserObject, UserspaceBackend};
#[cfg(target_os = "linux")]
pub use hooks::process::ProcessHooks;
pub use object::ObjectCore;
#[cfg(target_os = "linux")]
pub use unibpf_trace::Target;
