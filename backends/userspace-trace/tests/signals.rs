//! Signals still work under tracing: handlers run, stop and continue do
//! what they should.

mod common;

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use common::{compile_c, everything, start, trace_command, wait_for};
use unibpf_trace::{SyscallSet, Target};

#[test]
fn handler_runs_under_tracing() {
    let prog = compile_c("signals");
    let prog = prog.path.to_str().expect("utf-8 temp path");
    for syscalls in [
        SyscallSet::only([libc::SYS_kill], true, true),
        SyscallSet::all(true, true),
    ] {
        let (end, _) = trace_command(&[prog], everything(syscalls));
        assert_eq!(end.exit_code(), Some(0), "the SIGUSR1 handler did not run");
    }
}

#[test]
fn shell_trap_runs_under_tracing() {
    let script = "r=1; trap 'r=0' USR1; kill -USR1 $$; exit $r";
    let (end, _) = trace_command(&["/bin/sh", "-c", script], everything(SyscallSet::none()));
    assert_eq!(end.exit_code(), Some(0));
}

#[test]
fn stopped_command_stays_stopped_until_continued() {
    let argv = ["/bin/sh", "-c", "kill -STOP $$; exit 5"]
        .map(Into::into)
        .to_vec();
    let (handle, _) = start(Target::Spawn { argv }, everything(SyscallSet::none())).expect("start");
    handle.release();
    let pid = handle.pid();
    // It stops itself and must stay stopped (not be resumed by the tracer).
    assert!(wait_for(Duration::from_secs(5), || {
        common::proc_status(pid, "State").is_some_and(|s| s.starts_with('t') || s.starts_with('T'))
    }));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!handle.finished(), "a stopped command ran on");
    let cont = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGCONT);
    assert!(cont.is_ok(), "{cont:?}");
    assert!(
        handle.wait_timeout(Duration::from_secs(5)),
        "SIGCONT did not resume it"
    );
    let end = handle.join().expect("trace");
    assert_eq!(end.exit_code(), Some(5));
}
