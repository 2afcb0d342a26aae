//! matrix/cases.sh driven by a fake `unibpf` (a shell script), without a
//! kernel or VM: how a case gives a program its workload on an ordinary
//! host (beside the program, once it is ready) and on a userspace host
//! (to `unibpf run --cmd`), and that the facts come back either way.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use unibpf_matrix::cases::{self, CaseOutput, Runner};

fn cases_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../matrix/cases.sh")
}

/// A fake `unibpf run`: prints its arguments, says it is tracing, and then
/// either runs the `--cmd` command as `unibpf run` would (split like a
/// shell splits words) and ends, or goes on for a while (a shell started in
/// the background ignores the Ctrl-C the case sends, so it ends by itself).
const FAKE_UNIBPF: &str = r#"#!/bin/sh
echo "ARGS $*"
echo "fake: tracing process exits" >&2
cmd=
while [ $# -gt 0 ]; do
	case $1 in
	--cmd) cmd=$2; shift ;;
	esac
	shift
done
if [ -n "$cmd" ]; then
	eval "set -- $cmd"
	"$@"
	echo "COMMAND rc=$?"
	exit 0
fi
sleep 2
echo ENDED
"#;

/// Runs `run_cases exitsnoop` with the fake unibpf and `env` (shell
/// assignments, the host's settings); returns the case as the matrix reads
/// it, and everything the script printed.
fn run_exitsnoop(env: &str) -> (CaseOutput, String) {
    // The case's files are /tmp/case-exitsnoop.*: one run at a time.
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("unibpf");
    std::fs::write(&fake, FAKE_UNIBPF).expect("fake unibpf");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(dir.path().join("exitsnoop.wasm"), b"\0asm").expect("module");
    let script = format!(
        "{env}CELL_SECONDS=20\nCASES_SH={cases}\n. \"$CASES_SH\"; run_cases exitsnoop",
        cases = cases_sh().display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env("UNIBPF", &fake)
        .env("PROGRAMS", dir.path())
        .output()
        .expect("sh");
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut found = cases::parse_log(&log);
    assert_eq!(found.len(), 1, "{log}");
    (found.remove(0), log)
}

#[test]
fn on_a_kernel_host_the_workload_runs_beside_the_ready_program() {
    let (case, log) = run_exitsnoop("");
    assert_eq!(
        (case.name.as_str(), case.runner),
        ("exitsnoop", Runner::Unibpf)
    );
    assert_eq!(case.rc, Some(0), "{log}");
    let args = &case.stdout[0];
    assert!(args.starts_with("ARGS run --explain"), "{log}");
    assert!(!args.contains("--cmd"), "{log}");
    assert_eq!(
        case.stdout.last().map(String::as_str),
        Some("ENDED"),
        "{log}"
    );
    let pid: u32 = case.facts["exit_pid"].parse().expect("a pid");
    assert!(pid > 1, "{log}");
    assert!(!case.facts.contains_key("workload"), "{log}");
}

#[test]
fn on_a_userspace_host_unibpf_starts_the_workload_and_its_facts_come_back() {
    let (case, log) = run_exitsnoop("USERSPACE=1\n");
    assert_eq!(case.rc, Some(0), "{log}");
    let args = &case.stdout[0];
    assert!(
        args.starts_with("ARGS run --explain --timeout 120s --cmd /bin/sh -c "),
        "{log}"
    );
    assert!(args.contains("work_exitsnoop"), "{log}");
    assert!(args.ends_with("/exitsnoop.wasm"), "{log}");
    // The command ran to its end and the fake ended by itself: no Ctrl-C.
    assert!(case.stdout.iter().any(|l| l == "COMMAND rc=0"), "{log}");
    assert!(!case.stdout.iter().any(|l| l == "ENDED"), "{log}");
    // The workload's facts, from the shell unibpf started.
    assert_eq!(case.facts["workload"], "traced", "{log}");
    let pid: u32 = case.facts["exit_pid"].parse().expect("a pid");
    assert!(pid > 1, "{log}");
    // The same check as on every host reads them: here it fails only
    // because the fake prints no events.
    assert_eq!(cases::check(&case), Err("no EXIT with code 7".into()));
}

#[test]
fn an_unprivileged_host_runs_programs_through_setpriv_with_the_case_caps() {
    let script = format!(
        ". {}; RUN_UID=65534; as_host_user; echo \"[$AS_USER]\"; \
         c=xdp CASE_CAPS=net_raw; as_host_user; echo \"[$AS_USER]\"; \
         RUN_UID=; as_host_user; echo \"[$AS_USER] $c\"",
        cases_sh().display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("sh");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all]\n\
         [setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_raw --ambient-caps=+net_raw]\n\
         [] xdp\n"
    );
    // (run_cases loops over $c: a helper that reuses it skips the native run.)
}
