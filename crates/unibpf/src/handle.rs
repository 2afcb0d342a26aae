use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use unibpf_hostcall::{Control, RunState};

use crate::error::RunError;

/// How a module ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The guest finished on its own: `main` returned or it called `proc_exit`.
    Code(u32),
    /// The guest ended after a stop was requested: gracefully (with the status it
    /// chose) or, when it did not finish within the grace period, force-stopped.
    Stopped { forced: bool },
}

impl Exit {
    /// The process exit status a CLI should use: the guest's own status, or 0
    /// after a requested stop.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(c) => c as i32,
            Exit::Stopped { .. } => 0,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exited with status {c}"),
            Exit::Stopped { forced: false } => f.write_str("stopped"),
            Exit::Stopped { forced: true } => f.write_str("force-stopped"),
        }
    }
}

#[derive(Default)]
pub(crate) struct Done {
    finished: Mutex<bool>,
    cv: Condvar,
}

impl Done {
    pub(crate) fn set(&self) {
        *self.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }

    fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut done = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            done = self
                .cv
                .wait_timeout(done, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// Controls one running module.
pub struct ModuleHandle {
    pub(crate) control: Arc<Control>,
    pub(crate) done: Arc<Done>,
    pub(crate) thread: JoinHandle<Result<Exit, RunError>>,
    pub(crate) grace: Duration,
}

impl ModuleHandle {
    /// Suspends the guest at its next checkpoint (host call or fuel slice).
    pub fn pause(&self) {
        self.control.pause();
    }

    pub fn resume(&self) {
        self.control.resume();
    }

    /// Asks the guest to stop: its blocking calls return `-EINTR`.
    pub fn request_stop(&self) {
        self.control.request_stop();
    }

    /// Stops the guest at its next checkpoint, even inside a callback.
    pub fn kill(&self) {
        self.control.kill();
    }

    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// True once [`pause`](Self::pause) was asked for (it takes effect at
    /// the guest's next checkpoint; see [`is_parked`](Self::is_parked)).
    pub fn is_paused(&self) -> bool {
        self.control.state() == RunState::Paused
    }

    /// True while the guest is actually suspended: it runs no code and
    /// takes no events until [`resume`](Self::resume).
    pub fn is_parked(&self) -> bool {
        self.control.is_parked()
    }

    /// Waits up to `timeout` for the module to end; true if it did.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.done.wait(timeout)
    }

    /// A shareable handle to this module's control, e.g. for a signal thread.
    pub fn control(&self) -> Arc<Control> {
        self.control.clone()
    }

    /// Waits for the module to end.
    pub fn join(self) -> Result<Exit, RunError> {
        self.thread.join().unwrap_or(Err(RunError::Panicked))
    }

    /// Graceful stop, then a forced one if the guest has not ended within
    /// `grace`; returns how it ended. Everything it attached is detached.
    pub fn terminate(self, grace: Duration) -> Result<Exit, RunError> {
        self.control
            .stop_within(grace, |grace| self.done.wait(grace));
        self.join()
    }

    /// [`terminate`](Self::terminate) with the runtime's configured grace period.
    pub fn stop(self) -> Result<Exit, RunError> {
        let grace = self.grace;
        self.terminate(grace)
    }
}
