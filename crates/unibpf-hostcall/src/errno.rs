//! Errno numbering across the boundary: the one table of WASI errnos and of
//! how Linux errnos map onto them.
//!
//! Guests are wasm32-wasi programs: their `errno.h` is WASI's, where `EINTR` is 27
//! and `ENOENT` is 44, not Linux's 4 and 2. Every negative errno a host call
//! returns is therefore translated, so that guest code like
//! `if (err == -EINTR) break;` means what it says.

use crate::GuestFault;

/// A WASI errno (`__wasi_errno_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasiErrno(pub u16);

impl WasiErrno {
    pub const SUCCESS: Self = Self(0);
    pub const TOOBIG: Self = Self(1);
    pub const ACCES: Self = Self(2);
    pub const AGAIN: Self = Self(6);
    pub const BADF: Self = Self(8);
    pub const BUSY: Self = Self(10);
    pub const CANCELED: Self = Self(11);
    pub const CHILD: Self = Self(12);
    pub const DEADLK: Self = Self(16);
    pub const DOM: Self = Self(18);
    pub const EXIST: Self = Self(20);
    pub const FAULT: Self = Self(21);
    pub const FBIG: Self = Self(22);
    pub const ILSEQ: Self = Self(25);
    pub const INTR: Self = Self(27);
    pub const INVAL: Self = Self(28);
    pub const IO: Self = Self(29);
    pub const ISDIR: Self = Self(31);
    pub const LOOP: Self = Self(32);
    pub const MFILE: Self = Self(33);
    pub const MLINK: Self = Self(34);
    pub const NAMETOOLONG: Self = Self(37);
    pub const NFILE: Self = Self(41);
    pub const NODEV: Self = Self(43);
    pub const NOENT: Self = Self(44);
    pub const NOEXEC: Self = Self(45);
    pub const NOLCK: Self = Self(46);
    pub const NOMEM: Self = Self(48);
    pub const NOSPC: Self = Self(51);
    pub const NOSYS: Self = Self(52);
    pub const NOTDIR: Self = Self(54);
    pub const NOTEMPTY: Self = Self(55);
    pub const NOTSUP: Self = Self(58);
    pub const NOTTY: Self = Self(59);
    pub const NXIO: Self = Self(60);
    pub const OVERFLOW: Self = Self(61);
    pub const PERM: Self = Self(63);
    pub const PIPE: Self = Self(64);
    pub const RANGE: Self = Self(68);
    pub const ROFS: Self = Self(69);
    pub const SPIPE: Self = Self(70);
    pub const SRCH: Self = Self(71);
    pub const TIMEDOUT: Self = Self(73);
    pub const TXTBSY: Self = Self(74);
    pub const XDEV: Self = Self(75);
    pub const NOTCAPABLE: Self = Self(76);
}

/// Linux errno values (asm-generic, as on x86_64, arm64 and riscv64): the
/// numbering the guest ABI and the backends speak on every host, Windows
/// included.
pub mod linux {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EINTR: i32 = 4;
    pub const EIO: i32 = 5;
    pub const ENXIO: i32 = 6;
    pub const E2BIG: i32 = 7;
    pub const ENOEXEC: i32 = 8;
    pub const EBADF: i32 = 9;
    pub const ECHILD: i32 = 10;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const EXDEV: i32 = 18;
    pub const ENODEV: i32 = 19;
    pub const ENOTDIR: i32 = 20;
    pub const EISDIR: i32 = 21;
    pub const EINVAL: i32 = 22;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENOTTY: i32 = 25;
    pub const ETXTBSY: i32 = 26;
    pub const EFBIG: i32 = 27;
    pub const ENOSPC: i32 = 28;
    pub const ESPIPE: i32 = 29;
    pub const EROFS: i32 = 30;
    pub const EMLINK: i32 = 31;
    pub const EPIPE: i32 = 32;
    pub const EDOM: i32 = 33;
    pub const ERANGE: i32 = 34;
    pub const EDEADLK: i32 = 35;
    pub const ENAMETOOLONG: i32 = 36;
    pub const ENOLCK: i32 = 37;
    pub const ENOSYS: i32 = 38;
    pub const ENOTEMPTY: i32 = 39;
    pub const ELOOP: i32 = 40;
    pub const EOVERFLOW: i32 = 75;
    pub const EILSEQ: i32 = 84;
    pub const EOPNOTSUPP: i32 = 95;
    pub const ETIMEDOUT: i32 = 110;
    pub const ECANCELED: i32 = 125;
}

/// The WASI errno for a Linux errno (`EIO` for anything WASI has no name for).
pub fn linux_to_wasi(linux: i32) -> WasiErrno {
    use linux::*;
    match linux.abs() {
        0 => WasiErrno::SUCCESS,
        EPERM => WasiErrno::PERM,
        ENOENT => WasiErrno::NOENT,
        ESRCH => WasiErrno::SRCH,
        EINTR => WasiErrno::INTR,
        EIO => WasiErrno::IO,
        ENXIO => WasiErrno::NXIO,
        E2BIG => WasiErrno::TOOBIG,
        ENOEXEC => WasiErrno::NOEXEC,
        EBADF => WasiErrno::BADF,
        ECHILD => WasiErrno::CHILD,
        EAGAIN => WasiErrno::AGAIN,
        ENOMEM => WasiErrno::NOMEM,
        EACCES => WasiErrno::ACCES,
        EFAULT => WasiErrno::FAULT,
        EBUSY => WasiErrno::BUSY,
        EEXIST => WasiErrno::EXIST,
        EXDEV => WasiErrno::XDEV,
        ENODEV => WasiErrno::NODEV,
        ENOTDIR => WasiErrno::NOTDIR,
        EISDIR => WasiErrno::ISDIR,
        EINVAL => WasiErrno::INVAL,
        ENFILE => WasiErrno::NFILE,
        EMFILE => WasiErrno::MFILE,
        ENOTTY => WasiErrno::NOTTY,
        ETXTBSY => WasiErrno::TXTBSY,
        EFBIG => WasiErrno::FBIG,
        ENOSPC => WasiErrno::NOSPC,
        ESPIPE => WasiErrno::SPIPE,
        EROFS => WasiErrno::ROFS,
        EMLINK => WasiErrno::MLINK,
        EPIPE => WasiErrno::PIPE,
        EDOM => WasiErrno::DOM,
        ERANGE => WasiErrno::RANGE,
        EDEADLK => WasiErrno::DEADLK,
        ENAMETOOLONG => WasiErrno::NAMETOOLONG,
        ENOLCK => WasiErrno::NOLCK,
        ENOSYS => WasiErrno::NOSYS,
        ENOTEMPTY => WasiErrno::NOTEMPTY,
        ELOOP => WasiErrno::LOOP,
        EOVERFLOW => WasiErrno::OVERFLOW,
        EILSEQ => WasiErrno::ILSEQ,
        EOPNOTSUPP => WasiErrno::NOTSUP,
        ETIMEDOUT => WasiErrno::TIMEDOUT,
        ECANCELED => WasiErrno::CANCELED,
        // ENOTSUPP, the kernel-internal 524 libc has no name for.
        524 => WasiErrno::NOTSUP,
        _ => WasiErrno::IO,
    }
}

/// `-errno` in the guest's numbering, for a Linux errno.
pub fn guest_errno(linux: i32) -> i32 {
    -i32::from(linux_to_wasi(linux).0)
}

#[cfg(unix)]
impl From<nix::errno::Errno> for WasiErrno {
    fn from(e: nix::errno::Errno) -> Self {
        linux_to_wasi(e as i32)
    }
}

impl From<std::io::Error> for WasiErrno {
    #[cfg(target_os = "linux")]
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => linux_to_wasi(code),
            None => Self::IO,
        }
    }

    /// Elsewhere the raw code is not a Linux errno: the kind is what maps.
    #[cfg(not(target_os = "linux"))]
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::NotFound => Self::NOENT,
            K::PermissionDenied => Self::ACCES,
            K::AlreadyExists => Self::EXIST,
            K::WouldBlock => Self::AGAIN,
            K::InvalidInput | K::InvalidData => Self::INVAL,
            K::TimedOut => Self::TIMEDOUT,
            K::Interrupted => Self::INTR,
            K::Unsupported => Self::NOTSUP,
            K::OutOfMemory => Self::NOMEM,
            K::BrokenPipe => Self::PIPE,
            K::NotADirectory => Self::NOTDIR,
            K::IsADirectory => Self::ISDIR,
            K::DirectoryNotEmpty => Self::NOTEMPTY,
            _ => Self::IO,
        }
    }
}

impl From<GuestFault> for WasiErrno {
    fn from(_: GuestFault) -> Self {
        Self::FAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errnos_map_to_wasi_values() {
        assert_eq!(guest_errno(linux::EINTR), -27);
        assert_eq!(guest_errno(linux::ENOENT), -44);
        assert_eq!(guest_errno(linux::EBADF), -8);
        assert_eq!(guest_errno(linux::EINVAL), -28);
        assert_eq!(guest_errno(linux::EFAULT), -21);
        assert_eq!(guest_errno(linux::EEXIST), -20);
        assert_eq!(guest_errno(linux::EPERM), -63);
        assert_eq!(guest_errno(linux::EMFILE), -33);
        assert_eq!(guest_errno(linux::ELOOP), -32);
        assert_eq!(guest_errno(linux::EILSEQ), -25);
        assert_eq!(guest_errno(524), -58);
        assert_eq!(guest_errno(9999), -29);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_numbers_are_the_kernels() {
        use linux::*;
        let ours = [
            EPERM, ENOENT, EINTR, EAGAIN, EFAULT, EINVAL, ENOSYS, ELOOP, EOVERFLOW, EILSEQ,
            EOPNOTSUPP, ETIMEDOUT, ECANCELED,
        ];
        let libc = [
            nix::libc::EPERM,
            nix::libc::ENOENT,
            nix::libc::EINTR,
            nix::libc::EAGAIN,
            nix::libc::EFAULT,
            nix::libc::EINVAL,
            nix::libc::ENOSYS,
            nix::libc::ELOOP,
            nix::libc::EOVERFLOW,
            nix::libc::EILSEQ,
            nix::libc::EOPNOTSUPP,
            nix::libc::ETIMEDOUT,
            nix::libc::ECANCELED,
        ];
        assert_eq!(ours, libc);
    }
}
