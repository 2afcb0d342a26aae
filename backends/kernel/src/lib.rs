//! The `kernel` backend: BPF objects are loaded into the running Linux kernel with
//! libbpf (through libbpf-rs), attached with kernel links, and their event maps are
//! read with libbpf's ring buffer and perf buffer consumers.

mod attach;
mod diagnose;
mod map;
mod object;
mod poll;
mod tc;

use unibpf_backend::{Backend, BackendKind, LoadPlan, LoadedObject, Result};

pub use attach::ensure_tracefs;
pub use tc::emergency_detach_all;

/// Loads objects into the host kernel.
#[derive(Debug, Default)]
pub struct KernelBackend {
    _private: (),
}

impl KernelBackend {
    pub fn new() -> Self {
        diagnose::route_libbpf_logs();
        Self { _private: () }
    }
}

impl Backend for KernelBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Kernel
    }

    fn load_object(&mut self, elf: &[u8], plan: &LoadPlan) -> Result<Box<dyn LoadedObject>> {
        Ok(Box::new(object::KernelObject::load(elf, plan)?))
    }
}
