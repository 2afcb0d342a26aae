//! Waking a poller when records are queued: an event (an eventfd on Unix)
//! the poller waits on beside the runtime's own wake.

use std::sync::atomic::{AtomicBool, Ordering};

use unibpf_backend::Event;

pub struct Wake {
    event: Event,
    /// A poller is about to wait, or waits: the next record must wake it.
    armed: AtomicBool,
}

impl Wake {
    pub fn new() -> std::io::Result<Self> {
        Ok(Wake {
            event: Event::new()?,
            armed: AtomicBool::new(false),
        })
    }

    /// Makes the event readable.
    pub fn signal(&self) {
        self.event.signal();
    }

    /// Called by a poller before it looks for records: a record queued
    /// after the look then signals (see [`Wake::signal_armed`]).
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// For producers, after queueing: signals only if a poller armed the
    /// wake since the last signal, so records queued while the consumer
    /// is busy cost no system call each.
    pub fn signal_armed(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.signal();
        }
    }

    /// Consumes a signal, after a wait it ended.
    pub fn clear(&self) {
        self.event.clear();
    }

    /// What a poller waits on.
    pub fn wake(&self) -> unibpf_backend::Wake<'_> {
        self.event.wake()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use unibpf_backend::wait_readable;

    fn readable(w: &Wake) -> bool {
        wait_readable(&[w.wake()], Some(Duration::ZERO))
    }

    #[test]
    fn producers_signal_only_a_poller_that_armed_once() {
        let w = Wake::new().expect("eventfd");
        w.signal_armed();
        assert!(!readable(&w), "nobody armed it: no signal");
        w.arm();
        w.signal_armed();
        assert!(readable(&w), "an armed wake signals");
        w.clear();
        assert!(!readable(&w));
        w.signal_armed();
        assert!(!readable(&w), "one signal per arming");
        w.signal();
        assert!(readable(&w), "signal() always signals");
    }
}
