//! The Windows column: unibpf.exe (cross-built by scripts/build-windows.sh)
//! under wine, against the recording stand-in `ebpfapi.dll`
//! (scripts/wine/ebpfapi/), a test double of eBPF for Windows, which wine
//! cannot run. The wine set-up here is also the one
//! crates/unibpf-cli/tests/windows.rs runs unibpf.exe with.
//!
//! A cell passes only where the matrix knows what the program must do on
//! Windows ([`expectation`]): the guest printed the records the stand-in
//! fed through its ring buffer callback, and the stand-in's record shows
//! the object opened, loaded, attached, its ring buffer polled and
//! everything closed with no leak. Every other program's cell is the line
//! unibpf.exe printed, and never a pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cases::{self, CaseOutput};
use crate::report::{Outcome, Status};
use crate::MatrixError;

/// Why the Windows column cannot run on this machine, if it cannot.
pub fn missing_tools() -> Option<&'static str> {
    let found = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    (!found("wine") || !found("x86_64-w64-mingw32-gcc"))
        .then_some("wine or mingw-w64 is not installed (scripts/build-windows.sh installs both)")
}

/// A path as wine's programs name it (`Z:\tmp\x`).
pub fn wine_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// unibpf.exe with the DLLs scripts/build-windows.sh builds beside it and a
/// wine prefix of its own.
#[derive(Debug, Clone)]
pub struct Wine {
    exe: PathBuf,
    /// `wine-dlls/`: the bcryptprimitives.dll wine 8 lacks, and under
    /// `stand-in/` the recording ebpfapi.dll.
    dlls: PathBuf,
    prefix: PathBuf,
}

impl Wine {
    /// unibpf.exe as scripts/build-windows.sh lays it out:
    /// `OUT/x86_64-pc-windows-gnu/release/unibpf.exe` with `OUT/wine-dlls/`.
    /// The prefix is `OUT/wineprefix`.
    pub fn from_build(exe: &Path) -> Result<Wine, MatrixError> {
        let out = exe
            .ancestors()
            .nth(3)
            .ok_or_else(|| MatrixError::Invalid(format!("{}: not in a build", exe.display())))?;
        let wine = Wine {
            exe: exe.to_path_buf(),
            dlls: out.join("wine-dlls"),
            prefix: out.join("wineprefix"),
        };
        for need in [
            wine.exe.clone(),
            wine.dlls.join("bcryptprimitives.dll"),
            wine.dlls.join("stand-in/ebpfapi.dll"),
        ] {
            if !need.is_file() {
                return Err(MatrixError::Invalid(format!(
                    "{} is missing (scripts/build-windows.sh builds it)",
                    need.display()
                )));
            }
        }
        Ok(wine)
    }

    /// unibpf.exe.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// `wine unibpf.exe`, to which the caller adds arguments; with
    /// `stand_in`, the recording ebpfapi.dll is on the DLL search path,
    /// without it, eBPF for Windows is missing.
    pub fn command(&self, stand_in: bool) -> Command {
        let mut dlls = wine_path(&self.dlls);
        if stand_in {
            dlls = format!("{};{dlls}", wine_path(&self.dlls.join("stand-in")));
        }
        let mut c = Command::new("wine");
        c.arg(&self.exe)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEPATH", dlls)
            .env("WINEDLLOVERRIDES", "bcryptprimitives=n,b;mscoree,mshtml=");
        c
    }

    /// Makes the prefix (a first run, seconds), so that wine's messages
    /// about making it are no program's output.
    pub fn prepare(&self) -> Result<(), MatrixError> {
        self.command(false)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|_| ())
            .map_err(|e| MatrixError::Tool("wine".into(), e.to_string()))
    }
}

/// The stand-in's environment: where it appends its record of calls, and
/// the ring buffer records it delivers (one a line, in hex).
pub fn stand_in_env(record: &Path, ring: &Path) -> [(&'static str, String); 2] {
    [
        ("UNIBPF_EBPFAPI_RECORD", wine_path(record)),
        ("UNIBPF_EBPFAPI_RING_RECORDS", wine_path(ring)),
    ]
}

/// What a program must do under the stand-in to pass: its arguments, the
/// ring records fed to it and the lines the guest must print for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub args: &'static [&'static str],
    pub ring: Vec<Vec<u8>>,
    pub stdout: &'static [&'static str],
}

/// A sockops `struct established` record: active, local port, remote port.
fn established(active: u32, local: u32, remote: u32) -> Vec<u8> {
    [active, local, remote]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// The programs that can pass on Windows: those whose `.wasm` carries a
/// Windows variant (`unibpf bundle`). sockops attaches to network
/// compartment 1.
pub fn expectation(program: &str) -> Option<Expectation> {
    match program {
        "sockops" => Some(Expectation {
            args: &["1"],
            ring: vec![established(1, 50000, 443), established(0, 8080, 51000)],
            stdout: &[
                "ESTABLISHED side=active lport=50000 rport=443",
                "ESTABLISHED side=passive lport=8080 rport=51000",
            ],
        }),
        _ => None,
    }
}

/// A program's arguments on the wine host: sockops' compartment, and for
/// the others what matrix/cases.sh gives them, so that each gets as far as
/// loading its object (an interface or a target file is never reached).
pub fn args(program: &str) -> &'static [&'static str] {
    if let Some(e) = expectation(program) {
        return e.args;
    }
    match program {
        "uprobe" => &["uprobe.target"],
        "xdp" => &["lo"],
        "tc" => &["umx-tc"],
        "sockfilter" => &["umx-sf"],
        "lsm" => &["unibpf-keep"],
        _ => &[],
    }
}

/// The calls the stand-in must have recorded, in this order, for a load,
/// attach, ring buffer and cleanup (each a prefix; one of the alternatives
/// of a step will do).
const LIFECYCLE: &[&[&str]] = &[
    &["bpf_object__open_mem ", "bpf_object__open "],
    &["bpf_object__load "],
    &["bpf_prog_attach ", "bpf_program__attach "],
    &["ring_buffer__new "],
    &["ring_buffer__poll "],
    &["ring_buffer__free "],
    &["bpf_object__close "],
];

/// Whether the stand-in's record shows the whole lifecycle and nothing
/// left open; Err names what is missing or leaked.
pub fn check_record(record: &str) -> Result<(), String> {
    let calls: Vec<&str> = record
        .lines()
        .filter(|l| !l.starts_with("unload ("))
        .collect();
    if let Some(leak) = calls.iter().find(|c| c.starts_with("leak")) {
        return Err(format!("the stand-in recorded a leak: {leak}"));
    }
    let mut at = 0;
    for step in LIFECYCLE {
        match calls[at..]
            .iter()
            .position(|c| step.iter().any(|s| c.starts_with(s)))
        {
            Some(i) => at += i + 1,
            None => {
                return Err(format!(
                    "the stand-in recorded no {} after {}",
                    step.join("or ").trim_end(),
                    if at == 0 { "the start" } else { calls[at - 1] }
                ))
            }
        }
    }
    let count = |p: &str| calls.iter().filter(|c| c.starts_with(p)).count();
    let (opened, closed) = (
        count("bpf_object__open_mem ") + count("bpf_object__open "),
        count("bpf_object__close "),
    );
    if opened != closed {
        return Err(format!(
            "the stand-in recorded {opened} objects opened and {closed} closed"
        ));
    }
    Ok(())
}

/// A cell from one run of unibpf.exe: `case` is its output (rc None when
/// it was killed), `record` the stand-in's record of calls.
pub fn outcome(case: &CaseOutput, record: &str, expect: Option<&Expectation>) -> Outcome {
    let verdict = match (cases::finished(case), expect) {
        (Err(why), _) => Err(why),
        (Ok(()), None) => Err(
            "exit 0, but the matrix has no Windows check for it (its .wasm carries no Windows variant it knows)"
                .into(),
        ),
        (Ok(()), Some(e)) => swapped(&case.stderr)
            .and_then(|()| printed(&case.stdout, e.stdout))
            .and_then(|()| check_record(record)),
    };
    let (status, reason) = match verdict {
        Ok(()) => (Status::Pass, String::new()),
        Err(r) => (Status::Fail, r),
    };
    Outcome {
        status,
        reason,
        time_ms: case.ms,
    }
}

/// Whether unibpf.exe said (`--explain`) it swapped the Linux object for
/// the module's Windows variant.
fn swapped(stderr: &[String]) -> Result<(), String> {
    stderr
        .iter()
        .any(|l| {
            l.starts_with("unibpf: explain: windows: ")
                && l.contains(" swapped for its windows variant ")
        })
        .then_some(())
        .ok_or_else(|| {
            "unibpf.exe did not say it swapped in the Windows variant (--explain)".into()
        })
}

/// Whether `stdout` holds the lines of `want` in order.
fn printed(stdout: &[String], want: &[&str]) -> Result<(), String> {
    let mut at = 0;
    for w in want {
        match stdout[at..].iter().position(|l| l == w) {
            Some(i) => at += i + 1,
            None => return Err(format!("the guest did not print {w:?} for its fed record")),
        }
    }
    Ok(())
}

/// One program's `.wasm` under unibpf.exe with the stand-in: stopped after
/// `stop` (`--timeout`, gracefully), killed at `kill`. `dir` holds the
/// record and ring files.
pub fn run_program(
    wine: &Wine,
    wasm: &Path,
    program: &str,
    dir: &Path,
    stop: Duration,
    kill: Duration,
) -> Result<(CaseOutput, String), MatrixError> {
    let expect = expectation(program);
    std::fs::create_dir_all(dir).map_err(|e| MatrixError::io(dir, e))?;
    let (record, ring) = (dir.join("record"), dir.join("ring"));
    let _ = std::fs::remove_file(&record);
    let hex: String = expect
        .iter()
        .flat_map(|e| &e.ring)
        .map(|r| r.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    std::fs::write(&ring, hex).map_err(|e| MatrixError::io(&ring, e))?;
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let file = |p: &Path| std::fs::File::create(p).map_err(|e| MatrixError::io(p, e));
    let started = Instant::now();
    let mut child = wine
        .command(true)
        .args(["run", "--explain", "--timeout"])
        .arg(format!("{}s", stop.as_secs().max(1)))
        .arg(wine_path(wasm))
        .args(args(program))
        .envs(stand_in_env(&record, &ring))
        .stdin(Stdio::null())
        .stdout(file(&out)?)
        .stderr(file(&err)?)
        .spawn()
        .map_err(|e| MatrixError::Tool("wine".into(), e.to_string()))?;
    let mut killed = false;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| MatrixError::io(wasm, e))? {
            break Some(s);
        }
        if started.elapsed() > kill {
            let _ = child.kill();
            let _ = child.wait();
            killed = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect()
    };
    let mut case = CaseOutput {
        name: program.to_string(),
        stdout: lines(&out),
        stderr: lines(&err),
        rc: status.and_then(|s| s.code()),
        ms: Some(started.elapsed().as_millis() as u64),
        ..Default::default()
    };
    if killed {
        case.rc = Some(137);
        case.facts
            .insert("cell_timeout".into(), kill.as_secs().to_string());
    }
    let record = std::fs::read_to_string(&record).unwrap_or_default();
    Ok((case, record))
}

/// wine's version (`wine-8.0`), for the column's host line.
pub fn version() -> String {
    Command::new("wine")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "load (attach)
bpf_object__open_mem size=3608 fnv1a64=0123456789abcdef opts=null
ebpf_object_set_execution_type type=0
bpf_object__load programs=tcp_option:sockops maps=connections:type=13
bpf_prog_attach fd=3 target=1 type=7 flags=0
ring_buffer__new fd=4 callback
ring_buffer__poll record=0 size=12 callback=0
ring_buffer__poll record=1 size=12 callback=0
ring_buffer__free map=connections
bpf_prog_detach2 fd=3 target=1 type=7
ebpf_close_fd fd=9
bpf_object__close programs=1 maps=2
unload (detach)
";

    fn case(rc: Option<i32>, stdout: &[&str], stderr: &[&str]) -> CaseOutput {
        CaseOutput {
            name: "x".into(),
            rc,
            stdout: stdout.iter().map(|s| s.to_string()).collect(),
            stderr: stderr.iter().map(|s| s.to_string()).collect(),
            ms: Some(1200),
            ..Default::default()
        }
    }

    #[test]
    fn a_clean_record_passes_and_each_missing_step_or_leak_is_named() {
        assert_eq!(check_record(CLEAN), Ok(()));
        let without = |drop: &str| -> String {
            CLEAN
                .lines()
                .filter(|l| !l.starts_with(drop))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        assert_eq!(
            check_record(&without("bpf_prog_attach")),
            Err("the stand-in recorded no bpf_prog_attach or bpf_program__attach after bpf_object__load programs=tcp_option:sockops maps=connections:type=13".into())
        );
        assert_eq!(
            check_record(&without("bpf_object__close")),
            Err("the stand-in recorded no bpf_object__close after ring_buffer__free map=connections".into())
        );
        assert_eq!(
            check_record(""),
            Err(
                "the stand-in recorded no bpf_object__open_mem or bpf_object__open after the start"
                    .into()
            )
        );
        let leaked = format!("{CLEAN}leak fd=9 (map connections)\n");
        assert_eq!(
            check_record(&leaked),
            Err("the stand-in recorded a leak: leak fd=9 (map connections)".into())
        );
        // Attached by itself instead of to a compartment: also a pass.
        let auto = CLEAN.replace(
            "bpf_prog_attach fd=3",
            "bpf_program__attach program=tcp_option",
        );
        assert_eq!(check_record(&auto), Ok(()));
        // Opened twice, closed once.
        let twice = CLEAN.replace(
            "ebpf_object_set",
            "bpf_object__open_mem size=1 fnv1a64=0 opts=null\nebpf_object_set",
        );
        assert_eq!(
            check_record(&twice),
            Err("the stand-in recorded 2 objects opened and 1 closed".into())
        );
    }

    #[test]
    fn sockops_passes_only_with_its_records_printed_and_a_clean_record() {
        let e = expectation("sockops").expect("sockops has a Windows variant");
        assert_eq!(e.ring.len(), e.stdout.len());
        assert_eq!(e.ring[1], [0, 0, 0, 0, 0x90, 0x1f, 0, 0, 0x38, 0xc7, 0, 0]);
        let mut out: Vec<&str> = e.stdout.to_vec();
        out.push("OPTIONS written=0 seen=0 intact=0");
        let explain = ["unibpf: explain: windows: the BPF object with programs tcp_option swapped for its windows variant sockops.windows.bpf.o (3616 bytes, BPF ELF, key b9)"];
        let unswapped = outcome(&case(Some(0), &out, &[]), CLEAN, Some(&e));
        assert_eq!(
            unswapped.reason,
            "unibpf.exe did not say it swapped in the Windows variant (--explain)"
        );
        let case =
            |rc, out: &[&str], err: &[&str]| case(rc, out, &[explain.as_slice(), err].concat());
        let ok = outcome(&case(Some(0), &out, &[]), CLEAN, Some(&e));
        assert_eq!((ok.status, ok.reason.as_str()), (Status::Pass, ""));
        assert_eq!(ok.time_ms, Some(1200));

        let one = outcome(&case(Some(0), &out[..1], &[]), CLEAN, Some(&e));
        assert_eq!(one.status, Status::Fail);
        assert_eq!(
            one.reason,
            "the guest did not print \"ESTABLISHED side=passive lport=8080 rport=51000\" for its fed record"
        );
        let leak = outcome(
            &case(Some(0), &out, &[]),
            &format!("{CLEAN}leak ring\n"),
            Some(&e),
        );
        assert_eq!(leak.reason, "the stand-in recorded a leak: leak ring");
        let err = "unibpf: error: sockops: attach failed";
        let failed = outcome(&case(Some(1), &out, &[err]), CLEAN, Some(&e));
        assert_eq!(failed.reason, format!("exit 1: {err}"));
    }

    #[test]
    fn a_program_without_a_windows_check_never_passes() {
        assert!(expectation("bootstrap").is_none());
        assert_eq!(args("sockops"), ["1"]);
        assert_eq!(args("xdp"), ["lo"]);
        assert!(args("bootstrap").is_empty());
        let line = "unibpf: error: no Windows variant of this object is bundled";
        let o = outcome(&case(Some(1), &[], &["wine noise", line]), "", None);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.reason, format!("exit 1: {line}"));
        let ran = outcome(&case(Some(0), &["hello"], &[]), "", None);
        assert_eq!(ran.status, Status::Fail);
        assert!(ran
            .reason
            .starts_with("exit 0, but the matrix has no Windows check"));
        let mut killed = case(Some(137), &[], &[]);
        killed.facts.insert("cell_timeout".into(), "90".into());
        assert_eq!(
            outcome(&killed, CLEAN, expectation("sockops").as_ref()).reason,
            "killed after the cell timeout (90 s)"
        );
    }

    #[test]
    fn the_wine_command_puts_the_stand_in_first_on_the_dll_path() {
        let wine = Wine {
            exe: "/t/windows/x86_64-pc-windows-gnu/release/unibpf.exe".into(),
            dlls: "/t/windows/wine-dlls".into(),
            prefix: "/t/windows/wineprefix".into(),
        };
        let env = |c: &Command, k: &str| {
            c.get_envs()
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
        };
        let with = wine.command(true);
        assert_eq!(
            env(&with, "WINEPATH").as_deref(),
            Some("Z:\\t\\windows\\wine-dlls\\stand-in;Z:\\t\\windows\\wine-dlls")
        );
        let without = wine.command(false);
        assert_eq!(
            env(&without, "WINEPATH").as_deref(),
            Some("Z:\\t\\windows\\wine-dlls")
        );
        assert_eq!(
            env(&without, "WINEPREFIX").as_deref(),
            Some("/t/windows/wineprefix")
        );
        let err = Wine::from_build(Path::new(
            "/nonexistent/w/x86_64-pc-windows-gnu/release/unibpf.exe",
        ))
        .expect_err("nothing built there")
        .to_string();
        assert!(
            err.contains("unibpf.exe is missing (scripts/build-windows.sh builds it)"),
            "{err}"
        );
    }
}
