//! The program suite's `.wasm` files, unchanged, on the userspace backend
//! as an unprivileged user (uid 65534 through `setpriv`): the kernel
//! refuses it bpf(), so auto selection must fall back to the in-process VM,
//! and the programs see the command given with `--cmd` through ptrace.
//! Each test asserts the values the kernel backend's tests assert.
//! Packet programs (xdp, tc, sockfilter) run with CAP_NET_RAW only: their
//! frames come from a packet socket on a veth pair the test creates.

mod common;
#[path = "userspace/packets.rs"]
mod packets;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

/// A directory `nobody` can read, holding this build's `unibpf` and the
/// suite's modules.
fn nobody_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("userspace-nobody");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // A hard link: the debug binary is large.
        let bin = dir.join("unibpf");
        if std::fs::hard_link(env!("CARGO_BIN_EXE_unibpf"), &bin).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_unibpf"), &bin).expect("copy unibpf");
        }
        for wasm in [
            "bootstrap.wasm",
            "bootstrap_rs.wasm",
            "execve.wasm",
            "opensnoop.wasm",
            "exitsnoop.wasm",
            "xdp.wasm",
            "uprobe.wasm",
            "uprobe.target",
            "tc.wasm",
            "tc.target",
            "sockfilter.wasm",
            "sockops.wasm",
        ] {
            std::fs::copy(program(wasm), dir.join(wasm)).expect("copy module");
        }
        if std::env::consts::ARCH == "x86_64" {
            for arch in ["arm64", "riscv"] {
                let built = program(&format!("for-{arch}/uprobe.wasm"));
                std::fs::copy(built, dir.join(format!("uprobe-for-{arch}.wasm")))
                    .expect("copy module");
            }
        }
        let mut p = dir.clone();
        while p.pop() {
            let mode = std::fs::metadata(&p).expect("stat").permissions().mode();
            assert!(
                mode & 0o001 != 0,
                "{} is not searchable by other users, so uid 65534 cannot reach the \
                 test's files: make it o+x (a checkout made with umask 022 is)",
                p.display()
            );
        }
        dir
    })
}

/// `PROGRAM` as uid/gid 65534 with no capabilities, in [`nobody_dir`].
fn as_nobody(program: &Path) -> Command {
    as_nobody_with(program, "")
}

/// `PROGRAM` as uid/gid 65534 with only the capabilities `caps`
/// (setpriv's syntax: `,+net_raw`; empty for none).
fn as_nobody_with(program: &Path, caps: &str) -> Command {
    let dir = nobody_dir();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(format!("--inh-caps=-all{caps}"))
        .arg(format!("--ambient-caps=-all{caps}"))
        .arg(program)
        .current_dir(dir)
        .env("HOME", dir)
        // cargo's library path makes every traced exec probe dozens of
        // directories: noise in the output, nothing to test.
        .env_remove("LD_LIBRARY_PATH");
    cmd
}

/// `unibpf run` as nobody with only `caps`, no input, arguments to follow.
fn unibpf_as_nobody(caps: &str) -> Command {
    let mut cmd = as_nobody_with(&nobody_dir().join("unibpf"), caps);
    cmd.arg("run").stdin(Stdio::null());
    cmd
}

/// `unibpf run --pid PID WASM ARGS` as nobody, started.
fn start_on_pid_as_nobody(pid: &str, wasm: &str, args: &[&Path]) -> Running {
    let mut cmd = unibpf_as_nobody("");
    cmd.args(["--timeout", "60s", "--pid", pid, &module(wasm)])
        .args(args);
    spawn_running(cmd)
}

/// `unibpf run ARGS` as nobody, to the end, with `stdin` as its input.
fn run_as_nobody_with_input(args: &[&str], stdin: &[u8]) -> (Output, String, String) {
    use std::io::Write;
    let mut child = as_nobody(&nobody_dir().join("unibpf"))
        .arg("run")
        .args(["--timeout", "60s"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running setpriv");
    let mut input = child.stdin.take().expect("stdin");
    // A command that does not read its input may be gone already.
    let _ = input.write_all(stdin);
    drop(input);
    let out = child.wait_with_output().expect("waiting for unibpf");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// `unibpf run ARGS` as nobody with no input, to the end.
fn run_as_nobody(args: &[&str]) -> (Output, String, String) {
    run_as_nobody_with_input(args, b"")
}

fn module(name: &str) -> String {
    nobody_dir().join(name).display().to_string()
}

fn line<'a>(out: &'a str, prefix: &str, fields: &[&str]) -> Option<&'a str> {
    out.lines()
        .find(|l| l.starts_with(prefix) && fields.iter().all(|f| l.split(' ').any(|w| w == *f)))
}

#[test]
fn bootstrap_sees_exec_and_exit_codes_of_a_command_as_nobody() {
    for wasm in ["bootstrap.wasm", "bootstrap_rs.wasm"] {
        let (out, stdout, stderr) = run_as_nobody(&[
            "--explain",
            "--cmd",
            "/bin/sh -c '/bin/sleep 0.2; exit 3'",
            &module(wasm),
        ]);
        assert!(out.status.success(), "{wasm}: {stderr}\n{stdout}");
        assert!(
            stderr.contains("not the kernel backend: loading BPF programs needs root"),
            "{wasm}: --explain does not say why not the kernel:\n{stderr}"
        );
        let exec = line(&stdout, "EXEC", &["comm=sh", "file=/bin/sh"])
            .unwrap_or_else(|| panic!("{wasm}: no exec of sh:\n{stdout}"));
        let sh_pid = exec.split(' ').find(|w| w.starts_with("pid=")).unwrap();
        // sh's parent is the unibpf process that started it.
        assert!(exec.contains(" ppid="), "{exec}");
        assert!(
            line(&stdout, "EXEC", &["comm=sleep", "file=/bin/sleep"]).is_some(),
            "{wasm}: no exec of sleep:\n{stdout}"
        );
        let exit = line(&stdout, "EXIT", &[sh_pid, "code=3", "comm=sh"])
            .unwrap_or_else(|| panic!("{wasm}: no exit of sh with code 3:\n{stdout}"));
        let ms: u64 = exit
            .split(' ')
            .find_map(|w| w.strip_prefix("duration_ms="))
            .and_then(|v| v.parse().ok())
            .expect("duration");
        assert!(ms >= 200, "sh ran sleep 0.2: {exit}");
        let sleep_exit = line(&stdout, "EXIT", &["comm=sleep", "code=0"])
            .unwrap_or_else(|| panic!("{wasm}: no exit of sleep:\n{stdout}"));
        assert!(
            sleep_exit.contains(&format!("ppid={}", &sh_pid["pid=".len()..])),
            "sleep's parent is sh: {sleep_exit}"
        );
    }
}

#[test]
fn execve_reads_the_arguments_of_each_exec_as_nobody() {
    let (out, stdout, stderr) = run_as_nobody(&[
        "--cmd",
        "/bin/sh -c '/bin/echo first \"two words\" \"\"; /bin/true 1 2 3 4 5 6 7 8 9'",
        &module("execve.wasm"),
    ]);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let echo = line(&stdout, "EXECVE", &["comm=sh", "file=/bin/echo"])
        .unwrap_or_else(|| panic!("no execve of echo:\n{stdout}"));
    assert!(
        echo.ends_with(r#"file=/bin/echo argc=4 args=["/bin/echo","first","two words",""]"#),
        "{echo}"
    );
    let many = line(&stdout, "EXECVE", &["file=/bin/true"])
        .unwrap_or_else(|| panic!("no execve of true:\n{stdout}"));
    assert!(
        many.ends_with(r#"argc=8 args=["/bin/true","1","2","3","4","5","6","7"] truncated"#),
        "{many}"
    );
}

#[test]
fn opensnoop_sees_opens_and_their_results_over_a_perf_buffer_as_nobody() {
    let dir = nobody_dir();
    let present = dir.join("opensnoop-present.txt");
    std::fs::write(&present, "x").expect("write");
    std::fs::set_permissions(&present, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let missing = dir.join("opensnoop-missing.txt");
    // cat's own output would land in the middle of the guest's lines.
    let cmd = format!(
        "/bin/sh -c 'exec /bin/cat {} {} >/dev/null 2>&1'",
        present.display(),
        missing.display()
    );
    let (out, stdout, stderr) = run_as_nobody(&["--cmd", &cmd, &module("opensnoop.wasm")]);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let hit = line(
        &stdout,
        "OPEN",
        &["comm=cat", &format!("path={}", present.display())],
    )
    .unwrap_or_else(|| panic!("no open of the present file:\n{stdout}"));
    assert!(hit.contains(" ret=3 "), "{hit}");
    let miss = line(
        &stdout,
        "OPEN",
        &["comm=cat", &format!("path={}", missing.display())],
    )
    .unwrap_or_else(|| panic!("no open of the missing file:\n{stdout}"));
    assert!(miss.contains(" ret=-2 "), "ENOENT: {miss}");
}

#[test]
fn exitsnoop_reports_exit_codes_and_counts_in_bss_as_nobody() {
    let (out, stdout, stderr) = run_as_nobody(&[
        "--cmd",
        "/bin/sh -c '/bin/true; exit 7'",
        &module("exitsnoop.wasm"),
    ]);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        line(&stdout, "EXIT", &["comm=sh", "code=7", "signal=0"]).is_some(),
        "no exit of sh with code 7:\n{stdout}"
    );
    assert!(
        line(&stdout, "EXIT", &["comm=true", "code=0"]).is_some(),
        "no exit of true:\n{stdout}"
    );
    // .bss written by the program, read back by the guest.
    assert!(stdout.contains("REPORTED total=2"), "{stdout}");
}

#[test]
fn a_hook_without_a_userspace_source_is_refused_in_one_line() {
    let (out, stdout, stderr) = run_as_nobody(&[
        "--backend",
        "userspace",
        &module("sockops.wasm"),
        "/sys/fs/cgroup",
    ]);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}\n{stdout}");
    assert!(
        errors[0].contains(
            "the userspace backend does not run sockops programs (sockops): they have no \
             source outside the kernel"
        ),
        "{stderr}"
    );
    let _ = out;
}

#[test]
fn process_hooks_without_a_process_say_how_to_name_one() {
    let (_, stdout, stderr) = run_as_nobody(&["--backend", "userspace", &module("execve.wasm")]);
    assert!(
        stderr.contains("run with --cmd 'COMMAND ARGS' or --pid PID"),
        "{stderr}\n{stdout}"
    );
}

/// uprobe.wasm on a command unibpf starts: `sh` prints its pid and execs
/// the target, whose functions get their breakpoints once exec maps it.
/// The target reads one byte (unibpf's stdin, which it inherits) before
/// calling them.
#[test]
fn uprobe_reports_arguments_and_return_values_of_a_started_command_as_nobody() {
    uprobe_sees_a_started_command("uprobe.wasm");
}

/// The same object built for arm64 and riscv64: its register reads are
/// pointed at this host's `pt_regs`, as on the kernel backend.
#[test]
fn uprobe_objects_built_for_other_architectures_read_the_right_registers_as_nobody() {
    on_foreign_uprobe_builds(
        ["uprobe-for-arm64.wasm", "uprobe-for-riscv.wasm"],
        uprobe_sees_a_started_command,
    );
}

fn uprobe_sees_a_started_command(wasm: &str) {
    let target = module("uprobe.target");
    let cmd = format!("/bin/sh -c 'echo target_pid=$$ >&2; exec {target} 40 2 -5000000000 3'");
    let (out, stdout, stderr) =
        run_as_nobody_with_input(&["--cmd", &cmd, &module(wasm), &target], b"x");
    assert!(out.status.success(), "{wasm}: {stderr}\n{stdout}");
    let pid = stderr
        .lines()
        .find_map(|l| l.strip_prefix("target_pid="))
        .unwrap_or_else(|| panic!("sh did not print its pid:\n{stderr}"));
    assert_case("uprobe", &[("target_pid", pid.to_string())], &stdout);
}

/// uprobe.wasm on a running process given by `--pid`: the breakpoints go
/// in while it waits for its input, and it runs to the end (after which
/// unibpf ends too).
#[test]
fn uprobe_reports_calls_of_a_running_process_given_by_pid_as_nobody() {
    use std::io::Write;
    let target_path = nobody_dir().join("uprobe.target");
    let mut target = as_nobody(&target_path)
        .args(["40", "2", "-5000000000", "3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning the target");
    // setpriv execs the target: same pid.
    let pid = target.id().to_string();
    let mut running = start_on_pid_as_nobody(&pid, "uprobe.wasm", &[&target_path]);
    running.wait_for_stderr("probing", std::time::Duration::from_secs(60));
    // The guest prints "probing" once attached; the tracer seizes the
    // process when the guest first polls, just after. Wait for the
    // breakpoint itself rather than guess how long that takes.
    wait_for_breakpoint(target.id(), &target_path, "uprobe_add");
    target
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"x")
        .expect("starting the target");
    let status = target.wait().expect("target");
    assert!(status.success(), "the probed target failed: {status}");
    let (status, stdout, stderr, _) = running.finish(std::time::Duration::from_secs(60));
    assert!(status.success(), "{stderr}\n{stdout}");
    assert_case("uprobe", &[("target_pid", pid)], &stdout);
}

/// Waits (up to a minute) until the first instruction of `symbol` of
/// `binary`, as process `pid` maps it, is a breakpoint.
fn wait_for_breakpoint(pid: u32, binary: &Path, symbol: &str) {
    use std::os::unix::fs::FileExt;
    let bytes = std::fs::read(binary).expect("read the binary");
    let elf = goblin::elf::Elf::parse(&bytes).expect("parse the binary");
    let vaddr = elf
        .syms
        .iter()
        .find(|s| elf.strtab.get_at(s.st_name) == Some(symbol))
        .map(|s| s.st_value)
        .expect("symbol");
    let offset = elf
        .program_headers
        .iter()
        .find(|p| {
            p.p_type == goblin::elf::program_header::PT_LOAD
                && (p.p_vaddr..p.p_vaddr + p.p_filesz).contains(&vaddr)
        })
        .map(|p| vaddr - p.p_vaddr + p.p_offset)
        .expect("segment");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let address = maps
        .lines()
        .filter(|l| l.ends_with(&*binary.to_string_lossy()))
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (start, end) = f[0].split_once('-')?;
            let (start, end) = (
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
            );
            let map_off = u64::from_str_radix(f[2], 16).ok()?;
            let at = start + offset.checked_sub(map_off)?;
            (f[1].contains('x') && at < end).then_some(at)
        })
        .expect("the function's mapping");
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open mem");
    let trap: &[u8] = if cfg!(target_arch = "aarch64") {
        &[0x00, 0x00, 0x20, 0xd4]
    } else {
        &[0xcc]
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut code = vec![0u8; trap.len()];
    while std::time::Instant::now() < deadline {
        mem.read_exact_at(&mut code, address).expect("read code");
        if code == trap {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("no breakpoint on {symbol} of pid {pid} within a minute");
}

/// A running shell given by `--pid`: it is traced from the moment the
/// guest attaches (before the guest says it is tracing), so an exec the
/// test triggers right after that line is seen; unibpf ends with it.
#[test]
fn execve_sees_execs_of_a_running_process_given_by_pid_as_nobody() {
    use std::io::Write;
    let mut shell = as_nobody(Path::new("/bin/sh"))
        .args(["-c", "read line; /bin/echo \"$line\" >/dev/null"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawning sh");
    let pid = shell.id().to_string();
    let mut running = start_on_pid_as_nobody(&pid, "execve.wasm", &[]);
    running.wait_for_stderr("tracing execve calls", std::time::Duration::from_secs(60));
    shell
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"seen-by-pid\n")
        .expect("writing to sh");
    assert!(shell.wait().expect("sh").success());
    let (status, stdout, stderr, _) = running.finish(std::time::Duration::from_secs(60));
    assert!(status.success(), "{stderr}\n{stdout}");
    let echo = line(&stdout, "EXECVE", &["comm=sh", "file=/bin/echo"])
        .unwrap_or_else(|| panic!("no execve of echo by pid {pid}:\n{stdout}\n{stderr}"));
    // sh forks a child that execs echo: its parent is the shell.
    assert!(echo.contains(&format!(" ppid={pid} ")), "{echo}");
    assert!(
        echo.ends_with(r#"args=["/bin/echo","seen-by-pid"]"#),
        "{echo}"
    );
}

/// Installs, in the child about to exec, a seccomp filter under which
/// bpf() fails with ENOSYS: what a kernel built without
/// CONFIG_BPF_SYSCALL (or a container's seccomp profile) answers.
fn without_bpf_syscall(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    let filter = [
        // A = seccomp_data.nr
        libc::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        },
        // if A == SYS_bpf: next, else skip one
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: libc::SYS_bpf as u32,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: RET_ERRNO | libc::ENOSYS as u32,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
    ];
    // SAFETY: between fork and exec only async-signal-safe prctl calls run;
    // the program points into `filter`, which the closure owns.
    unsafe {
        cmd.pre_exec(move || {
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn without_a_bpf_syscall_even_root_falls_back_and_says_why() {
    let mut cmd = unibpf();
    cmd.args([
        "run",
        "--explain",
        "--timeout",
        "60s",
        "--cmd",
        "/bin/true a b",
    ])
    .arg(module("execve.wasm"))
    .stdin(Stdio::null());
    without_bpf_syscall(&mut cmd);
    let out = cmd.output().expect("running unibpf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        stderr
            .contains("not the kernel backend: the bpf() system call does not exist here (ENOSYS)"),
        "--explain does not say bpf() is missing:\n{stderr}"
    );
    assert!(
        line(&stdout, "EXECVE", &["file=/bin/true"])
            .is_some_and(|l| l.ends_with(r#"argc=3 args=["/bin/true","a","b"]"#)),
        "no execve of true:\n{stdout}"
    );
    let mut probe = unibpf();
    probe.arg("probe");
    without_bpf_syscall(&mut probe);
    let out = probe.output().expect("running unibpf probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bpf()     missing (ENOSYS)"),
        "probe does not say bpf() is missing:\n{stdout}"
    );
}
