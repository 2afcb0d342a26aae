//! `unibpf matrix --quick`: real Debian kernels booted in QEMU (x86_64 5.10
//! and 6.12), arm64 6.12, and this machine as root and as nobody (the
//! userspace backend), running the program suite's .wasm files and, beside
//! them, the native libbpf builds of the same control planes. The cells known to work on this commit must pass; every
//! failing cell must say why.

mod common;

use common::*;
use serde_json::Value;

use unibpf_matrix::cases::PROGRAMS;

/// Programs that run on every quick host, natively and under unibpf.
const EVERYWHERE: [&str; 10] = [
    "bootstrap",
    "execve",
    "runqlat",
    "xdp",
    "tc",
    "sockfilter",
    "sockops",
    "exitsnoop",
    "opensnoop",
    "tcpconnlat",
];

/// What the userspace backend runs as nobody on this commit: process
/// hooks (syscall tracepoints, sched_process_*).
const USERSPACE: [&str; 5] = [
    "bootstrap",
    "bootstrap_rs",
    "execve",
    "opensnoop",
    "exitsnoop",
];

/// Cells known to work under unibpf on this commit. The rest fail for
/// reasons that are facts about the host or later work: no kprobes, fentry
/// or BPF LSM on this machine; BPF LSM not enabled by 5.10's default boot;
/// pt_regs rewriting for x86-compiled kprobe/uprobe objects on arm64.
fn should_pass(host: &str, program: &str) -> bool {
    if host == "local-nobody" {
        return USERSPACE.contains(&program);
    }
    let x86_vm = ["5.10-x86_64", "6.12-x86_64"];
    (EVERYWHERE.contains(&program) && !(program == "tcpconnlat" && host == "local"))
        || program == "bootstrap_rs"
        || (program == "uprobe" && host != "6.12-arm64")
        || (program == "kprobe" && x86_vm.contains(&host))
        || (program == "lsm" && ["6.12-x86_64", "6.12-arm64"].contains(&host))
}

/// Native libbpf builds known to work: where unibpf works, except where
/// unibpf adapts and plain libbpf cannot (optional programs on arm64, whose
/// syscall tracepoints differ; tcpconnlat's kprobe alternatives, which
/// plain libbpf loads too and cannot relocate: they read x86_64's
/// registers), and where libbpf loads but the program does nothing (BPF
/// LSM inactive on 5.10: the directory is not protected).
fn native_should_pass(host: &str, program: &str) -> Option<bool> {
    if program == "bootstrap_rs" {
        return None; // a Rust control plane: no native C build
    }
    if host == "local-nobody" {
        return Some(false); // libbpf gets no bpf() there
    }
    let adapted = host == "6.12-arm64" && ["opensnoop", "lsm", "tcpconnlat"].contains(&program);
    Some(should_pass(host, program) && !adapted)
}

#[test]
fn the_quick_matrix_passes_where_it_should_and_explains_the_rest() {
    let programs = program("bootstrap.wasm")
        .parent()
        .expect("programs dir")
        .to_path_buf();
    let out = tempfile::tempdir().expect("tempdir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let arm64 = unibpf_arm64();
    let run = unibpf()
        .arg("matrix")
        .arg("--quick")
        .arg("--root")
        .arg(&root)
        .arg("--programs-dir")
        .arg(&programs)
        .arg("--out")
        .arg(out.path())
        .arg("--unibpf-arm64")
        .arg(&arm64)
        .output()
        .expect("unibpf matrix");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("latest.json")).expect("latest.json"),
    )
    .expect("JSON");
    let hosts: Vec<&str> = results["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        hosts,
        [
            "5.10-x86_64",
            "6.12-x86_64",
            "6.12-arm64",
            "local",
            "local-nobody"
        ]
    );
    let cells = results["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), hosts.len() * PROGRAMS.len());
    for cell in cells {
        let (host, program) = (
            cell["host"].as_str().unwrap(),
            cell["program"].as_str().unwrap(),
        );
        let reason = cell["reason"].as_str().unwrap();
        if should_pass(host, program) {
            assert_eq!(cell["status"], "pass", "{program} on {host}: {reason}");
            // The selector's decisions come back with each cell.
            assert!(
                !cell["decisions"].as_array().unwrap().is_empty(),
                "{program} on {host}: no decisions recorded"
            );
        } else if cell["status"] == "fail" {
            assert!(
                !reason.is_empty(),
                "{program} on {host} failed without a reason"
            );
        }
        let native = &cell["native"];
        match native_should_pass(host, program) {
            None => assert!(native.is_null(), "{program} on {host}: {native}"),
            Some(true) => assert_eq!(
                native["status"], "pass",
                "native {program} on {host}: {}",
                native["reason"]
            ),
            Some(false) => {
                assert_eq!(native["status"], "fail", "native {program} on {host}");
                assert!(!native["reason"].as_str().unwrap_or("").is_empty());
            }
        }
    }
    // The kernels really are what the host definitions say.
    let release = |name: &str| {
        results["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["release"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(release("5.10-x86_64").starts_with("5.10."));
    assert!(release("6.12-x86_64").starts_with("6.12."));
    assert!(release("6.12-arm64").starts_with("6.12."));
    // Markdown and SVG renderings of the same table.
    let md = std::fs::read_to_string(out.path().join("latest.md")).expect("latest.md");
    assert!(md.contains("| bootstrap | O/O | O/O |"), "{md}");
    let svg = std::fs::read_to_string(out.path().join("latest.svg")).expect("latest.svg");
    // The background, then two halves per cell: native, unibpf.
    assert_eq!(svg.matches("<rect").count(), 1 + 2 * cells.len());
}
