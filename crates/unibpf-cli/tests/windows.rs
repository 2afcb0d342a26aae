//! unibpf.exe, cross-built by scripts/build-windows.sh, under wine: probe
//! reports Windows and no eBPF for Windows, a module that loads no BPF
//! object runs with its output and exit code, and one that loads an object
//! fails with the one line that says eBPF for Windows is missing.
//!
//! Skipped (with a line saying why) where wine or the mingw-w64 cross
//! linker is missing; scripts/test.sh installs both and builds first.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{guest, program};
use unibpf_matrix::wine::Wine;

/// unibpf.exe and its wine set-up (the matrix's, unibpf_matrix::wine), or
/// why the tests cannot run.
fn built() -> Result<&'static (PathBuf, Wine), &'static str> {
    static BUILT: OnceLock<Result<(PathBuf, Wine), &'static str>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let (exe, dir) = common::windows_build()?;
            let wine = Wine::from_build(exe).expect("the Windows build's layout");
            Ok((dir.clone(), wine))
        })
        .as_ref()
        .map_err(|why| *why)
}

/// `unibpf.exe ARGS` under wine, in a prefix under the target dir (the
/// first run creates it, in seconds), with the stand-in
/// bcryptprimitives.dll wine 8 needs; None when skipped.
fn wine(args: &[&str]) -> Option<Output> {
    wine_with(args, None)
}

/// The same, with the recording stand-in ebpfapi.dll on the DLL search
/// path when `stand_in` gives its environment (record file, ring records).
fn wine_with(args: &[&str], stand_in: Option<&[(&str, String)]>) -> Option<Output> {
    let (_, wine) = match built() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    static PREFIX: OnceLock<()> = OnceLock::new();
    PREFIX.get_or_init(|| wine.prepare().expect("making the wine prefix"));
    let out = wine
        .command(stand_in.is_some())
        .args(args)
        .envs(stand_in.unwrap_or_default().iter().map(|(k, v)| (k, v)))
        .output()
        .expect("running wine");
    Some(out)
}

#[path = "windows/stand_in.rs"]
mod stand_in;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn probe_reports_windows_without_ebpf_for_windows() {
    let Some(out) = wine(&["probe"]) else { return };
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("host      Windows "), "{stdout}");
    assert!(stdout.contains("under wine"), "{stdout}");
    assert!(
        stdout.contains(
            "eBPF for Windows: not installed (ebpfapi.dll not found): install it from https://github.com/microsoft/ebpf-for-windows/releases"
        ),
        "{stdout}"
    );
    let json = wine(&["probe", "--json"]).expect("built");
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("probe JSON");
    assert_eq!(report["os"], "windows");
    assert_eq!(report["ebpf_for_windows"]["installed"], false);
}

#[test]
fn a_module_without_bpf_runs_to_its_exit_code() {
    let wasm = guest("exit_code.wasm");
    let Some(out) = wine(&["run", wasm.to_str().unwrap(), "7"]) else {
        return;
    };
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let out = wine(&["run", wasm.to_str().unwrap(), "trap"]).expect("built");
    assert_eq!(text(&out.stdout), "about to trap\n");
    assert_eq!(out.status.code(), Some(134), "{}", text(&out.stderr));
}

#[test]
fn a_module_loading_bpf_says_ebpf_for_windows_is_missing() {
    if built().is_err() {
        return eprintln!("skipped: {}", built().unwrap_err());
    }
    let wasm = program("bootstrap.wasm");
    let out = wine(&["run", wasm.to_str().unwrap()]).expect("built");
    let stderr = text(&out.stderr);
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("unibpf")).collect();
    assert_eq!(
        ours,
        ["unibpf: error: eBPF for Windows is not installed (ebpfapi.dll not found): install it from https://github.com/microsoft/ebpf-for-windows/releases"],
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

/// The matrix's Windows column (`unibpf matrix --hosts windows-wine`):
/// sockops passes against the stand-in, a program without a Windows
/// variant fails with unibpf.exe's line, and the legend says what ran.
#[test]
fn the_matrix_windows_column_passes_sockops_and_says_why_the_others_fail() {
    let (_, wine) = match built() {
        Ok(b) => b,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let programs = program("sockops.wasm").parent().unwrap().to_path_buf();
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_unibpf"))
        .args([
            "matrix",
            "--hosts",
            "windows-wine",
            "--programs",
            "sockops,bootstrap",
        ])
        .arg("--root")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .arg("--programs-dir")
        .arg(&programs)
        .arg("--out")
        .arg(out.path())
        .arg("--unibpf-windows")
        .arg(wine.exe())
        .output()
        .expect("unibpf matrix");
    assert!(run.status.success(), "{}", text(&run.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("latest.json")).unwrap()).unwrap();
    assert_eq!(json["hosts"][0]["name"], "windows-wine");
    assert_eq!(json["hosts"][0]["wine"], true);
    let cell = |p: &str| {
        json["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["program"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("no {p} cell: {json}"))
    };
    let sockops = cell("sockops");
    assert_eq!(sockops["status"], "pass", "{sockops}");
    assert!(
        sockops["decisions"][0]
            .as_str()
            .unwrap()
            .contains("swapped for its windows variant sockops.windows.bpf.o"),
        "{sockops}"
    );
    let bootstrap = cell("bootstrap");
    assert_eq!(bootstrap["status"], "fail");
    let reason = bootstrap["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "exit 1: unibpf: error: the BPF object with programs handle_exec, handle_exit (key "
        ) && reason.contains("has no windows variant")
            && reason.contains("unibpf bundle APP.wasm --platform windows"),
        "{reason}"
    );
    let md = std::fs::read_to_string(out.path().join("latest.md")).unwrap();
    assert!(
        md.contains("| sockops | O |") || md.contains("| sockops | -/O |"),
        "{md}"
    );
    assert!(md.contains("not a real eBPF for Windows"), "{md}");
}
