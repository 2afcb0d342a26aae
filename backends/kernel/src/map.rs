//! Element operations straight on the map fd: one syscall per operation, with the
//! kernel reading and writing the caller's buffers in place.

use std::ffi::c_void;
use std::os::fd::{AsRawFd, OwnedFd};

use unibpf_backend::{Errno, MapOps};

pub(crate) struct KernelMap {
    fd: OwnedFd,
}

impl KernelMap {
    pub(crate) fn new(fd: OwnedFd) -> Self {
        Self { fd }
    }
}

fn check(ret: i32) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno(-ret))
    } else {
        Ok(())
    }
}

// The ABI layer guarantees that every slice has the size the kernel will read or
// write (key_size, or the value buffer size including per-CPU slots).
impl MapOps for KernelMap {
    fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        // SAFETY: key and value are valid for the sizes the map was created with
        // (checked by the caller); the kernel copies within those bounds.
        check(unsafe {
            libbpf_sys::bpf_map_lookup_elem_flags(
                self.fd.as_raw_fd(),
                key.as_ptr() as *const c_void,
                value.as_mut_ptr() as *mut c_void,
                flags,
            )
        })
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        // SAFETY: as above; the kernel only reads both buffers.
        check(unsafe {
            libbpf_sys::bpf_map_update_elem(
                self.fd.as_raw_fd(),
                key.as_ptr() as *const c_void,
                value.as_ptr() as *const c_void,
                flags,
            )
        })
    }

    fn delete(&self, key: &[u8], flags: u64) -> Result<(), Errno> {
        // SAFETY: as above; the kernel only reads the key. Older kernels reject
        // any flags on delete, so plain delete is used when there are none.
        check(unsafe {
            if flags == 0 {
                libbpf_sys::bpf_map_delete_elem(self.fd.as_raw_fd(), key.as_ptr() as *const c_void)
            } else {
                libbpf_sys::bpf_map_delete_elem_flags(
                    self.fd.as_raw_fd(),
                    key.as_ptr() as *const c_void,
                    flags,
                )
            }
        })
    }

    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        let key_ptr = key.map_or(std::ptr::null(), |k| k.as_ptr() as *const c_void);
        // SAFETY: key is NULL (first key) or key_size bytes; next is key_size bytes.
        check(unsafe {
            libbpf_sys::bpf_map_get_next_key(
                self.fd.as_raw_fd(),
                key_ptr,
                next.as_mut_ptr() as *mut c_void,
            )
        })
    }
}
