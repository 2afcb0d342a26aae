//! The task a program runs for, as a hook sees it, and the emulated
//! `task_struct`s built from it for `bpf_get_current_task`.

use crate::emulated::layout::{task, TASK_COMM_LEN};
use crate::emulated::put;

/// Why user memory could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault;

/// What helpers may ask about the current task. Hooks implement it over
/// the traced process.
pub trait Task {
    /// Thread id (the kernel's `pid`).
    fn tid(&self) -> u32;
    /// Process id (the kernel's `tgid`).
    fn tgid(&self) -> u32;
    /// The real parent's process id.
    fn parent_tgid(&self) -> u32;
    fn uid_gid(&self) -> (u32, u32);
    /// The thread's name, NUL padded.
    fn comm(&self) -> [u8; TASK_COMM_LEN as usize];
    /// When it started, in monotonic and boot-time ns.
    fn start_ns(&self) -> (u64, u64);
    /// Its wait status once it exits (`code << 8 | signal`), else 0.
    fn exit_status(&self) -> i32 {
        0
    }
    /// Reads the task's memory at `addr`, all of `buf` or nothing.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault>;
    /// Reads a NUL-terminated string into `buf` (at most `buf.len()`
    /// bytes, the NUL included, which is always written when `buf` is
    /// not empty); returns the bytes written.
    fn read_str(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Fault>;
}

/// The emulated `task_struct` of the current task, whose `real_parent`
/// and `parent` point at `parent_addr` and `group_leader` at itself
/// (`self_addr`) when it leads its group.
pub fn current_task(t: &dyn Task, self_addr: u64, parent_addr: u64) -> [u8; task::SIZE as usize] {
    let mut b = [0u8; task::SIZE as usize];
    put(&mut b, task::PID, &t.tid().to_le_bytes());
    put(&mut b, task::TGID, &t.tgid().to_le_bytes());
    put(&mut b, task::REAL_PARENT, &parent_addr.to_le_bytes());
    put(&mut b, task::PARENT, &parent_addr.to_le_bytes());
    // A thread's leader is another task we do not build: left NULL.
    let leader = if t.tid() == t.tgid() { self_addr } else { 0 };
    put(&mut b, task::GROUP_LEADER, &leader.to_le_bytes());
    put(&mut b, task::COMM, &t.comm());
    let (mono, boot) = t.start_ns();
    put(&mut b, task::START_TIME, &mono.to_le_bytes());
    put(&mut b, task::START_BOOTTIME, &boot.to_le_bytes());
    put(&mut b, task::EXIT_CODE, &t.exit_status().to_le_bytes());
    put(&mut b, task::EXIT_SIGNAL, &17i32.to_le_bytes()); // SIGCHLD
    b
}

/// The parent's `task_struct`: only its ids are known (`pid` and `tgid`
/// both the parent's process id).
pub fn parent_task(t: &dyn Task) -> [u8; task::SIZE as usize] {
    let mut b = [0u8; task::SIZE as usize];
    put(&mut b, task::PID, &t.parent_tgid().to_le_bytes());
    put(&mut b, task::TGID, &t.parent_tgid().to_le_bytes());
    b
}

/// No task: what a packet program runs for (the kernel runs it where the
/// frame arrives, in no task of the program's), and what tests use.
pub struct NoTask;

impl Task for NoTask {
    fn tid(&self) -> u32 {
        0
    }
    fn tgid(&self) -> u32 {
        0
    }
    fn parent_tgid(&self) -> u32 {
        0
    }
    fn uid_gid(&self) -> (u32, u32) {
        (0, 0)
    }
    fn comm(&self) -> [u8; 16] {
        [0; 16]
    }
    fn start_ns(&self) -> (u64, u64) {
        (0, 0)
    }
    fn read(&self, _: u64, _: &mut [u8]) -> Result<(), Fault> {
        Err(Fault)
    }
    fn read_str(&self, _: u64, _: &mut [u8]) -> Result<usize, Fault> {
        Err(Fault)
    }
}
