//! A user's own module in the matrix (`unibpf matrix --module`): the same
//! hosts as the suite, one row, the module's output checked against the
//! user's regex instead of the suite's checks. matrix/cases.sh's
//! `case_module` runs it: start under `unibpf run`, wait until ready, run
//! the workload, stop it like Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use regex::Regex;

use crate::cases::{self, CaseOutput};
use crate::MatrixError;

/// The case name matrix/cases.sh runs a user's module under.
pub const CASE: &str = "module";

/// What `unibpf matrix --module` was asked to run and expect.
#[derive(Debug, Clone)]
pub struct ModuleCase {
    /// The module on this machine.
    pub wasm: PathBuf,
    /// The table's row: the file name without `.wasm`.
    pub name: String,
    pub args: Vec<String>,
    /// A command for `sh -c` (busybox sh in the VMs), run once the module
    /// is ready.
    pub workload: Option<String>,
    /// A text the module prints (stdout or stderr) once it is ready; None:
    /// ready when unibpf has attached its first program.
    pub ready: Option<String>,
    /// Time between ready and the workload (more programs attaching).
    pub settle: Duration,
    /// A line of the module's output must match this.
    pub expect: Regex,
}

fn invalid(msg: String) -> MatrixError {
    MatrixError::Invalid(msg)
}

impl ModuleCase {
    /// Checks what the user gave, each problem as one line with its remedy.
    pub fn new(
        wasm: &Path,
        args: Vec<String>,
        workload: Option<String>,
        ready: Option<String>,
        settle: Duration,
        expect: &str,
    ) -> Result<Self, MatrixError> {
        let bytes = std::fs::read(wasm).map_err(|e| {
            invalid(format!(
                "--module {}: cannot read it ({e}); give the path of a built .wasm",
                wasm.display()
            ))
        })?;
        if !bytes.starts_with(b"\0asm") {
            return Err(invalid(format!(
                "--module {}: not a WebAssembly module (no \\0asm header); give the .wasm your build produced",
                wasm.display()
            )));
        }
        let expect = Regex::new(expect).map_err(|e| {
            let why = e.to_string();
            let why = why
                .lines()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(why.lines().last().unwrap_or_default())
                .to_string();
            invalid(format!(
                "--expect {expect:?}: not a valid regex ({why}); see https://docs.rs/regex/#syntax"
            ))
        })?;
        if let Some(w) = &workload {
            check_workload(w)?;
        }
        if ready
            .as_deref()
            .is_some_and(|r| r.is_empty() || r.contains('\n'))
        {
            return Err(invalid(
                "--ready: give one non-empty line of text the module prints when ready".into(),
            ));
        }
        let wasm = std::fs::canonicalize(wasm).map_err(|e| MatrixError::io(wasm, e))?;
        let file = wasm.file_name().unwrap_or_default().to_string_lossy();
        let name = file.strip_suffix(".wasm").unwrap_or(&file).to_string();
        Ok(ModuleCase {
            wasm,
            name,
            args,
            workload,
            ready,
            settle,
            expect,
        })
    }

    /// Where the module is in a VM's initramfs.
    pub fn path_in_vm(&self) -> String {
        let file = self.wasm.file_name().unwrap_or_default().to_string_lossy();
        format!("/module/{file}")
    }

    /// The shell assignments `case_module` reads, with the module at
    /// `wasm_path` where the case runs.
    pub fn shell_env(&self, wasm_path: &str) -> String {
        let argv: Vec<String> = self.args.iter().map(|a| shell_quote(a)).collect();
        let settle = format!(
            "{}.{:03}",
            self.settle.as_secs(),
            self.settle.subsec_millis()
        );
        format!(
            "MODULE_WASM={}\nMODULE_ARGV={}\nMODULE_READY={}\nMODULE_SETTLE={settle}\nMODULE_WORKLOAD={}\n",
            shell_quote(wasm_path),
            shell_quote(&argv.join(" ")),
            shell_quote(self.ready.as_deref().unwrap_or_default()),
            shell_quote(self.workload.as_deref().unwrap_or_default()),
        )
    }

    /// Checks the module's case; Err is the one-line reason the cell failed.
    pub fn check(&self, c: &CaseOutput) -> Result<(), String> {
        let last = || match cases::error_line(c) {
            Some(l) => format!("; last stderr line: {l}"),
            None => String::new(),
        };
        // A timeout's reason has no stderr line of its own: add the last.
        cases::finished(c).map_err(|why| {
            if c.facts.contains_key("cell_timeout") {
                format!("{why}{}", last())
            } else {
                why
            }
        })?;
        if let Some(rc) = c.facts.get("workload_rc").filter(|rc| *rc != "0") {
            let why = c.facts.get("workload_error").cloned().unwrap_or_default();
            return Err(match rc.as_str() {
                "124" | "143" => "the workload did not finish within the cell timeout".into(),
                _ => format!("the workload exited {rc}: {why}"),
            });
        }
        if module_output(c).any(|l| self.expect.is_match(l)) {
            return Ok(());
        }
        if let Some(secs) = c.facts.get("not_ready") {
            let waited_for = match &self.ready {
                Some(text) => format!("it printed no {text:?}"),
                None => "unibpf attached no program".into(),
            };
            return Err(format!(
                "not ready within {secs} s ({waited_for}), so the workload did not run{}",
                last()
            ));
        }
        if c.facts.contains_key("ended_before_ready") {
            return Err(format!(
                "the module ended before it was ready, without printing a match for {}{}",
                self.expect.as_str(),
                last()
            ));
        }
        Err(format!(
            "no output line matches {}{}",
            self.expect.as_str(),
            match module_output(c).next() {
                Some(_) => last(),
                None => "; the module printed nothing".into(),
            }
        ))
    }
}

/// The module's own lines: its stdout, and its stderr without unibpf's.
fn module_output(c: &CaseOutput) -> impl Iterator<Item = &str> {
    c.stdout
        .iter()
        .chain(c.stderr.iter().filter(|l| !l.starts_with("unibpf: ")))
        .map(String::as_str)
}

/// `s` as one shell word.
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether `sh -n` accepts the workload (busybox sh and dash share the
/// POSIX grammar): a typo is caught before any VM boots.
fn check_workload(workload: &str) -> Result<(), MatrixError> {
    let out = Command::new("sh")
        .args(["-n", "-c", workload])
        .output()
        .map_err(|e| MatrixError::Tool("sh".into(), e.to_string()))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(invalid(format!(
        "--workload {workload:?}: not a valid shell command ({}); it runs as `sh -c WORKLOAD` in busybox sh",
        err.lines().next().unwrap_or_default().trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(expect: &str, ready: Option<&str>) -> ModuleCase {
        let dir = tempfile::tempdir().expect("tempdir");
        let wasm = dir.path().join("tracer.wasm");
        std::fs::write(&wasm, b"\0asm\x01\0\0\0").expect("write");
        let args = vec!["-p".into(), "it's two words".into(), String::new()];
        let ready = ready.map(str::to_string);
        let settle = Duration::from_millis(1500);
        ModuleCase::new(&wasm, args, Some("ls /".into()), ready, settle, expect).expect("valid")
    }

    fn output(rc: i32, facts: &[(&str, &str)], stdout: &[&str], stderr: &[&str]) -> CaseOutput {
        CaseOutput {
            name: CASE.into(),
            facts: facts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            stdout: stdout.iter().map(|s| s.to_string()).collect(),
            stderr: stderr.iter().map(|s| s.to_string()).collect(),
            rc: Some(rc),
            ms: Some(10),
            ..Default::default()
        }
    }

    #[test]
    fn the_shell_sees_the_arguments_and_workload_as_given() {
        let m = case("x", None);
        assert_eq!(m.name, "tracer");
        assert_eq!(m.path_in_vm(), "/module/tracer.wasm");
        let script = format!(
            "{}eval \"set -- $MODULE_ARGV\"; printf '[%s]' \"$@\" \"$MODULE_SETTLE\" \"$MODULE_WORKLOAD\" \"$MODULE_READY\"",
            m.shell_env("/module/tracer.wasm")
        );
        let out = Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "[-p][it's two words][][1.500][ls /][]"
        );
    }

    #[test]
    fn a_match_in_the_modules_own_output_passes() {
        let m = case(r"^exec pid=\d+ comm=true$", None);
        let ok = output(0, &[("workload_rc", "0")], &["exec pid=7 comm=true"], &[]);
        assert_eq!(m.check(&ok), Ok(()));
        let on_stderr = output(0, &[], &[], &["exec pid=7 comm=true"]);
        assert_eq!(m.check(&on_stderr), Ok(()));
        // unibpf's own lines are not the module's output.
        let m = case("attached", None);
        let ours = output(0, &[], &[], &["unibpf: info: attached program \"x\""]);
        assert_eq!(
            m.check(&ours).unwrap_err(),
            "no output line matches attached; the module printed nothing"
        );
    }

    #[test]
    fn failing_cells_say_why_in_one_line() {
        let m = case("never", Some("tracing"));
        let reason = |c: CaseOutput| m.check(&c).unwrap_err();
        assert_eq!(
            reason(output(0, &[], &["a"], &["tracer: first", "tracer: last"])),
            "no output line matches never; last stderr line: tracer: last"
        );
        assert_eq!(
            reason(output(
                1,
                &[],
                &[],
                &["unibpf: error: program p: kernel refused the load", "x"]
            )),
            "exit 1: unibpf: error: program p: kernel refused the load"
        );
        assert_eq!(
            reason(output(
                0,
                &[("cell_timeout", "90")],
                &[],
                &["tracer: stuck"]
            )),
            "killed after the cell timeout (90 s); last stderr line: tracer: stuck"
        );
        assert_eq!(
            reason(output(
                0,
                &[
                    ("workload_rc", "127"),
                    ("workload_error", "sh: nope: not found")
                ],
                &[],
                &[]
            )),
            "the workload exited 127: sh: nope: not found"
        );
        assert_eq!(
            reason(output(0, &[("workload_rc", "124")], &[], &[])),
            "the workload did not finish within the cell timeout"
        );
        assert_eq!(
            reason(output(0, &[("not_ready", "45")], &[], &[])),
            "not ready within 45 s (it printed no \"tracing\"), so the workload did not run"
        );
        assert!(
            reason(output(0, &[("ended_before_ready", "1")], &[], &["bye"]))
                .starts_with("the module ended before it was ready")
        );
        let mut unfinished = output(0, &[], &[], &[]);
        unfinished.rc = None;
        assert_eq!(reason(unfinished), "the case did not finish");
    }

    #[test]
    fn bad_input_is_refused_with_the_remedy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wasm = dir.path().join("app.wasm");
        let new = |expect: &str, workload: Option<&str>| {
            ModuleCase::new(
                &wasm,
                vec![],
                workload.map(str::to_string),
                None,
                Duration::ZERO,
                expect,
            )
            .unwrap_err()
            .to_string()
        };
        let missing = new("x", None);
        assert!(
            missing.contains("cannot read it")
                && missing.ends_with("give the path of a built .wasm"),
            "{missing}"
        );
        std::fs::write(&wasm, b"#!/bin/sh\n").expect("write");
        assert!(new("x", None).contains("not a WebAssembly module"));
        std::fs::write(&wasm, b"\0asm\x01\0\0\0").expect("write");
        let regex = new("exec (pid", None);
        assert!(
            regex.starts_with("--expect \"exec (pid\": not a valid regex (unclosed group)"),
            "{regex}"
        );
        assert!(!regex.contains('\n'), "{regex}");
        let workload = new("x", Some("if true; then"));
        assert!(
            workload.starts_with("--workload \"if true; then\": not a valid shell command ("),
            "{workload}"
        );
        assert!(!workload.contains('\n'), "{workload}");
    }
}
