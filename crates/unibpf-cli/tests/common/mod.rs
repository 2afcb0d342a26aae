//! Running the real `unibpf` binary against real guests on the real kernel.
#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub use unibpf_test_guests::{
    exec_true, field, guest, kernel_link_count, kernel_map_names, kernel_program_names,
    possible_cpus,
};

pub fn unibpf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unibpf"))
}

/// A running `unibpf run ...` with stdout piped (so the guest's libc buffers it
/// fully, as it would under `| cat`) and stderr read line by line.
pub struct Running {
    pub child: Child,
    stderr_lines: Receiver<String>,
    pub stderr_seen: Vec<String>,
}

pub fn start(args: &[&str]) -> Running {
    let mut child = unibpf()
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning unibpf");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child,
        stderr_lines: rx,
        stderr_seen: Vec::new(),
    }
}

impl Running {
    /// Waits for a stderr line containing `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.stderr_seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no stderr line containing {needle:?} within {timeout:?}; saw {:?}",
            self.stderr_seen
        );
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for exit; returns status, stdout, all stderr and how long it took.
    pub fn finish(mut self, timeout: Duration) -> (ExitStatus, String, String, Duration) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!(
                    "unibpf did not exit within {timeout:?}; stderr so far: {:?}",
                    self.stderr_seen
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = start.elapsed();
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut stdout).expect("stdout");
        }
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            self.stderr_seen.push(line);
        }
        (status, stdout, self.stderr_seen.join("\n"), took)
    }
}

/// Runs a command to completion and returns (status, stdout, stderr).
pub fn run_to_end(args: &[&str]) -> (ExitStatus, String, String) {
    let out = unibpf()
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running unibpf");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The program suite (programs/*), built once per test binary by
/// scripts/build-programs.sh with this build's `unibpf` as the generator.
pub fn program(file: &str) -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("programs");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let result = Command::new("sh")
            .arg(root.join("scripts/build-programs.sh"))
            .arg(&out)
            .env("UNIBPF", env!("CARGO_BIN_EXE_unibpf"))
            .output()
            .map_err(|e| format!("running build-programs.sh: {e}"))?;
        if !result.status.success() {
            return Err(format!(
                "build-programs.sh failed:\n{}",
                String::from_utf8_lossy(&result.stderr)
            ));
        }
        Ok(out)
    });
    let path = dir.as_ref().unwrap_or_else(|e| panic!("{e}")).join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Runs `unibpf run WASM ARGS`, waits for `ready` on its stderr, runs the
/// workload, lets events drain, stops it with SIGINT; returns stdout (the
/// guest's own flush on exit proves it stopped gracefully).
pub fn observe(wasm: &str, args: &[&str], ready: &str, workload: impl FnOnce()) -> String {
    let path = program(wasm);
    let mut all = vec!["--timeout", "60s", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut run = start(&all);
    run.wait_for_stderr(ready, Duration::from_secs(30));
    workload();
    std::thread::sleep(Duration::from_millis(700));
    run.signal("INT");
    let (status, stdout, stderr, _) = run.finish(Duration::from_secs(10));
    assert!(
        status.success(),
        "status {status:?}, stderr:\n{stderr}\nstdout:\n{stdout}"
    );
    stdout
}

/// Spawns `cmd` with `args`, waits for it; returns (pid, exit code).
pub fn spawn_wait(cmd: &str, args: &[&str]) -> (u32, i32) {
    let mut child = Command::new(cmd)
        .args(args)
        .spawn()
        .expect("spawning workload");
    let pid = child.id();
    let status = child.wait().expect("waiting for workload");
    (pid, status.code().unwrap_or(-1))
}
