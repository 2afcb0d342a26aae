//! Where programs get events without kernel eBPF.

mod context;
pub mod process;
pub mod syscalls;
pub mod uprobe;
