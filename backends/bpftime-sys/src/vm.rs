//! A safe owner of one bpftime VM. Every precondition `ebpf-vm.h` states is
//! checked here, before the call that relies on it.

use std::ffi::{c_char, CStr};
use std::ptr::NonNull;

use crate::raw;

/// Bytes per eBPF instruction.
const INSN: usize = 8;

#[derive(Debug, PartialEq, Eq)]
pub enum VmError {
    /// `ebpf_create` returned NULL.
    Create,
    /// The code is empty, not whole instructions, or too long.
    BadCode(&'static str),
    /// bpftime refused the code; its message.
    Load(String),
    /// Nothing is loaded.
    NotLoaded,
    /// The program failed while running (bpftime printed why).
    Exec,
}

impl std::fmt::Display for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmError::Create => f.write_str("bpftime could not create a VM"),
            VmError::BadCode(why) => write!(f, "bad eBPF code: {why}"),
            VmError::Load(msg) => write!(f, "bpftime refused the code: {msg}"),
            VmError::NotLoaded => f.write_str("no code is loaded"),
            VmError::Exec => f.write_str("the program failed in bpftime's VM"),
        }
    }
}

impl std::error::Error for VmError {}

/// One VM with at most one program loaded.
pub struct Vm {
    raw: NonNull<raw::ebpf_vm>,
    loaded: bool,
}

impl Vm {
    /// A VM of bpftime's default kind, with its bounds checks on.
    pub fn new() -> Result<Self, VmError> {
        // SAFETY: the name is a NUL-terminated string that outlives the
        // call ("" selects the default VM, as the header documents).
        let vm = unsafe { raw::ebpf_create(c"".as_ptr()) };
        let raw = NonNull::new(vm).ok_or(VmError::Create)?;
        // SAFETY: `raw` is a live VM we own. Bounds checks are on by
        // default; we set them explicitly since `exec`'s soundness (the
        // program touches only its context and stack) depends on them.
        unsafe { raw::ebpf_toggle_bounds_check(raw.as_ptr(), true) };
        Ok(Self { raw, loaded: false })
    }

    /// Loads `code` (eBPF instructions, 8 bytes each), replacing what was
    /// loaded before.
    pub fn load(&mut self, code: &[u8]) -> Result<(), VmError> {
        if code.is_empty() || code.len() % INSN != 0 {
            return Err(VmError::BadCode("not a whole number of instructions"));
        }
        let max = raw::EBPF_MAX_INSTS as usize;
        if code.len() / INSN > max {
            return Err(VmError::BadCode("more instructions than the VM takes"));
        }
        let len = u32::try_from(code.len()).map_err(|_| VmError::BadCode("too long"))?;
        if self.loaded {
            // SAFETY: a live VM we own; the header requires unloading
            // before loading again.
            unsafe { raw::ebpf_unload_code(self.raw.as_ptr()) };
            self.loaded = false;
        }
        let mut errmsg: *mut c_char = std::ptr::null_mut();
        // SAFETY: a live VM we own; `code` is valid for `len` bytes for the
        // call (the VM copies it); `errmsg` is a valid out-pointer.
        let rc =
            unsafe { raw::ebpf_load(self.raw.as_ptr(), code.as_ptr().cast(), len, &mut errmsg) };
        let message = take_message(errmsg);
        if rc != 0 {
            return Err(VmError::Load(
                message.unwrap_or_else(|| "no reason given".into()),
            ));
        }
        self.loaded = true;
        Ok(())
    }

    /// Runs the loaded program with `ctx` as its context (r1, length r2);
    /// its return value (r0).
    pub fn exec(&mut self, ctx: &mut [u8]) -> Result<u64, VmError> {
        if !self.loaded {
            return Err(VmError::NotLoaded);
        }
        let mut ret = 0u64;
        // SAFETY: a live VM we own with code loaded; `ctx` is valid and
        // exclusively ours for `ctx.len()` bytes during the call, and with
        // bounds checks on (set in `new`) the program may only touch it and
        // its own stack; `ret` is a valid out-pointer.
        let rc = unsafe {
            raw::ebpf_exec(
                self.raw.as_ptr(),
                ctx.as_mut_ptr().cast(),
                ctx.len(),
                &mut ret,
            )
        };
        if rc < 0 {
            return Err(VmError::Exec);
        }
        Ok(ret)
    }
}

/// The message bpftime allocated (if any), freed.
fn take_message(msg: *mut c_char) -> Option<String> {
    if msg.is_null() {
        return None;
    }
    // SAFETY: non-NULL messages from ebpf_load are NUL-terminated strings
    // the caller must free (ebpf-vm.h); we read it once, then free it.
    let text = unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: allocated by bpftime with malloc, per the header; freed once.
    unsafe { libc::free(msg.cast()) };
    Some(text)
}

impl Drop for Vm {
    fn drop(&mut self) {
        // SAFETY: a live VM we own, destroyed exactly once.
        unsafe { raw::ebpf_destroy(self.raw.as_ptr()) };
    }
}
