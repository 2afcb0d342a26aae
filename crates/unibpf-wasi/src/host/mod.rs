//! What the WASI layer asks of the host system: stdio, terminals, clocks,
//! directories and positioned file I/O. On Unix through its system calls;
//! on Windows through std (paths inside granted directories are resolved
//! by name there: see `fs_windows`).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

/// WASI clock ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    Realtime,
    Monotonic,
    ProcessCpu,
    ThreadCpu,
}

impl Clock {
    pub(crate) fn from_wasi(id: u32) -> crate::errno::WasiResult<Self> {
        Ok(match id {
            0 => Clock::Realtime,
            1 => Clock::Monotonic,
            2 => Clock::ProcessCpu,
            3 => Clock::ThreadCpu,
            _ => return Err(crate::errno::WasiErrno::INVAL),
        })
    }
}
