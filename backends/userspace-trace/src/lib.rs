//! Trace a command we start, or a running process, with ptrace (and seccomp
//! where it helps) and hand each event (syscall enter/exit, exec, exit,
//! fork) to a callback. unibpf's userspace backend uses it to feed the
//! programs it interprets when kernel eBPF is unavailable; this crate knows
//! nothing of eBPF or wasm.
//!
//! A tracer is one thread: every ptrace request and wait must come from the
//! thread that attached. [`TracerHandle`] owns such a thread and is the
//! simple way in; [`Tracer`] is the same machinery for a caller that runs
//! it on a thread of its own (it is `!Send` so it cannot move away).
//!
//! Costs (2-core VM, `tests/bench.rs`): each stop costs about 30–40 µs of
//! the tracee's time (getppid traced at entry: 30 µs; entry and exit: 78
//! µs). With a set of syscalls a spawned command stops only for those (a
//! seccomp filter: 0.1 µs on the others), while a pid target or
//! [`SyscallSet::all`] stops twice for every syscall (PTRACE_SYSCALL).
//! Exec, exit and fork events cost one stop each.
//!
//! Probes ([`Interest::probes`]) are uprobes and uretprobes made of
//! software breakpoints (int3 on x86_64, BRK #0 on aarch64) written through
//! /proc/PID/mem. They are placed in every traced address space that maps
//! the probed file executable: for a spawned command after its exec and
//! after every mmap with PROT_EXEC (ld.so mapping libraries, dlopen; the
//! seccomp filter stops those mmaps), and copied into fork children. For a
//! pid target they are placed at seize in what is mapped then, after each
//! exec, and after mmaps only when its syscalls are traced anyway
//! ([`SyscallSet::all`]): without syscall stops a library the process maps
//! after the seize is not probed (tracing every syscall to find out would
//! slow it down far more than the probes do). Seizing a pid stops each of
//! its threads once, and the probes are placed while all are stopped: a
//! thread started by one seized inside clone() is found and seized too,
//! and none is inside an execve meanwhile. When tracing stops, every
//! breakpoint of a pid target is taken out before it is detached, and a
//! thread that took a trap not reported yet is let run into that trap's
//! stop first (its SIGTRAP would kill it once detached). A hit
//! costs two stops (trap and step, about 37 µs, `tests/bench.rs`) plus two
//! for a return probe (58 µs per call with both); in a process with other
//! threads, each hit also stops them while it steps (about 110–140 µs per
//! call with 4 threads hitting the probe). A return probe that a longjmp
//! skips is forgotten when the thread returns through an outer frame at
//! the same return address, exits or execs; a thread waits on at most 128
//! returns at once (deeper calls are not reported on return).
//!
//! Limits: a traced command cannot itself ptrace its children (they are
//! traced by us); a command's setuid programs run without their privileges
//! when a seccomp filter is used (it needs no_new_privs); syscalls of another
//! ABI (32-bit compat) are not reported; probes are matched by device and
//! inode as /proc/PID/maps reports them (a file on overlayfs may show other
//! numbers there than stat does); a task created with CLONE_VM but neither
//! CLONE_THREAD nor CLONE_VFORK is given a copy of the breakpoint table
//! although it shares the memory; a pid target's exec events name
//! /proc/PID/exe unless its execve calls are traced; stopping a tracer
//! thread sends it [`wake_signal`], a real-time signal with a do-nothing
//! handler.
//!
//! [`packet`] is the backend's other event source outside the kernel's
//! eBPF: a packet socket on one interface.

mod arch;
mod attach;
mod breakpoint;
mod error;
mod handle;
mod maps;
pub mod packet;
mod probes;
mod seccomp;
mod spawn;
mod stepping;
mod sys;
mod task;
mod tracer;

use std::collections::BTreeSet;
use std::ffi::OsString;

pub use error::TraceError;
pub use handle::{wake_signal, TracerHandle, WAKE_SIGNAL_OFFSET};
pub use nix::errno::Errno;
pub use task::{Regs, Task};
pub use tracer::Tracer;

/// What to trace.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start this command (`argv[0]` is looked up in PATH; the environment is
    /// inherited) and trace it from before its exec. It is killed if the
    /// tracer stops early or dies.
    Spawn { argv: Vec<OsString> },
    /// Seize this running process and all its threads; it is left running,
    /// untraced, when tracing stops.
    Pid(i32),
}

/// Which syscalls to stop for, at entry and/or exit.
#[derive(Debug, Clone, Default)]
pub struct SyscallSet {
    /// `None`: every syscall.
    pub numbers: Option<BTreeSet<i64>>,
    pub enter: bool,
    pub exit: bool,
}

impl SyscallSet {
    /// No syscall events.
    pub fn none() -> Self {
        Self {
            numbers: Some(BTreeSet::new()),
            enter: false,
            exit: false,
        }
    }

    /// Every syscall (each one stops the task: slow).
    pub fn all(enter: bool, exit: bool) -> Self {
        Self {
            numbers: None,
            enter,
            exit,
        }
    }

    /// These syscall numbers of the native ABI.
    pub fn only(numbers: impl IntoIterator<Item = i64>, enter: bool, exit: bool) -> Self {
        Self {
            numbers: Some(numbers.into_iter().collect()),
            enter,
            exit,
        }
    }

    /// Whether any syscall event is wanted at all.
    pub fn is_empty(&self) -> bool {
        !(self.enter || self.exit) || self.numbers.as_ref().is_some_and(BTreeSet::is_empty)
    }

    pub(crate) fn contains(&self, nr: i64) -> bool {
        self.numbers.as_ref().is_none_or(|n| n.contains(&nr))
    }
}

/// What to stop for; fixed when tracing starts.
#[derive(Debug, Clone, Default)]
pub struct Interest {
    pub syscalls: SyscallSet,
    pub exec: bool,
    pub exit: bool,
    pub fork: bool,
    /// Breakpoints to place in every traced process that maps their file.
    pub probes: Vec<Probe>,
}

/// A probe on an instruction of a file, in every traced process that maps it executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Caller's id, reported back in Event::Probe.
    pub id: u32,
    /// The file (executable or shared library); identified by (dev, inode) at Tracer::start,
    /// so a missing file is a TraceError then (clear message naming the path).
    pub file: std::path::PathBuf,
    /// File offset of the probed instruction (the caller converts symbol addresses).
    pub offset: u64,
    pub kind: ProbeKind,
}

/// When a probe fires: before its instruction runs, or when the function
/// that starts at it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Entry,
    Return,
}

/// One thing a traced task did. Delivered while the task is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Entering syscall `id` (native ABI numbers) with these arguments.
    SysEnter { id: i64, args: [u64; 6] },
    /// Leaving syscall `id`: `ret` is the return value (-errno on failure).
    SysExit { id: i64, ret: i64 },
    /// After a successful exec: the path as passed to execve (what
    /// sched_process_exec calls filename; /proc/PID/exe when the exec call
    /// was not seen), and the tid that called exec (differs from the task's
    /// tid when a non-leader thread exec'd).
    Exec { filename: &'a str, old_tid: i32 },
    /// The task is exiting: its status as the kernel encodes it
    /// (code << 8 | signal). /proc of the task can still be read.
    Exit { status: i32 },
    /// The task created a new task: a process, or a thread of its own.
    Fork { child_tid: i32, thread: bool },
    /// A probe fired: `Entry` with the registers at the probed instruction
    /// (ip/pc = its address), `Return` with the registers at the return
    /// address once the function has returned (ip = that address, rax/x0 =
    /// the return value), as the kernel's uprobe and uretprobe see them.
    Probe { id: u32, kind: ProbeKind },
}

/// How tracing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEnd {
    /// The wait status (code << 8 | signal) of the first process (the
    /// spawned command, or the pid); `None` if it did not end while traced.
    pub status: Option<i32>,
    /// Tracing was stopped before every traced task had exited.
    pub stopped: bool,
}

impl TraceEnd {
    /// The exit code of the first process if it exited normally.
    pub fn exit_code(&self) -> Option<i32> {
        self.status
            .filter(|&s| libc::WIFEXITED(s))
            .map(|s| libc::WEXITSTATUS(s))
    }
}
