//! `unibpf bundle`: Windows variants stored in the suite's own modules,
//! keyed to the Linux objects they carry; bad inputs refused in one line.

mod common;

use common::*;

fn out_path(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bundle");
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir.join(name).display().to_string()
}

fn path(file: &str) -> String {
    program(file).display().to_string()
}

/// `unibpf ARGS` to the end: (status, stdout, stderr).
fn cli(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = unibpf().args(args).output().expect("running unibpf");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn error_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.contains("error:")).collect()
}

#[test]
fn a_variant_is_stored_for_the_one_object_a_module_carries() {
    let out = out_path("sockops-windows.wasm");
    let (status, _, err) = cli(&[
        "bundle",
        &path("sockops.wasm"),
        "--platform",
        "windows",
        &path("xdp.bpf.o"),
        "-o",
        &out,
    ]);
    assert!(status.success(), "{err}");
    let (status, listed, err) = cli(&["bundle", "--list", &out]);
    assert!(status.success(), "{err}");
    assert!(listed.contains("programs: tcp_option"), "{listed}");
    assert!(listed.contains("  windows: xdp.bpf.o (Elf, "), "{listed}");
    // The module still runs where its Linux object is used: only a
    // custom section was added.
    let original = std::fs::read(program("sockops.wasm")).expect("read");
    let bundled = std::fs::read(&out).expect("read");
    assert!(bundled.starts_with(&original[..8]) && bundled.len() > original.len());
}

#[test]
fn a_variant_names_the_linux_object_it_replaces() {
    let out = out_path("sockops-named.wasm");
    let pair = format!("{}={}", path("sockops.bpf.o"), path("tc.bpf.o"));
    let (status, _, err) = cli(&[
        "bundle",
        &path("sockops.wasm"),
        "--platform",
        "windows",
        &pair,
        "-o",
        &out,
    ]);
    assert!(status.success(), "{err}");
    let (_, listed, _) = cli(&["bundle", "--list", &out]);
    assert!(listed.contains("  windows: tc.bpf.o"), "{listed}");
}

#[test]
fn bad_variants_are_refused_in_one_line() {
    let out = out_path("refused.wasm");
    let sockops = path("sockops.wasm");
    let wrong_pair = format!("{}={}", path("xdp.bpf.o"), path("tc.bpf.o"));
    for (object, says) in [
        (
            "/etc/passwd".to_string(),
            "passwd: not a BPF ELF object nor a native .sys image",
        ),
        (wrong_pair, "xdp.bpf.o is not one of the BPF objects"),
    ] {
        let (status, _, err) = cli(&[
            "bundle",
            &sockops,
            "--platform",
            "windows",
            &object,
            "-o",
            &out,
        ]);
        assert_eq!(status.code(), Some(1), "{err}");
        let lines = error_lines(&err);
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(says), "{err}");
    }
    assert!(
        !std::path::Path::new(&out).exists(),
        "nothing written on refusal"
    );
}

#[test]
fn a_corrupt_variants_section_is_one_clear_error() {
    let mut wasm = std::fs::read(program("sockops.wasm")).expect("read");
    // A custom section named unibpf.variants holding no zstd stream.
    let name = b"unibpf.variants";
    let payload = b"not a bundle";
    wasm.push(0);
    wasm.push((1 + name.len() + payload.len()) as u8);
    wasm.push(name.len() as u8);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(payload);
    let bad = out_path("corrupt.wasm");
    std::fs::write(&bad, &wasm).expect("write");
    let (status, _, err) = cli(&["bundle", "--list", &bad]);
    assert_eq!(status.code(), Some(1), "{err}");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("unibpf.variants section is corrupt")
            && lines[0].contains("unibpf bundle"),
        "{err}"
    );
}
