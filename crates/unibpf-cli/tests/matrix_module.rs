//! `unibpf matrix --module` on a module from outside the program suite:
//! the demo's execsnoop (a test guest: a tracepoint, one line per exec),
//! with a workload that execs a file of its own, on the quick hosts; the
//! same hosts, JSON, table and picture as the suite's matrix, without the
//! native column. Run from another directory, without --root or --out.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::Value;

/// Runs an exec the module must see: a link to busybox named `true`
/// (busybox in the VMs, installed on this machine by
/// scripts/install-matrix-deps.sh), in a directory of the user's own
/// (`local-nobody` runs it as uid 65534, `local` as root).
const WORKLOAD: &str =
    "d=/tmp/umx-$(id -u) && mkdir -p $d && ln -sf /bin/busybox $d/true && $d/true";
const EXPECT: &str = r"^exec pid=[0-9]+ comm=true file=/tmp/umx-[0-9]+/true$";

fn matrix_module(dir: &Path, args: &[&str]) -> (Output, Value) {
    let run = unibpf()
        .current_dir(dir)
        .arg("matrix")
        .arg("--module")
        .arg(guest("execsnoop.wasm"))
        .args(["--workload", WORKLOAD])
        .args(args)
        .output()
        .expect("unibpf matrix --module");
    let json = std::fs::read(dir.join("matrix-results/latest.json")).unwrap_or_else(|_| {
        panic!(
            "no matrix-results/latest.json: {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        )
    });
    (run, serde_json::from_slice(&json).expect("JSON"))
}

fn names(results: &Value, key: &str, field: &str) -> Vec<String> {
    results[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|v| v[field].as_str().expect(field).to_string())
        .collect()
}

#[test]
fn a_module_from_outside_the_suite_passes_on_the_quick_hosts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let arm64 = unibpf_arm64();
    let arm64 = arm64.to_str().expect("path");
    let args = ["--quick", "--unibpf-arm64", arm64, "--expect", EXPECT];
    let (run, results) = matrix_module(dir.path(), &args);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let hosts = names(&results, "hosts", "name");
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
    assert_eq!(results["programs"], serde_json::json!(["execsnoop"]));
    let cells = results["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), hosts.len());
    for cell in cells {
        let host = cell["host"].as_str().unwrap();
        assert_eq!(cell["status"], "pass", "{host}: {}", cell["reason"]);
        assert!(cell["native"].is_null(), "{host}: a native run");
        assert!(
            !cell["decisions"].as_array().unwrap().is_empty(),
            "{host}: no decisions recorded"
        );
    }
    let out = dir.path().join("matrix-results");
    let md = std::fs::read_to_string(out.join("latest.md")).expect("latest.md");
    assert!(md.contains("| execsnoop | O | O | O | O | O |"), "{md}");
    let svg = std::fs::read_to_string(out.join("latest.svg")).expect("latest.svg");
    // The background, then one rect per cell: no native halves.
    assert_eq!(svg.matches("<rect").count(), 1 + cells.len());
    assert!(out.join("work/console-6.12-arm64.log").is_file());
    assert!(stdout.contains("5 of 5 cells passed"), "{stdout}");
}

#[test]
fn an_expectation_that_cannot_match_fails_its_cell_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let never = "a line execsnoop never prints";
    let args = [
        "--hosts",
        "local",
        "--expect",
        never,
        "--ready",
        "attached, waiting",
    ];
    let (run, results) = matrix_module(dir.path(), &args);
    assert_eq!(run.status.code(), Some(2), "{results}");
    let cell = &results["cells"][0];
    assert_eq!(cell["status"], "fail");
    assert_eq!(
        cell["reason"],
        format!("no output line matches {never}; last stderr line: execsnoop: stopped")
    );
}

#[test]
fn bad_input_is_refused_in_one_line_before_any_host_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = |args: &[&str]| {
        let out = unibpf()
            .current_dir(dir.path())
            .arg("matrix")
            .args(args)
            .output()
            .expect("unibpf matrix");
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        stderr
    };
    let wasm = guest("execsnoop.wasm");
    let wasm = wasm.to_str().expect("path");
    let missing = refused(&["--module", "nope.wasm", "--expect", "x"]);
    assert!(
        missing.contains("--module nope.wasm: cannot read it"),
        "{missing}"
    );
    let regex = refused(&["--module", wasm, "--expect", "exec (pid"]);
    assert!(
        regex.contains("not a valid regex (unclosed group)"),
        "{regex}"
    );
    let workload = refused(&[
        "--module",
        wasm,
        "--expect",
        "x",
        "--workload",
        "if true; then",
    ]);
    assert!(workload.contains("not a valid shell command"), "{workload}");
    assert!(!dir.path().join("matrix-results").exists());
}
