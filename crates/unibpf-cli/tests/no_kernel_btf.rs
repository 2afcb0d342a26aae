//! Programs that need CO-RE on a kernel without BTF: `/sys/kernel/btf` is
//! hidden under an empty tmpfs in a private mount namespace (unshare -m),
//! and unibpf must find this kernel's BTF elsewhere - a file named with
//! --btf, BTF bundled in the .wasm, the cache, a download from a mirror on
//! loopback - and the programs must show real events. Root.

mod common;
// The loopback BTFHub mirror and BTF makers of unibpf-btf's own tests.
#[path = "../../unibpf-btf/tests/common/mod.rs"]
mod btf;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use btf::{files_under, this_kernel, vmlinux, Server};
use common::*;

/// `unibpf run ARGS` with the kernel's BTF hidden from it.
fn run_without_kernel_btf(args: &[&str]) -> Running {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs unibpf-no-btf /sys/kernel/btf && exec "$0" run "$@""#)
        .arg(env!("CARGO_BIN_EXE_unibpf"))
        .args(args)
        .stdin(Stdio::null());
    spawn_running(cmd)
}

/// Runs `wasm` with `btf_args` and the kernel's BTF hidden, waits for
/// `ready`, runs `workload`, stops it; its stdout. The explain lines must
/// show where the BTF came from.
fn observe_without_kernel_btf(
    wasm: &Path,
    btf_args: &[&str],
    source: &str,
    ready: &str,
    workload: impl FnOnce(),
) -> String {
    observe_module_without_kernel_btf(wasm, &[], btf_args, source, ready, workload).0
}

/// The same with `module_args` after the module; its stdout and stderr.
fn observe_module_without_kernel_btf(
    wasm: &Path,
    module_args: &[&str],
    btf_args: &[&str],
    source: &str,
    ready: &str,
    workload: impl FnOnce(),
) -> (String, String) {
    let mut args = vec!["--explain", "--timeout", "60s", "--grace", "30s"];
    args.extend_from_slice(btf_args);
    args.push(wasm.to_str().unwrap());
    args.extend_from_slice(module_args);
    let mut run = run_without_kernel_btf(&args);
    run.wait_for_stderr(ready, Duration::from_secs(60));
    workload();
    run.signal("INT");
    let (status, stdout, stderr, _) = run.finish(Duration::from_secs(30));
    assert!(status.success(), "{stderr}\n{stdout}");
    let used = format!("unibpf: explain: CO-RE: against BTF from {source} (");
    assert!(
        stderr.lines().any(|l| l.starts_with(&used)),
        "no {used:?} in:\n{stderr}"
    );
    (stdout, stderr)
}

/// bootstrap (`wasm`: plain or bundled) sees a shell and a sleep start
/// and exit.
fn bootstrap_sees_events(wasm: &Path, btf_args: &[&str], source: &str) {
    let mut sh = (0, 0);
    let mut sleeper = (0, 0);
    let out = observe_without_kernel_btf(wasm, btf_args, source, "tracing", || {
        sh = spawn_wait("/bin/sh", &["-c", "exit 3"]);
        sleeper = spawn_wait("/bin/sleep", &["0.3"]);
    });
    let facts = [
        ("sh_pid", sh.0.to_string()),
        ("sleep_pid", sleeper.0.to_string()),
    ];
    assert_case("bootstrap", &facts, &out);
}

/// bootstrap, execve and opensnoop, each with the checks their tests with
/// kernel BTF apply (unibpf_matrix::cases::check).
fn programs_see_events(btf_args: &[&str], source: &str, bootstrap: &Path) {
    bootstrap_sees_events(bootstrap, btf_args, source);

    let mut echo = (0, 0);
    let out =
        observe_without_kernel_btf(&program("execve.wasm"), btf_args, source, "tracing", || {
            echo = spawn_wait("/bin/echo", &["first", "two words", ""]);
        });
    let facts = [
        ("exec_pid", echo.0.to_string()),
        ("argv0", "/bin/echo".to_string()),
    ];
    assert_case("execve", &facts, &out);

    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("present.txt");
    std::fs::write(&present, "x").unwrap();
    let missing = dir.path().join("missing.txt");
    let me = std::process::id().to_string();
    let out = observe_without_kernel_btf(
        &program("opensnoop.wasm"),
        btf_args,
        source,
        "tracing opens",
        || {
            let _file = std::fs::File::open(&present).unwrap();
            assert!(std::fs::File::open(&missing).is_err());
        },
    );
    let facts = [
        ("shell_pid", me),
        ("present", present.display().to_string()),
        ("missing", missing.display().to_string()),
    ];
    assert_case("opensnoop", &facts, &out);
}

#[test]
fn without_any_btf_the_error_lists_every_place_tried() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let wasm = program("bootstrap.wasm");
    let run = run_without_kernel_btf(&[
        "--no-btf-download",
        "--btf-cache",
        cache.to_str().unwrap(),
        wasm.to_str().unwrap(),
    ]);
    let (status, _, stderr, _) = run.finish(Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("unibpf: error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"));
    for place in [
        "--btf",
        "/sys/kernel/btf/vmlinux",
        "bundle",
        "cache",
        "download",
    ] {
        assert!(line.contains(place), "{place} missing from: {line}");
    }
    assert!(line.contains("unibpf btf fetch"), "{line}");
}

#[test]
fn a_btf_file_named_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("vmlinux.btf");
    std::fs::write(&file, vmlinux()).unwrap();
    programs_see_events(
        &["--btf", file.to_str().unwrap()],
        "--btf",
        &program("bootstrap.wasm"),
    );
}

#[test]
fn btf_bundled_in_the_module() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let entry = tree.join(this_kernel().relative_path());
    std::fs::create_dir_all(entry.parent().unwrap()).unwrap();
    std::fs::write(&entry, vmlinux()).unwrap();
    let bundled = tmp.path().join("bootstrap.wasm");
    let out = unibpf()
        .args(["btf", "bundle"])
        .arg(program("bootstrap.wasm"))
        .arg("--from")
        .arg(&tree)
        .arg("-o")
        .arg(&bundled)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cache = tmp.path().join("empty-cache");
    let c = cache.to_str().unwrap();
    // Only bootstrap carries the bundle; the others must not find one.
    let args = ["--no-btf-download", "--btf-cache", c];
    bootstrap_sees_events(&bundled, &args, "bundle");
}

#[test]
fn btf_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let entry = cache.join(this_kernel().relative_path());
    std::fs::create_dir_all(entry.parent().unwrap()).unwrap();
    std::fs::write(&entry, vmlinux()).unwrap();
    let args = ["--no-btf-download", "--btf-cache", cache.to_str().unwrap()];
    programs_see_events(&args, "cache", &program("bootstrap.wasm"));
    // Each object ran against its own min-core of the cached file, made on
    // first use: three objects, three files, each a few KB at most.
    let derived = || {
        let mut files: Vec<_> = files_under(&cache.join("min-core"))
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p).unwrap();
                (p, meta.len(), meta.modified().unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let first = derived();
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.iter().all(|(_, len, _)| *len < 16 << 10), "{first:?}");
    // The next runs use them as they are.
    programs_see_events(&args, "cache", &program("bootstrap.wasm"));
    assert_eq!(derived(), first);
}

#[test]
fn btf_downloaded_from_a_mirror_then_cached() {
    let kernel = this_kernel();
    let server = Server::serving_this_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (c, m) = (cache.to_str().unwrap(), server.url());
    let args = ["--btf-cache", c, "--btf-mirror", &m];
    bootstrap_sees_events(&program("bootstrap.wasm"), &args, "download");
    assert_eq!(server.requests(), 1);
    assert!(cache.join(kernel.relative_path()).is_file());
    // Later runs find it in the cache: the mirror sees no more requests.
    programs_see_events(&args, "cache", &program("bootstrap.wasm"));
    assert_eq!(server.requests(), 1);
}

#[test]
fn runqlat_runs_on_its_raw_tracepoint_alternatives_without_kernel_btf() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("vmlinux.btf");
    std::fs::write(&file, vmlinux()).unwrap();
    let mut target = RunqlatTarget::spawn(25);
    let (out, err) = observe_module_without_kernel_btf(
        &program("runqlat.wasm"),
        &["-p", &target.pid()],
        &["--btf", file.to_str().unwrap()],
        "--btf",
        "sampling",
        || target.run(),
    );
    assert_case("runqlat", &target.facts(), &out);
    // tp_btf needs the kernel's own BTF: each program's raw tracepoint
    // alternative ran instead, and --explain said so.
    for (typed, raw) in [
        ("on_wakeup", "on_wakeup_raw"),
        ("on_wakeup_new", "on_wakeup_new_raw"),
        ("on_switch", "on_switch_raw"),
    ] {
        let skipped = format!("unibpf: explain: {typed}: skipped: needs the kernel's own BTF");
        let instead = format!("alternative {raw} runs instead");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&skipped) && l.ends_with(&instead)),
            "no {skipped:?} ... {instead:?} in:\n{err}"
        );
        let chosen = format!("unibpf: explain: {raw}: kernel, raw tracepoint");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&chosen) && l.contains(&format!("(alternative to {typed})"))),
            "no {chosen:?} in:\n{err}"
        );
    }
}
