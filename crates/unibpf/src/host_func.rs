use std::fmt;
use std::sync::Arc;

use unibpf_hostcall::{GuestFault, GuestMemory, GuestMemoryMut};
use wasmi::{FuncType, Val};

/// What an extra host function sees of the calling guest.
pub struct HostFuncContext<'a> {
    pub(crate) memory: Option<&'a mut [u8]>,
}

impl HostFuncContext<'_> {
    /// Reads `len` bytes at guest address `ptr`.
    pub fn read(&self, ptr: u32, len: u32) -> Result<&[u8], GuestFault> {
        GuestMemory::new(self.memory.as_deref().unwrap_or(&[]))
            .slice(u64::from(ptr), u64::from(len))
    }

    /// Writes `bytes` at guest address `ptr`.
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), GuestFault> {
        match self.memory.as_deref_mut() {
            Some(m) => GuestMemoryMut::new(m).write(u64::from(ptr), bytes),
            None => GuestMemoryMut::new(&mut []).write(u64::from(ptr), bytes),
        }
    }
}

/// An extra host function failed; the guest traps with this message.
#[derive(Debug, Clone)]
pub struct HostFuncError(pub String);

impl fmt::Display for HostFuncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostFuncError {}

type Callback =
    dyn Fn(&mut HostFuncContext<'_>, &[Val], &mut [Val]) -> Result<(), HostFuncError> + Send + Sync;

/// A function the embedding application offers to guests, imported as
/// `module.name` with type `ty`.
#[derive(Clone)]
pub struct HostFunc {
    pub(crate) module: String,
    pub(crate) name: String,
    pub(crate) ty: FuncType,
    pub(crate) func: Arc<Callback>,
}

impl HostFunc {
    pub fn new(
        module: impl Into<String>,
        name: impl Into<String>,
        ty: FuncType,
        func: impl Fn(&mut HostFuncContext<'_>, &[Val], &mut [Val]) -> Result<(), HostFuncError>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Self {
            module: module.into(),
            name: name.into(),
            ty,
            func: Arc::new(func),
        }
    }
}

impl wasmi::errors::HostError for HostFuncError {}
