//! A tracer on a thread of its own, which the rest of the program can
//! release, stop and join.
//!
//! The tracer thread spends its time blocked in waitpid, which nothing but a
//! tracee's stop or a signal ends. To stop it while the target is idle we
//! send its thread [`wake_signal`], whose handler does nothing: it is there
//! only so that waitpid fails with EINTR and the loop sees the stop flag.

use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Event, Interest, Target, Task, TraceEnd, TraceError, Tracer};

/// Which real-time signal (counted down from SIGRTMAX) wakes a tracer
/// thread; programs rarely use the top of the range.
pub const WAKE_SIGNAL_OFFSET: i32 = 6;

/// The signal sent to a tracer thread to make it look at its stop flag.
pub fn wake_signal() -> i32 {
    libc::SIGRTMAX() - WAKE_SIGNAL_OFFSET
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Installs the do-nothing handler once, without SA_RESTART so that a
/// blocked waitpid returns EINTR. A handler someone else installed is kept.
fn install_wake_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sigaction with zeroed (then filled) structs; the handler is
        // async-signal-safe (it does nothing).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(wake_signal(), std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
            {
                tracing::warn!(
                    "signal {} already has a handler; stopping a tracer may be slow",
                    wake_signal()
                );
                return;
            }
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(wake_signal(), &act, std::ptr::null_mut());
        }
    });
}

/// Makes sure the wake signal reaches this thread even if the thread that
/// spawned it had blocked it.
fn unblock_wake_signal() {
    // SAFETY: plain signal-mask calls on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, wake_signal());
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// (released, finished)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, (bool, bool)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Marks tracing finished when the tracer thread ends, even by a panic.
struct Finished(Arc<Shared>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.lock().1 = true;
        self.0.changed.notify_all();
    }
}

/// A tracer running on its own thread. Dropping it stops tracing (a
/// spawned command is killed, a pid detached) and joins the thread.
pub struct TracerHandle {
    thread: Option<JoinHandle<Result<TraceEnd, TraceError>>>,
    shared: Arc<Shared>,
    pid: i32,
}

impl Tracer {
    /// Starts tracing `target` on a new thread that calls `on_event` for
    /// each event. Returns once the target is attached and held (a command
    /// before its exec); [`TracerHandle::release`] lets it go on.
    pub fn spawn_thread(
        target: Target,
        interest: Interest,
        mut on_event: impl FnMut(&Event<'_>, &Task<'_>) + Send + 'static,
    ) -> Result<TracerHandle, TraceError> {
        install_wake_handler();
        let shared = Arc::new(Shared::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let inner = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("unibpf-trace".into())
            .spawn(move || {
                let _finished = Finished(Arc::clone(&inner));
                unblock_wake_signal();
                let tracer = match Tracer::start(target, interest) {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(TraceEnd {
                            status: None,
                            stopped: true,
                        });
                    }
                };
                let _ = ready_tx.send(Ok(tracer.pid()));
                let mut guard = inner.lock();
                while !guard.0 && !inner.stop.load(Ordering::SeqCst) {
                    guard = inner.changed.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                drop(guard);
                tracer.run(&mut on_event, &inner.stop)
            })
            .map_err(|e| TraceError::Thread(e.to_string()))?;
        let pid = match ready_rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(TraceError::Panicked);
            }
        };
        Ok(TracerHandle {
            thread: Some(thread),
            shared,
            pid,
        })
    }
}

impl TracerHandle {
    /// The pid of the first process (the spawned command, or the pid).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Lets the target run (a spawned command goes on to its exec).
    pub fn release(&self) {
        self.shared.lock().0 = true;
        self.shared.changed.notify_all();
    }

    /// Asks the tracer to stop; returns at once (see [`TracerHandle::join`]).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        self.wake();
    }

    fn wake(&self) {
        if let Some(thread) = &self.thread {
            // SAFETY: the thread is not joined yet, so its pthread_t is valid
            // (pthread_kill on one that has finished is harmless).
            unsafe { libc::pthread_kill(thread.as_pthread_t(), wake_signal()) };
        }
    }

    /// Whether tracing has ended (every traced task exited, or stopped).
    pub fn finished(&self) -> bool {
        self.shared.lock().1
    }

    /// Waits up to `timeout` for tracing to end; true if it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.shared.lock();
        while !guard.1 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let slice = left.min(Duration::from_millis(20));
            guard = match self.shared.changed.wait_timeout(guard, slice) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
            // A wake signal can arrive just before the thread blocks in
            // waitpid, and then it is lost: send it again.
            if !guard.1 && self.shared.stop.load(Ordering::SeqCst) {
                self.wake();
            }
        }
        true
    }

    /// Waits until tracing ends and tells how.
    pub fn join(mut self) -> Result<TraceEnd, TraceError> {
        self.join_inner()
    }

    fn join_inner(&mut self) -> Result<TraceEnd, TraceError> {
        while !self.wait_timeout(Duration::from_secs(3600)) {}
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| TraceError::Panicked)?,
            None => Err(TraceError::Panicked),
        }
    }
}

impl Drop for TracerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
            if let Err(e) = self.join_inner() {
                tracing::warn!("tracing ended with an error: {e}");
            }
        }
    }
}
