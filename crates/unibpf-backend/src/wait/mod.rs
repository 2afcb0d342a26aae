//! Waiting for records or for a stop: a level-triggered [`Event`] and
//! [`wait_readable`] over several of them (and, on Unix, over any fd a
//! poller watches). An eventfd and `poll` on Unix, an event object and
//! `WaitForMultipleObjects` on Windows; [`Wake`] is what a waiter borrows.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::{wait_readable, Event, Wake};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::{wait_readable, Event, Wake};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn event_is_level_triggered_until_cleared() {
        let e = Event::new().unwrap();
        assert!(!wait_readable(&[e.wake()], Some(Duration::ZERO)));
        e.signal();
        e.signal();
        assert!(wait_readable(&[e.wake()], Some(Duration::ZERO)));
        assert!(wait_readable(&[e.wake()], None), "still set");
        e.clear();
        assert!(!wait_readable(&[e.wake()], Some(Duration::ZERO)));
    }

    #[test]
    fn a_timeout_waits_its_time() {
        let e = Event::new().unwrap();
        let start = Instant::now();
        assert!(!wait_readable(
            &[e.wake()],
            Some(Duration::from_micros(1500))
        ));
        assert!(start.elapsed() >= Duration::from_millis(1));
    }
}
