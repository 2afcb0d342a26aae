use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use unibpf_hostcall::Control;

use super::Clock;
use crate::errno::{WasiErrno, WasiResult};

/// A granted or opened directory: its full path on the host. Windows has
/// no `openat`, so paths inside it are resolved by name (see `fs_windows`).
pub(crate) struct DirFd {
    pub(crate) path: PathBuf,
}

/// Why a directory could not be granted.
pub type HostError = std::io::Error;

/// Grants `path`, which must be a directory and not a link to one (a
/// symlink or junction would make the grant's root depend on what it
/// points at later).
pub(crate) fn open_dir(path: &Path) -> Result<DirFd, HostError> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is a symbolic link or junction: grant the directory it points to",
        ));
    }
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    Ok(DirFd {
        path: std::path::absolute(path)?,
    })
}

/// Reads the host's stdin. Unlike on Unix a stop request does not
/// interrupt a read already waiting; it is seen before the read starts.
pub(crate) fn read_stdin(buf: &mut [u8], control: &Control) -> WasiResult<usize> {
    if control.stop_requested() {
        return Err(WasiErrno::INTR);
    }
    Ok(std::io::stdin().lock().read(buf)?)
}

pub(crate) fn is_tty(fd: i32) -> bool {
    use std::io::IsTerminal;
    match fd {
        0 => std::io::stdin().is_terminal(),
        1 => std::io::stdout().is_terminal(),
        _ => std::io::stderr().is_terminal(),
    }
}

/// Writes all of `bytes` to the process's stdout (1) or stderr (2), past
/// std's buffers (the guest's libc buffers for itself).
/// Writes all of `parts` to the process's stdout (1) or stderr (2), as
/// one write (see the Unix version for why).
pub(crate) fn write_stdio(fd: i32, parts: &[&[u8]]) -> WasiResult<()> {
    let bytes = &parts.concat()[..];
    let written = if fd == 1 {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes).and_then(|()| out.flush())
    } else {
        std::io::stderr().lock().write_all(bytes)
    };
    Ok(written?)
}

pub(crate) fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

pub(crate) fn write_at(file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_write(file, buf, offset)
}

/// The monotonic clock's origin: this process's first look at it.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The CPU-time clocks are not kept here: they answer `ENOTSUP`.
pub(crate) fn now_ns(clock: Clock) -> WasiResult<u64> {
    let d = match clock {
        Clock::Realtime => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default(),
        Clock::Monotonic => origin().elapsed(),
        Clock::ProcessCpu | Clock::ThreadCpu => return Err(WasiErrno::NOTSUP),
    };
    Ok(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Instant and SystemTime count in 100 ns steps on Windows.
pub(crate) fn resolution_ns(clock: Clock) -> WasiResult<u64> {
    match clock {
        Clock::Realtime | Clock::Monotonic => Ok(100),
        Clock::ProcessCpu | Clock::ThreadCpu => Err(WasiErrno::NOTSUP),
    }
}
