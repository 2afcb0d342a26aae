//! What tracing costs per event, measured on a helper that makes N getppid
//! syscalls. Prints numbers; asserts nothing about time. Run with
//! `cargo test -p unibpf-trace --test bench -- --ignored --nocapture`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use common::{compile_c, symbol_offset};
use unibpf_trace::{Interest, Probe, ProbeKind, SyscallSet, Target, Tracer};

const N: u64 = 20_000;

/// Seconds to run the helper under tracing, and how many events it gave.
fn traced(prog: &str, syscalls: SyscallSet) -> (f64, u64) {
    let argv = [prog.to_owned(), N.to_string()].map(Into::into).to_vec();
    let interest = Interest {
        syscalls,
        ..Default::default()
    };
    traced_with(argv, interest)
}

fn traced_with(argv: Vec<std::ffi::OsString>, interest: Interest) -> (f64, u64) {
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    let start = Instant::now();
    let handle = Tracer::spawn_thread(Target::Spawn { argv }, interest, move |_, _| {
        seen.fetch_add(1, Ordering::Relaxed);
    })
    .expect("start");
    handle.release();
    let end = handle.join().expect("trace");
    assert_eq!(end.exit_code(), Some(0));
    (start.elapsed().as_secs_f64(), count.load(Ordering::Relaxed))
}

fn untraced(prog: &str) -> f64 {
    untraced_with(prog, &[&N.to_string()])
}

fn untraced_with(prog: &str, args: &[&str]) -> f64 {
    let start = Instant::now();
    let status = std::process::Command::new(prog)
        .args(args)
        .status()
        .expect("run helper");
    assert!(status.success());
    start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "measures time; run by hand"]
fn cost_per_event() {
    let prog = compile_c("getppid_loop");
    let prog = prog.path.to_str().expect("utf-8 temp path");
    let base = (0..3).map(|_| untraced(prog)).fold(f64::MAX, f64::min);
    println!("untraced: {:.1} ms for {N} getppid", base * 1e3);
    let cases = [
        (
            "seccomp, other syscalls only (filter cost)",
            SyscallSet::only([libc::SYS_openat], true, true),
        ),
        (
            "seccomp, getppid enter",
            SyscallSet::only([libc::SYS_getppid], true, false),
        ),
        (
            "seccomp, getppid enter+exit",
            SyscallSet::only([libc::SYS_getppid], true, true),
        ),
        (
            "PTRACE_SYSCALL, all syscalls enter+exit",
            SyscallSet::all(true, true),
        ),
    ];
    for (name, set) in cases {
        let (secs, events) = (0..3)
            .map(|_| traced(prog, set.clone()))
            .fold((f64::MAX, 0), |a, b| if b.0 < a.0 { b } else { a });
        let extra = (secs - base).max(0.0);
        println!(
            "{name}: {:.1} ms, {events} events, {:.1} µs per getppid, {:.1} µs per event",
            secs * 1e3,
            extra / N as f64 * 1e6,
            if events > 0 {
                extra / events as f64 * 1e6
            } else {
                0.0
            },
        );
    }
}

/// Probes on `add`, called `HITS` times by one thread, then by 4 threads
/// (every hit then stops the other threads for the step).
#[test]
#[ignore = "measures time; run by hand"]
fn cost_per_probe_hit() {
    const HITS: u64 = 5_000;
    let prog = compile_c("probed");
    let exe = prog.path.as_path();
    let path = exe.to_str().expect("utf-8 temp path");
    let probe = |id, kind| Probe {
        id,
        file: exe.to_owned(),
        offset: symbol_offset(exe, "add"),
        kind,
    };
    let n = HITS.to_string();
    let per_thread = (HITS / 4).to_string();
    let runs: [(&str, Vec<&str>); 2] = [
        ("1 thread", vec!["args", &n]),
        ("4 threads", vec!["threads", "4", &per_thread]),
    ];
    for (what, args) in runs {
        let base = (0..3)
            .map(|_| untraced_with(path, &args))
            .fold(f64::MAX, f64::min);
        let kinds = [
            ("entry", vec![probe(1, ProbeKind::Entry)]),
            (
                "entry+return",
                vec![probe(1, ProbeKind::Entry), probe(2, ProbeKind::Return)],
            ),
        ];
        for (name, probes) in kinds {
            let argv: Vec<std::ffi::OsString> = std::iter::once(path)
                .chain(args.iter().copied())
                .map(Into::into)
                .collect();
            let interest = Interest {
                probes,
                ..Default::default()
            };
            let (secs, events) = (0..3)
                .map(|_| traced_with(argv.clone(), interest.clone()))
                .fold((f64::MAX, 0), |a, b| if b.0 < a.0 { b } else { a });
            let extra = (secs - base).max(0.0);
            println!(
                "{what}, {name}: {:.1} ms, {events} events, {:.1} µs per call of add",
                secs * 1e3,
                extra / HITS as f64 * 1e6,
            );
        }
    }
}
