//! What the callback may ask about the task an event is about: ids, names,
//! credentials, start time (from /proc), its memory and registers.

use std::cell::{Cell, OnceCell};
use std::io::IoSliceMut;

use nix::errno::Errno;
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

/// The registers of a stopped task, as PTRACE_GETREGSET NT_PRSTATUS gives
/// them (`struct user_regs_struct` on x86_64, `struct user_pt_regs` on
/// aarch64).
pub type Regs = libc::user_regs_struct;

/// What we remember about one traced task between stops.
#[derive(Debug)]
pub(crate) struct TaskState {
    pub tid: i32,
    pub tgid: i32,
    /// Waiting for the first stop of an auto-attached new task.
    pub fresh: bool,
    /// Resume with PTRACE_SYSCALL to see the exit of the syscall that a
    /// seccomp stop reported.
    pub want_sys_exit: bool,
    /// The syscall this task is in, from its enter or seccomp stop.
    pub syscall: Option<i64>,
    /// The path an execve was called with, for the exec event.
    pub exec_path: Option<String>,
    /// The address space (breakpoint table) it uses; `None` before the
    /// exec of a spawned command, or while a new task waits for its
    /// parent's fork event to tell.
    pub space: Option<u64>,
    /// In a ptrace-stop that was seen and not resumed yet (parked during a
    /// step, a stepper, or a new task waiting for its space).
    pub held: bool,
    /// A new task held until its parent's fork event gives it a space.
    pub awaiting_space: bool,
    /// A stop (sig, event) taken while parked, to handle after the step.
    pub deferred: Option<(i32, i32)>,
    /// While detaching: how many times it was resumed so that a trap it
    /// took before being interrupted is reported (and recognised) first.
    pub draining_trap: u8,
    /// Seized inside execve: its exec stop came before the probes were
    /// placed, so they are in the new image already.
    pub exec_before_probes: bool,
    comm: Cell<Option<[u8; 16]>>,
    start_time: OnceCell<u64>,
}

impl TaskState {
    pub fn new(tid: i32, tgid: i32, fresh: bool) -> Self {
        Self {
            tid,
            tgid,
            fresh,
            want_sys_exit: false,
            syscall: None,
            exec_path: None,
            space: None,
            held: false,
            awaiting_space: false,
            deferred: None,
            draining_trap: 0,
            exec_before_probes: false,
            comm: Cell::new(None),
            start_time: OnceCell::new(),
        }
    }

    /// The name changes on exec.
    pub fn forget_comm(&self) {
        self.comm.set(None);
    }
}

/// The task an event is about; valid only during the callback, on the
/// tracer's thread, while the task is stopped.
pub struct Task<'t> {
    pub(crate) state: &'t TaskState,
}

impl Task<'_> {
    /// The thread id (what the kernel calls pid).
    pub fn tid(&self) -> i32 {
        self.state.tid
    }

    /// The process id (thread group id).
    pub fn tgid(&self) -> i32 {
        self.state.tgid
    }

    fn proc_path(&self, file: &str) -> String {
        format!("/proc/{}/task/{}/{}", self.state.tgid, self.state.tid, file)
    }

    /// The fields of /proc/.../stat after the command name (which may hold
    /// spaces and parentheses, so we split after its last ')'); index 0 is
    /// field 3 (state).
    fn stat_fields(&self) -> Option<Vec<String>> {
        let stat = std::fs::read_to_string(self.proc_path("stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        Some(rest.split_whitespace().map(str::to_owned).collect())
    }

    /// The tgid of the real parent (not the tracer); 0 if unknown.
    pub fn ppid(&self) -> i32 {
        self.stat_fields()
            .and_then(|f| f.get(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// Real user and group id, as bpf_get_current_uid_gid reports them;
    /// (u32::MAX, u32::MAX) if unknown.
    pub fn uid_gid(&self) -> (u32, u32) {
        let status = std::fs::read_to_string(self.proc_path("status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(u32::MAX)
        };
        (field("Uid:"), field("Gid:"))
    }

    /// The command name, NUL padded (like bpf_get_current_comm).
    pub fn comm(&self) -> [u8; 16] {
        if let Some(comm) = self.state.comm.get() {
            return comm;
        }
        let mut comm = [0u8; 16];
        if let Ok(name) = std::fs::read(self.proc_path("comm")) {
            let name = name.strip_suffix(b"\n").unwrap_or(&name);
            let n = name.len().min(15);
            comm[..n].copy_from_slice(&name[..n]);
            self.state.comm.set(Some(comm));
        }
        comm
    }

    /// When the task started, in ns since boot (CLOCK_BOOTTIME), at the
    /// resolution of clock ticks; 0 if unknown.
    pub fn start_time_ns(&self) -> u64 {
        *self.state.start_time.get_or_init(|| {
            let ticks: u64 = self
                .stat_fields()
                .and_then(|f| f.get(19)?.parse().ok())
                .unwrap_or(0);
            // SAFETY: sysconf has no memory effects.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
            let hz = u64::try_from(hz).ok().filter(|&hz| hz > 0).unwrap_or(100);
            ticks.saturating_mul(1_000_000_000 / hz)
        })
    }

    /// Reads `buf.len()` bytes at `addr` of the task's memory; EFAULT unless
    /// all of them could be read.
    pub fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        let len = buf.len();
        let remote = [RemoteIoVec {
            base: usize::try_from(addr).map_err(|_| Errno::EFAULT)?,
            len,
        }];
        let mut local = [IoSliceMut::new(buf)];
        match process_vm_readv(Pid::from_raw(self.state.tid), &mut local, &remote) {
            Ok(n) if n == len => Ok(()),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Reads a NUL-terminated string at `addr` into `buf`, like
    /// bpf_probe_read_user_str: returns the bytes written including the NUL;
    /// a string longer than `buf` is cut and NUL-terminated. Reads page by
    /// page so that a string ending just before an unmapped page is found.
    pub fn read_c_string(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        const PAGE: u64 = 4096;
        if buf.is_empty() {
            return Ok(0);
        }
        let max = buf.len() - 1;
        let mut done = 0usize;
        while done < max {
            let at = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            let to_page_end = (PAGE - at % PAGE) as usize;
            let n = to_page_end.min(max - done);
            self.read_memory(at, &mut buf[done..done + n])?;
            if let Some(nul) = buf[done..done + n].iter().position(|&b| b == 0) {
                return Ok(done + nul + 1);
            }
            done += n;
        }
        buf[max] = 0;
        Ok(buf.len())
    }

    /// The task's general-purpose registers.
    pub fn regs(&self) -> Result<Regs, Errno> {
        crate::sys::regs(self.state.tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own process, read through the same calls as a tracee.
    fn this_task(state: &TaskState) -> Task<'_> {
        Task { state }
    }

    #[test]
    fn string_ending_before_an_unmapped_page() {
        const PAGE: usize = 4096;
        // SAFETY: a fresh private anonymous mapping of two pages that only
        // this test uses; the second page is unmapped before reading.
        let base = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                2 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            let end = p.cast::<u8>().add(PAGE - 4);
            end.copy_from_nonoverlapping(c"abc".as_ptr().cast::<u8>(), 4);
            libc::munmap(p.cast::<u8>().add(PAGE).cast(), PAGE);
            p as u64
        };
        let tid = nix::unistd::gettid().as_raw();
        let state = TaskState::new(tid, nix::unistd::getpid().as_raw(), false);
        let task = this_task(&state);
        let mut buf = [0xffu8; 64];
        assert_eq!(task.read_c_string(base + PAGE as u64 - 4, &mut buf), Ok(4));
        assert_eq!(&buf[..4], b"abc\0");
        // Cut to the buffer, NUL-terminated.
        let mut small = [0xffu8; 3];
        assert_eq!(
            task.read_c_string(base + PAGE as u64 - 4, &mut small),
            Ok(3)
        );
        assert_eq!(&small, b"ab\0");
        // Running into the unmapped page without a NUL is a fault.
        assert_eq!(task.read_c_string(base + PAGE as u64 - 2, &mut buf), Ok(2));
        assert_eq!(
            task.read_memory(base + PAGE as u64 - 2, &mut buf[..8]),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            task.read_c_string(base + PAGE as u64, &mut buf),
            Err(Errno::EFAULT)
        );
        // SAFETY: unmapping the page mapped above, no longer used.
        unsafe { libc::munmap(base as *mut libc::c_void, PAGE) };
    }

    #[test]
    fn ids_and_names_of_this_thread() {
        let tid = nix::unistd::gettid().as_raw();
        let pid = nix::unistd::getpid().as_raw();
        let state = TaskState::new(tid, pid, false);
        let task = this_task(&state);
        assert_eq!(task.ppid(), nix::unistd::getppid().as_raw());
        let (uid, gid) = task.uid_gid();
        assert_eq!(uid, nix::unistd::getuid().as_raw());
        assert_eq!(gid, nix::unistd::getgid().as_raw());
        assert!(task.start_time_ns() > 0);
        assert_ne!(task.comm()[0], 0);
    }
}
