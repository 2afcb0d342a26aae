//! unibpf.exe under wine, on what the Windows host itself offers: `probe`
//! reading eBPF for Windows' facts (our recording stand-in ebpfapi.dll,
//! with a version resource of ours, and registry entries we set, not a real
//! install), `--dir` granting a directory, and Ctrl-C stopping the guest
//! gracefully.
//!
//! Skipped (with a line saying why) where wine or mingw-w64 is missing;
//! scripts/test.sh installs both and builds first.

mod common;

use std::path::PathBuf;
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

use unibpf_matrix::wine::wine_path as windows_path;

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

    /// `run` with the stand-in recording its calls: the output, and the
    /// record, one call a line.
    fn run_recorded(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, Vec<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = dir.path().join("record");
        let out = self
            .unibpf(args)
            .env("UNIBPF_EBPFAPI_RECORD", windows_path(&record))
            .envs(env.iter().copied())
            .output()
            .expect("running wine");
        let calls = std::fs::read_to_string(&record).unwrap_or_default();
        (out, calls.lines().map(str::to_string).collect())
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

/// A wine prefix with the stand-in ebpfapi.dll, and the registry entries
/// eBPF for Windows' network extension makes for sock_ops.
fn efw_with_sockops(prefix: &str) -> Option<Wine> {
    let wine = Wine::new(prefix, &["stand-in"])?;
    let program = format!("{STORE}\\ProgramData\\{}\\TypeDescriptor", SOCK_OPS.0);
    wine.reg_add(&program, "Name", "REG_SZ", "sock_ops");
    wine.reg_add(&program, "BpfProgType", "REG_DWORD", "4");
    let section = format!("{STORE}\\SectionData\\sockops");
    wine.reg_add(&section, "ProgramType", "REG_BINARY", SOCK_OPS.1);
    wine.reg_add(&section, "AttachType", "REG_BINARY", CGROUP_SOCK_OPS.1);
    wine.reg_add(&section, "BpfProgType", "REG_DWORD", "4");
    wine.reg_add(&section, "BpfAttachType", "REG_DWORD", "7");
    Some(wine)
}

/// The calls a probe of one execution type makes: the trivial object is
/// opened, given the type, loaded (or refused) and closed.
fn execution_probe_calls(ty: u32, refused: Option<u32>) -> Vec<String> {
    let load = match refused {
        Some(errno) => format!("bpf_object__load refused type={ty} errno={errno}"),
        None => "bpf_object__load programs=probe:sockops maps=".into(),
    };
    vec![
        "bpf_object__open_mem".into(),
        format!("ebpf_object_set_execution_type type={ty}"),
        load,
        "bpf_object__close programs=1 maps=0".into(),
    ]
}

/// The record's calls, without open_mem's arguments (the trivial object's
/// size and digest) and the DLL's unloads, and how many unloads there were.
fn call_names(calls: &[String]) -> (Vec<String>, usize) {
    let (unloads, calls): (Vec<&String>, Vec<&String>) =
        calls.iter().partition(|c| c.starts_with("unload ("));
    let names = calls
        .iter()
        .map(|c| match c.split_once(' ') {
            Some(("bpf_object__open_mem", _)) => "bpf_object__open_mem".into(),
            _ => c.to_string(),
        })
        .collect();
    (names, unloads.len())
}

#[test]
fn probe_reports_the_version_and_the_registered_hooks_of_ebpf_for_windows() {
    let Some(wine) = efw_with_sockops("wineprefix-efw-facts") else {
        return;
    };
    let (out, calls) = wine.run_recorded(&["probe"], &[]);
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
        dll.ends_with("stand-in\\ebpfapi.dll, version 0.99.2.7"),
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
    // The only registered hook carries the trivial program, loaded as JIT
    // (1) and interpreted (2) code, each closed at once.
    assert!(
        stdout.contains(
            "  execution types (a trivial sockops program loaded each way)\n    \
             jit          allowed\n    interpreter  allowed\n    native       \
             unknown: not probed: needs a signed .sys image"
        ),
        "{stdout}"
    );
    let want: Vec<String> = [
        execution_probe_calls(1, None),
        execution_probe_calls(2, None),
    ]
    .concat();
    // The DLL was loaded twice (facts, then the loads) and let go each time.
    assert_eq!(call_names(&calls), (want, 2));

    let json = wine.run(&["probe", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("probe JSON");
    let efw = &report["ebpf_for_windows"];
    assert_eq!(efw["installed"], true);
    assert_eq!(efw["version"], "0.99.2.7");
    assert!(
        efw["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("stand-in\\ebpfapi.dll")),
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
    let types = &efw["execution_types"];
    assert_eq!(types["probe_section"], "sockops");
    assert_eq!(types["jit"], serde_json::json!({"state": "allowed"}));
    assert_eq!(
        types["interpreter"],
        serde_json::json!({"state": "allowed"})
    );
    assert_eq!(types["native"]["state"], "unknown");
}

#[test]
fn probe_says_which_execution_types_a_native_only_host_refuses_and_why() {
    let Some(wine) = efw_with_sockops("wineprefix-efw-hvci") else {
        return;
    };
    // As on a host with HVCI on (JIT blocked by policy: EOTHER, 131 in
    // the Windows CRT) and a release build (no interpreter: ENOTSUP, 129).
    let refuse = [("UNIBPF_EBPFAPI_REFUSE", "1:131,2:129")];
    let (out, calls) = wine.run_recorded(&["probe"], &refuse);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("    jit          refused: blocked (EOTHER): HVCI forbids JIT, or eBPFSvc"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "    interpreter  refused: not built into this eBPF for Windows (operation not supported)"
        ),
        "{stdout}"
    );
    let want: Vec<String> = [
        execution_probe_calls(1, Some(131)),
        execution_probe_calls(2, Some(129)),
    ]
    .concat();
    // The DLL was loaded twice (facts, then the loads) and let go each time.
    assert_eq!(call_names(&calls), (want, 2));

    // Not an administrator: loading is denied (EPERM), so nothing is known.
    let (out, _) = wine.run_recorded(
        &["probe", "--json"],
        &[("UNIBPF_EBPFAPI_REFUSE", "1:1,2:1")],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("probe JSON");
    let jit = &report["ebpf_for_windows"]["execution_types"]["jit"];
    assert_eq!(jit["state"], "unknown", "{jit}");
    assert!(
        jit["why"]
            .as_str()
            .is_some_and(|w| w.starts_with("loading needs an administrator")),
        "{jit}"
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
