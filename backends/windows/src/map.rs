//! Element operations on a map of eBPF for Windows, through an fd of its
//! own (a duplicate, so a handle the guest keeps never names a closed or
//! reused fd), closed with `ebpf_close_fd`: the fds live in ebpfapi.dll's
//! C runtime, not ours.

use std::ffi::{c_int, c_void};
use std::rc::Rc;

use unibpf_backend::{Errno, MapOps};

use crate::errno::check;
use crate::ffi::{Api, EBPF_SUCCESS};

pub(crate) struct EfwMap {
    api: Rc<Api>,
    fd: c_int,
    key_size: usize,
    value_size: usize,
}

impl EfwMap {
    /// A map of `fd` (the object's) with these sizes, through a duplicate
    /// of the fd that this owns.
    pub(crate) fn new(
        api: Rc<Api>,
        fd: c_int,
        key_size: usize,
        value_size: usize,
    ) -> Result<Self, Errno> {
        let mut dup: c_int = -1;
        // SAFETY: `dup` is a valid place for the new fd; a bad `fd` is an
        // error code, not undefined behaviour.
        let r = unsafe { (api.ebpf_duplicate_fd)(fd, &mut dup) };
        if r != EBPF_SUCCESS || dup < 0 {
            return Err(Errno::EBADF);
        }
        Ok(Self {
            api,
            fd: dup,
            key_size,
            value_size,
        })
    }

    /// EFAULT for a buffer of another size than ebpfapi.dll will use: it
    /// reads and writes the map's sizes whatever the slice is.
    fn sizes(&self, key: Option<usize>, value: Option<usize>) -> Result<(), Errno> {
        let ok =
            key.is_none_or(|k| k == self.key_size) && value.is_none_or(|v| v == self.value_size);
        ok.then_some(()).ok_or(Errno::EFAULT)
    }
}

impl MapOps for EfwMap {
    fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        self.sizes(Some(key.len()), Some(value.len()))?;
        // efW's lookup takes no flags (no BPF_F_LOCK).
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        // SAFETY: key and value have exactly the map's sizes (checked).
        check(unsafe {
            (self.api.bpf_map_lookup_elem)(
                self.fd,
                key.as_ptr() as *const c_void,
                value.as_mut_ptr() as *mut c_void,
            )
        })
        .map(drop)
    }

    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        self.sizes(Some(key.len()), Some(value.len()))?;
        // SAFETY: as in lookup; both buffers are only read.
        check(unsafe {
            (self.api.bpf_map_update_elem)(
                self.fd,
                key.as_ptr() as *const c_void,
                value.as_ptr() as *const c_void,
                flags,
            )
        })
        .map(drop)
    }

    fn delete(&self, key: &[u8], flags: u64) -> Result<(), Errno> {
        self.sizes(Some(key.len()), None)?;
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        // SAFETY: the key has the map's key size (checked); only read.
        check(unsafe { (self.api.bpf_map_delete_elem)(self.fd, key.as_ptr() as *const c_void) })
            .map(drop)
    }

    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        self.sizes(key.map(<[u8]>::len), None)?;
        self.sizes(Some(next.len()), None)?;
        let key_ptr = key.map_or(std::ptr::null(), |k| k.as_ptr() as *const c_void);
        // SAFETY: key is NULL (first key) or key-size bytes; next is
        // key-size bytes (both checked).
        check(unsafe {
            (self.api.bpf_map_get_next_key)(self.fd, key_ptr, next.as_mut_ptr() as *mut c_void)
        })
        .map(drop)
    }
}

impl Drop for EfwMap {
    fn drop(&mut self) {
        // SAFETY: the fd is the duplicate this value owns, closed once.
        let r = unsafe { (self.api.ebpf_close_fd)(self.fd) };
        if r != EBPF_SUCCESS {
            tracing::debug!("ebpf_close_fd({}) failed: ebpf_result_t {r}", self.fd);
        }
    }
}
