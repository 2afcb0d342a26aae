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
/// Writes all of `parts` to the process's stdout (1) or stderr (2).
pub(crate) fn write_stdio(fd: i32, parts: &[&[u8]]) -> WasiResult<()> {
    // SAFETY: 1 and 2 are the process's stdout/stderr, open for its lifetime.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    write_all_vectored(borrowed, parts)
}

/// One writev for all of `parts` (more only when the kernel takes less):
/// a line the guest's libc hands over in pieces reaches a pipe it shares
/// with another writer (a traced command's output) whole, up to PIPE_BUF,
/// instead of with the other's bytes between its pieces.
fn write_all_vectored(fd: BorrowedFd<'_>, parts: &[&[u8]]) -> WasiResult<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| std::io::IoSlice::new(p))
        .collect();
    let mut left = &mut slices[..];
    while !left.is_empty() {
        match nix::sys::uio::writev(fd, left) {
            Ok(0) => return Err(WasiErrno::IO),
            Ok(n) => std::io::IoSlice::advance_slices(&mut left, n),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet-mode pipe returns one write per read: the pieces of one
    /// guest write must arrive as one packet.
    #[test]
    fn the_pieces_of_one_write_go_out_in_one_system_call() {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_DIRECT).expect("a packet-mode pipe");
        write_all_vectored(write.as_fd(), &[b"EXIT pid=42", b"", b" code=3\n"]).expect("writes");
        let mut buf = [0u8; 64];
        let n = nix::unistd::read(&read, &mut buf).expect("reads");
        assert_eq!(&buf[..n], b"EXIT pid=42 code=3\n");
    }
}
