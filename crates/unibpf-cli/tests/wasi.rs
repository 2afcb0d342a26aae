//! What a guest may touch: environment and directories only when granted, no
//! escape from a granted directory; plus the CLI's own flags.

mod common;

use std::os::unix::fs::symlink;

use common::*;

// WASI errno values.
const BADF: &str = "8";
const NOTCAPABLE: &str = "76";

#[test]
fn without_grants_the_guest_sees_no_environment_and_no_directories() {
    let (status, out, err) = run_to_end(&[guest("wasi_io.wasm").to_str().unwrap()]);
    assert!(status.success(), "{err}");
    // Our own environment is not passed through.
    assert_eq!(field(&out, "env_count"), "0");
    assert_eq!(field(&out, "env_greeting"), "(unset)");
    // No preopen at fd 3, so the host's path_open answers EBADF (a WASI errno,
    // not a trap), and libc finds no directory to open /data/in.txt under.
    assert_eq!(field(&out, "preopen_3"), BADF);
    assert_eq!(field(&out, "raw_open_in"), BADF);
    assert_eq!(field(&out, "raw_open_absolute"), BADF);
    assert_eq!(field(&out, "read_in_errno"), NOTCAPABLE);
}

#[test]
fn granted_env_and_dir_are_visible_and_the_dir_cannot_be_escaped() {
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "not for the guest\n").expect("write secret");
    let dir = outside.path().join("granted");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("in.txt"), "first line\nsecond line\n").expect("write in.txt");
    symlink("in.txt", dir.join("link-in")).expect("symlink in");
    symlink(&secret, dir.join("link-out")).expect("symlink out");
    std::fs::write(outside.path().join("escape.txt"), "outside\n").expect("write escape");

    let grant = format!("{}:/data", dir.display());
    let (status, out, err) = run_to_end(&[
        "--env",
        "GREETING=hello world",
        "--dir",
        &grant,
        guest("wasi_io.wasm").to_str().unwrap(),
        "--granted",
    ]);
    assert!(status.success(), "{err}");
    assert_eq!(field(&out, "env_count"), "1");
    assert_eq!(field(&out, "env_greeting"), "hello world");
    assert_eq!(field(&out, "preopen_3"), "0");
    assert_eq!(field(&out, "preopen_3_name"), "/data");
    assert_eq!(field(&out, "raw_open_in"), "0");
    assert_eq!(field(&out, "read_in"), "first line");
    assert_eq!(field(&out, "raw_open_symlink_in"), "0");
    // `..`, absolute paths and symlinks pointing out are all refused.
    assert_eq!(field(&out, "raw_open_escape"), NOTCAPABLE);
    assert_eq!(field(&out, "raw_open_absolute"), NOTCAPABLE);
    assert_eq!(field(&out, "raw_open_symlink_out"), NOTCAPABLE);
    assert_eq!(field(&out, "write_out"), "0");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).expect("the guest's file"),
        "written by the guest\n"
    );
}

#[test]
fn files_in_a_granted_directory_are_made_listed_and_removed() {
    let outside = tempfile::tempdir().expect("tempdir");
    let dir = outside.path().join("granted");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("in.txt"), "first line\n").expect("write in.txt");
    let grant = format!("{}:/data", dir.display());
    let (status, out, err) = run_to_end(&[
        "--dir",
        &grant,
        guest("wasi_io.wasm").to_str().unwrap(),
        "--granted",
        "--fs",
    ]);
    assert!(status.success(), "{err}");
    for step in ["mkdir", "create", "rename", "unlink", "rmdir"] {
        assert_eq!(field(&out, step), "0", "{step}:\n{out}");
    }
    assert_eq!(field(&out, "read_moved"), "made in sub");
    assert_eq!(field(&out, "list"), "in.txt,out.txt,sub");
    assert_eq!(field(&out, "unlink_missing"), "44");
    assert!(!dir.join("sub").exists(), "the guest removed sub");
    // What Windows reads as a way out is only a name here: `\` and `:`
    // are ordinary characters in Linux file names, and none exists.
    for name in [
        "raw_open_backslash",
        "raw_open_drive",
        "raw_open_stream",
        "raw_open_device",
    ] {
        assert_eq!(field(&out, name), "44", "{name}:\n{out}");
    }
}

#[test]
fn a_missing_granted_directory_is_one_clear_error() {
    let (status, out, err) = run_to_end(&[
        "--dir",
        "/nonexistent/unibpf-test:/data",
        guest("wasi_io.wasm").to_str().unwrap(),
    ]);
    assert_eq!(status.code(), Some(1), "stdout:\n{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{err}");
    assert!(
        lines[0].starts_with("unibpf: error:") && lines[0].contains("/nonexistent/unibpf-test"),
        "{err}"
    );
    assert!(out.is_empty(), "the guest must not have started:\n{out}");
}

#[test]
fn version_and_verbose_flags() {
    let out = unibpf()
        .arg("--version")
        .output()
        .expect("unibpf --version");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("unibpf {}", env!("CARGO_PKG_VERSION"))
    );

    // -v turns on info logs on stderr; without it a clean run prints nothing there.
    let wasm = guest("exit_code.wasm");
    let quiet = unibpf()
        .args(["run", wasm.to_str().unwrap(), "0"])
        .output()
        .expect("quiet run");
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let verbose = unibpf()
        .args(["-v", "run", wasm.to_str().unwrap(), "0"])
        .output()
        .expect("verbose run");
    assert!(verbose.status.success());
    let log = String::from_utf8_lossy(&verbose.stderr);
    assert!(
        log.contains("unibpf: info: starting") && log.contains("exited with status 0"),
        "no start and exit logs with -v:\n{log}"
    );
}

/// Each `fd_write` of the guest reaches stdout in one system call, so a
/// line its libc hands over in pieces is not split on a pipe it shares
/// with another writer (a traced command's output, under `--cmd`). A
/// packet-mode pipe returns one write per read: every read must end a
/// line.
#[test]
fn a_guest_line_reaches_stdout_in_one_write() {
    use std::io::Read;
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_DIRECT).expect("a packet pipe");
    let mut child = unibpf()
        .args(["run", guest("wasi_io.wasm").to_str().unwrap()])
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("unibpf");
    let mut pipe = std::fs::File::from(read);
    let (mut writes, mut buf) = (Vec::new(), [0u8; 65536]);
    loop {
        let n = pipe.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        writes.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(child.wait().expect("wait").success());
    assert!(writes.len() > 3, "the guest prints lines: {writes:?}");
    for w in &writes {
        assert!(
            w.ends_with('\n'),
            "a write that ends mid-line: {w:?} in {writes:?}"
        );
    }
}
