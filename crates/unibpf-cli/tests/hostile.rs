//! Hostile modules through `unibpf run` on the real kernel: what reaches
//! libbpf, tracefs and the user's terminal. Root-free checks of the same
//! defences live in crates/unibpf/tests/untrusted.rs.

mod common;

use std::process::{Command, Stdio};
use std::sync::Mutex;

use common::*;

// WASI errnos, as guests see them.
const EINVAL: i32 = -28;
const EILSEQ: i32 = -25;
const ENOENT: i32 = -44;

/// The escape fixture is one fixed path; tests using it run one at a time.
static ESCAPE_FIXTURE: Mutex<()> = Mutex::new(());

#[test]
fn names_that_are_not_utf8_are_refused_with_one_line() {
    // Such an object once aborted the host inside libbpf's log formatting
    // (backends/kernel/tests/libbpf_log.rs keeps that path tested). The
    // runtime now reads every object before anything loads it, and names
    // it cannot read are refused.
    let (status, out, err) = run_to_end(&[guest("nasty.wasm").to_str().unwrap(), "nonutf8"]);
    assert_eq!(status.code(), Some(0), "{err}\n{out}");
    assert_eq!(field(&out, "load_nonutf8"), "0");
    assert!(
        err.lines()
            .any(|l| l.starts_with("unibpf: error: cannot read the BPF object: ")),
        "{err}"
    );
    assert_eq!(field(&out, "attach_nonutf8"), EILSEQ.to_string());
    assert_eq!(field(&out, "map_nonutf8"), EILSEQ.to_string());
}

/// A file that looks like a tracepoint's `id` to libbpf, outside tracefs:
/// if a target or section could climb out of tracefs, the attach would work.
struct EscapeFixture {
    dir: std::path::PathBuf,
}

impl EscapeFixture {
    fn new() -> Self {
        let dir = std::path::PathBuf::from("/tmp/unibpf-escape");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("x")).unwrap();
        let events = [
            "/sys/kernel/tracing/events",
            "/sys/kernel/debug/tracing/events",
        ]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.is_dir())
        .expect("tracefs is mounted (the runtime mounts it on first use)");
        let id = std::fs::read_to_string(events.join("sched/sched_process_exec/id")).unwrap();
        std::fs::write(dir.join("x/id"), id).unwrap();
        Self { dir }
    }
}

impl Drop for EscapeFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn tracepoint_targets_and_sections_cannot_leave_tracefs() {
    let _serial = ESCAPE_FIXTURE.lock().unwrap_or_else(|e| e.into_inner());
    if !std::path::Path::new("/sys/kernel/tracing/events").is_dir() {
        let _ = Command::new("mount")
            .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            .status();
    }
    let _fixture = EscapeFixture::new();
    let (status, out, err) = run_to_end(&[guest("nasty.wasm").to_str().unwrap(), "escape"]);
    assert_eq!(status.code(), Some(0), "{err}\n{out}");
    assert_eq!(field(&out, "attach_dotdot"), EINVAL.to_string(), "{err}");
    assert_eq!(field(&out, "attach_dotdot_colon"), EINVAL.to_string());
    assert_eq!(field(&out, "attach_legit"), "0", "{err}");
    // The object whose section climbs out is refused at load.
    assert_eq!(field(&out, "load_escape_section"), "0", "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("unibpf: error: cannot read the BPF object: program unibpf_t_escape: \"../../../../../../../tmp/unibpf-escape/x\" is not a valid tracepoint")),
        "{err}"
    );
}

#[test]
fn guest_strings_cannot_forge_log_lines() {
    let (status, out, err) = run_to_end(&[guest("nasty.wasm").to_str().unwrap(), "forge"]);
    assert_eq!(status.code(), Some(0), "{err}\n{out}");
    assert_eq!(field(&out, "forge_name"), ENOENT.to_string());
    assert_eq!(field(&out, "forge_target"), EINVAL.to_string());
    assert_eq!(field(&out, "forge_map"), ENOENT.to_string());
    // Each guest string reached a message, escaped: every line of ours is
    // one message, and none is the guest's.
    assert!(err.contains("forged by the guest"), "{err}");
    for line in err.lines() {
        assert!(
            line.starts_with("unibpf: "),
            "a line we did not write: {line:?}\n{err}"
        );
        assert!(
            !line.starts_with("unibpf: error: forged"),
            "forged: {line:?}"
        );
    }
}

#[test]
fn a_file_that_is_not_wasm_gets_one_line() {
    let path = std::env::temp_dir().join(format!("unibpf-text-{}.wasm", std::process::id()));
    std::fs::write(&path, "hello, this is a text file\n").unwrap();
    let (status, out, err) = run_to_end(&[path.to_str().unwrap()]);
    std::fs::remove_file(&path).ok();
    assert_eq!(status.code(), Some(1), "{out}");
    assert_eq!(
        err,
        "unibpf: error: not a WebAssembly module: it does not start with the \\0asm magic bytes; unibpf runs wasm32-wasi .wasm files\n"
    );
}

#[test]
fn generators_stop_quietly_when_the_reader_goes_away() {
    // `unibpf gen types X.o | head -1`: the pipe closes early.
    let mut child = unibpf()
        .args(["gen", "types"])
        .arg(guest("exec.bpf.o"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn without_privileges_the_error_names_privileges() {
    use std::os::unix::process::CommandExt;
    // nobody: no capabilities. The kernel's own setting decides whether
    // unprivileged BPF exists at all; tracing programs need CAP_BPF anyway.
    let out = unibpf()
        .arg("run")
        .arg(guest("execsnoop.wasm"))
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .output()
        .expect("running unibpf as nobody");
    let err = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("unibpf:")).collect();
    assert_eq!(ours.len(), 1, "{err}");
    assert!(
        ours[0].starts_with("unibpf: error: loading BPF programs needs root, or CAP_BPF"),
        "{err}"
    );
    assert!(ours[0].contains("run unibpf with sudo"), "{err}");
    // The fallback cannot stand in without a process to trace: that too.
    assert!(
        ours[0].ends_with("run with --cmd 'COMMAND ARGS' or --pid PID"),
        "{err}"
    );
    // The guest's own failure follows: it exits with its status, no trap.
    assert_eq!(out.status.code(), Some(1), "{err}");
}

#[test]
fn running_out_of_file_descriptors_is_named_as_such() {
    // Each limit runs out at a different step: libbpf needs one descriptor
    // to open an object (a placeholder memfd) and more to load it, and with
    // very few the host facts (capabilities, sysctls) cannot be read. Any
    // of them must be named EMFILE, never mistaken for a bad object or for
    // missing privileges.
    for limit in [8, 22, 23, 24] {
        let (stdout, err, status) = run_many_with_fd_limit(limit);
        assert_eq!(status, Some(0), "limit {limit}: {err}\n{stdout}");
        let loaded: u32 = field(&stdout, "loaded").parse().unwrap();
        assert!(loaded < 40, "the fd limit {limit} never bit: {stdout}");
        assert!(
            err.lines()
                .any(|l| l.contains("out of file descriptors (EMFILE)")),
            "limit {limit}: {err}"
        );
        assert!(
            !err.contains("not a valid BPF object"),
            "limit {limit}: {err}"
        );
        assert!(!err.contains("needs root"), "limit {limit}: {err}");
    }
}

fn run_many_with_fd_limit(limit: u64) -> (String, String, Option<i32>) {
    use std::os::unix::process::CommandExt;
    let mut cmd = unibpf();
    cmd.arg("run")
        .arg(guest("nasty.wasm"))
        .args(["many", "40"])
        .stdin(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            let limit = nix::libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("running unibpf");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn limits_are_set_by_name_and_bad_settings_get_one_line() {
    let wasm = guest("nasty.wasm");
    let (status, out, err) = run_to_end(&["--limit", "memroy=1", wasm.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("unibpf: error: --limit: unknown limit \"memroy\"; known: memory,"),
        "{err}"
    );
    // A real setting reaches the module: its grow past 8 MiB fails.
    let (status, out, err) = run_to_end(&[
        "--limit",
        "memory=8MiB",
        wasm.to_str().unwrap(),
        "grow",
        "1000",
    ]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(field(&out, "grow"), "-1");
    assert!(
        err.contains("above the memory limit of 8MiB (raise it with --limit memory=...)"),
        "{err}"
    );
}
