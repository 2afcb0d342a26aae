//! Stopping `unibpf run`: graceful on SIGINT, forced when the guest ignores
//! it, output kept either way, and what the process holds in the kernel
//! looked at while it still runs. What unibpf holds is read from its own
//! /proc/PID/fdinfo, so other BPF users on the machine do not matter.
//! Library-level stops, where the owner outlives the module, are in
//! crates/unibpf/tests/stops.rs.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Generous: the kernel frees programs from deferred work, and CI machines
/// are loaded. Only an upper bound on waiting, never an expectation.
const GONE: Duration = Duration::from_secs(10);

#[test]
fn sigint_while_polling_stops_cleanly_and_flushes_block_buffered_output() {
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&["--block-buffered", "--grace", "30s", wasm.to_str().unwrap()]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    let held = wait_held(run.child.id(), GONE, |h| !h.links.is_empty());
    assert!(!held.programs.is_empty(), "{held:?}");
    let pid = exec_true();
    run.signal("INT");
    let (status, stdout, stderr, _) = run.finish(Duration::from_secs(10));
    // Stopped by its own loop on -EINTR: the guest printed its last line.
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("execsnoop: stopped"), "{stderr}");
    // Block-buffered, the line reached the pipe only because the guest
    // exited normally and its libc flushed; the graceful stop's last drain
    // delivered an event that happened just before the signal.
    let line = format!("exec pid={pid} comm=true file=/bin/true");
    assert!(
        stdout.lines().any(|l| l == line),
        "missing {line:?} in:\n{stdout}"
    );
    held.assert_gone_within(GONE, "after a graceful stop");
}

#[test]
fn a_guest_ignoring_eintr_is_force_stopped_and_its_output_survives() {
    // Modules built for upstream wasm-bpf often loop on -EINTR. They are
    // force-stopped after the grace period; what they printed must not go
    // down with their libc's buffer (`unibpf run x.wasm | grep ...`).
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&["--grace", "500ms", wasm.to_str().unwrap(), "--ignore-eintr"]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    // Two lines: musl-based libcs flush the first write either way and
    // only then switch a non-terminal stdout to full buffering.
    let lines: Vec<String> = (0..2)
        .map(|_| format!("exec pid={} comm=true file=/bin/true", exec_true()))
        .collect();
    for line in &lines {
        run.wait_for_stdout(line, Duration::from_secs(10));
    }
    run.signal("INT");
    let (status, stdout, stderr, took) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{stderr}");
    // Never before the grace period ran out.
    assert!(took >= Duration::from_millis(450), "took {took:?}");
    assert!(stderr.contains("force-stopped"), "{stderr}");
    assert!(
        !stderr.contains("execsnoop: stopped"),
        "the guest did not get to finish: {stderr}"
    );
    for line in &lines {
        assert!(stdout.lines().any(|l| l == line), "{stdout}");
    }
}

#[test]
fn block_buffered_output_of_a_force_stopped_guest_is_lost_as_documented() {
    // The opt-out's documented cost, so the default above is what keeps it.
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&[
        "--block-buffered",
        "--grace",
        "300ms",
        wasm.to_str().unwrap(),
        "--ignore-eintr",
    ]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    let first = exec_true();
    // The first write goes out at once (see above): wait for it, so the
    // second exec's event is surely delivered and printed before the stop.
    run.wait_for_stdout(&format!("exec pid={first} "), Duration::from_secs(10));
    let second = exec_true();
    run.signal("INT");
    let (status, stdout, stderr, _) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("force-stopped"), "{stderr}");
    assert!(
        !stdout.contains(&format!("exec pid={second} ")),
        "block-buffered output survived a forced stop:\n{stdout}"
    );
}

#[test]
fn a_guest_spinning_in_a_callback_is_force_stopped() {
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&[
        "--grace",
        "300ms",
        wasm.to_str().unwrap(),
        "--spin-in-callback",
    ]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    exec_true();
    run.wait_for_stderr("spinning in the callback", Duration::from_secs(10));
    let held = held_bpf(run.child.id());
    assert!(!held.links.is_empty(), "{held:?}");
    run.signal("TERM");
    let (status, _, stderr, _) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("force-stopped"), "{stderr}");
    held.assert_gone_within(GONE, "after a forced stop");
}

#[test]
fn timeout_stops_like_a_signal() {
    let wasm = guest("execsnoop.wasm");
    let run = start(&[
        "--timeout",
        "700ms",
        "--grace",
        "30s",
        wasm.to_str().unwrap(),
    ]);
    let (status, _, stderr, took) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("execsnoop: stopped"), "{stderr}");
    assert!(took >= Duration::from_millis(650), "took {took:?}");
}

#[test]
fn output_arrives_line_by_line_while_running() {
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&["--timeout", "60s", wasm.to_str().unwrap()]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    let pid = exec_true();
    run.wait_for_stdout(
        &format!("exec pid={pid} comm=true file=/bin/true"),
        Duration::from_secs(10),
    );
    run.signal("INT");
    let (status, _, stderr, _) = run.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn closing_an_object_mid_run_detaches_it_while_unibpf_keeps_running() {
    // Links belong to their object: closing it must detach and free it in
    // the kernel now, not when the process exits.
    let wasm = guest("nasty.wasm");
    let mut run = start_with_stdin(
        &["--grace", "30s", wasm.to_str().unwrap(), "close-midrun"],
        Stdio::piped(),
    );
    run.wait_for_stderr("nasty: attached", Duration::from_secs(20));
    let pid = run.child.id();
    let before = wait_held(pid, GONE, |h| !h.links.is_empty());
    assert_eq!(
        before.programs.len(),
        2,
        "two objects, one program each: {before:?}"
    );
    run.child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"close\n")
        .expect("writing to the guest");
    run.wait_for_stderr("nasty: closed", Duration::from_secs(20));
    let after = held_bpf(pid);
    let released = HeldBpf {
        programs: diff(&before.programs, &after.programs),
        maps: diff(&before.maps, &after.maps),
        links: diff(&before.links, &after.links),
    };
    assert_eq!(released.programs.len(), 1, "{before:?} -> {after:?}");
    assert_eq!(released.links.len(), 1, "{before:?} -> {after:?}");
    assert!(after.links.is_empty(), "{after:?}");
    // unibpf is still running (polling the other object) ...
    assert!(run.child.try_wait().expect("wait").is_none());
    // ... and the closed object is gone from the kernel, not just from it.
    released.assert_gone_within(GONE, "the object closed mid-run");
    assert_eq!(
        after.still_in_kernel().programs,
        after.programs,
        "the other object stays"
    );
    run.signal("INT");
    let (status, stdout, stderr, _) = run.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(field(&stdout, "close"), "0");
    assert_eq!(field(&stdout, "poll_end"), "-27", "-EINTR ended the loop");
}

fn diff<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}
