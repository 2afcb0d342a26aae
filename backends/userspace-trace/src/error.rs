//! Errors of starting and running a trace: one line each, naming the cause
//! and what to do about it.

use nix::errno::Errno;

/// Why tracing could not start or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("nothing to run: the command is empty")]
    EmptyCommand,
    #[error("command not found: {0} (not a path to a file and not in PATH)")]
    CommandNotFound(String),
    #[error("cannot run {command}: {errno}; check that it is an executable file")]
    Exec { command: String, errno: Errno },
    #[error("command contains a NUL byte: {0}")]
    NulInArgument(String),
    #[error("cannot start {command}: {what}: {errno}")]
    Spawn {
        command: String,
        what: &'static str,
        errno: Errno,
    },
    #[error("no process with pid {0}; check the pid (it may have exited)")]
    NoSuchProcess(i32),
    #[error(
        "cannot trace pid {pid}: {errno}; run as the same user or with CAP_SYS_PTRACE \
         (see kernel.yama.ptrace_scope), and make sure no other tracer (gdb, strace) is attached"
    )]
    Attach { pid: i32, errno: Errno },
    #[error("tracing failed: {what}: {errno}")]
    Ptrace { what: &'static str, errno: Errno },
    #[error("cannot probe {}: {source}; check the path of the file to probe", path.display())]
    ProbeFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot place a breakpoint at {addr:#x} in pid {pid} through /proc/{pid}/mem: {source}; \
         tracing must be allowed to write the target's memory"
    )]
    ProbeWrite {
        pid: i32,
        addr: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open /proc/{pid}/mem to place probes: {source}; tracing must be allowed to write the target's memory")]
    ProbeMemory {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read /proc/{pid}/maps to place probes: {source}")]
    ProbeMaps {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("probes are not supported on this architecture (only x86_64 and aarch64)")]
    ProbesUnsupported,
    #[error("the tracer thread could not start: {0}")]
    Thread(String),
    #[error("the tracer thread panicked (a bug, or the event callback panicked)")]
    Panicked,
}
