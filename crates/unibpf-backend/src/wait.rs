//! Waiting on the fds a poller watches (its records' and the runtime's
//! wake fd).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Waits until one of `fds` is readable or `timeout` passes (forever when
/// None); true if one is. A timeout is rounded up to whole milliseconds,
/// so a sub-millisecond rest still waits.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> bool {
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
