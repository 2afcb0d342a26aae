//! unibpf.exe under wine, on what the Windows host itself offers: `probe`
//! reading eBPF for Windows' facts (a version-only stand-in ebpfapi.dll
//! and registry entries we set, not a real install), `--dir` granting a
//! directory, and Ctrl-C stopping the guest gracefully.
//!
//! Skipped (with a line saying why) where wine or mingw-w64 is missing;
//! scripts/test.sh installs both and builds first.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{field, guest, spawn_running};

/// unibpf.exe and the build's windows/ dir; None (said why) when skipped.
fn built() -> Option<&'static (PathBuf, PathBuf)> {
    match common::windows_build() {
        Ok(b) => Some(b),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// A wine prefix of its own (made on first use) and the DLL folders on
/// WINEPATH besides wine-dlls/ (for bcryptprimitives.dll).
struct Wine {
    exe: PathBuf,
    prefix: PathBuf,
    winepath: String,
}

fn windows_path(p: &Path) -> String {
    format!("Z:{}", p.display()).replace('/', "\\")
}

impl Wine {
    fn new(prefix: &str, dlls: &[&str]) -> Option<Wine> {
        let (exe, dir) = built()?;
        let mut path = vec![windows_path(&dir.join("wine-dlls"))];
        path.extend(
            dlls.iter()
                .map(|d| windows_path(&dir.join("wine-dlls").join(d))),
        );
        let wine = Wine {
            exe: exe.clone(),
            prefix: dir.join(prefix),
            winepath: path.join(";"),
        };
        if !wine.prefix.exists() {
            // The first run makes the prefix; its messages are wine's.
            wine.command("wineboot", &["-i"])
                .output()
                .expect("wineboot");
        }
        Some(wine)
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEPATH", &self.winepath)
            .env("WINEDLLOVERRIDES", "bcryptprimitives=n,b;mscoree,mshtml=");
        c
    }

    fn unibpf(&self, args: &[&str]) -> Command {
        let mut c = self.command("wine", &[]);
        c.arg(&self.exe).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.unibpf(args).output().expect("running wine")
    }

    fn reg_add(&self, key: &str, value: &str, ty: &str, data: &str) {
        let out = self
            .command(
                "wine",
                &["reg", "add", key, "/v", value, "/t", ty, "/d", data, "/f"],
            )
            .output()
            .expect("wine reg add");
        assert!(out.status.success(), "reg add {key} {value}: {out:?}");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const STORE: &str = "HKLM\\Software\\eBPF\\Providers";
/// eBPF for Windows' sock_ops program type and its attach type, as its
/// `ebpf_program_attach_type_guids.h` spells them, and their bytes as the
/// registry holds them (the first three fields little-endian).
const SOCK_OPS: (&str, &str) = (
    "{43fb224d-68f8-46d6-aa3f-c856518cbb32}",
    "4d22fb43f868d646aa3fc856518cbb32",
);
const CGROUP_SOCK_OPS: (&str, &str) = (
    "{837d02cd-3251-4632-8d94-60d3b45769f2}",
    "cd027d83513232468d9460d3b45769f2",
);

#[test]
fn probe_reports_the_version_and_the_registered_hooks_of_ebpf_for_windows() {
    let Some(wine) = Wine::new("wineprefix-efw-facts", &["efw-version"]) else {
        return;
    };
    let program = format!("{STORE}\\ProgramData\\{}\\TypeDescriptor", SOCK_OPS.0);
    wine.reg_add(&program, "Name", "REG_SZ", "sock_ops");
    wine.reg_add(&program, "BpfProgType", "REG_DWORD", "4");
    let section = format!("{STORE}\\SectionData\\sockops");
    wine.reg_add(&section, "ProgramType", "REG_BINARY", SOCK_OPS.1);
    wine.reg_add(&section, "AttachType", "REG_BINARY", CGROUP_SOCK_OPS.1);
    wine.reg_add(&section, "BpfProgType", "REG_DWORD", "4");
    wine.reg_add(&section, "BpfAttachType", "REG_DWORD", "7");

    let out = wine.run(&["probe"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("eBPF for Windows: installed (ebpfapi.dll loaded)"),
        "{stdout}"
    );
    let dll = stdout
        .lines()
        .find(|l| l.starts_with("  ebpfapi.dll  "))
        .unwrap_or_else(|| panic!("no ebpfapi.dll line:\n{stdout}"));
    assert!(
        dll.ends_with("efw-version\\ebpfapi.dll, version 0.99.2.7"),
        "{dll}"
    );
    assert!(
        stdout.contains(&format!(
            "  providers    {STORE}: 1 program types, 1 sections\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "  program type sock_ops {}, bpf_prog_type 4\n",
            SOCK_OPS.0
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  hook         sockops (program type sock_ops)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  execution    unknown: needs the eBPF for Windows driver"),
        "{stdout}"
    );

    let json = wine.run(&["probe", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("probe JSON");
    let efw = &report["ebpf_for_windows"];
    assert_eq!(efw["installed"], true);
    assert_eq!(efw["version"], "0.99.2.7");
    assert!(
        efw["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("efw-version\\ebpfapi.dll")),
        "{efw}"
    );
    assert_eq!(efw["store"], STORE);
    assert_eq!(
        efw["program_types"],
        serde_json::json!([{"guid": SOCK_OPS.0, "name": "sock_ops", "bpf_prog_type": 4}])
    );
    assert_eq!(
        efw["sections"],
        serde_json::json!([{
            "name": "sockops",
            "program_type": SOCK_OPS.0,
            "program_type_name": "sock_ops",
            "attach_type": CGROUP_SOCK_OPS.0,
            "bpf_prog_type": 4,
            "bpf_attach_type": 7,
        }])
    );
    assert!(
        efw["execution_types"]
            .as_str()
            .is_some_and(|s| s.starts_with("unknown: needs the eBPF for Windows driver")),
        "{efw}"
    );
}

#[test]
fn without_ebpf_for_windows_probe_says_what_is_not_registered() {
    let Some(wine) = Wine::new("wineprefix-efw-none", &[]) else {
        return;
    };
    let out = wine.run(&["probe"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("eBPF for Windows: not installed (ebpfapi.dll not found)"),
        "{stdout}"
    );
    assert!(!stdout.contains("ebpfapi.dll  "), "{stdout}");
    assert!(
        stdout.contains("  providers    none registered (no Software\\eBPF\\Providers key)\n"),
        "{stdout}"
    );
    let json = wine.run(&["probe", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("probe JSON");
    let efw = &report["ebpf_for_windows"];
    assert_eq!(efw["installed"], false);
    assert!(
        efw.get("version").is_none() && efw.get("store").is_none(),
        "{efw}"
    );
    assert_eq!(efw["program_types"], serde_json::json!([]));
}

// WASI errno values.
const NOENT: &str = "44";
const NOTCAPABLE: &str = "76";

#[test]
fn a_granted_directory_is_read_written_and_listed_and_cannot_be_escaped() {
    let Some(wine) = Wine::new("wineprefix", &[]) else {
        return;
    };
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("escape.txt"), "outside\n").expect("write escape");
    let dir = outside.path().join("granted");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("in.txt"), "first line\nsecond line\n").expect("write in.txt");

    // A Windows path with its drive letter: the colon after it is the
    // path's, the next one separates the guest's name.
    let grant = format!("{}:/data", windows_path(&dir));
    let wasm = windows_path(&guest("wasi_io.wasm"));
    let out = wine.run(&["run", "--dir", &grant, &wasm, "--granted", "--fs"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(field(&stdout, "preopen_3_name"), "/data");
    assert_eq!(field(&stdout, "raw_open_in"), "0");
    assert_eq!(field(&stdout, "read_in"), "first line");
    assert_eq!(field(&stdout, "write_out"), "0");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).expect("the guest's file"),
        "written by the guest\n"
    );
    for step in ["mkdir", "create", "rename", "unlink", "rmdir"] {
        assert_eq!(field(&stdout, step), "0", "{step}:\n{stdout}");
    }
    assert_eq!(field(&stdout, "read_moved"), "made in sub");
    assert_eq!(field(&stdout, "list"), "in.txt,out.txt,sub");
    assert_eq!(field(&stdout, "unlink_missing"), NOENT);
    assert!(!dir.join("sub").exists(), "the guest removed sub");
    // `..`, absolute paths, `\`, drive letters, streams and devices.
    for way_out in [
        "raw_open_escape",
        "raw_open_absolute",
        "raw_open_backslash",
        "raw_open_drive",
        "raw_open_drive_relative",
        "raw_open_stream",
        "raw_open_device",
    ] {
        assert_eq!(field(&stdout, way_out), NOTCAPABLE, "{way_out}:\n{stdout}");
    }
}

/// Wine turns a SIGINT to its process into CTRL_C_EVENT for the console
/// control handlers, as a console's Ctrl-C on Windows.
#[test]
fn ctrl_c_stops_the_guest_gracefully() {
    let Some(wine) = Wine::new("wineprefix", &[]) else {
        return;
    };
    let wasm = windows_path(&guest("exit_code.wasm"));
    let mut cmd = wine.unibpf(&["run", "--grace", "20s", &wasm, "sleep"]);
    cmd.stdin(Stdio::null());
    let mut run = spawn_running(cmd);
    run.wait_for_stdout("sleeping", Duration::from_secs(60));
    run.signal("INT");
    let (status, stdout, stderr, took) = run.finish(Duration::from_secs(30));
    // The guest's 60 s sleep ended early and it printed its last line: a
    // graceful stop (status 0, as after SIGINT on Linux), not a kill.
    assert!(
        stdout.contains("woke with time left: stopped"),
        "{stdout}{stderr}"
    );
    assert_eq!(status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stderr.contains("force-stopped"), "{stderr}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_second_ctrl_c_kills_a_guest_that_ignores_the_first() {
    let Some(wine) = Wine::new("wineprefix", &[]) else {
        return;
    };
    let wasm = windows_path(&guest("exit_code.wasm"));
    let mut cmd = wine.unibpf(&["run", "--grace", "60s", &wasm, "stubborn"]);
    cmd.stdin(Stdio::null());
    let mut run = spawn_running(cmd);
    run.wait_for_stdout("sleeping", Duration::from_secs(60));
    run.signal("INT");
    run.wait_for_stdout("woke, ignoring it", Duration::from_secs(20));
    run.signal("INT");
    let (status, _stdout, stderr, took) = run.finish(Duration::from_secs(30));
    // Killed at the second Ctrl-C, long before the 60 s grace.
    assert!(stderr.contains("force-stopped"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
