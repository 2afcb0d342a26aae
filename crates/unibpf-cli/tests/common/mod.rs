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
