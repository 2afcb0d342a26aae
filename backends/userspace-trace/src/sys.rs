//! Thin wrappers over the ptrace and wait requests that nix does not wrap
//! the way we need: resuming with any signal (nix's `Signal` has no real-time
//! signals), PTRACE_LISTEN, and PTRACE_GET_SYSCALL_INFO (nix passes a zero
//! buffer size, so the kernel fills nothing in), and peeking at a tracee's
//! queued signals.

use nix::errno::Errno;

/// AUDIT_ARCH_* of the architecture we are built for, as the kernel reports
/// it in `seccomp_data.arch` and in PTRACE_GET_SYSCALL_INFO.
#[cfg(target_arch = "x86_64")]
pub(crate) const NATIVE_AUDIT_ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(target_arch = "aarch64")]
pub(crate) const NATIVE_AUDIT_ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) const NATIVE_AUDIT_ARCH: Option<u32> = None;

const PTRACE_SYSCALL_INFO_ENTRY: u8 = 1;
const PTRACE_SYSCALL_INFO_EXIT: u8 = 2;
const PTRACE_SYSCALL_INFO_SECCOMP: u8 = 3;

/// `struct ptrace_syscall_info` (linux/ptrace.h); the union is kept as raw
/// words because its three members share the same leading layout.
#[repr(C)]
#[derive(Default)]
struct RawSyscallInfo {
    op: u8,
    reserved: u8,
    flags: u16,
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    data: [u64; 8],
}

/// What PTRACE_GET_SYSCALL_INFO says about the current stop.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SyscallStop {
    /// Syscall-enter stop, or a seccomp stop (same content for us).
    Enter {
        arch: u32,
        nr: i64,
        args: [u64; 6],
    },
    Exit {
        ret: i64,
    },
    /// Not a syscall stop.
    Other,
}

pub(crate) fn syscall_info(tid: i32) -> Result<SyscallStop, Errno> {
    let mut info = RawSyscallInfo::default();
    // SAFETY: the kernel writes at most `addr` bytes (the size we pass) into
    // `info`, which lives for the whole call.
    let res = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            tid,
            std::mem::size_of::<RawSyscallInfo>(),
            &mut info as *mut RawSyscallInfo,
        )
    };
    Errno::result(res)?;
    let d = info.data;
    let args = [d[1], d[2], d[3], d[4], d[5], d[6]];
    Ok(match info.op {
        PTRACE_SYSCALL_INFO_ENTRY | PTRACE_SYSCALL_INFO_SECCOMP => SyscallStop::Enter {
            arch: info.arch,
            nr: d[0] as i64,
            args,
        },
        PTRACE_SYSCALL_INFO_EXIT => SyscallStop::Exit { ret: d[0] as i64 },
        _ => SyscallStop::Other,
    })
}

/// How to let a stopped tracee go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    Cont,
    Syscall,
    Listen,
    Detach,
    /// PTRACE_SINGLESTEP: one instruction, then a SIGTRAP (TRAP_TRACE).
    Step,
}

/// Resumes `tid` the given way, delivering signal `sig` (0: none).
pub(crate) fn resume(tid: i32, how: Resume, sig: i32) -> Result<(), Errno> {
    let req = match how {
        Resume::Cont => libc::PTRACE_CONT,
        Resume::Syscall => libc::PTRACE_SYSCALL,
        Resume::Listen => libc::PTRACE_LISTEN as _,
        Resume::Detach => libc::PTRACE_DETACH,
        Resume::Step => libc::PTRACE_SINGLESTEP,
    };
    // SAFETY: these requests take no pointer: `data` is a signal number.
    let res = unsafe { libc::ptrace(req, tid, 0usize, sig as libc::c_long) };
    Errno::result(res).map(drop)
}

/// PTRACE_INTERRUPT: brings a running seized tracee into a ptrace-stop.
pub(crate) fn interrupt(tid: i32) -> Result<(), Errno> {
    nix::sys::ptrace::interrupt(nix::unistd::Pid::from_raw(tid))
}

/// PTRACE_GETSIGINFO: what the signal of a signal-delivery-stop is.
pub(crate) fn siginfo(tid: i32) -> Result<libc::siginfo_t, Errno> {
    nix::sys::ptrace::getsiginfo(nix::unistd::Pid::from_raw(tid))
}

/// PTRACE_SETSIGINFO: the signal a signal-delivery-stop will deliver (when
/// resumed with the same signal number).
pub(crate) fn set_siginfo(tid: i32, info: &libc::siginfo_t) -> Result<(), Errno> {
    nix::sys::ptrace::setsiginfo(nix::unistd::Pid::from_raw(tid), info)
}

/// Whether stopped `tid` has a SIGTRAP with one of `codes` queued for it
/// alone and not blocked, so that it would be delivered once `tid` runs
/// (PTRACE_PEEKSIGINFO, PTRACE_GETSIGMASK).
pub(crate) fn trap_queued(tid: i32, codes: &[i32]) -> Result<bool, Errno> {
    const CHUNK: usize = 16;
    let mut blocked: u64 = 0;
    // SAFETY: the kernel writes `addr` bytes (8, its sigset_t) into
    // `blocked`, which lives for the whole call.
    let res = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGMASK,
            tid,
            std::mem::size_of::<u64>(),
            &mut blocked as *mut u64,
        )
    };
    Errno::result(res)?;
    if blocked & (1 << (libc::SIGTRAP - 1)) != 0 {
        return Ok(false);
    }
    let mut off = 0u64;
    loop {
        // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
        let mut infos: [libc::siginfo_t; CHUNK] = unsafe { std::mem::zeroed() };
        let mut args = libc::ptrace_peeksiginfo_args {
            off,
            flags: 0,
            nr: CHUNK as i32,
        };
        // SAFETY: the kernel reads `args` and writes at most `nr` siginfos
        // into `infos`; both live for the whole call.
        let n = unsafe {
            libc::ptrace(
                libc::PTRACE_PEEKSIGINFO,
                tid,
                &mut args as *mut libc::ptrace_peeksiginfo_args,
                infos.as_mut_ptr(),
            )
        };
        let n = Errno::result(n)? as usize;
        let queued = &infos[..n.min(CHUNK)];
        if queued
            .iter()
            .any(|i| i.si_signo == libc::SIGTRAP && codes.contains(&i.si_code))
        {
            return Ok(true);
        }
        if n < CHUNK {
            return Ok(false);
        }
        off += CHUNK as u64;
    }
}

/// The registers of a stopped tracee (PTRACE_GETREGSET NT_PRSTATUS).
pub(crate) fn regs(tid: i32) -> Result<crate::Regs, Errno> {
    use nix::sys::ptrace::{getregset, regset::NT_PRSTATUS};
    getregset::<NT_PRSTATUS>(nix::unistd::Pid::from_raw(tid))
}

/// PTRACE_SETREGSET NT_PRSTATUS.
pub(crate) fn set_regs(tid: i32, regs: crate::Regs) -> Result<(), Errno> {
    use nix::sys::ptrace::{regset::NT_PRSTATUS, setregset};
    setregset::<NT_PRSTATUS>(nix::unistd::Pid::from_raw(tid), regs)
}

/// Sends `sig` to thread `tid` of `tgid`.
pub(crate) fn tgkill(tgid: i32, tid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: tgkill takes no pointers.
    let res = unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) };
    Errno::result(res).map(drop)
}

/// PTRACE_GETEVENTMSG.
pub(crate) fn event_msg(tid: i32) -> Result<u64, Errno> {
    nix::sys::ptrace::getevent(nix::unistd::Pid::from_raw(tid)).map(|v| v as u64)
}

/// A decoded wait status.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// The task is gone; `status` is the raw wait status (code << 8 | signal).
    Gone { status: i32 },
    /// A ptrace-stop: `sig` is WSTOPSIG, `event` the PTRACE_EVENT_* (0: none).
    Stopped { sig: i32, event: i32 },
}

/// Waits for any tracee of this thread (and this thread's own children).
/// `Err(EINTR)` when a signal interrupted the wait, `Err(ECHILD)` when there
/// is nothing left to wait for.
pub(crate) fn wait_any() -> Result<(i32, Wait), Errno> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out-pointer for the duration of the call.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::__WNOTHREAD) };
    let pid = Errno::result(pid)?;
    Ok((pid, decode(status)))
}

/// Whether tracee `tid` has a stop (or end) to report, without waiting.
pub(crate) fn try_wait(tid: i32) -> Result<Option<Wait>, Errno> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out-pointer for the duration of the call.
    let pid = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
    let pid = Errno::result(pid)?;
    Ok((pid != 0).then(|| decode(status)))
}

fn decode(status: i32) -> Wait {
    if libc::WIFSTOPPED(status) {
        Wait::Stopped {
            sig: libc::WSTOPSIG(status),
            event: (status >> 16) & 0xff,
        }
    } else {
        Wait::Gone { status }
    }
}
