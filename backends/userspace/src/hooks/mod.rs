//! Where programs get events without kernel eBPF: processes (ptrace) and
//! packets (a packet socket per interface).

pub mod context;
pub mod packet;
pub mod process;
pub mod syscalls;
pub mod uprobe;
