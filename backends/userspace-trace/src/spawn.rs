//! Starting a command so that it can be seized before its exec.
//!
//! std's `Command::spawn` waits until the child has exec'd, but the child
//! must wait for us to seize it (a seccomp RET_TRACE filter without a tracer
//! fails the syscall with ENOSYS, and we want its exec too). So we fork
//! ourselves: the child blocks on a pipe until the tracer has seized it, then
//! installs the seccomp filter and execs. Everything the child runs between
//! fork and exec is async-signal-safe (the parent may have other threads).

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::{access, pipe2, AccessFlags};

use crate::TraceError;

/// A forked child waiting on `go` before it execs.
pub(crate) struct Spawned {
    pub pid: i32,
    /// Write one byte to let the child go on to its exec.
    pub go: OwnedFd,
    /// The child writes why its setup or exec failed here (closed on exec).
    pub err: OwnedFd,
    pub command: String,
}

/// What the child reports through the error pipe: a tag and an errno.
pub(crate) const FAILED_EXEC: u8 = 0;
pub(crate) const FAILED_SECCOMP: u8 = 1;

/// The exit code of a child whose setup or exec failed.
const CHILD_FAILED: i32 = 127;

/// Finds `name` like execvp does: as a path if it has a slash, else in PATH.
fn resolve(name: &OsStr) -> Result<PathBuf, TraceError> {
    if name.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file() && access(p.as_path(), AccessFlags::X_OK).is_ok())
        .ok_or_else(|| TraceError::CommandNotFound(name.to_string_lossy().into_owned()))
}

fn cstring(s: &OsStr) -> Result<CString, TraceError> {
    CString::new(s.as_bytes()).map_err(|_| TraceError::NulInArgument(s.to_string_lossy().into()))
}

/// A NULL-terminated array of pointers into `strings` (which must outlive it).
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Forks `argv` (environment inherited); the child waits for `go`.
pub(crate) fn spawn(
    argv: &[OsString],
    filter: Option<&[libc::sock_filter]>,
) -> Result<Spawned, TraceError> {
    let first = argv.first().ok_or(TraceError::EmptyCommand)?;
    let command = first.to_string_lossy().into_owned();
    let path = resolve(first)?;
    if !Path::new(&path).exists() {
        return Err(TraceError::CommandNotFound(command));
    }
    // Everything the child needs is prepared here: it must not allocate.
    let path = cstring(path.as_os_str())?;
    let args = argv
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<Vec<_>, _>>()?;
    let env = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstring(&kv)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (argp, envp) = (pointers(&args), pointers(&env));
    let prog = filter.map(|f| libc::sock_fprog {
        len: f.len() as u16,
        filter: f.as_ptr() as *mut libc::sock_filter,
    });
    let failed = |what, errno| TraceError::Spawn {
        command: command.clone(),
        what,
        errno,
    };
    let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| failed("pipe", e))?;
    // Non-blocking: a process forked meanwhile by another of our threads may
    // hold the write end for a moment, and the tracer must not wait for it.
    let (err_r, err_w) =
        pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(|e| failed("pipe", e))?;
    let child = ChildSetup {
        path: path.as_ptr(),
        argv: argp.as_ptr(),
        envp: envp.as_ptr(),
        prog: prog.as_ref(),
        go_r: go_r.as_raw_fd(),
        go_w: go_w.as_raw_fd(),
        err_r: err_r.as_raw_fd(),
        err_w: err_w.as_raw_fd(),
    };
    // SAFETY: the child runs only `child_main`, which makes async-signal-safe
    // calls on memory prepared above and never returns.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(failed("fork", Errno::last())),
        0 => child_main(&child),
        pid => Ok(Spawned {
            pid,
            go: go_w,
            err: err_r,
            command,
        }),
    }
}

/// What the forked child needs, as raw pointers prepared by the parent.
struct ChildSetup<'a> {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    prog: Option<&'a libc::sock_fprog>,
    go_r: i32,
    go_w: i32,
    err_r: i32,
    err_w: i32,
}

/// Reports `errno` with `tag` to the parent and exits.
fn child_fail(c: &ChildSetup, tag: u8, errno: i32) -> ! {
    let mut msg = [0u8; 5];
    msg[0] = tag;
    msg[1..].copy_from_slice(&errno.to_le_bytes());
    // SAFETY: writing a stack buffer to our own pipe; `_exit` skips atexit
    // handlers and destructors, which must not run in a forked child.
    unsafe {
        libc::write(c.err_w, msg.as_ptr().cast(), msg.len());
        libc::_exit(CHILD_FAILED)
    }
}

fn child_main(c: &ChildSetup) -> ! {
    // SAFETY: only async-signal-safe calls on fds and memory that the parent
    // prepared before forking; nothing here allocates or takes locks.
    unsafe {
        libc::close(c.go_w);
        libc::close(c.err_r);
        // Undo what the Rust runtime (SIGPIPE ignored) or the parent thread
        // (blocked signals) would otherwise hand down to the command.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        // Wait until the tracer has seized us; EOF means it gave up.
        let mut byte = 0u8;
        loop {
            let n = libc::read(c.go_r, (&mut byte as *mut u8).cast(), 1);
            if n == 1 {
                break;
            }
            if n < 0 && Errno::last_raw() == libc::EINTR {
                continue;
            }
            libc::_exit(CHILD_FAILED);
        }
        libc::close(c.go_r);
        if let Some(prog) = c.prog {
            // A filter may only be installed unprivileged with no_new_privs.
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    prog as *const libc::sock_fprog,
                ) != 0
            {
                child_fail(c, FAILED_SECCOMP, Errno::last_raw());
            }
        }
        libc::execve(c.path, c.argv, c.envp);
        child_fail(c, FAILED_EXEC, Errno::last_raw())
    }
}

/// Reads what the child reported through the error pipe, if anything; call
/// it once the child has exited (the pipe does not block).
pub(crate) fn read_failure(err: &OwnedFd) -> Option<(u8, Errno)> {
    let mut msg = [0u8; 5];
    let n = nix::unistd::read(err, &mut msg).ok()?;
    if n != msg.len() {
        return None;
    }
    let errno = i32::from_le_bytes([msg[1], msg[2], msg[3], msg[4]]);
    Some((msg[0], Errno::from_raw(errno)))
}
