//! A bench guest as a child process (the .native build, or the .wasm build
//! under `unibpf run`), spoken to line by line over its stdin and stdout.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::BenchError;

/// Which build of a guest runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// NAME.native: the same C source against libbpf.
    Native,
    /// NAME.wasm under `unibpf run`.
    Unibpf,
}

impl Side {
    pub fn label(self) -> &'static str {
        match self {
            Side::Native => "native",
            Side::Unibpf => "unibpf",
        }
    }
}

/// The backend `unibpf run` is forced onto (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Kernel,
    Userspace,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Kernel => "kernel",
            Backend::Userspace => "userspace",
        }
    }
}

/// Where the two builds of each guest are, and the unibpf binary.
#[derive(Debug, Clone)]
pub struct Guests {
    pub unibpf: PathBuf,
    pub dir: PathBuf,
}

impl Guests {
    pub fn command(&self, side: Side, name: &str, args: &[&str]) -> Command {
        let mut cmd = match side {
            Side::Native => Command::new(self.dir.join(format!("{name}.native"))),
            Side::Unibpf => {
                let mut c = Command::new(&self.unibpf);
                c.arg("run").arg(self.dir.join(format!("{name}.wasm")));
                c
            }
        };
        cmd.args(args);
        cmd
    }

    /// `unibpf run --backend BACKEND [OPTIONS] NAME.wasm [ARGS]`.
    pub fn run_on(&self, backend: Backend, options: &[&str], name: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.unibpf);
        cmd.args(["run", "--backend", backend.label()])
            .args(options)
            .arg(self.wasm(name))
            .args(args);
        cmd
    }

    /// A native workload binary built beside the guests (NAME.target).
    pub fn target(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.target"))
    }

    pub fn wasm(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }
}

/// How a finished guest ended.
pub struct Exit {
    pub code: Option<i32>,
    /// Peak resident set size, from wait4's rusage.
    pub max_rss_kib: u64,
}

/// Which of a process's streams its answers are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    Stdout,
    Stderr,
    /// Lines of either, as they come: two writers each with a stream of
    /// its own (one writer's line may be written in pieces, and another's
    /// landing between them would break both).
    Both,
}

/// A running guest process.
pub struct Running {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
    stderr: Arc<Mutex<String>>,
    /// Set once finish() has waited for it.
    reaped: bool,
}

/// How long a guest may take to answer before the bench gives up on it.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

impl Running {
    /// Starts `cmd` with piped stdio. `answers_on_stderr` reads lines from
    /// stderr instead of stdout (bootstrap says "attached" there).
    pub fn spawn(cmd: Command, what: &str, answers_on_stderr: bool) -> Result<Self, BenchError> {
        let from = if answers_on_stderr {
            Answers::Stderr
        } else {
            Answers::Stdout
        };
        Self::spawn_from(cmd, what, from)
    }

    /// Starts `cmd` with piped stdio, taking answers `from` its streams.
    pub fn spawn_from(mut cmd: Command, what: &str, from: Answers) -> Result<Self, BenchError> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| BenchError::Setup(format!("starting {what}: {e}")))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let stdin = child.stdin.take();
        let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
            return Err(BenchError::Setup(format!("{what}: no pipes")));
        };
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        // Both streams are read to the end, so the guest never blocks on a
        // full pipe. Answers come from one of them or both; stderr is kept
        // for error messages.
        let (stdout_tx, stderr_tx) = match from {
            Answers::Stdout => (Some(tx), None),
            Answers::Stderr => (None, Some(tx)),
            Answers::Both => (Some(tx.clone()), Some(tx)),
        };
        read_lines(stdout, stdout_tx, None);
        read_lines(stderr, stderr_tx, Some(log.clone()));
        Ok(Self {
            what: what.to_string(),
            child,
            stdin,
            lines,
            stderr: log,
            reaped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, line: &str) -> Result<(), BenchError> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.failed("its stdin is closed"));
        };
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| self.failed(&format!("writing {line:?}: {e}")))
    }

    /// Waits for the next line starting with `prefix` (earlier lines are
    /// skipped) and returns it with the time it was read.
    pub fn expect(&mut self, prefix: &str) -> Result<(Instant, String), BenchError> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if line.starts_with(prefix) => return Ok((at, line)),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(
                        self.failed(&format!("no {prefix:?} line within {ANSWER_TIMEOUT:?}"))
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Let the stderr reader catch up before quoting it.
                    thread::sleep(Duration::from_millis(50));
                    return Err(self.failed(&format!("it ended before printing {prefix:?}")));
                }
            }
        }
    }

    /// The next line, whatever it says; None once the stream has ended.
    pub fn next_line(&mut self) -> Result<Option<String>, BenchError> {
        match self.lines.recv_timeout(ANSWER_TIMEOUT) {
            Ok((_, line)) => Ok(Some(line)),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                Err(self.failed(&format!("no output within {ANSWER_TIMEOUT:?}")))
            }
        }
    }

    /// Waits until stderr has said `needle` (a module saying it is
    /// attached, while its stdout carries the events).
    pub fn wait_stderr(&mut self, needle: &str) -> Result<(), BenchError> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            if self
                .stderr
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(needle)
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                thread::sleep(Duration::from_millis(50));
                return Err(self.failed(&format!("it ended ({status}) before saying {needle:?}")));
            }
            if Instant::now() > deadline {
                return Err(self.failed(&format!("no {needle:?} within {ANSWER_TIMEOUT:?}")));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn interrupt(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
    }

    /// End of input for the process (it may still be read from).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Closes stdin and waits for the exit (killing it after `grace`).
    pub fn finish(mut self, grace: Duration) -> Result<Exit, BenchError> {
        self.stdin = None;
        // Reaped below, one way or the other.
        self.reaped = true;
        let pid = self.child.id() as i32;
        let deadline = Instant::now() + grace;
        let mut status = 0;
        // SAFETY: rusage is plain data, filled by wait4.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: wait4 on our own child with valid out-pointers.
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if r == pid {
                break;
            }
            if r < 0 {
                return Err(self.failed(&format!("wait4: {}", std::io::Error::last_os_error())));
            }
            if Instant::now() > deadline {
                // SAFETY: as above; then a blocking reap.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::wait4(pid, &mut status, 0, &mut usage);
                }
                return Err(self.failed(&format!("it did not exit within {grace:?}")));
            }
            thread::sleep(Duration::from_millis(2));
        }
        let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        Ok(Exit {
            code,
            max_rss_kib: usage.ru_maxrss.max(0) as u64,
        })
    }

    /// An error naming the guest and quoting the end of what it printed.
    pub fn failed(&self, why: &str) -> BenchError {
        let log = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        BenchError::Guest {
            what: self.what.clone(),
            why: why.to_string(),
            output: tail.join(" | "),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // finish() reaped it already if it ran; otherwise do not leave it behind.
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `stream` line by line on a thread: each line is sent (stamped with
/// when it was read) to `answers`, and appended to `log`.
fn read_lines(
    stream: impl Read + Send + 'static,
    answers: Option<mpsc::Sender<(Instant, String)>>,
    log: Option<Arc<Mutex<String>>>,
) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(log) = &log {
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                l.push_str(&line);
                l.push('\n');
            }
            if let Some(tx) = &answers {
                let _ = tx.send((Instant::now(), line));
            }
        }
    });
}

/// `KEY=VALUE` fields of an answer line, numbers only.
pub fn fields(line: &str) -> HashMap<&str, u64> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k, v)))
        .collect()
}

/// A field that must be there.
pub fn field(line: &str, key: &str) -> Result<u64, BenchError> {
    fields(line)
        .get(key)
        .copied()
        .ok_or_else(|| BenchError::Setup(format!("answer {line:?} has no {key}=")))
}

pub fn exists(path: &Path) -> Result<(), BenchError> {
    if path.exists() {
        Ok(())
    } else {
        Err(BenchError::Setup(format!(
            "{} is missing (scripts/build-programs.sh builds it)",
            path.display()
        )))
    }
}
