//! Bad input gives a clear error and leaves nothing behind.

mod common;

use unibpf_trace::{Interest, Target, TraceError, Tracer};

fn spawn(argv: &[&str]) -> Result<unibpf_trace::TraceEnd, TraceError> {
    let argv = argv.iter().map(Into::into).collect();
    let handle = Tracer::spawn_thread(Target::Spawn { argv }, Interest::default(), |_, _| {})?;
    handle.release();
    handle.join()
}

#[test]
fn command_not_found() {
    let err = spawn(&["no-such-command-unibpf"]).expect_err("should fail");
    assert!(matches!(err, TraceError::CommandNotFound(_)), "{err:?}");
    assert_eq!(err.to_string().lines().count(), 1);
    assert!(err
        .to_string()
        .contains("command not found: no-such-command-unibpf"));
}

#[test]
fn path_that_does_not_exist() {
    let err = spawn(&["/no/such/file"]).expect_err("should fail");
    assert!(matches!(err, TraceError::CommandNotFound(_)), "{err:?}");
}

#[test]
fn not_executable() {
    // A file without execute permission: exec fails in the child.
    let path = std::env::temp_dir().join(format!("unibpf-trace-noexec-{}", std::process::id()));
    std::fs::write(&path, "#!/bin/sh\n").expect("write temp file");
    let name = path.to_str().expect("utf-8 temp path");
    let err = spawn(&[name]).expect_err("should fail");
    let _ = std::fs::remove_file(&path);
    assert!(
        matches!(
            err,
            TraceError::Exec {
                errno: nix::errno::Errno::EACCES,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("cannot run {name}: EACCES")),
        "{err}"
    );
}

#[test]
fn empty_command() {
    let err = spawn(&[]).expect_err("should fail");
    assert!(matches!(err, TraceError::EmptyCommand), "{err:?}");
}

#[test]
fn pid_that_does_not_exist() {
    let err = Tracer::spawn_thread(Target::Pid(0x7fff_fff0), Interest::default(), |_, _| {})
        .map(drop)
        .expect_err("should fail");
    assert!(
        matches!(err, TraceError::NoSuchProcess(0x7fff_fff0)),
        "{err:?}"
    );
}

#[test]
fn pid_we_may_not_trace() {
    // As root pid 1 could be traced; unprivileged it cannot.
    if nix::unistd::geteuid().is_root() {
        return;
    }
    let err = Tracer::spawn_thread(Target::Pid(1), Interest::default(), |_, _| {})
        .map(drop)
        .expect_err("should fail");
    assert!(matches!(err, TraceError::Attach { pid: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("CAP_SYS_PTRACE"), "{err}");
}
