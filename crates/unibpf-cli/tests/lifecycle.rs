//! Stopping: graceful on SIGINT, forced when the guest ignores it, and nothing
//! of ours left in the kernel afterwards. These tests scan the kernel's global
//! program/map lists, so they run one at a time.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::*;

static SERIAL: Mutex<()> = Mutex::new(());

/// The kernel frees programs and maps from deferred work after their last
/// reference goes, so give it a moment before calling anything a leftover.
fn assert_nothing_left() {
    let ours = |names: Vec<String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|n| n.starts_with("unibpf_t_"))
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let progs = ours(kernel_program_names());
        let maps = ours(kernel_map_names());
        if progs.is_empty() && maps.is_empty() {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("left in the kernel: programs {progs:?}, maps {maps:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigint_while_polling_stops_cleanly_and_flushes_piped_output() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let links_before = kernel_link_count();
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&[wasm.to_str().unwrap()]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    assert!(kernel_program_names().iter().any(|n| n == "unibpf_t_exec"));
    let pid = exec_true();
    std::thread::sleep(Duration::from_millis(300));
    run.signal("INT");
    let (status, stdout, stderr, took) = run.finish(Duration::from_secs(10));
    // Stopped by its own loop on -EINTR, well within the grace period.
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(stderr.contains("execsnoop: stopped"), "{stderr}");
    // stdout is a pipe: the guest's libc buffered it fully; it reached us only
    // because the guest exited normally.
    let line = format!("exec pid={pid} comm=true file=/bin/true");
    assert!(
        stdout.lines().any(|l| l == line),
        "missing {line:?} in:\n{stdout}"
    );
    assert_nothing_left();
    assert!(kernel_link_count() <= links_before, "links left behind");
}

#[test]
fn a_guest_ignoring_eintr_is_force_stopped() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&["--grace", "500ms", wasm.to_str().unwrap(), "--ignore-eintr"]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    run.signal("INT");
    let (status, _, stderr, took) = run.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        took >= Duration::from_millis(450),
        "stopped before the grace ran out: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(stderr.contains("force-stopped"), "{stderr}");
    assert!(
        !stderr.contains("execsnoop: stopped"),
        "the guest did not get to finish: {stderr}"
    );
    assert_nothing_left();
}

#[test]
fn a_guest_spinning_in_a_callback_is_force_stopped() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
    run.signal("TERM");
    let (status, _, stderr, took) = run.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(stderr.contains("force-stopped"), "{stderr}");
    assert_nothing_left();
}

#[test]
fn timeout_stops_like_a_signal() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let wasm = guest("execsnoop.wasm");
    let run = start(&["--timeout", "700ms", wasm.to_str().unwrap()]);
    let (status, _, stderr, took) = run.finish(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("execsnoop: stopped"), "{stderr}");
    assert!(took < Duration::from_secs(10));
    assert_nothing_left();
}

#[test]
fn line_buffered_output_arrives_while_running() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    use std::io::{BufRead, BufReader};
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&[
        "--line-buffered",
        "--timeout",
        "30s",
        wasm.to_str().unwrap(),
    ]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    let pid = exec_true();
    let stdout = run.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let want = format!("exec pid={pid} comm=true file=/bin/true");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line == want {
                seen = true;
                break;
            }
        }
    }
    assert!(
        seen,
        "the event line did not arrive while the module was running"
    );
    run.signal("INT");
    let (status, _, stderr, _) = run.finish(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{stderr}");
}
