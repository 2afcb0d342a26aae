//! The selector on the real kernel: --explain, --backend, --mask and
//! --assume-kernel with the program suite's objects.

mod common;

use common::*;

/// The `unibpf: explain:` lines of stderr, without the prefix.
fn explained(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("unibpf: explain: "))
        .collect()
}

/// Runs `wasm` with `flags`, makes one process exit with `code`, stops it;
/// returns (stdout, stderr).
fn exits_with(flags: &[&str], code: i32) -> (String, String) {
    let path = program("exitsnoop.wasm");
    let mut args: Vec<&str> = vec!["--timeout", "60s", "--grace", "30s"];
    args.extend_from_slice(flags);
    args.push(path.to_str().unwrap());
    let mut run = start(&args);
    run.wait_for_stderr("tracing process exits", std::time::Duration::from_secs(30));
    let script = format!("exit {code}");
    spawn_wait("/bin/sh", &["-c", &script]);
    // The exit event is in the buffer now; the graceful stop delivers it.
    run.signal("INT");
    let (status, stdout, stderr, _) = run.finish(std::time::Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    (stdout, stderr)
}

#[test]
fn compat_program_uses_the_ring_buffer_where_it_exists() {
    let (out, err) = exits_with(&["--explain"], 11);
    assert!(out.lines().any(|l| l.contains(" code=11 ")), "{out}");
    assert_eq!(
        explained(&err),
        vec![
            "on_exit: kernel, tracepoint sched/sched_process_exit; events: ring buffer events",
            "map heap: not created (compat heap; ring buffers are available)",
        ],
        "{err}"
    );
}

#[test]
fn compat_program_falls_back_to_a_perf_buffer_when_ring_buffers_are_masked() {
    let (out, err) = exits_with(&["--explain", "--mask", "ringbuf"], 12);
    // Events still arrive, through the perf buffer the map became.
    assert!(out.lines().any(|l| l.contains(" code=12 ")), "{out}");
    assert_eq!(
        explained(&err),
        vec![
            "on_exit: kernel, tracepoint sched/sched_process_exit; events: perf buffer events",
            "map events: ring buffer -> perf event array (compat header; masked (--mask))",
            "CO-RE: against a copy of the kernel BTF without struct bpf_ringbuf (masked)",
        ],
        "{err}"
    );
}

#[test]
fn an_assumed_old_kernel_gets_the_perf_fallback_too() {
    let (out, err) = exits_with(&["--explain", "--assume-kernel", "5.4"], 13);
    assert!(out.lines().any(|l| l.contains(" code=13 ")), "{out}");
    let lines = explained(&err);
    assert!(
        lines.contains(
            &"on_exit: kernel, tracepoint sched/sched_process_exit; events: perf buffer events"
        ),
        "{err}"
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("map events: ring buffer -> perf event array")
                && l.contains("assuming 5.4.0")
        ),
        "{err}"
    );
    // 5.4 charged BPF maps to RLIMIT_MEMLOCK: the runtime deals with it
    // (this host lacks CAP_SYS_RESOURCE, so it can only say why it cannot).
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("RLIMIT_MEMLOCK ") && l.contains("before 5.11")),
        "{err}"
    );
}

#[test]
fn explain_lists_every_program_of_a_plain_module() {
    let path = program("bootstrap.wasm");
    let (status, _out, err) = run_to_end(&["--explain", "--timeout", "1s", path.to_str().unwrap()]);
    assert!(status.success(), "{err}");
    assert_eq!(
        explained(&err),
        vec![
            "handle_exec: kernel, tracepoint sched/sched_process_exec; events: ring buffer rb",
            "handle_exit: kernel, tracepoint sched/sched_process_exit; events: ring buffer rb",
        ],
        "{err}"
    );
}

#[test]
fn a_plain_ring_buffer_under_the_mask_fails_naming_the_compat_header() {
    let path = program("bootstrap.wasm");
    assert_fails_with(
        &["--mask", "ringbuf", "--timeout", "10s", path.to_str().unwrap()],
        "unibpf: error: map rb: a ring buffer, which this host lacks (kernel 5.8+): masked (--mask); build the object with <unibpf/compat.bpf.h> so it falls back to a perf buffer",
    );
}

#[test]
fn forcing_the_userspace_backend_without_a_process_says_how_to_name_one() {
    let path = program("bootstrap.wasm");
    assert_fails_with(
        &["--backend", "userspace", "--timeout", "10s", path.to_str().unwrap()],
        "unibpf: error: program handle_exec: no process to trace; the userspace backend traces the processes it is given: run with --cmd 'COMMAND ARGS' or --pid PID",
    );
    // Forcing the kernel backend is fine here.
    let (status, _out, err) = run_to_end(&[
        "--backend",
        "kernel",
        "--timeout",
        "1s",
        path.to_str().unwrap(),
    ]);
    assert!(status.success(), "{err}");
}
