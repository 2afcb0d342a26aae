//! WASI errnos: the table lives in unibpf-hostcall, shared with the BPF ABI.

pub use unibpf_hostcall::WasiErrno;

pub type WasiResult<T> = Result<T, WasiErrno>;
