//! `unibpf btf` end to end: fetch from a real HTTP server on loopback,
//! bundle and list, status as JSON; errors as one line, exit status 1.

mod common;
// The loopback BTFHub mirror and BTF makers of unibpf-btf's own tests.
#[path = "../../unibpf-btf/tests/common/mod.rs"]
mod btf;

use std::collections::HashMap;

use btf::{files_under, object_btf, this_kernel, Server};
use common::unibpf;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = unibpf().args(args).output().expect("run unibpf");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fetch_then_fetch_again_asks_once() {
    let kernel = this_kernel();
    let server = Server::serving_this_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (k, c, m) = (kernel.to_string(), cache.to_str().unwrap(), server.url());
    let args = ["btf", "fetch", &k, "--btf-cache", c, "--btf-mirror", &m];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("fetched") && out.contains("functions are this kernel's"),
        "{out}"
    );
    assert_eq!(
        files_under(&cache),
        vec![cache.join(kernel.relative_path())]
    );
    let (code, out, _) = run(&args);
    assert_eq!(code, 0);
    assert!(out.contains("already cached"), "{out}");
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_fetch_that_fails_says_why_in_one_line() {
    let kernel = this_kernel();
    let server = Server::serving(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let (k, c, m) = (
        kernel.to_string(),
        tmp.path().to_str().unwrap(),
        server.url(),
    );
    let (code, out, err) = run(&["btf", "fetch", &k, "--btf-cache", c, "--btf-mirror", &m]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("unibpf: error: ") && err.contains("404 Not Found"),
        "{err}"
    );
    assert!(files_under(tmp.path()).is_empty());
}

#[test]
fn bundle_then_list() {
    let tree = tempfile::tempdir().unwrap();
    let kernels = [
        "ubuntu/20.04/x86_64/5.4.0-73-generic",
        "centos/8/arm64/4.18.0-348.el8.aarch64",
    ];
    for k in kernels {
        let p = tree.path().join(format!("{k}.btf"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, object_btf()).unwrap();
    }
    let app = unibpf_test_guests::guest("execsnoop.wasm");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("app.wasm");
    let (code, stdout, err) = run(&[
        "btf",
        "bundle",
        app.to_str().unwrap(),
        "--from",
        tree.path().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for k in kernels {
        assert!(stdout.contains(&format!("added {k} (")), "{stdout}");
    }
    assert!(stdout.contains("2 kernels"), "{stdout}");
    let (code, json, err) = run(&["btf", "list", out.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let k = &e["kernel"];
            format!(
                "{}/{}/{}/{}",
                k["distro_id"], k["version_id"], k["arch"], k["release"]
            )
            .replace('"', "")
        })
        .collect();
    let mut want: Vec<String> = kernels.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
    let (code, text, _) = run(&["btf", "list", app.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("no bundled BTF"), "{text}");
}

#[test]
fn status_json_names_every_step() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, json, err) = run(&[
        "btf",
        "status",
        "--json",
        "--btf-cache",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let steps: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["user_file", "kernel", "bundle", "cache", "download"]
    );
    // This machine's kernel has BTF, so that is where it comes from.
    assert_eq!(v["source"], "kernel");
    let (code, text, _) = run(&["btf", "status", "--btf", "/nonexistent.btf"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("given, but cannot be read") && text.contains("no BTF:"),
        "{text}"
    );
}
