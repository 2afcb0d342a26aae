use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::time::{clock_getres, clock_gettime, ClockId};
use unibpf_hostcall::Control;

use super::Clock;
use crate::errno::{WasiErrno, WasiResult};

/// A granted or opened directory.
pub(crate) type DirFd = OwnedFd;

/// Why a directory could not be granted.
pub type HostError = nix::errno::Errno;

pub(crate) fn open_dir(path: &Path) -> Result<DirFd, HostError> {
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}

/// Waits for the host's stdin or a stop request, then reads what is there.
/// Reads fd 0 directly: std's buffered stdin could hold bytes poll(2) does
/// not know about.
pub(crate) fn read_stdin(buf: &mut [u8], control: &Control) -> WasiResult<usize> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // SAFETY: fd 0 stays open for the life of the process; it is only
    // borrowed for this call.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    loop {
        let mut fds = [
            PollFd::new(stdin, PollFlags::POLLIN),
            PollFd::new(control.wake_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(std::io::Error::from(e).into()),
        }
        if fds[1].any().unwrap_or(false) {
            return Err(WasiErrno::INTR);
        }
        match nix::unistd::read(stdin, buf) {
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
            other => return other.map_err(|e| std::io::Error::from(e).into()),
        }
    }
}

pub(crate) fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { nix::libc::isatty(fd) == 1 }
}

/// Writes all of `bytes` to the process's stdout (1) or stderr (2).
pub(crate) fn write_stdio(fd: i32, mut bytes: &[u8]) -> WasiResult<()> {
    // SAFETY: 1 and 2 are the process's stdout/stderr, open for its lifetime.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    while !bytes.is_empty() {
        match nix::unistd::write(borrowed, bytes) {
            Ok(0) => return Err(WasiErrno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub(crate) fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

pub(crate) fn write_at(file: &std::fs::File, buf: &[u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::write_at(file, buf, offset)
}

pub(crate) fn borrow_file(file: &std::fs::File) -> BorrowedFd<'_> {
    file.as_fd()
}

fn clock_id(clock: Clock) -> ClockId {
    match clock {
        Clock::Realtime => ClockId::CLOCK_REALTIME,
        Clock::Monotonic => ClockId::CLOCK_MONOTONIC,
        Clock::ProcessCpu => ClockId::CLOCK_PROCESS_CPUTIME_ID,
        Clock::ThreadCpu => ClockId::CLOCK_THREAD_CPUTIME_ID,
    }
}

fn ns(t: nix::sys::time::TimeSpec) -> u64 {
    (t.tv_sec().max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec().max(0) as u64)
}

pub(crate) fn now_ns(clock: Clock) -> WasiResult<u64> {
    Ok(ns(clock_gettime(clock_id(clock))?))
}

pub(crate) fn resolution_ns(clock: Clock) -> WasiResult<u64> {
    Ok(ns(clock_getres(clock_id(clock))?))
}
