//! Run control for one guest instance.
//!
//! A guest runs on its own thread; its controller (a signal handler thread, a
//! `--timeout` timer, an embedding application) holds an `Arc<Control>` and asks it
//! to pause, resume, stop gracefully or be killed. The guest's thread notices at
//! *checkpoints*: every host call, every callback delivery, and periodically while
//! executing wasm code (the runtime refills fuel in slices and checks in between).
//!
//! Blocking host calls wait on [`Control::wake_fd`], an event (an eventfd on
//! Unix) that becomes readable once a stop is requested, so a guest blocked
//! in `poll` or `sleep` sees `-EINTR` at once rather than at the end of its
//! timeout.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use unibpf_backend::{Event, Wake};

/// What the controller wants the guest to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RunState {
    Running = 0,
    Paused = 1,
    /// Graceful stop: blocking host calls return `-EINTR` so the guest's own loop
    /// can end and its libc can flush.
    Stopping = 2,
    /// Forced stop: the guest is unwound at its next checkpoint.
    Killed = 3,
}

impl RunState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => RunState::Running,
            1 => RunState::Paused,
            2 => RunState::Stopping,
            _ => RunState::Killed,
        }
    }
}

/// The guest was killed; the caller must unwind out of the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the guest was force-stopped")]
pub struct Killed;

/// How a [`Control::sleep`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepOutcome {
    Elapsed,
    /// A stop was requested before the time was up.
    Interrupted,
}

pub struct Control {
    state: AtomicU8,
    /// True while the guest's thread is suspended at a checkpoint.
    parked: AtomicBool,
    lock: Mutex<()>,
    changed: Condvar,
    wake: Event,
    /// Run before each sleep of the guest (see [`Control::on_sleep`]).
    on_sleep: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("state", &self.state())
            .finish()
    }
}

impl Control {
    pub fn new() -> std::io::Result<Self> {
        let wake = Event::new()?;
        Ok(Self {
            state: AtomicU8::new(RunState::Running as u8),
            parked: AtomicBool::new(false),
            lock: Mutex::new(()),
            changed: Condvar::new(),
            wake,
            on_sleep: OnceLock::new(),
        })
    }

    pub fn state(&self) -> RunState {
        RunState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// True while the guest is suspended by a pause (not only asked to be):
    /// from then on it runs no guest code and takes no events until resumed.
    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::Acquire)
    }

    /// True once a graceful or forced stop was requested.
    pub fn stop_requested(&self) -> bool {
        matches!(self.state(), RunState::Stopping | RunState::Killed)
    }

    pub fn is_killed(&self) -> bool {
        self.state() == RunState::Killed
    }

    /// Readable once a stop has been requested (it stays readable).
    pub fn wake_fd(&self) -> Wake<'_> {
        self.wake.wake()
    }

    fn transition(&self, f: impl Fn(RunState) -> Option<RunState>) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.state();
        if let Some(next) = f(current) {
            self.state.store(next as u8, Ordering::Release);
            if matches!(next, RunState::Stopping | RunState::Killed) {
                // Level-triggered: it is never cleared, so every later
                // wait on it also returns at once.
                self.wake.signal();
            }
        }
        self.changed.notify_all();
    }

    /// Ask the guest to stop gracefully. Ignored once killed.
    pub fn request_stop(&self) {
        self.transition(|s| match s {
            RunState::Killed => None,
            _ => Some(RunState::Stopping),
        });
    }

    /// The stop sequence: ask the guest to stop, give it `grace` to end, then
    /// force it. `ended(grace)` waits up to `grace` and says whether the
    /// guest ended; it may return early with false (a second Ctrl-C) to
    /// force the stop at once. True when the stop was forced.
    pub fn stop_within(&self, grace: Duration, ended: impl FnOnce(Duration) -> bool) -> bool {
        self.request_stop();
        if ended(grace) {
            return false;
        }
        self.kill();
        true
    }

    /// Force the guest to stop at its next checkpoint.
    pub fn kill(&self) {
        self.transition(|_| Some(RunState::Killed));
    }

    /// Pause a running guest at its next checkpoint.
    pub fn pause(&self) {
        self.transition(|s| (s == RunState::Running).then_some(RunState::Paused));
    }

    pub fn resume(&self) {
        self.transition(|s| (s == RunState::Paused).then_some(RunState::Running));
    }

    /// Called by the guest's thread at checkpoints: blocks while paused and
    /// reports whether the guest must unwind.
    pub fn checkpoint(&self) -> Result<(), Killed> {
        match self.state() {
            RunState::Running | RunState::Stopping => return Ok(()),
            RunState::Killed => return Err(Killed),
            RunState::Paused => {}
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = loop {
            match self.state() {
                RunState::Paused => {
                    self.parked.store(true, Ordering::Release);
                    guard = self.changed.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                RunState::Killed => break Err(Killed),
                _ => break Ok(()),
            }
        };
        self.parked.store(false, Ordering::Release);
        outcome
    }

    /// Has `f` run each time the guest is about to sleep: a guest that
    /// waits has done its setting up (the userspace backend starts a
    /// command it traces then, for modules that never poll). The first
    /// registration stays.
    pub fn on_sleep(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.on_sleep.set(Box::new(f));
    }

    /// Sleeps for `dur` (while paused the clock keeps running), returning early if
    /// a stop is requested.
    pub fn sleep(&self, dur: Duration) -> SleepOutcome {
        if let Some(f) = self.on_sleep.get() {
            f();
        }
        let deadline = Instant::now().checked_add(dur);
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stop_requested() {
                return SleepOutcome::Interrupted;
            }
            let remaining = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(r) if !r.is_zero() => r,
                    _ => return SleepOutcome::Elapsed,
                },
                // Effectively forever: wake up now and then to recheck.
                None => Duration::from_secs(3600),
            };
            guard = self
                .changed
                .wait_timeout(guard, remaining)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl wasmi::errors::HostError for Killed {}

/// The error a host function returns to unwind a killed guest.
pub fn killed_trap(k: Killed) -> wasmi::Error {
    wasmi::Error::host(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn stop_interrupts_sleep_promptly() {
        let c = Arc::new(Control::new().unwrap());
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            let start = Instant::now();
            (c2.sleep(Duration::from_secs(30)), start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        c.request_stop();
        let (outcome, took) = t.join().unwrap();
        assert_eq!(outcome, SleepOutcome::Interrupted);
        assert!(took < Duration::from_secs(5));
        assert!(c.stop_requested());
        assert!(unibpf_backend::wait_readable(
            &[c.wake_fd()],
            Some(Duration::ZERO)
        ));
    }

    #[test]
    fn pause_blocks_checkpoint_until_resume_or_kill() {
        let c = Arc::new(Control::new().unwrap());
        c.pause();
        assert_eq!(c.state(), RunState::Paused);
        assert!(!c.is_parked(), "asked to pause, not parked yet");
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.checkpoint());
        while !c.is_parked() {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!t.is_finished());
        c.resume();
        assert_eq!(t.join().unwrap(), Ok(()));
        assert!(!c.is_parked());

        c.pause();
        let c3 = c.clone();
        let t = std::thread::spawn(move || c3.checkpoint());
        std::thread::sleep(Duration::from_millis(20));
        c.kill();
        assert_eq!(t.join().unwrap(), Err(Killed));
        // A kill cannot be downgraded to a graceful stop.
        c.request_stop();
        assert!(c.is_killed());
    }
}
