//! eBPF for Windows' return codes in our terms. Its libbpf-style calls
//! return `-errno` with the errno values of the Windows C runtime, which
//! match Linux's up to 34 and differ after (ENOSYS is 40 there, 38 on
//! Linux); the guest must see Linux's, as from the kernel backend. The
//! CRT numbers are those of mingw-w64's and the UCRT's `errno.h`.

use unibpf_backend::{Errno, MapKind};

/// The Linux errno for a Windows CRT errno value (positive).
pub fn from_crt(crt: i32) -> Errno {
    let linux = match crt {
        // EPERM..ERANGE: the same numbers on both.
        1..=34 => crt,
        36 => 35,        // EDEADLK
        38 => 36,        // ENAMETOOLONG
        39 => 37,        // ENOLCK
        40 => 38,        // ENOSYS
        41 => 39,        // ENOTEMPTY
        42 => 84,        // EILSEQ
        100 => 98,       // EADDRINUSE
        101 => 99,       // EADDRNOTAVAIL
        103 => 114,      // EALREADY
        105 => 125,      // ECANCELED
        114 => 40,       // ELOOP
        115 => 90,       // EMSGSIZE
        119 => 105,      // ENOBUFS
        120 => 61,       // ENODATA
        129 | 130 => 95, // ENOTSUP, EOPNOTSUPP
        132 => 75,       // EOVERFLOW
        137 => 62,       // ETIME
        138 => 110,      // ETIMEDOUT
        140 => 11,       // EWOULDBLOCK (EAGAIN)
        // Anything else: an I/O error is the honest "failed, unknown why".
        _ => 5,
    };
    Errno(linux)
}

/// A call's return value: Ok for >= 0, else the errno it carries.
pub fn check(ret: i32) -> Result<i32, Errno> {
    if ret >= 0 {
        Ok(ret)
    } else {
        Err(from_crt(ret.checked_neg().unwrap_or(5)))
    }
}

/// efW's `ebpf_map_type_t` (include/ebpf_structs.h) as our MapKind,
/// which numbers map types as Linux does.
pub fn map_kind(efw_type: i32) -> MapKind {
    match efw_type {
        1 => MapKind::Hash,
        2 => MapKind::Array,
        3 => MapKind::ProgArray,
        4 => MapKind::PerCpuHash,
        5 => MapKind::PerCpuArray,
        8 => MapKind::LruHash,
        9 => MapKind::LpmTrie,
        11 => MapKind::LruPerCpuHash,
        13 => MapKind::RingBuf,
        14 => MapKind::PerfEventArray,
        // No Linux counterpart we name (queues, stacks, maps of maps):
        // kept distinct from every Linux number the ABI knows.
        other => MapKind::Other(0x1000 + other.max(0) as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crt_errnos_become_linux_ones() {
        assert_eq!(from_crt(2), Errno::ENOENT);
        assert_eq!(from_crt(22), Errno::EINVAL);
        assert_eq!(from_crt(40), Errno::ENOSYS);
        assert_eq!(from_crt(130), Errno::EOPNOTSUPP);
        assert_eq!(from_crt(119), Errno::ENOBUFS);
        assert_eq!(from_crt(9999), Errno::EIO);
        assert_eq!(check(3), Ok(3));
        assert_eq!(check(-2), Err(Errno::ENOENT));
        assert_eq!(check(i32::MIN), Err(Errno::EIO));
    }

    #[test]
    fn efw_map_types_are_not_linux_numbers() {
        assert_eq!(map_kind(13), MapKind::RingBuf);
        assert_eq!(map_kind(4), MapKind::PerCpuHash);
        assert_eq!(map_kind(2), MapKind::Array);
        assert_eq!(map_kind(10), MapKind::Other(0x100a));
        assert!(!map_kind(27).is_event_source());
    }
}
