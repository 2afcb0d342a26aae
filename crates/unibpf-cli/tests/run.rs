//! `unibpf run` on the real kernel: events, maps, bursts, hostile guests, exits.

mod common;

use std::time::Duration;

use common::*;

// WASI errno values, as the guests see them.
const ENOENT: i32 = -44;
const EBADF: i32 = -8;
const EEXIST: i32 = -20;
const EINVAL: i32 = -28;
const EFAULT: i32 = -21;
const ENAMETOOLONG: i32 = -37;

#[test]
fn tracepoint_exec_events_show_the_spawned_process() {
    let wasm = guest("execsnoop.wasm");
    let mut run = start(&["--timeout", "20s", wasm.to_str().unwrap()]);
    run.wait_for_stderr("attached", Duration::from_secs(20));
    let pids: Vec<u32> = (0..3).map(|_| exec_true()).collect();
    for pid in pids {
        run.wait_for_stdout(
            &format!("exec pid={pid} comm=true file=/bin/true"),
            Duration::from_secs(10),
        );
    }
    run.signal("INT");
    let (status, _, stderr, _) = run.finish(Duration::from_secs(10));
    assert!(status.success(), "status {status:?}, stderr:\n{stderr}");
}

#[test]
fn map_operations_round_trip() {
    map_round_trip("maps.wasm");
}

#[test]
fn modules_importing_from_env_work_like_wasm_bpf_ones() {
    // Modules built before February 2023 import the ABI from "env".
    let wasm = std::fs::read(guest("maps_env.wasm")).unwrap();
    let import = b"\x03env\x14wasm_bpf_map_operate";
    assert!(
        wasm.windows(import.len()).any(|w| w == import),
        "maps_env.wasm does not import from env"
    );
    map_round_trip("maps_env.wasm");
}

fn map_round_trip(wasm: &str) {
    let cpus = possible_cpus();
    let (status, out, err) = run_to_end(&[guest(wasm).to_str().unwrap(), &cpus.to_string()]);
    assert!(status.success(), "{err}");
    assert_eq!(field(&out, "load_unaligned"), "1");
    assert_eq!(field(&out, "fd_ok"), "1");
    assert_eq!(field(&out, "fd_cached"), "1");
    assert_eq!(field(&out, "missing_map"), ENOENT.to_string());
    assert_eq!(field(&out, "lookup_3"), "0,300");
    assert_eq!(field(&out, "update_noexist"), EEXIST.to_string());
    assert_eq!(field(&out, "delete_3"), "0");
    assert_eq!(field(&out, "lookup_deleted"), ENOENT.to_string());
    assert_eq!(field(&out, "delete_missing"), ENOENT.to_string());
    // Keys 1,2,4,5 remain: count 4, key sum 12, value sum 1200; iteration ends
    // with -ENOENT.
    assert_eq!(field(&out, "iterate"), format!("4,12,1200,end={ENOENT}"));
    assert_eq!(field(&out, "pcpu_update"), "0");
    let expected: u64 = (0..u64::from(cpus)).map(|i| 1000 + i).sum();
    assert_eq!(field(&out, "pcpu_lookup"), format!("0,{expected}"));
    assert_eq!(field(&out, "bad_fd"), EBADF.to_string());
    assert_eq!(field(&out, "close"), "0");
    assert_eq!(field(&out, "after_close"), EBADF.to_string());
}

#[test]
fn a_burst_is_delivered_whole_and_in_order() {
    let wasm = guest("burst.wasm");
    let mut run = start(&[wasm.to_str().unwrap()]);
    run.wait_for_stderr("ready", Duration::from_secs(20));
    // The BPF side fires on exec of a command called unibpf-burst*.
    let dir = std::env::temp_dir().join(format!("unibpf-burst-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trigger = dir.join("unibpf-burst");
    std::fs::copy("/bin/true", &trigger).unwrap();
    assert!(std::process::Command::new(&trigger)
        .status()
        .unwrap()
        .success());
    let (status, stdout, stderr, _) = run.finish(Duration::from_secs(30));
    std::fs::remove_dir_all(&dir).ok();
    assert!(status.success(), "{stderr}");
    // 512 records written in one BPF run: all delivered, in order, and at least
    // far more than one per poll (upstream delivered one).
    let line = stdout
        .lines()
        .find(|l| l.starts_with("burst:"))
        .expect("burst line");
    assert!(
        line.starts_with("burst: received=512 in_order=1 "),
        "{line}"
    );
    let per_poll: i32 = line.rsplit('=').next().unwrap().parse().unwrap();
    assert!(per_poll > 1, "{line}");
}

#[test]
fn hostile_guest_gets_errnos_and_the_runtime_keeps_going() {
    let cpus = possible_cpus();
    let (status, out, err) =
        run_to_end(&[guest("hostile.wasm").to_str().unwrap(), &cpus.to_string()]);
    assert!(status.success(), "status {status:?}\n{out}\n{err}");
    for name in ["load_oob", "load_huge", "load_garbage", "load_negative"] {
        assert_eq!(field(&out, name), "0", "{name}");
    }
    assert_eq!(field(&out, "load_ok"), "1");
    assert_eq!(field(&out, "attach_bad_handle"), EINVAL.to_string());
    assert_eq!(field(&out, "attach_oob_name"), EFAULT.to_string());
    assert_eq!(field(&out, "attach_unterminated"), EFAULT.to_string());
    assert_eq!(field(&out, "attach_long_name"), ENAMETOOLONG.to_string());
    assert_eq!(field(&out, "attach_no_such_prog"), ENOENT.to_string());
    assert_eq!(field(&out, "attach_oob_target"), EFAULT.to_string());
    assert_eq!(field(&out, "fd_bad_handle"), EINVAL.to_string());
    assert_eq!(field(&out, "fd_oob_name"), EFAULT.to_string());
    assert_eq!(field(&out, "op_cmd99"), EINVAL.to_string());
    assert_eq!(field(&out, "op_key_oob"), EFAULT.to_string());
    assert_eq!(field(&out, "op_value_oob"), EFAULT.to_string());
    assert_eq!(field(&out, "op_next_oob"), EFAULT.to_string());
    if cpus > 1 {
        assert_eq!(field(&out, "op_pcpu_short"), EFAULT.to_string());
    }
    assert_eq!(field(&out, "op_stdout_fd"), EBADF.to_string());
    assert_eq!(field(&out, "op_negative_fd"), EBADF.to_string());
    assert_eq!(field(&out, "poll_not_event_map"), EINVAL.to_string());
    assert_eq!(field(&out, "poll_other_objects_map"), EBADF.to_string());
    assert_eq!(field(&out, "poll_buf_oob"), EFAULT.to_string());
    assert_eq!(field(&out, "poll_bad_callback"), EINVAL.to_string());
    assert_eq!(field(&out, "poll_ok"), "0");
    assert_eq!(field(&out, "close_bad"), EINVAL.to_string());
    assert_eq!(field(&out, "still_works"), "0,0,99");
    assert_eq!(field(&out, "close"), "0,0");
}

#[test]
fn i64_pointer_map_operate_works() {
    let (status, out, err) = run_to_end(&[guest("i64_maps.wasm").to_str().unwrap()]);
    assert!(status.success(), "{err}");
    // A pointer above 4 GiB cannot be in wasm32 memory: EFAULT.
    assert!(
        out.contains(&format!(
            "i64: update=0 lookup=0 value=4242 first_key=0,42 high_ptr={EFAULT}"
        )),
        "{out}"
    );
}

#[test]
fn callback_wrapper_delivers_to_the_named_export() {
    let wasm = guest("go_style.wasm");
    let mut run = start(&["--timeout", "20s", wasm.to_str().unwrap()]);
    run.wait_for_stderr("ready", Duration::from_secs(20));
    let pid = exec_true();
    run.wait_for_stdout(
        &format!("go-callback ctx=77 pid={pid} comm=true"),
        Duration::from_secs(10),
    );
    run.signal("TERM");
    let (status, _, stderr, _) = run.finish(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
}

#[test]
fn exit_statuses_propagate() {
    for code in ["0", "3", "255"] {
        let (status, _, err) = run_to_end(&[guest("exit_code.wasm").to_str().unwrap(), code]);
        assert_eq!(status.code(), Some(code.parse().unwrap()), "{err}");
    }
}

#[test]
fn a_trap_is_reported_and_fails_the_run() {
    let (status, out, err) = run_to_end(&[guest("exit_code.wasm").to_str().unwrap(), "trap"]);
    assert_eq!(out, "about to trap\n");
    // README's promise: 134, the status of an abort, when the guest traps.
    assert_eq!(status.code(), Some(134), "{err}");
    assert!(err.contains("unibpf: error: the guest trapped"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn bad_modules_get_one_clear_line() {
    let dir = std::env::temp_dir();
    let junk = dir.join(format!("unibpf-junk-{}.wasm", std::process::id()));
    std::fs::write(&junk, b"\0asm\x01\0\0\0garbage").unwrap();
    let (status, _, err) = run_to_end(&[junk.to_str().unwrap()]);
    std::fs::remove_file(&junk).ok();
    assert_eq!(status.code(), Some(1));
    assert!(
        err.starts_with("unibpf: error: not a valid WebAssembly module"),
        "{err}"
    );
    let (status, _, err) = run_to_end(&["/nonexistent/x.wasm"]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("cannot read /nonexistent/x.wasm"), "{err}");
}

#[test]
fn an_optional_program_on_a_missing_tracepoint_is_left_out() {
    let wasm = guest("optional.wasm");
    let mut run = start(&["--explain", wasm.to_str().unwrap()]);
    run.wait_for_stderr("counting execs", Duration::from_secs(20));
    for _ in 0..3 {
        exec_true();
    }
    let (status, out, err, _) = run.finish(Duration::from_secs(10));
    assert!(status.success(), "{err}");
    assert_eq!(field(&out, "load"), "1");
    assert_eq!(field(&out, "attach_counted"), "0");
    // Attaching the left-out program is a no-op, so attach-everything
    // guests keep working.
    assert_eq!(field(&out, "attach_nowhere"), "0");
    let execs: u64 = field(&out, "execs").parse().expect("count");
    assert!(execs >= 3, "{out}");
    assert!(
        err.lines().any(|l| l
            == "unibpf: explain: unibpf_t_nowhere: skipped: tracepoint unibpf_no_such_category/no_such_event does not exist on this host (optional)"),
        "{err}"
    );
}

#[test]
fn a_required_program_on_a_missing_tracepoint_fails_the_load_clearly() {
    let out = assert_fails_with(
        &[guest("optional.wasm").to_str().unwrap(), "required"],
        "unibpf: error: program unibpf_t_nowhere: tracepoint unibpf_no_such_category/no_such_event does not exist on this host; mark the program optional (UNIBPF_OPTIONAL in <unibpf/compat.bpf.h>) or turn its autoload off",
    );
    assert_eq!(field(&out, "load"), "0");
}

#[test]
fn another_architectures_registers_read_at_fixed_offsets_are_refused_in_one_line() {
    if std::env::consts::ARCH == "aarch64" {
        eprintln!("skipped: the test object is built for arm64's registers");
        return;
    }
    let host = std::env::consts::ARCH;
    let out = assert_fails_with(
        &[guest("fixed_regs.wasm").to_str().unwrap()],
        &format!(
            "unibpf: error: program unibpf_t_fixed: reads arm64 registers at fixed offsets \
             (struct pt_regs without CO-RE; instruction 0, offset 0), which cannot be pointed \
             at {host}'s; rebuild it with vmlinux.h and BPF_KPROBE/BPF_UPROBE or PT_REGS_PARMn \
             (CO-RE reads), or build it for {host}"
        ),
    );
    assert_eq!(field(&out, "load"), "0");
    // Refused before anything reached the kernel: no such program exists.
    let progs = std::process::Command::new("bpftool")
        .args(["prog", "show"])
        .output();
    if let Ok(progs) = progs {
        let listed = String::from_utf8_lossy(&progs.stdout);
        assert!(!listed.contains("unibpf_t_fixed"), "{listed}");
    }
}
