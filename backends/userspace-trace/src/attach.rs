//! Seizing a running process: every thread it has, including those its
//! threads start while we seize them.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::unistd::Pid;

use crate::sys::{self, Resume, Wait};
use crate::task::TaskState;
use crate::tracer::{read_tgid, status_field, SyscallMode, Tracer};
use crate::TraceError;

impl Tracer {
    pub(crate) fn start_pid(&mut self, pid: i32) -> Result<(), TraceError> {
        let tgid = read_tgid(pid).ok_or(TraceError::NoSuchProcess(pid))?;
        self.leader = tgid;
        self.mode = match self.stop_numbers() {
            Some(n) if self.interest.syscalls.is_empty() || n.is_empty() => SyscallMode::Off,
            _ => SyscallMode::EveryStop,
        };
        // Threads may start while we seize: list again until nothing is new
        // (threads started by seized ones are followed by TRACECLONE).
        // Seized threads stay stopped until the probes are placed, so that
        // none is inside an execve meanwhile.
        let mut parked = Vec::new();
        let result = loop {
            let seized = match self.seize_unknown_threads(pid, tgid) {
                Ok(seized) => seized,
                Err(e) => break Err(e),
            };
            if self.tasks.is_empty() {
                break Err(TraceError::NoSuchProcess(pid));
            }
            if seized.is_empty() {
                break self.probes_seized(tgid);
            }
            self.settle_seized(&seized, &mut parked);
        };
        for tid in parked {
            self.resume(tid, Resume::Cont, 0);
        }
        result
    }

    /// Seizes the threads of `tgid` we do not know yet; returns those.
    fn seize_unknown_threads(&mut self, pid: i32, tgid: i32) -> Result<Vec<i32>, TraceError> {
        let opts = self.options();
        let mut seized = Vec::new();
        for tid in list_threads(tgid) {
            if self.tasks.contains_key(&tid) {
                continue;
            }
            match ptrace::seize(Pid::from_raw(tid), opts) {
                Ok(()) => {
                    self.tasks.insert(tid, TaskState::new(tid, tgid, false));
                    seized.push(tid);
                }
                Err(Errno::ESRCH) => {}
                Err(Errno::EPERM) => match why_refused(tid) {
                    // Its first stop comes as a new task's.
                    Refused::TracedByUs => {
                        self.tasks.insert(tid, TaskState::new(tid, tgid, true));
                    }
                    Refused::Exiting => {}
                    Refused::Really => {
                        return Err(TraceError::Attach {
                            pid,
                            errno: Errno::EPERM,
                        })
                    }
                },
                Err(errno) => return Err(TraceError::Attach { pid, errno }),
            }
        }
        Ok(seized)
    }

    /// Brings each just-seized thread to a stop. A thread seized while
    /// inside clone() may start a thread that is not traced, and that
    /// thread would die on our first breakpoint; once every seized thread
    /// has stopped, any such thread is in the list for the next round.
    /// Threads in our interrupt's stop are added to `parked`; any other
    /// stop (a signal, an event) is kept for [`Tracer::run`] to handle.
    fn settle_seized(&mut self, seized: &[i32], parked: &mut Vec<i32>) {
        for &tid in seized {
            if let Err(e) = sys::interrupt(tid) {
                tracing::debug!("PTRACE_INTERRUPT {tid}: {e}");
            }
        }
        for &tid in seized {
            match wait_for_stop(tid) {
                Some(Wait::Stopped { sig, event })
                    if event == libc::PTRACE_EVENT_STOP && sig == libc::SIGTRAP =>
                {
                    parked.push(tid)
                }
                Some(wait @ Wait::Stopped { event, .. }) if event == libc::PTRACE_EVENT_EXEC => {
                    // Seized while inside execve: the probes placed once
                    // seizing is done go into the new image already.
                    if let Some(task) = self.tasks.get_mut(&tid) {
                        task.exec_before_probes = true;
                    }
                    self.early.push((tid, wait))
                }
                Some(wait) => self.early.push((tid, wait)),
                None => {}
            }
        }
    }
}

/// The next stop (or end) of `tid`, or `None` when none will come soon:
/// it is gone, or a thread group leader that has exited ahead of its other
/// threads (its end is reported only after theirs).
fn wait_for_stop(tid: i32) -> Option<Wait> {
    loop {
        match sys::try_wait(tid) {
            Ok(Some(wait)) => return Some(wait),
            Ok(None) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => {
                tracing::debug!("waiting for {tid}: {e}");
                return None;
            }
        }
        if exiting(tid) {
            return None;
        }
        // Stops after an interrupt come within microseconds, unless the
        // thread is in an uninterruptible sleep: then when it leaves it.
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Why seizing `tid` was refused (EPERM), when that is not a real refusal.
enum Refused {
    /// Already traced by this thread: auto-attached (TRACECLONE) when a
    /// thread we seized started it.
    TracedByUs,
    /// Exiting or gone: nothing left to trace.
    Exiting,
    /// Someone else traces it, or we may not.
    Really,
}

fn why_refused(tid: i32) -> Refused {
    let us = nix::unistd::gettid().as_raw().to_string();
    if status_field(tid, "TracerPid:").is_some_and(|t| t == us) {
        Refused::TracedByUs
    } else if exiting(tid) {
        Refused::Exiting
    } else {
        Refused::Really
    }
}

/// Whether `tid` is a zombie, dead or gone.
fn exiting(tid: i32) -> bool {
    status_field(tid, "State:").is_none_or(|s| s.starts_with(['Z', 'X']))
}

fn list_threads(tgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{tgid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}
