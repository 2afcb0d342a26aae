//! Stepping a thread over a breakpoint it hit.
//!
//! The original instruction has to run in place of the trap. We stop every
//! other thread of the address space (PTRACE_INTERRUPT; a thread already
//! in a stop we have not resumed counts as stopped), then put the original
//! bytes back, single-step the thread, and write the trap again before
//! anything else of that space runs. So no other thread can run the
//! original instruction unnoticed, see a half-restored breakpoint, or miss
//! a hit. Executing the instruction out of line instead would need an
//! instruction decoder to fix up ip-relative operands on x86_64; a stop of
//! the other threads costs more per hit (tens of µs per thread) but is
//! exact for any instruction. With one thread there is nothing to stop.
//!
//! While parked, other threads' stops (their own hits, syscalls, signals,
//! fork and exit events) are kept and handled, in turn, once the step is
//! over. A signal that reaches the stepping thread meanwhile is held back
//! and delivered, with its siginfo, right after the step (the kernel's
//! uprobes do the same); a fault of the instruction itself ends the step
//! and is delivered at once. A group-stop (SIGSTOP) reaching the stepping
//! thread in the middle of its step does not stop that thread.

use std::collections::BTreeSet;

use crate::arch;
use crate::breakpoint::Step;
use crate::sys::{self, Resume};
use crate::task::Task;
use crate::{Event, Tracer};

impl Tracer {
    /// `tid` (stopped at `addr`, ip set back) must run the original
    /// instruction: stop the other threads of its space first.
    pub(crate) fn begin_step(&mut self, space_id: u64, tid: i32, addr: u64) {
        let Some(space) = self.probes.spaces.get(&space_id) else {
            return self.resume_task(tid, self.mode_of(tid), 0);
        };
        let mut waiting = BTreeSet::new();
        for &t in space.members.iter().filter(|&&t| t != tid) {
            if self.tasks.get(&t).is_none_or(|s| s.held) {
                continue;
            }
            match sys::interrupt(t) {
                Ok(()) => {
                    waiting.insert(t);
                }
                // Exiting: it runs no more code of its own.
                Err(e) => tracing::debug!("PTRACE_INTERRUPT {t}: {e}"),
            }
        }
        if let Some(task) = self.tasks.get_mut(&tid) {
            task.held = true;
        }
        let empty = waiting.is_empty();
        if let Some(space) = self.probes.spaces.get_mut(&space_id) {
            space.step = Some(Step {
                stepper: tid,
                addr,
                waiting,
                stepping: false,
                signals: Vec::new(),
            });
        }
        if empty {
            self.single_step(space_id);
        }
    }

    /// Everything else of the space is stopped: original bytes in, one step.
    fn single_step(&mut self, space_id: u64) {
        let Some(space) = self.probes.spaces.get_mut(&space_id) else {
            return;
        };
        let Some((tid, addr)) = space.step.as_ref().map(|s| (s.stepper, s.addr)) else {
            return;
        };
        if let Err(e) = space.disarm(addr) {
            // The memory is going away (the process is dying).
            tracing::warn!("pid {}: cannot step over {addr:#x}: {e}", space.pid);
        }
        if let Some(step) = space.step.as_mut() {
            step.stepping = true;
        }
        if let Some(task) = self.tasks.get_mut(&tid) {
            task.held = false;
        }
        if let Err(e) = sys::resume(tid, Resume::Step, 0) {
            // Killed meanwhile: its exit ends the step.
            tracing::debug!("PTRACE_SINGLESTEP {tid}: {e}");
        }
    }

    /// A stop of another thread of a space with a step under way: keep it
    /// stopped, and keep what it stopped for unless it is our interrupt.
    pub(crate) fn park(&mut self, space_id: u64, tid: i32, sig: i32, event: i32) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        task.held = true;
        let interrupt = event == libc::PTRACE_EVENT_STOP && sig == libc::SIGTRAP;
        if task.fresh && event == libc::PTRACE_EVENT_STOP {
            task.fresh = false;
        } else if !interrupt {
            task.deferred = Some((sig, event));
        }
        self.stop_waiting(space_id, tid);
    }

    fn stop_waiting(&mut self, space_id: u64, tid: i32) {
        let Some(step) = self
            .probes
            .spaces
            .get_mut(&space_id)
            .and_then(|s| s.step.as_mut())
        else {
            return;
        };
        if step.waiting.remove(&tid) && step.waiting.is_empty() && !step.stepping {
            self.single_step(space_id);
        }
    }

    /// A stop of the stepping thread.
    pub(crate) fn stepper_stop(
        &mut self,
        space_id: u64,
        tid: i32,
        sig: i32,
        event: i32,
        on_event: &mut impl FnMut(&Event, &Task),
    ) {
        let step = self
            .probes
            .spaces
            .get_mut(&space_id)
            .and_then(|s| s.step.as_mut());
        let Some(step) = step.filter(|s| s.stepping) else {
            // Held while the others stop, it stopped anyway: killed.
            return self.step_interrupted(space_id, tid, sig, event, on_event);
        };
        if event == 0 && sig != libc::SIGTRAP | 0x80 {
            let info = sys::siginfo(tid).ok();
            let code = info.map(|i| i.si_code);
            if sig == libc::SIGTRAP && code == Some(arch::TRAP_TRACE) {
                self.end_step(space_id, true);
                return self.release_parked(space_id, on_event);
            }
            if let Some(info) = info.filter(|i| !is_fault(sig, i)) {
                // Came from elsewhere: deliver it after the step.
                step.signals.push(info);
                return self.resume(tid, Resume::Step, 0);
            }
        } else if event == libc::PTRACE_EVENT_STOP {
            // An interrupt, or a group-stop: finish the step first.
            return self.resume(tid, Resume::Step, 0);
        }
        // The instruction faulted, or was a syscall that stopped on its
        // way (exec, fork, exit, a traced syscall): the step is over.
        self.step_interrupted(space_id, tid, sig, event, on_event);
    }

    /// Ends the step without resuming the stepper, handles its stop as
    /// usual, then lets the others go.
    fn step_interrupted(
        &mut self,
        space_id: u64,
        tid: i32,
        sig: i32,
        event: i32,
        on_event: &mut impl FnMut(&Event, &Task),
    ) {
        self.end_step(space_id, false);
        self.stopped(tid, sig, event, on_event);
        self.release_parked(space_id, on_event);
    }

    /// The trap goes back in; the stepper goes on (with a signal held back
    /// during the step, if any) when `resume` is set.
    fn end_step(&mut self, space_id: u64, resume: bool) {
        let Some(space) = self.probes.spaces.get_mut(&space_id) else {
            return;
        };
        let Some(step) = space.step.take() else {
            return;
        };
        if step.stepping && space.bps.contains_key(&step.addr) {
            if let Err(e) = space.arm(step.addr) {
                tracing::debug!("pid {}: re-placing {:#x}: {e}", space.pid, step.addr);
            }
        }
        let tid = step.stepper;
        let tgid = self.tasks.get(&tid).map_or(tid, |t| t.tgid);
        let mut signals = step.signals.into_iter();
        if resume {
            let first = signals.next();
            let sig = match first {
                // Delivered with its own siginfo in place of the step's trap.
                Some(info) if sys::set_siginfo(tid, &info).is_ok() => info.si_signo,
                Some(info) => {
                    reraise(tgid, tid, info.si_signo);
                    0
                }
                None => 0,
            };
            self.resume_task(tid, self.mode_of(tid), sig);
        }
        for info in signals {
            reraise(tgid, tid, info.si_signo);
        }
    }

    /// After a step: handles the stops parked threads kept, one by one (one
    /// may start another step), then lets the rest run.
    fn release_parked(&mut self, space_id: u64, on_event: &mut impl FnMut(&Event, &Task)) {
        loop {
            let Some(space) = self.probes.spaces.get(&space_id) else {
                return;
            };
            if space.step.is_some() {
                return;
            }
            let next = space.members.iter().copied().find(|t| {
                self.tasks
                    .get(t)
                    .is_some_and(|s| s.held && s.deferred.is_some())
            });
            let Some(tid) = next else { break };
            let Some((sig, event)) = self.tasks.get_mut(&tid).and_then(|t| {
                t.held = false;
                t.deferred.take()
            }) else {
                continue;
            };
            self.stopped(tid, sig, event, on_event);
        }
        let held: Vec<i32> = self
            .probes
            .spaces
            .get(&space_id)
            .map(|s| s.members.iter().copied().collect())
            .unwrap_or_default();
        for tid in held {
            if self.tasks.get(&tid).is_some_and(|t| t.held) {
                self.resume_task(tid, self.mode_of(tid), 0);
            }
        }
    }

    /// A task of space `id` is gone: the step goes on without it.
    pub(crate) fn step_member_gone(
        &mut self,
        id: u64,
        tid: i32,
        on_event: &mut impl FnMut(&Event, &Task),
    ) {
        let Some(step) = self.probes.spaces.get(&id).and_then(|s| s.step.as_ref()) else {
            return;
        };
        if step.stepper == tid {
            self.end_step(id, false);
            if let Some(t) = self.tasks.get_mut(&tid) {
                t.held = false;
            }
            self.release_parked(id, on_event);
        } else {
            self.stop_waiting(id, tid);
        }
    }
}

/// A signal the instruction itself caused (it did not complete).
fn is_fault(sig: i32, info: &libc::siginfo_t) -> bool {
    info.si_code > 0
        && matches!(
            sig,
            libc::SIGSEGV
                | libc::SIGBUS
                | libc::SIGILL
                | libc::SIGFPE
                | libc::SIGTRAP
                | libc::SIGSYS
        )
}

/// Sends a held-back signal again (its siginfo is lost this way).
fn reraise(tgid: i32, tid: i32, sig: i32) {
    if let Err(e) = sys::tgkill(tgid, tid, sig) {
        tracing::debug!("tid {tid}: signal {sig} lost: {e}");
    }
}
