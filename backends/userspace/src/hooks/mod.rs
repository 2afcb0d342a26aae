//! Where programs get events without kernel eBPF. On Linux: processes
//! (ptrace) and packets (a packet socket per interface). Elsewhere none
//! yet: [`Hooks`] there refuses every hooked program, saying why.

#[cfg(target_os = "linux")]
pub mod context;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
mod none;
#[cfg(target_os = "linux")]
pub mod packet;
#[cfg(target_os = "linux")]
pub mod process;
#[cfg(target_os = "linux")]
pub mod syscalls;
#[cfg(target_os = "linux")]
pub mod uprobe;

#[cfg(target_os = "linux")]
pub use linux::Hooks;
#[cfg(not(target_os = "linux"))]
pub use none::Hooks;
