//! The tracer proper: attaching (spawn or seize), the wait loop that turns
//! ptrace stops into events, and leaving nothing behind.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::sys::ptrace::{self, Options};
use nix::unistd::Pid;

use crate::arch;
use crate::probes::Probes;
use crate::spawn::{self, Spawned};
use crate::sys::{self, Resume, SyscallStop, Wait, NATIVE_AUDIT_ARCH};
use crate::task::{Task, TaskState};
use crate::{Event, Interest, Target, TraceEnd, TraceError};

/// How many times a thread being detached is resumed to let a trap it took
/// be reported first (see `Tracer::drain_trap`).
const MAX_TRAP_DRAINS: u8 = 4;

/// How syscall stops are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyscallMode {
    /// No syscall stops.
    Off,
    /// A seccomp filter in the spawned command stops the chosen syscalls.
    Seccomp,
    /// PTRACE_SYSCALL: every syscall stops twice.
    EveryStop,
}

/// A started trace. Create it and call [`Tracer::run`] on the same thread
/// (it is `!Send`); dropping it without running leaves nothing behind
/// either (a spawned command is killed, a pid is detached).
pub struct Tracer {
    pub(crate) interest: Interest,
    pub(crate) mode: SyscallMode,
    pub(crate) tasks: HashMap<i32, TaskState>,
    pub(crate) probes: Probes,
    /// The first process: the spawned command or the pid.
    pub(crate) leader: i32,
    /// Stops (and ends) seen while seizing a pid, for `run` to handle first.
    pub(crate) early: Vec<(i32, Wait)>,
    spawned: Option<Spawned>,
    released: bool,
    pub(crate) stopping: bool,
    leader_execd: bool,
    leader_status: Option<i32>,
    _one_thread: PhantomData<*const ()>,
}

impl Tracer {
    /// Starts tracing `target`: a command is started but held before its
    /// exec, a pid is seized with all its threads. Nothing is missed until
    /// [`Tracer::run`] lets it go on.
    pub fn start(target: Target, mut interest: Interest) -> Result<Self, TraceError> {
        let probes = Probes::new(std::mem::take(&mut interest.probes))?;
        let mut tracer = Tracer {
            mode: SyscallMode::Off,
            interest,
            tasks: HashMap::new(),
            probes,
            leader: 0,
            early: Vec::new(),
            spawned: None,
            released: false,
            stopping: false,
            leader_execd: false,
            leader_status: None,
            _one_thread: PhantomData,
        };
        match target {
            Target::Spawn { argv } => tracer.start_spawn(&argv)?,
            Target::Pid(pid) => tracer.start_pid(pid)?,
        }
        Ok(tracer)
    }

    /// The pid of the first process (the spawned command or the pid).
    pub fn pid(&self) -> i32 {
        self.leader
    }

    /// Syscall numbers that must stop: the caller's, and execve/execveat
    /// when exec events are wanted (to report the path exec was called with).
    pub(crate) fn stop_numbers(&self) -> Option<Vec<i64>> {
        let sc = &self.interest.syscalls;
        let mut numbers: Vec<i64> = match &sc.numbers {
            _ if sc.is_empty() => Vec::new(),
            None => return None,
            Some(n) => n.iter().copied().collect(),
        };
        if self.interest.exec {
            numbers.extend([libc::SYS_execve, libc::SYS_execveat]);
        }
        Some(numbers)
    }

    pub(crate) fn options(&self) -> Options {
        let mut opts = Options::PTRACE_O_TRACESYSGOOD
            | Options::PTRACE_O_TRACEEXEC
            | Options::PTRACE_O_TRACEFORK
            | Options::PTRACE_O_TRACEVFORK
            | Options::PTRACE_O_TRACECLONE;
        if self.interest.exit {
            opts |= Options::PTRACE_O_TRACEEXIT;
        }
        if self.mode == SyscallMode::Seccomp {
            opts |= Options::PTRACE_O_TRACESECCOMP;
        }
        opts
    }

    fn start_spawn(&mut self, argv: &[std::ffi::OsString]) -> Result<(), TraceError> {
        // Probes need the exits of executable mmaps (libraries mapped).
        let mmaps = self.probes.active();
        let numbers = self.stop_numbers();
        let quiet = numbers.as_ref().is_some_and(|n| n.is_empty()) && !mmaps;
        let filter = match &numbers {
            _ if quiet => None,
            Some(n) => crate::seccomp::trace_filter(n, mmaps),
            None => None,
        };
        self.mode = match (&filter, quiet) {
            (Some(_), _) => SyscallMode::Seccomp,
            (None, true) => SyscallMode::Off,
            (None, false) => SyscallMode::EveryStop,
        };
        let child = spawn::spawn(argv, filter.as_deref())?;
        let pid = child.pid;
        self.leader = pid;
        // Registered first so that Drop kills and reaps it if seizing fails.
        self.tasks.insert(pid, TaskState::new(pid, pid, false));
        let command = child.command.clone();
        self.spawned = Some(child);
        let opts = self.options() | Options::PTRACE_O_EXITKILL;
        ptrace::seize(Pid::from_raw(pid), opts).map_err(|errno| TraceError::Spawn {
            command,
            what: "PTRACE_SEIZE",
            errno,
        })
    }

    /// Lets the target go on: the spawned command to its exec; for a pid,
    /// brings each thread into a stop once so that it resumes with
    /// PTRACE_SYSCALL.
    pub fn release(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        if let Some(child) = &self.spawned {
            if let Err(e) = nix::unistd::write(&child.go, &[1]) {
                tracing::warn!("cannot release pid {}: {e}", child.pid);
            }
        } else if self.mode == SyscallMode::EveryStop {
            for &tid in self.tasks.keys() {
                if let Err(e) = sys::interrupt(tid) {
                    tracing::debug!("PTRACE_INTERRUPT {tid}: {e}");
                }
            }
        }
    }

    /// Lets the target run and calls `on_event` for each event until every
    /// traced task has exited, or `stop` is set (a spawned command is then
    /// killed, a pid detached and left running). `stop` is checked after
    /// each stop of a tracee and whenever a signal interrupts the wait, so
    /// whoever sets it should also signal this thread (as [`TracerHandle`]
    /// does) if the target may be idle.
    ///
    /// [`TracerHandle`]: crate::TracerHandle
    pub fn run(
        mut self,
        mut on_event: impl FnMut(&Event<'_>, &Task<'_>),
        stop: &AtomicBool,
    ) -> Result<TraceEnd, TraceError> {
        self.release();
        for (tid, wait) in std::mem::take(&mut self.early) {
            self.handle_wait(tid, wait, &mut on_event)?;
        }
        while !self.tasks.is_empty() {
            if stop.load(Ordering::Relaxed) && !self.stopping {
                self.begin_stop();
            }
            match sys::wait_any() {
                Ok((tid, wait)) => self.handle_wait(tid, wait, &mut on_event)?,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => {
                    tracing::warn!("tracees vanished without an exit: {:?}", self.tasks.keys());
                    self.tasks.clear();
                }
                Err(errno) => {
                    return Err(TraceError::Ptrace {
                        what: "waitpid",
                        errno,
                    })
                }
            }
        }
        Ok(TraceEnd {
            status: self.leader_status,
            stopped: self.stopping,
        })
    }

    fn handle_wait(
        &mut self,
        tid: i32,
        wait: Wait,
        on_event: &mut impl FnMut(&Event, &Task),
    ) -> Result<(), TraceError> {
        match wait {
            Wait::Gone { status } => self.gone(tid, status, on_event)?,
            Wait::Stopped { sig, event } if self.stopping => self.stop_one(tid, sig, event),
            Wait::Stopped { sig, event } => self.stopped(tid, sig, event, on_event),
        }
        Ok(())
    }

    /// A traced task is gone (and reaped, for those that are our children).
    fn gone(
        &mut self,
        tid: i32,
        status: i32,
        on_event: &mut impl FnMut(&Event, &Task),
    ) -> Result<(), TraceError> {
        self.probes_gone(tid, on_event);
        self.tasks.remove(&tid);
        if tid != self.leader {
            return Ok(());
        }
        self.leader_status = Some(status);
        // The spawned command died before its exec: tell why.
        match (&self.spawned, self.leader_execd) {
            (Some(child), false) => match spawn::read_failure(&child.err) {
                Some((tag, errno)) => Err(if tag == spawn::FAILED_SECCOMP {
                    TraceError::Spawn {
                        command: child.command.clone(),
                        what: "installing the seccomp filter",
                        errno,
                    }
                } else {
                    TraceError::Exec {
                        command: child.command.clone(),
                        errno,
                    }
                }),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    pub(crate) fn resume_mode(&self, task: &TaskState) -> Resume {
        match self.mode {
            SyscallMode::EveryStop => Resume::Syscall,
            SyscallMode::Seccomp if task.want_sys_exit => Resume::Syscall,
            _ => Resume::Cont,
        }
    }

    /// Resumes `tid`; a task killed while stopped is not an error (its exit
    /// is reported by wait).
    pub(crate) fn resume(&self, tid: i32, how: Resume, sig: i32) {
        if let Err(e) = sys::resume(tid, how, sig) {
            tracing::debug!("resuming {tid} ({how:?}): {e}");
        }
    }

    /// The state of `tid`, creating it for a new task whose first stop came
    /// before its parent's fork event.
    fn task_entry(&mut self, tid: i32) -> &mut TaskState {
        self.tasks
            .entry(tid)
            .or_insert_with(|| TaskState::new(tid, read_tgid(tid).unwrap_or(tid), true))
    }

    pub(crate) fn deliver(
        &self,
        tid: i32,
        event: &Event<'_>,
        on_event: &mut impl FnMut(&Event, &Task),
    ) {
        if let Some(state) = self.tasks.get(&tid) {
            on_event(event, &Task { state });
        }
    }

    /// Handles one ptrace-stop while tracing normally.
    pub(crate) fn stopped(
        &mut self,
        tid: i32,
        sig: i32,
        event: i32,
        on_event: &mut impl FnMut(&Event, &Task),
    ) {
        let fresh = self.task_entry(tid).fresh;
        if self.probe_stop(tid, sig, event, on_event) {
            return;
        }
        let mut inject = 0;
        let mut how = None;
        match event {
            0 if sig == libc::SIGTRAP | 0x80 => self.syscall_stop(tid, on_event),
            0 => inject = sig, // signal-delivery-stop: pass the signal on
            libc::PTRACE_EVENT_SECCOMP => self.syscall_stop(tid, on_event),
            libc::PTRACE_EVENT_EXEC => self.exec_stop(tid, on_event),
            libc::PTRACE_EVENT_EXIT => {
                let status = sys::event_msg(tid).unwrap_or(0) as i32;
                if self.interest.exit {
                    self.deliver(tid, &Event::Exit { status }, on_event);
                }
            }
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                self.fork_stop(tid, event, on_event)
            }
            libc::PTRACE_EVENT_STOP if fresh => self.task_entry(tid).fresh = false,
            // Group-stop: stay stopped, but keep reporting (SIGCONT, signals).
            libc::PTRACE_EVENT_STOP if is_stop_signal(sig) => how = Some(Resume::Listen),
            _ => {} // PTRACE_INTERRUPT and the like
        }
        let Some(task) = self.tasks.get(&tid) else {
            return;
        };
        let how = how.unwrap_or_else(|| self.resume_mode(task));
        self.resume(tid, how, inject);
    }

    /// A syscall-enter, syscall-exit or seccomp stop.
    fn syscall_stop(&mut self, tid: i32, on_event: &mut impl FnMut(&Event, &Task)) {
        let info = match sys::syscall_info(tid) {
            Ok(info) => info,
            Err(e) => return tracing::debug!("PTRACE_GET_SYSCALL_INFO {tid}: {e}"),
        };
        let sc = &self.interest.syscalls;
        match info {
            SyscallStop::Enter { arch, nr, args } => {
                // Another ABI's numbers (32-bit compat) are not ours to report.
                let native = Some(arch) == NATIVE_AUDIT_ARCH;
                let wanted = native && sc.contains(nr);
                let want_enter = wanted && sc.enter;
                let seccomp = self.mode == SyscallMode::Seccomp;
                let want_exit = wanted && sc.exit && seccomp;
                // Libraries mapped: probes may have to be placed in them.
                let mapped = seccomp && self.probes.active() && nr == libc::SYS_mmap;
                let capture = native && self.interest.exec && is_exec(nr);
                let task = self.task_entry(tid);
                task.syscall = native.then_some(nr);
                task.want_sys_exit = want_exit || mapped;
                if capture {
                    task.exec_path = exec_path(task, nr, &args);
                }
                if want_enter {
                    self.deliver(tid, &Event::SysEnter { id: nr, args }, on_event);
                }
            }
            SyscallStop::Exit { ret } => {
                let exit = sc.exit;
                let task = self.task_entry(tid);
                task.want_sys_exit = false;
                let Some(id) = task.syscall.take() else {
                    return;
                };
                if id == libc::SYS_mmap && !(-4095..0).contains(&ret) && self.probes.active() {
                    self.probes_rescan(tid);
                }
                if exit && self.interest.syscalls.contains(id) {
                    self.deliver(tid, &Event::SysExit { id, ret }, on_event);
                }
            }
            SyscallStop::Other => {}
        }
    }

    /// PTRACE_EVENT_EXEC: `tid` is now the thread group leader; the thread
    /// that called exec (the event message) may have had another tid.
    fn exec_stop(&mut self, tid: i32, on_event: &mut impl FnMut(&Event, &Task)) {
        let old_tid = sys::event_msg(tid).map_or(tid, |t| t as i32);
        if old_tid != tid {
            if let Some(mut state) = self.tasks.remove(&old_tid) {
                state.tid = tid;
                state.tgid = tid;
                self.tasks.insert(tid, state);
            }
        }
        if tid == self.leader {
            self.leader_execd = true;
        }
        let task = self.task_entry(tid);
        if !std::mem::take(&mut task.exec_before_probes) {
            self.probes_exec(tid, old_tid);
        }
        let task = self.task_entry(tid);
        task.forget_comm();
        let filename = task
            .exec_path
            .take()
            .or_else(|| {
                std::fs::read_link(format!("/proc/{tid}/exe"))
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .unwrap_or_default();
        if self.interest.exec {
            let event = Event::Exec {
                filename: &filename,
                old_tid,
            };
            self.deliver(tid, &event, on_event);
        }
    }

    /// PTRACE_EVENT_FORK/VFORK/CLONE: a new task, auto-attached, will report
    /// a first stop of its own (maybe before this one).
    fn fork_stop(&mut self, tid: i32, event: i32, on_event: &mut impl FnMut(&Event, &Task)) {
        let Ok(child) = sys::event_msg(tid).map(|t| t as i32) else {
            return;
        };
        let parent_tgid = self.task_entry(tid).tgid;
        let child_tgid = self.task_entry(child).tgid;
        if self.interest.fork {
            let thread = child_tgid == parent_tgid && child != child_tgid;
            self.deliver(
                tid,
                &Event::Fork {
                    child_tid: child,
                    thread,
                },
                on_event,
            );
        }
        self.probes_fork(tid, child, event);
    }

    /// Begins stopping early: a spawned command is killed, a pid's threads
    /// are interrupted so that each can be detached at its next stop.
    fn begin_stop(&mut self) {
        self.stopping = true;
        self.released = true;
        if self.spawned.is_some() {
            let tgids: std::collections::BTreeSet<i32> =
                self.tasks.values().map(|t| t.tgid).collect();
            for tgid in tgids {
                kill(tgid);
            }
        } else {
            // Breakpoints out first: a task detached now runs on at once.
            self.probes_remove_all();
            // A thread resumed to drain a trap must not be interrupted
            // again: that stop, too, would come before its trap's.
            for (&tid, _) in self.tasks.iter().filter(|(_, t)| t.draining_trap == 0) {
                if let Err(e) = sys::interrupt(tid) {
                    tracing::debug!("PTRACE_INTERRUPT {tid}: {e}");
                }
            }
        }
    }

    /// Handles a stop while stopping: kill (spawned) or detach (pid).
    pub(crate) fn stop_one(&mut self, tid: i32, sig: i32, event: i32) {
        let tgid = self.task_entry(tid).tgid;
        if self.spawned.is_some() {
            kill(tgid);
            self.resume(tid, Resume::Cont, 0);
            return;
        }
        // A pending signal goes with the detach; a group-stop stays stopped.
        let signal_stop = event == 0 && sig != libc::SIGTRAP | 0x80;
        if !signal_stop && self.drain_trap(tid) {
            return;
        }
        let sig = if signal_stop { sig } else { 0 };
        let sig = self.probes_detach_signal(tid, sig, signal_stop);
        match sys::resume(tid, Resume::Detach, sig) {
            // Killed meanwhile: still ours until wait reports it gone, and
            // its real parent cannot reap it before we do.
            Err(Errno::ESRCH) => {}
            Err(e) => {
                tracing::debug!("detaching {tid}: {e}");
                self.tasks.remove(&tid);
            }
            Ok(()) => {
                self.tasks.remove(&tid);
            }
        }
    }

    /// A PTRACE_INTERRUPT can be reported before the SIGTRAP of a
    /// breakpoint or step the thread has already taken: that signal is
    /// still queued, and once detached it would kill the thread. Such a
    /// thread is resumed instead, so that the trap's own stop comes (where
    /// it is recognised as ours) and the detach happens there.
    fn drain_trap(&mut self, tid: i32) -> bool {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return false;
        };
        // Each of our interrupts still pending (one to park it for a step,
        // one to stop) brings one more such stop; more means something
        // else keeps stopping it, and it is detached as it is.
        if task.draining_trap >= MAX_TRAP_DRAINS || task.space.is_none() {
            return false;
        }
        match sys::trap_queued(tid, &[arch::TRAP_CODE, arch::TRAP_TRACE]) {
            Ok(true) => {
                task.draining_trap += 1;
                task.held = false;
                self.resume(tid, Resume::Cont, 0);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::debug!("tid {tid}: cannot see its queued signals: {e}");
                false
            }
        }
    }

    /// Stops early without callbacks and waits until nothing is traced.
    fn shutdown(&mut self) {
        if !self.stopping {
            self.begin_stop();
        }
        // Stopped already: no wait reports these again.
        for (tid, wait) in std::mem::take(&mut self.early) {
            match wait {
                Wait::Gone { .. } => drop(self.tasks.remove(&tid)),
                Wait::Stopped { sig, event } => self.stop_one(tid, sig, event),
            }
        }
        while !self.tasks.is_empty() {
            match sys::wait_any() {
                Ok((tid, Wait::Gone { .. })) => {
                    self.tasks.remove(&tid);
                }
                Ok((tid, Wait::Stopped { sig, event })) => self.stop_one(tid, sig, event),
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::warn!("giving up on tracees {:?}: {e}", self.tasks.keys());
                    self.tasks.clear();
                }
            }
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if !self.tasks.is_empty() {
            self.shutdown();
        }
    }
}

fn kill(tgid: i32) {
    // SAFETY: kill has no memory effects; the tgid is a tracee of ours, so
    // it cannot be reused before we have seen it exit.
    if unsafe { libc::kill(tgid, libc::SIGKILL) } != 0 {
        tracing::debug!("kill {tgid}: {}", Errno::last());
    }
}

fn is_exec(nr: i64) -> bool {
    nr == libc::SYS_execve || nr == libc::SYS_execveat
}

fn is_stop_signal(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
    )
}

/// The path an exec call names, as the kernel's bprm->filename would have
/// it (execveat with a relative path: left to /proc/PID/exe).
fn exec_path(task: &TaskState, nr: i64, args: &[u64; 6]) -> Option<String> {
    let task = Task { state: task };
    let addr = if nr == libc::SYS_execve {
        args[0]
    } else {
        args[1]
    };
    let mut buf = vec![0u8; 4096];
    let n = task.read_c_string(addr, &mut buf).ok()?;
    let path = String::from_utf8_lossy(&buf[..n.saturating_sub(1)]).into_owned();
    (nr == libc::SYS_execve || path.starts_with('/')).then_some(path)
}

/// The thread group of `tid`, from /proc (which lists threads by tid too).
pub(crate) fn read_tgid(tid: i32) -> Option<i32> {
    status_field(tid, "Tgid:")?.parse().ok()
}

/// A field of /proc/<tid>/status (`name` with its colon), trimmed; None
/// when the task is gone.
pub(crate) fn status_field(tid: i32, name: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
}
