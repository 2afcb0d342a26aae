//! Errno numbering across the boundary.
//!
//! Guests are wasm32-wasi programs: their `errno.h` is WASI's, where `EINTR` is 27
//! and `ENOENT` is 44, not Linux's 4 and 2. Every negative errno a host call
//! returns is therefore translated, so that guest code like
//! `if (err == -EINTR) break;` means what it says.

/// The WASI errno for a Linux errno (`EIO` for anything WASI has no name for).
pub fn linux_to_wasi(linux: i32) -> u16 {
    match linux.abs() {
        0 => 0,
        1 => 63,   // EPERM
        2 => 44,   // ENOENT
        3 => 71,   // ESRCH
        4 => 27,   // EINTR
        5 => 29,   // EIO
        6 => 60,   // ENXIO
        7 => 1,    // E2BIG
        8 => 45,   // ENOEXEC
        9 => 8,    // EBADF
        10 => 12,  // ECHILD
        11 => 6,   // EAGAIN
        12 => 48,  // ENOMEM
        13 => 2,   // EACCES
        14 => 21,  // EFAULT
        16 => 10,  // EBUSY
        17 => 20,  // EEXIST
        18 => 75,  // EXDEV
        19 => 43,  // ENODEV
        20 => 54,  // ENOTDIR
        21 => 31,  // EISDIR
        22 => 28,  // EINVAL
        23 => 41,  // ENFILE
        24 => 33,  // EMFILE
        25 => 59,  // ENOTTY
        26 => 74,  // ETXTBSY
        27 => 22,  // EFBIG
        28 => 51,  // ENOSPC
        29 => 70,  // ESPIPE
        30 => 69,  // EROFS
        31 => 34,  // EMLINK
        32 => 64,  // EPIPE
        33 => 18,  // EDOM
        34 => 68,  // ERANGE
        35 => 16,  // EDEADLK
        36 => 37,  // ENAMETOOLONG
        37 => 46,  // ENOLCK
        38 => 52,  // ENOSYS
        39 => 55,  // ENOTEMPTY
        40 => 32,  // ELOOP
        75 => 61,  // EOVERFLOW
        84 => 25,  // EILSEQ
        95 => 58,  // EOPNOTSUPP
        110 => 73, // ETIMEDOUT
        125 => 11, // ECANCELED
        // ENOTSUPP (kernel-internal 524) and anything else.
        524 => 58,
        _ => 29,
    }
}

/// `-errno` in the guest's numbering, for a Linux errno.
pub fn guest_errno(linux: i32) -> i32 {
    -i32::from(linux_to_wasi(linux))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errnos_map_to_wasi_values() {
        assert_eq!(guest_errno(nix::libc::EINTR), -27);
        assert_eq!(guest_errno(nix::libc::ENOENT), -44);
        assert_eq!(guest_errno(nix::libc::EBADF), -8);
        assert_eq!(guest_errno(nix::libc::EINVAL), -28);
        assert_eq!(guest_errno(nix::libc::EFAULT), -21);
        assert_eq!(guest_errno(nix::libc::EEXIST), -20);
        assert_eq!(guest_errno(nix::libc::EPERM), -63);
    }
}
