//! The program suite's `.wasm` files, unchanged, on the userspace backend
//! as an unprivileged user (uid 65534 through `setpriv`): the kernel
//! refuses it bpf(), so auto selection must fall back to the in-process VM,
//! and the programs see the command given with `--cmd` through ptrace.
//! Each test asserts the values the kernel backend's tests assert.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

/// A directory `nobody` can read, holding this build's `unibpf` and the
/// suite's modules.
fn nobody_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("userspace-nobody");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // A hard link: the debug binary is large.
        let bin = dir.join("unibpf");
        if std::fs::hard_link(env!("CARGO_BIN_EXE_unibpf"), &bin).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_unibpf"), &bin).expect("copy unibpf");
        }
        for wasm in [
            "bootstrap.wasm",
            "bootstrap_rs.wasm",
            "execve.wasm",
            "opensnoop.wasm",
            "exitsnoop.wasm",
            "xdp.wasm",
        ] {
            std::fs::copy(program(wasm), dir.join(wasm)).expect("copy module");
        }
        let mut p = dir.clone();
        while p.pop() {
            let mode = std::fs::metadata(&p).expect("stat").permissions().mode();
            assert!(
                mode & 0o001 != 0,
                "{} is not searchable by other users, so uid 65534 cannot reach the \
                 test's files: make it o+x (a checkout made with umask 022 is)",
                p.display()
            );
        }
        dir
    })
}

/// `unibpf run ARGS` as uid/gid 65534 with no capabilities, to the end.
fn run_as_nobody(args: &[&str]) -> (Output, String, String) {
    let dir = nobody_dir();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(dir.join("unibpf"))
        .arg("run")
        .args(["--timeout", "60s"])
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        // cargo's library path makes every traced exec probe dozens of
        // directories: noise in the output, nothing to test.
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("running setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn module(name: &str) -> String {
    nobody_dir().join(name).display().to_string()
}

fn line<'a>(out: &'a str, prefix: &str, fields: &[&str]) -> Option<&'a str> {
    out.lines()
        .find(|l| l.starts_with(prefix) && fields.iter().all(|f| l.split(' ').any(|w| w == *f)))
}

#[test]
fn bootstrap_sees_exec_and_exit_codes_of_a_command_as_nobody() {
    for wasm in ["bootstrap.wasm", "bootstrap_rs.wasm"] {
        let (out, stdout, stderr) = run_as_nobody(&[
            "--explain",
            "--cmd",
            "/bin/sh -c '/bin/sleep 0.2; exit 3'",
            &module(wasm),
        ]);
        assert!(out.status.success(), "{wasm}: {stderr}\n{stdout}");
        assert!(
            stderr.contains("not the kernel backend: loading BPF programs needs root"),
            "{wasm}: --explain does not say why not the kernel:\n{stderr}"
        );
        let exec = line(&stdout, "EXEC", &["comm=sh", "file=/bin/sh"])
            .unwrap_or_else(|| panic!("{wasm}: no exec of sh:\n{stdout}"));
        let sh_pid = exec.split(' ').find(|w| w.starts_with("pid=")).unwrap();
        // sh's parent is the unibpf process that started it.
        assert!(exec.contains(" ppid="), "{exec}");
        assert!(
            line(&stdout, "EXEC", &["comm=sleep", "file=/bin/sleep"]).is_some(),
            "{wasm}: no exec of sleep:\n{stdout}"
        );
        let exit = line(&stdout, "EXIT", &[sh_pid, "code=3", "comm=sh"])
            .unwrap_or_else(|| panic!("{wasm}: no exit of sh with code 3:\n{stdout}"));
        let ms: u64 = exit
            .split(' ')
            .find_map(|w| w.strip_prefix("duration_ms="))
            .and_then(|v| v.parse().ok())
            .expect("duration");
        assert!(ms >= 200, "sh ran sleep 0.2: {exit}");
        let sleep_exit = line(&stdout, "EXIT", &["comm=sleep", "code=0"])
            .unwrap_or_else(|| panic!("{wasm}: no exit of sleep:\n{stdout}"));
        assert!(
            sleep_exit.contains(&format!("ppid={}", &sh_pid["pid=".len()..])),
            "sleep's parent is sh: {sleep_exit}"
        );
    }
}

#[test]
fn execve_reads_the_arguments_of_each_exec_as_nobody() {
    let (out, stdout, stderr) = run_as_nobody(&[
        "--cmd",
        "/bin/sh -c '/bin/echo first \"two words\" \"\"; /bin/true 1 2 3 4 5 6 7 8 9'",
        &module("execve.wasm"),
    ]);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let echo = line(&stdout, "EXECVE", &["comm=sh", "file=/bin/echo"])
        .unwrap_or_else(|| panic!("no execve of echo:\n{stdout}"));
    assert!(
        echo.ends_with(r#"file=/bin/echo argc=4 args=["/bin/echo","first","two words",""]"#),
        "{echo}"
    );
    let many = line(&stdout, "EXECVE", &["file=/bin/true"])
        .unwrap_or_else(|| panic!("no execve of true:\n{stdout}"));
    assert!(
        many.ends_with(r#"argc=8 args=["/bin/true","1","2","3","4","5","6","7"] truncated"#),
        "{many}"
    );
}

#[test]
fn opensnoop_sees_opens_and_their_results_over_a_perf_buffer_as_nobody() {
    let dir = nobody_dir();
    let present = dir.join("opensnoop-present.txt");
    std::fs::write(&present, "x").expect("write");
    std::fs::set_permissions(&present, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let missing = dir.join("opensnoop-missing.txt");
    // cat's own output would land in the middle of the guest's lines.
    let cmd = format!(
        "/bin/sh -c 'exec /bin/cat {} {} >/dev/null 2>&1'",
        present.display(),
        missing.display()
    );
    let (out, stdout, stderr) = run_as_nobody(&["--cmd", &cmd, &module("opensnoop.wasm")]);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let hit = line(
        &stdout,
        "OPEN",
        &["comm=cat", &format!("path={}", present.display())],
    )
    .unwrap_or_else(|| panic!("no open of the present file:\n{stdout}"));
    assert!(hit.contains(" ret=3 "), "{hit}");
    let miss = line(
        &stdout,
        "OPEN",
        &["comm=cat", &format!("path={}", missing.display())],
    )
    .unwrap_or_else(|| panic!("no open of the missing file:\n{stdout}"));
    assert!(miss.contains(" ret=-2 "), "ENOENT: {miss}");
}

#[test]
fn exitsnoop_reports_exit_codes_and_counts_in_bss_as_nobody() {
    let (out, stdout, stderr) = run_as_nobody(&[
        "--cmd",
        "/bin/sh -c '/bin/true; exit 7'",
        &module("exitsnoop.wasm"),
    ]);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        line(&stdout, "EXIT", &["comm=sh", "code=7", "signal=0"]).is_some(),
        "no exit of sh with code 7:\n{stdout}"
    );
    assert!(
        line(&stdout, "EXIT", &["comm=true", "code=0"]).is_some(),
        "no exit of true:\n{stdout}"
    );
    // .bss written by the program, read back by the guest.
    assert!(stdout.contains("REPORTED total=2"), "{stdout}");
}

#[test]
fn a_hook_without_a_userspace_source_is_refused_in_one_line() {
    let (out, stdout, stderr) =
        run_as_nobody(&["--backend", "userspace", &module("xdp.wasm"), "lo"]);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}\n{stdout}");
    assert!(
        errors[0].contains("the userspace backend does not run xdp programs"),
        "{stderr}"
    );
    let _ = out;
}

#[test]
fn process_hooks_without_a_process_say_how_to_name_one() {
    let (_, stdout, stderr) = run_as_nobody(&["--backend", "userspace", &module("execve.wasm")]);
    assert!(
        stderr.contains("run with --cmd 'COMMAND ARGS' or --pid PID"),
        "{stderr}\n{stdout}"
    );
}
