//! Tracing a running process by pid: events arrive, and after stopping the
//! process runs on untraced.

mod common;

use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;

use common::{everything, proc_status, record, wait_for, Kind};
use unibpf_trace::{Interest, SyscallSet, Target, Tracer};

/// A shell looping on short sleeps: forks, execs and syscalls all the time.
/// Killed and reaped when dropped, even if the test fails.
struct LoopingShell(Child);

impl Drop for LoopingShell {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn looping_shell() -> LoopingShell {
    let child = Command::new("/bin/sh")
        .args(["-c", "while :; do sleep 0.02; done"])
        .spawn()
        .expect("start sh");
    LoopingShell(child)
}

/// Whether `pid` is traced by a thread of this process.
fn traced_by_us(pid: i32) -> bool {
    proc_status(pid, "TracerPid")
        .and_then(|t| t.parse::<i32>().ok())
        .is_some_and(|t| t != 0 && std::path::Path::new(&format!("/proc/self/task/{t}")).exists())
}

fn trace_then_detach(interest: Interest, want: impl Fn(&Kind) -> bool + Send + 'static) {
    let mut child = looping_shell();
    let pid = child.0.id() as i32;
    let (tx, rx) = mpsc::channel();
    let handle = Tracer::spawn_thread(Target::Pid(pid), interest, move |event, task| {
        let seen = record(event, task);
        if want(&seen.kind) {
            let _ = tx.send(seen);
        }
    })
    .expect("seize the shell");
    handle.release();
    assert!(traced_by_us(pid));
    let seen = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("an event from the shell");
    assert!(seen.tgid == pid || seen.ppid == pid, "{seen:?}");

    handle.stop();
    let end = handle.join().expect("trace");
    assert!(end.stopped);
    assert_eq!(end.status, None);
    // Untraced, and still running: it keeps forking new sleeps.
    assert_eq!(proc_status(pid, "TracerPid").as_deref(), Some("0"));
    let state = proc_status(pid, "State").unwrap_or_default();
    assert!(
        !state.starts_with('t') && !state.starts_with('T'),
        "{state}"
    );
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "the shell died"
    );
    let first_sleep = newest_child(pid);
    assert!(wait_for(Duration::from_secs(5), || newest_child(pid) != first_sleep));
}

/// The newest child of `pid` (its sleep), from /proc/PID/task/PID/children.
fn newest_child(pid: i32) -> Option<i32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .max()
}

#[test]
fn pid_exec_events_then_detach() {
    let interest = Interest {
        exec: true,
        fork: true,
        ..Default::default()
    };
    trace_then_detach(
        interest,
        |k| matches!(k, Kind::Exec { filename, .. } if filename.ends_with("sleep")),
    );
}

#[test]
fn pid_syscalls_then_detach() {
    // nanosleep or clock_nanosleep, whichever this libc's sleep uses.
    let sleeps = [libc::SYS_clock_nanosleep, libc::SYS_nanosleep];
    let interest = everything(SyscallSet::only(sleeps, true, true));
    trace_then_detach(
        interest,
        move |k| matches!(k, Kind::Exit { id, .. } if sleeps.contains(id)),
    );
}

#[test]
fn dropping_the_handle_detaches() {
    let child = looping_shell();
    let pid = child.0.id() as i32;
    let handle =
        Tracer::spawn_thread(Target::Pid(pid), Interest::default(), |_, _| {}).expect("seize");
    assert_eq!(handle.pid(), pid);
    drop(handle); // stops and detaches
    assert_eq!(proc_status(pid, "TracerPid").as_deref(), Some("0"));
}
