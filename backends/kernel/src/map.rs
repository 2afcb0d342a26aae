//! Element operations straight on the map fd: one syscall per operation, with the
//! kernel reading and writing the caller's buffers in place.

use std::ffi::c_void;
use std::os::fd::{AsRawFd, OwnedFd};

use unibpf_backend::{Errno, MapInfo, MapOps};

/// A map fd with the sizes the kernel reads and writes through it: every
/// operation checks its buffers against them before the syscall, whatever
/// its caller checked.
pub(crate) struct KernelMap {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
}

impl KernelMap {
    /// `info` must be the map's own (`value_buffer_size` counts per-CPU
    /// slots).
    pub(crate) fn new(fd: OwnedFd, info: &MapInfo) -> Self {
        Self {
            fd,
            key_size: info.key_size as usize,
            value_size: info.value_buffer_size as usize,
        }
    }

    /// EFAULT for a buffer of another size than the kernel will use: it
    /// would read or write past the caller's slice.
    fn sizes(&self, key: Option<&[u8]>, value_len: Option<usize>) -> Result<(), Errno> {
        let key_ok = key.is_none_or(|k| k.len() == self.key_size);
        let value_ok = value_len.is_none_or(|v| v == self.value_size);
        if key_ok && value_ok {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }
}

fn check(ret: i32) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno(-ret))
    } else {
        Ok(())
    }
}

impl MapOps for KernelMap {
    fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        self.sizes(Some(key), Some(value.len()))?;
        // SAFETY: key and value have exactly the sizes the map was created
        // with (checked above); the kernel copies within those bounds.
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
        self.sizes(Some(key), Some(value.len()))?;
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
        self.sizes(Some(key), None)?;
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
        self.sizes(key, None)?;
        self.sizes(Some(next), None)?;
        let key_ptr = key.map_or(std::ptr::null(), |k| k.as_ptr() as *const c_void);
        // SAFETY: key is NULL (first key) or key_size bytes; next is key_size
        // bytes (both checked above).
        check(unsafe {
            libbpf_sys::bpf_map_get_next_key(
                self.fd.as_raw_fd(),
                key_ptr,
                next.as_mut_ptr() as *mut c_void,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::FromRawFd;

    use unibpf_backend::MapKind;

    use super::*;

    /// A real 4-byte-key, 8-byte-value hash map (root).
    fn hash_map() -> KernelMap {
        // SAFETY: plain map creation with no options; the fd is owned at once.
        let fd = unsafe {
            libbpf_sys::bpf_map_create(
                libbpf_sys::BPF_MAP_TYPE_HASH,
                std::ptr::null(),
                4,
                8,
                4,
                std::ptr::null(),
            )
        };
        assert!(fd >= 0, "creating a hash map needs root: {fd}");
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        KernelMap::new(fd, &MapInfo::new(MapKind::Hash, 4, 8, 4, 1))
    }

    #[test]
    fn buffers_of_the_wrong_size_never_reach_the_kernel() {
        let map = hash_map();
        let key = 1u32.to_le_bytes();
        let mut short = [0u8; 4];
        assert_eq!(map.lookup(&key, &mut short, 0), Err(Errno::EFAULT));
        assert_eq!(map.update(&key[..2], &[0; 8], 0), Err(Errno::EFAULT));
        assert_eq!(map.delete(&[0; 16], 0), Err(Errno::EFAULT));
        assert_eq!(map.next_key(None, &mut [0u8; 2]), Err(Errno::EFAULT));
        // The right sizes work.
        map.update(&key, &7u64.to_le_bytes(), 0).unwrap();
        let mut value = [0u8; 8];
        map.lookup(&key, &mut value, 0).unwrap();
        assert_eq!(u64::from_le_bytes(value), 7);
    }
}
