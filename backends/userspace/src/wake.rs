//! Waking a poller when records are queued: an eventfd the poller waits
//! on beside the runtime's own wake fd.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::eventfd::{EfdFlags, EventFd};

pub struct Wake(EventFd);

impl Wake {
    pub fn new() -> nix::Result<Self> {
        EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC).map(Wake)
    }

    /// Makes the fd readable (a full counter is as good as a write).
    pub fn signal(&self) {
        let _ = self.0.write(1);
    }

    /// Clears it before a poller looks for records, so a signal that
    /// comes after the look wakes the next wait.
    pub fn clear(&self) {
        let _ = self.0.read();
    }
}

impl AsFd for Wake {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
