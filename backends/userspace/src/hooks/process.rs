//! Hooks on processes without kernel eBPF: syscall enter/exit,
//! `sched_process_exec/exit/fork` and uprobes, taken from a command unibpf
//! starts or a running process by ptrace (`unibpf-trace`), each event
//! turned into the record the kernel would give (a tracepoint's record,
//! the registers as `pt_regs`) and run through the programs attached to it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use unibpf_trace::{Event, Interest, Probe, ProbeKind, SyscallSet, Target, Tracer, TracerHandle};

use super::context;
use super::syscalls;
use super::uprobe::{self, ProbePoint};
use crate::helpers::task::{Fault, Task};
use crate::object::ObjectCore;

/// Which process event a program runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessHook {
    /// `syscalls/sys_enter_NAME` (`Some(nr)`) or `raw_syscalls/sys_enter`.
    SysEnter(Option<i64>),
    SysExit(Option<i64>),
    Exec,
    Exit,
    Fork,
    /// A breakpoint on an instruction (`ret`: on the return of the
    /// function that starts there).
    Uprobe {
        point: ProbePoint,
        ret: bool,
    },
}

impl ProcessHook {
    /// The hook of tracepoint `category/name`, or why there is none.
    pub fn of_tracepoint(category: &str, name: &str) -> Result<Self, String> {
        let syscall = |n: &str| {
            syscalls::number(n).ok_or_else(|| {
                format!("this architecture has no syscall {n} (tracepoint {category}/{name})")
            })
        };
        Ok(match (category, name) {
            ("syscalls", n) if n.starts_with("sys_enter_") => {
                ProcessHook::SysEnter(Some(syscall(&n["sys_enter_".len()..])?))
            }
            ("syscalls", n) if n.starts_with("sys_exit_") => {
                ProcessHook::SysExit(Some(syscall(&n["sys_exit_".len()..])?))
            }
            ("raw_syscalls", "sys_enter") => ProcessHook::SysEnter(None),
            ("raw_syscalls", "sys_exit") => ProcessHook::SysExit(None),
            ("sched", "sched_process_exec") => ProcessHook::Exec,
            ("sched", "sched_process_exit") => ProcessHook::Exit,
            ("sched", "sched_process_fork") => ProcessHook::Fork,
            _ => {
                return Err(format!(
                    "tracepoint {category}/{name} has no userspace source (syscalls/*, \
                     raw_syscalls/*, sched/sched_process_exec|exit|fork do)"
                ))
            }
        })
    }
}

/// A program attached to a process hook.
struct Attachment {
    /// Names the attachment to the tracer (its probes' id).
    serial: u32,
    /// Which loaded object attached it, so dropping the object detaches.
    owner: usize,
    core: Arc<ObjectCore>,
    program: usize,
    hook: ProcessHook,
}

/// The processes a module's userspace programs see, and the tracer that
/// watches them once they are released.
pub struct ProcessHooks {
    target: Option<Target>,
    attached: Arc<Mutex<Vec<Attachment>>>,
    tracer: Mutex<Option<TracerHandle>>,
    next_serial: AtomicU32,
    /// A pid that can no longer be traced (it ended, or seizing it again
    /// failed): tracing is over for good.
    over: std::sync::atomic::AtomicBool,
    /// The module attached a program (of any kind) through this backend.
    attached_any: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProcessHooks {
    /// Hooks on `target` (None: no process was named, and attaching says
    /// how to name one).
    pub fn new(target: Option<Target>) -> Self {
        Self {
            target,
            attached: Arc::new(Mutex::new(Vec::new())),
            tracer: Mutex::new(None),
            next_serial: AtomicU32::new(0),
            over: std::sync::atomic::AtomicBool::new(false),
            attached_any: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether a process was named to trace.
    pub fn has_target(&self) -> bool {
        self.target.is_some()
    }

    /// Attaches program `program` of `core` to `hook`.
    pub fn attach(
        &self,
        owner: usize,
        core: &Arc<ObjectCore>,
        program: usize,
        hook: ProcessHook,
    ) -> Result<(), String> {
        if self.target.is_none() {
            return Err(
                "the userspace backend traces the processes it is given: run with \
                        --cmd 'COMMAND ARGS' or --pid PID"
                    .into(),
            );
        }
        let running = lock(&self.tracer).is_some();
        if running && self.is_spawn() {
            tracing::warn!(
                "a program attached after the command started: it sees only events the \
                 tracer already stops for"
            );
        }
        lock(&self.attached).push(Attachment {
            serial: self.next_serial.fetch_add(1, Ordering::Relaxed),
            owner,
            core: Arc::clone(core),
            program,
            hook,
        });
        // A running process is traced from the attach on, as a kernel hook
        // would be: the guest may act on it before it first polls.
        if !self.is_spawn() {
            self.retrace()?;
        }
        Ok(())
    }

    fn is_spawn(&self) -> bool {
        matches!(self.target, Some(Target::Spawn { .. }))
    }

    /// Detaches everything `owner` attached.
    pub fn detach_all(&self, owner: usize) {
        lock(&self.attached).retain(|a| a.owner != owner);
        if !self.is_spawn() && lock(&self.tracer).is_some() {
            if let Err(why) = self.retrace() {
                tracing::debug!("tracing the rest after a detach: {why}");
            }
        }
    }

    /// Notes that the module attached a program, of any kind: see
    /// [`ProcessHooks::release_when_settled`].
    pub fn note_attach(&self) {
        self.attached_any.store(true, Ordering::SeqCst);
    }

    /// [`ProcessHooks::release`] once the module has attached something:
    /// for a guest that waits (sleeps) after attaching without polling or
    /// reading a map, as packet counters that print at exit do; its
    /// command must run for it to see anything. A failure to start the
    /// command is logged here, and returned by the next poll or map read.
    pub fn release_when_settled(&self) {
        if !self.attached_any.load(Ordering::SeqCst) {
            return;
        }
        if let Err(why) = self.release() {
            tracing::warn!("starting the traced command: {why}");
        }
    }

    /// Starts tracing with what is attached now and lets the target run.
    /// Called when the guest starts consuming (its first poll or map
    /// read): by then it has attached what it wanted. Later calls do
    /// nothing. (A pid is traced from its first attach on.)
    pub fn release(&self) -> Result<(), String> {
        let mut tracer = lock(&self.tracer);
        if tracer.is_some() || !self.is_spawn() {
            return Ok(());
        }
        *tracer = self.start()?;
        Ok(())
    }

    /// A tracer for what is attached now, let go at once; None without a
    /// target.
    fn start(&self) -> Result<Option<TracerHandle>, String> {
        let Some(target) = self.target.clone() else {
            return Ok(None);
        };
        let interest = interest(&lock(&self.attached));
        let attached = Arc::clone(&self.attached);
        let handle = Tracer::spawn_thread(target, interest, move |event, task| {
            deliver(&attached, event, task)
        })
        .map_err(|e| e.to_string())?;
        handle.release();
        Ok(Some(handle))
    }

    /// Traces a pid again with what is attached now: the tracer's
    /// interest is fixed when it starts, so a new one replaces it (the
    /// old one detaches first, leaving the process as it found it).
    /// Nothing attached: no tracer at all.
    fn retrace(&self) -> Result<(), String> {
        let mut tracer = lock(&self.tracer);
        if let Some(old) = tracer.take() {
            old.stop();
            match old.join() {
                Ok(end) if end.status.is_some() => {
                    self.over.store(true, Ordering::SeqCst);
                    return Err("the traced process has exited".into());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("tracing ended with an error: {e}"),
            }
        }
        if lock(&self.attached).is_empty() {
            return Ok(());
        }
        *tracer = self
            .start()
            .inspect_err(|_| self.over.store(true, Ordering::SeqCst))?;
        Ok(())
    }

    /// Whether the traced processes have all exited (or tracing stopped).
    pub fn finished(&self) -> bool {
        self.over.load(Ordering::SeqCst)
            || lock(&self.tracer).as_ref().is_some_and(|t| t.finished())
    }
}

impl Drop for ProcessHooks {
    fn drop(&mut self) {
        if let Some(t) = lock(&self.tracer).take() {
            t.stop();
            if let Err(e) = t.join() {
                tracing::warn!("tracing ended with an error: {e}");
            }
        }
    }
}

/// What the tracer must stop for to serve `attached`.
fn interest(attached: &[Attachment]) -> Interest {
    let mut numbers = std::collections::BTreeSet::new();
    let (mut all, mut enter, mut exit) = (false, false, false);
    let mut i = Interest {
        syscalls: SyscallSet::none(),
        ..Interest::default()
    };
    for a in attached {
        match &a.hook {
            ProcessHook::SysEnter(nr) | ProcessHook::SysExit(nr) => {
                match nr {
                    Some(nr) => {
                        numbers.insert(*nr);
                    }
                    None => all = true,
                }
                enter |= matches!(a.hook, ProcessHook::SysEnter(_));
                exit |= matches!(a.hook, ProcessHook::SysExit(_));
            }
            ProcessHook::Exec => i.exec = true,
            ProcessHook::Exit => i.exit = true,
            ProcessHook::Fork => i.fork = true,
            ProcessHook::Uprobe { point, ret } => i.probes.push(Probe {
                id: a.serial,
                file: point.file.clone(),
                offset: point.offset,
                kind: if *ret {
                    ProbeKind::Return
                } else {
                    ProbeKind::Entry
                },
            }),
        }
    }
    if enter || exit {
        i.syscalls = if all {
            SyscallSet::all(enter, exit)
        } else {
            SyscallSet::only(numbers, enter, exit)
        };
    }
    i
}

/// The traced task as helpers see it.
struct TracedTask<'a, 't> {
    task: &'a unibpf_trace::Task<'t>,
    exit_status: i32,
}

impl Task for TracedTask<'_, '_> {
    fn tid(&self) -> u32 {
        self.task.tid() as u32
    }
    fn tgid(&self) -> u32 {
        self.task.tgid() as u32
    }
    fn parent_tgid(&self) -> u32 {
        self.task.ppid() as u32
    }
    fn uid_gid(&self) -> (u32, u32) {
        self.task.uid_gid()
    }
    fn comm(&self) -> [u8; 16] {
        self.task.comm()
    }
    fn start_ns(&self) -> (u64, u64) {
        // /proc gives boot-time ns; the monotonic clock differs from it by
        // the time spent suspended, which is read now.
        let boot = self.task.start_time_ns();
        let skew =
            crate::helpers::clock::boot_ns().saturating_sub(crate::helpers::clock::monotonic_ns());
        (boot.saturating_sub(skew), boot)
    }
    fn exit_status(&self) -> i32 {
        self.exit_status
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.task.read_memory(addr, buf).map_err(|_| Fault)
    }
    fn read_str(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Fault> {
        self.task.read_c_string(addr, buf).map_err(|_| Fault)
    }
}

/// Runs every program attached to what `event` is.
fn deliver(attached: &Mutex<Vec<Attachment>>, event: &Event<'_>, task: &unibpf_trace::Task<'_>) {
    let exit_status = match event {
        Event::Exit { status } => *status,
        _ => 0,
    };
    let traced = TracedTask { task, exit_status };
    let record = match event {
        Event::Probe { .. } => match task.regs() {
            Ok(regs) => uprobe::pt_regs(&regs),
            Err(errno) => {
                tracing::debug!(
                    "uprobe hit by {}: registers unreadable: {errno}",
                    task.tid()
                );
                return;
            }
        },
        _ => context::record(event, &traced),
    };
    let attached = lock(attached);
    for a in attached.iter().filter(|a| matches(a, event)) {
        let name = &a.core.programs[a.program].name;
        let mut print = |line: &str| {
            tracing::info!(
                "bpf_trace_printk from {name}: {}",
                unibpf_backend::Escaped(line)
            )
        };
        // Each program gets the record as the tracepoint wrote it: a
        // program may write its context.
        let mut ctx = record.clone();
        let _ = a.core.run(a.program, &mut ctx, &traced, &mut print);
    }
}

fn matches(a: &Attachment, event: &Event<'_>) -> bool {
    match (&a.hook, event) {
        (ProcessHook::SysEnter(nr), Event::SysEnter { id, .. })
        | (ProcessHook::SysExit(nr), Event::SysExit { id, .. }) => nr.is_none_or(|n| n == *id),
        (ProcessHook::Uprobe { .. }, Event::Probe { id, .. }) => a.serial == *id,
        (ProcessHook::Exec, Event::Exec { .. }) => true,
        (ProcessHook::Exit, Event::Exit { .. }) => true,
        (ProcessHook::Fork, Event::Fork { .. }) => true,
        _ => false,
    }
}
