//! Running the real `unibpf` binary against real guests on the real kernel.
#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub use unibpf_test_guests::{
    attach_foreign_tc_filter, cgroup_sockops_programs, exec_true, field, guest, held_bpf, ifindex,
    kernel_link_count, kernel_map_names, kernel_program_names, link_exists, possible_cpus,
    program_name, tcx_programs, wait_held, HeldBpf, HeldLink,
};

pub fn unibpf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unibpf"))
}

/// A running `unibpf run ...` with stdout piped (as under `| cat`) and stderr
/// read line by line.
pub struct Running {
    pub child: Child,
    stderr_lines: Receiver<String>,
    pub stderr_seen: Vec<String>,
    stdout_lines: Receiver<String>,
    pub stdout_seen: Vec<String>,
}

/// Reads `stream` line by line into a channel, on its own thread.
fn line_reader(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle` on `lines`, keeping what it saw.
fn wait_for_line(
    lines: &Receiver<String>,
    seen: &mut Vec<String>,
    needle: &str,
    timeout: Duration,
    stream: &str,
) {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no {stream} line containing {needle:?} within {timeout:?}; saw {seen:?}");
}

pub fn start(args: &[&str]) -> Running {
    start_with_stdin(args, Stdio::null())
}

/// [`start`] with the given stdin (e.g. `Stdio::piped()` to talk to the guest).
pub fn start_with_stdin(args: &[&str], stdin: Stdio) -> Running {
    let mut cmd = unibpf();
    cmd.arg("run").args(args).stdin(stdin);
    spawn_running(cmd)
}

/// Starts `cmd` (a `unibpf run`, perhaps wrapped) with stdout and stderr
/// read line by line.
pub fn spawn_running(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning unibpf");
    let stderr = line_reader(child.stderr.take().expect("stderr"));
    let stdout = line_reader(child.stdout.take().expect("stdout"));
    Running {
        child,
        stderr_lines: stderr,
        stderr_seen: Vec::new(),
        stdout_lines: stdout,
        stdout_seen: Vec::new(),
    }
}

impl Running {
    /// Waits for a stderr line containing `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) {
        wait_for_line(
            &self.stderr_lines,
            &mut self.stderr_seen,
            needle,
            timeout,
            "stderr",
        );
    }

    /// Waits for a stdout line containing `needle` (the guest's stdout is
    /// line-buffered by default, so lines arrive as they are printed).
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) {
        wait_for_line(
            &self.stdout_lines,
            &mut self.stdout_seen,
            needle,
            timeout,
            "stdout",
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
        // The process is gone: both readers end at EOF (unless a child of
        // it still holds the pipes, hence the bound).
        for (lines, seen) in [
            (&self.stdout_lines, &mut self.stdout_seen),
            (&self.stderr_lines, &mut self.stderr_seen),
        ] {
            while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
                seen.push(line);
            }
        }
        let mut stdout = self.stdout_seen.join("\n");
        if !stdout.is_empty() {
            stdout.push('\n');
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
/// workload, stops it with SIGINT; returns stdout. No waiting for events in
/// between: BPF programs run synchronously with the workload, so its events
/// are in their maps and buffers when it returns, and a graceful stop hands
/// the guest everything already in its buffers before -EINTR.
pub fn observe(wasm: &str, args: &[&str], ready: &str, workload: impl FnOnce()) -> String {
    let path = program(wasm);
    // A graceful stop: programs that print a summary at exit must get to it,
    // however loaded the machine is.
    let mut all = vec!["--timeout", "60s", "--grace", "30s", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut run = start(&all);
    run.wait_for_stderr(ready, Duration::from_secs(30));
    workload();
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
        .stdout(Stdio::null())
        .spawn()
        .expect("spawning workload");
    let pid = child.id();
    let status = child.wait().expect("waiting for workload");
    (pid, status.code().unwrap_or(-1))
}

/// A veth pair: `ub<tag>0` here with 10.211.<subnet>.1, `ub<tag>1` in the
/// network namespace `unibpf-<tag>` with .2. Removed on drop.
pub struct VethPair {
    pub ns: String,
    pub host_if: String,
    pub subnet: u8,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl VethPair {
    pub fn new(tag: &str, subnet: u8) -> Self {
        let pair = VethPair {
            ns: format!("unibpf-{tag}"),
            host_if: format!("ub{tag}0"),
            subnet,
        };
        pair.remove(); // leftovers of an interrupted run
        let peer = format!("ub{tag}1");
        let host_ip = format!("10.211.{subnet}.1/24");
        let peer_ip = format!("10.211.{subnet}.2/24");
        let ns = pair.ns.as_str();
        for args in [
            vec!["netns", "add", ns],
            vec![
                "link",
                "add",
                &pair.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
            vec!["link", "set", &peer, "netns", ns],
            vec!["addr", "add", &host_ip, "dev", &pair.host_if],
            vec!["link", "set", &pair.host_if, "up"],
            vec!["-n", ns, "addr", "add", &peer_ip, "dev", &peer],
            vec!["-n", ns, "link", "set", &peer, "up"],
            vec!["-n", ns, "link", "set", "lo", "up"],
        ] {
            assert!(ip(&args), "ip {args:?} failed (is iproute2 installed?)");
        }
        pair
    }

    fn remove(&self) {
        ip(&["netns", "del", &self.ns]);
        ip(&["link", "del", &self.host_if]);
    }

    /// Sends `count` UDP datagrams of `payload` bytes from the namespace side
    /// to 10.211.<subnet>.1:`port`.
    pub fn send_udp_from_peer(&self, count: usize, payload: usize, port: u16) {
        let ns_path = format!("/run/netns/{}", self.ns);
        let (src, dst) = (
            format!("10.211.{}.2:0", self.subnet),
            format!("10.211.{}.1:{port}", self.subnet),
        );
        std::thread::spawn(move || {
            // Only this thread enters the namespace.
            let ns = std::fs::File::open(&ns_path).expect("opening the netns");
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let sock = std::net::UdpSocket::bind(&src).expect("bind in the netns");
            let data = vec![0x5au8; payload];
            for _ in 0..count {
                sock.send_to(&data, &dst).expect("send");
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .join()
        .expect("sender thread");
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A fresh cgroup v2 directory, removed on drop.
pub struct Cgroup(pub std::path::PathBuf);

impl Cgroup {
    pub fn new(name: &str) -> Self {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("/proc/mounts");
        let root = mounts
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.get(2) == Some(&"cgroup2")).then(|| f[1].to_string())
            })
            .expect("no cgroup v2 mount");
        let path = std::path::Path::new(&root).join(name);
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path).expect("creating the cgroup");
        Cgroup(path)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Runs `unibpf run ARGS` to the end and asserts it failed with status 1 and
/// printed exactly `line` on stderr; returns stdout.
pub fn assert_fails_with(args: &[&str], line: &str) -> String {
    let (status, out, err) = run_to_end(args);
    assert_eq!(status.code(), Some(1), "stderr:\n{err}\nstdout:\n{out}");
    assert!(err.lines().any(|l| l == line), "want {line:?} in:\n{err}");
    out
}

/// [`assert_fails_with`] for an error line that starts with `start` (what
/// follows names why the other backends cannot stand in either).
pub fn assert_fails_starting_with(args: &[&str], start: &str) -> String {
    let (status, out, err) = run_to_end(args);
    assert_eq!(status.code(), Some(1), "stderr:\n{err}\nstdout:\n{out}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("unibpf: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line, in:\n{err}");
    assert!(errors[0].starts_with(start), "want {start:?} in:\n{err}");
    out
}

/// Applies the matrix's check for `program` (unibpf_matrix::cases::check, the
/// one copy of each program's expectations) to a run's stdout and the facts
/// of its workload.
pub fn assert_case(program: &str, facts: &[(&str, String)], stdout: &str) {
    let case = unibpf_matrix::cases::CaseOutput {
        name: program.to_string(),
        facts: facts
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        stdout: stdout.lines().map(str::to_string).collect(),
        rc: Some(0),
        ..Default::default()
    };
    if let Err(reason) = unibpf_matrix::cases::check(&case) {
        panic!("{program}: {reason}; output:\n{stdout}");
    }
}

/// unibpf for the matrix's arm64 VMs, cross-built with Debian's rustc-web
/// by scripts/build-cross.sh.
pub fn unibpf_arm64() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cross = Command::new("sh")
        .arg(root.join("scripts/build-cross.sh"))
        .arg("arm64")
        .output()
        .expect("scripts/build-cross.sh");
    assert!(
        cross.status.success(),
        "{}",
        String::from_utf8_lossy(&cross.stderr)
    );
    String::from_utf8_lossy(&cross.stdout).trim().into()
}

/// runqlat's workload (programs/runqlat/runqlat.target.c): it waits for a
/// byte on stdin, then sleeps `sleeps` times, each sleep a wakeup.
pub struct RunqlatTarget {
    child: std::process::Child,
    pub sleeps: u64,
}

impl RunqlatTarget {
    pub fn spawn(sleeps: u64) -> Self {
        let child = Command::new(program("runqlat.target"))
            .arg(sleeps.to_string())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawning the workload");
        Self { child, sleeps }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// One wakeup for the byte on stdin, then one per sleep; returns when
    /// the workload has ended.
    pub fn run(&mut self) {
        use std::io::Write;
        self.child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"x")
            .expect("waking the workload");
        assert!(self.child.wait().expect("workload").success());
    }

    /// The facts the matrix's runqlat check reads.
    pub fn facts(&self) -> [(&'static str, String); 2] {
        [
            ("target_pid", self.pid()),
            ("sleeps", self.sleeps.to_string()),
        ]
    }
}

/// Runs `check` on each of `wasms`, the suite's uprobe module built for
/// arm64 and for riscv64: their register reads are pointed at this host's
/// `pt_regs`, which is tested on x86_64 (elsewhere skipped with a line).
pub fn on_foreign_uprobe_builds(wasms: [&str; 2], check: impl Fn(&str)) {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: the foreign builds are arm64 and riscv64 objects run on x86_64");
        return;
    }
    for wasm in wasms {
        check(wasm);
    }
}

/// unibpf.exe cross-built by scripts/build-windows.sh into this target
/// dir's windows/ (as scripts/test.sh builds it), and that windows/ dir;
/// or why the wine tests cannot run (wine or mingw-w64 missing). Built once
/// per test binary.
pub fn windows_build() -> Result<&'static (std::path::PathBuf, std::path::PathBuf), &'static str> {
    use std::path::{Path, PathBuf};
    static BUILT: std::sync::OnceLock<Result<(PathBuf, PathBuf), &'static str>> =
        std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(why) = unibpf_matrix::wine::missing_tools() {
                return Err(why);
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            // CARGO_TARGET_TMPDIR is TARGET_DIR/tmp.
            let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .expect("target dir")
                .to_path_buf();
            let out = Command::new("sh")
                .arg(root.join("scripts/build-windows.sh"))
                .env("CARGO_TARGET_DIR", &target_dir)
                .output()
                .expect("running scripts/build-windows.sh");
            assert!(
                out.status.success(),
                "scripts/build-windows.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let exe = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            Ok((exe, target_dir.join("windows")))
        })
        .as_ref()
        .map_err(|why| *why)
}
