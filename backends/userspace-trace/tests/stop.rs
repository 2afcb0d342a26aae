//! Stopping early: a spawned command is killed and nothing of it remains.

mod common;

use std::time::Duration;

use common::{everything, gone, start, wait_for, Kind};
use unibpf_trace::{SyscallSet, Target};

fn stop_while_running(syscalls: SyscallSet) {
    let argv = ["/bin/sh", "-c", "while :; do sleep 0.02; done"]
        .map(Into::into)
        .to_vec();
    let (handle, log) = start(Target::Spawn { argv }, everything(syscalls)).expect("start");
    let pid = handle.pid();
    handle.release();
    let forks = || -> Vec<i32> {
        log.lock()
            .unwrap()
            .iter()
            .filter_map(|s| match s.kind {
                Kind::Fork { child, .. } => Some(child),
                _ => None,
            })
            .collect()
    };
    assert!(wait_for(Duration::from_secs(10), || forks().len() >= 2));
    handle.stop();
    let end = handle.join().expect("trace");
    assert!(end.stopped);
    assert_eq!(end.status.map(|s| s & 0x7f), Some(libc::SIGKILL), "{end:?}");
    // The command (our child) is reaped; its children are gone as well.
    assert!(gone(pid), "pid {pid} remains");
    for child in forks() {
        assert!(
            wait_for(Duration::from_secs(5), || gone(child)),
            "child {child} remains"
        );
    }
}

#[test]
fn stop_kills_spawned_command() {
    stop_while_running(SyscallSet::none());
}

#[test]
fn stop_kills_spawned_command_in_syscall_stops() {
    stop_while_running(SyscallSet::all(true, true));
}

#[test]
fn dropping_an_unreleased_trace_kills_the_command() {
    let argv = ["/bin/sleep", "100"].map(Into::into).to_vec();
    let (handle, _) = start(Target::Spawn { argv }, everything(SyscallSet::none())).expect("start");
    let pid = handle.pid();
    assert!(!gone(pid));
    drop(handle);
    assert!(gone(pid), "pid {pid} remains");
}

#[test]
fn stop_with_an_idle_command() {
    // Blocked in a long sleep: only the wake signal gets the tracer going.
    let argv = ["/bin/sleep", "100"].map(Into::into).to_vec();
    let (handle, _) = start(Target::Spawn { argv }, everything(SyscallSet::none())).expect("start");
    let pid = handle.pid();
    handle.release();
    std::thread::sleep(Duration::from_millis(100));
    handle.stop();
    assert!(
        handle.wait_timeout(Duration::from_secs(5)),
        "stop did not end tracing"
    );
    assert!(handle.join().expect("trace").stopped);
    assert!(gone(pid), "pid {pid} remains");
}
