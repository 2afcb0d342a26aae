//! WASI preview1 errno values and the mapping from host errnos.

/// A WASI errno (`__wasi_errno_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasiErrno(pub u16);

#[allow(dead_code)]
impl WasiErrno {
    pub const SUCCESS: Self = Self(0);
    pub const TOOBIG: Self = Self(1);
    pub const ACCES: Self = Self(2);
    pub const AGAIN: Self = Self(6);
    pub const BADF: Self = Self(8);
    pub const BUSY: Self = Self(10);
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
    pub const NAMETOOLONG: Self = Self(37);
    pub const NOENT: Self = Self(44);
    pub const NOMEM: Self = Self(48);
    pub const NOSPC: Self = Self(51);
    pub const NOSYS: Self = Self(52);
    pub const NOTDIR: Self = Self(54);
    pub const NOTEMPTY: Self = Self(55);
    pub const NOTSUP: Self = Self(58);
    pub const NOTTY: Self = Self(59);
    pub const OVERFLOW: Self = Self(61);
    pub const PERM: Self = Self(63);
    pub const PIPE: Self = Self(64);
    pub const ROFS: Self = Self(69);
    pub const SPIPE: Self = Self(70);
    pub const XDEV: Self = Self(75);
    pub const NOTCAPABLE: Self = Self(76);
}

impl From<nix::errno::Errno> for WasiErrno {
    fn from(e: nix::errno::Errno) -> Self {
        Self(unibpf_hostcall::linux_to_wasi(e as i32))
    }
}

impl From<std::io::Error> for WasiErrno {
    fn from(e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => nix::errno::Errno::from_raw(code).into(),
            None => Self::IO,
        }
    }
}

impl From<unibpf_hostcall::GuestFault> for WasiErrno {
    fn from(_: unibpf_hostcall::GuestFault) -> Self {
        Self::FAULT
    }
}

pub type WasiResult<T> = Result<T, WasiErrno>;
