use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

/// What a waiter borrows to wait on: any fd (an [`Event`]'s, a ring
/// buffer's, a socket's).
pub type Wake<'a> = BorrowedFd<'a>;

/// An eventfd that stays readable from [`Event::signal`] to
/// [`Event::clear`].
#[derive(Debug)]
pub struct Event(EventFd);

impl Event {
    pub fn new() -> std::io::Result<Self> {
        let fd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        Ok(Event(fd))
    }

    /// Makes it readable (a full counter is as good as a write).
    pub fn signal(&self) {
        let _ = self.0.write(1);
    }

    /// Makes it unreadable until the next signal.
    pub fn clear(&self) {
        let _ = self.0.read();
    }

    pub fn wake(&self) -> Wake<'_> {
        self.0.as_fd()
    }
}

impl AsFd for Event {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Waits until one of `fds` is readable or `timeout` passes (forever when
/// None); true if one is. A timeout is rounded up to whole milliseconds,
/// so a sub-millisecond rest still waits.
pub fn wait_readable(fds: &[Wake<'_>], timeout: Option<Duration>) -> bool {
    let timeout = timeout.map_or(PollTimeout::NONE, |d| {
        let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
    });
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    matches!(poll(&mut polled, timeout), Ok(n) if n > 0)
}
