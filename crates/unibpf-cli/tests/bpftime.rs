//! `--backend bpftime` where bpftime is not installed (it cannot be built
//! here): one line naming where unibpf looked and how to fix it, exit
//! status 1, nothing started. No bpftime, real or imitated, is involved.

mod common;

use common::*;

/// An empty wasm module: the bpftime check comes before it is run.
fn module(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("empty.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    path
}

/// Runs `unibpf run --backend bpftime ARGS` with `BPFTIME_DIR=dir`;
/// returns (status, stderr).
fn run_bpftime(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let work = tempfile::tempdir().unwrap();
    let module = module(work.path());
    let out = unibpf()
        .arg("run")
        .args(["--backend", "bpftime", "--explain"])
        .args(args)
        .arg(&module)
        .env("BPFTIME_DIR", dir)
        .env_remove("UNIBPF_BPFTIME_LOADER")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_install_is_one_line_naming_where_unibpf_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("no-bpftime");
    let marker = tmp.path().join("started");
    let cmd = format!("touch {}", marker.display());
    let (status, err) = run_bpftime(&dir, &["--cmd", &cmd]);
    assert_eq!(status, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "unibpf: error: --backend bpftime: bpftime is not installed (looked in {}, from \
             BPFTIME_DIR; set BPFTIME_DIR to its install directory)\n",
            dir.display()
        )
    );
    assert!(!marker.exists(), "the command was started");
}

#[test]
fn an_install_with_its_files_missing_names_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (status, err) = run_bpftime(tmp.path(), &["--pid", &std::process::id().to_string()]);
    assert_eq!(status, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "unibpf: error: --backend bpftime: bpftime in {} is incomplete: bpftime, \
             libbpftime-syscall-server.so, libbpftime-agent.so missing (reinstall it, or set \
             BPFTIME_DIR to a complete install)\n",
            tmp.path().display()
        )
    );
}

#[test]
fn a_library_that_is_not_elf_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("libbpftime-syscall-server.so"),
        b"not a library",
    )
    .unwrap();
    let (status, err) = run_bpftime(tmp.path(), &[]);
    assert_eq!(status, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "unibpf: error: --backend bpftime: bpftime in {}: libbpftime-syscall-server.so: not \
             an ELF shared object (reinstall it, or set BPFTIME_DIR to a complete install)\n",
            tmp.path().display()
        )
    );
}

#[test]
fn the_loader_marker_without_the_syscall_server_refuses_to_load_into_the_kernel() {
    // Someone sets the loader's marker by hand: without bpftime's server
    // preloaded the kernel backend would load into the real kernel.
    let tmp = tempfile::tempdir().unwrap();
    let out = unibpf()
        .args(["run", "--backend", "bpftime"])
        .arg(module(tmp.path()))
        .env("UNIBPF_BPFTIME_LOADER", tmp.path())
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "unibpf: error: UNIBPF_BPFTIME_LOADER is set but LD_PRELOAD does not load \
             {}/libbpftime-syscall-server.so: unset UNIBPF_BPFTIME_LOADER (unibpf sets it for \
             the loader it starts with --backend bpftime)\n",
            tmp.path().display()
        )
    );
}

#[test]
fn probe_reports_bpftime_not_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("none");
    let out = unibpf()
        .arg("probe")
        .env("BPFTIME_DIR", &dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "bpftime   not installed (looked in {}, from BPFTIME_DIR; set BPFTIME_DIR)",
        dir.display()
    );
    assert!(text.lines().any(|l| l == want), "want {want:?} in:\n{text}");
}
