//! The program suite (programs/*) on the real kernel: each program runs under
//! `unibpf run`, the test drives its workload, and asserts on the exact values
//! it printed.

mod common;

use common::*;

/// The fields of the first line starting with `prefix` and containing every
/// `key=value` of `want`.
fn line_with<'a>(out: &'a str, prefix: &str, want: &[(&str, String)]) -> Option<&'a str> {
    out.lines().find(|l| {
        l.starts_with(prefix)
            && want
                .iter()
                .all(|(k, v)| l.split(' ').any(|f| f == format!("{k}={v}")))
    })
}

fn value<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(' ')
        .find_map(|f| f.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

// bootstrap's control plane exists in C and in Rust (unibpf-guest SDK); both
// must behave the same.
const BOOTSTRAPS: [&str; 2] = ["bootstrap.wasm", "bootstrap_rs.wasm"];

#[test]
fn bootstrap_reports_execs_and_exits_with_codes_and_durations() {
    for wasm in BOOTSTRAPS {
        bootstrap_events(wasm);
    }
}

fn bootstrap_events(wasm: &str) {
    let me = std::process::id().to_string();
    let mut sh = (0, 0);
    let mut sleeper = (0, 0);
    let out = observe(wasm, &[], "tracing", || {
        sh = spawn_wait("/bin/sh", &["-c", "exit 3"]);
        sleeper = spawn_wait("/bin/sleep", &["0.3"]);
    });
    let name = wasm.trim_end_matches(".wasm");
    assert_case(
        name,
        &[
            ("sh_pid", sh.0.to_string()),
            ("sleep_pid", sleeper.0.to_string()),
        ],
        &out,
    );
    // Here the parent is known too: this test process.
    assert!(
        line_with(&out, "EXEC", &[("pid", sh.0.to_string()), ("ppid", me)]).is_some(),
        "{wasm}: no exec of sh with this process as parent in:\n{out}"
    );
}

#[test]
fn bootstrap_min_duration_is_patched_into_rodata_before_load() {
    for wasm in BOOTSTRAPS {
        bootstrap_min_duration(wasm);
    }
}

fn bootstrap_min_duration(wasm: &str) {
    let mut quick = (0, 0);
    let mut sleeper = (0, 0);
    let out = observe(wasm, &["-d", "250"], "min duration 250 ms", || {
        quick = spawn_wait("/bin/true", &[]);
        sleeper = spawn_wait("/bin/sleep", &["0.4"]);
    });
    // The BPF side drops exec events and short-lived processes when the
    // constant is non-zero: only the sleeper's exit may appear.
    assert!(
        !out.lines().any(|l| l.starts_with("EXEC")),
        "exec events despite -d:\n{out}"
    );
    assert!(
        line_with(&out, "EXIT", &[("pid", quick.0.to_string())]).is_none(),
        "a 0 ms process passed -d 250:\n{out}"
    );
    let exit = line_with(&out, "EXIT", &[("pid", sleeper.0.to_string())])
        .unwrap_or_else(|| panic!("no exit of sleep 0.4 in:\n{out}"));
    let ms: u64 = value(exit, "duration_ms").parse().expect("duration");
    assert!(ms >= 250, "{exit}");
}

#[test]
fn execve_prints_the_arguments_of_each_exec() {
    let mut echo = (0, 0);
    let mut many = (0, 0);
    let out = observe("execve.wasm", &[], "tracing", || {
        echo = spawn_wait("/bin/echo", &["first", "two words", ""]);
        many = spawn_wait("/bin/true", &["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    });
    let echo_line = line_with(&out, "EXECVE", &[("pid", echo.0.to_string())])
        .unwrap_or_else(|| panic!("no execve of echo in:\n{out}"));
    assert!(
        echo_line.ends_with(r#"file=/bin/echo argc=4 args=["/bin/echo","first","two words",""]"#),
        "{echo_line}"
    );
    let many_line = line_with(&out, "EXECVE", &[("pid", many.0.to_string())])
        .unwrap_or_else(|| panic!("no execve of true in:\n{out}"));
    assert!(
        many_line.ends_with(r#"argc=8 args=["/bin/true","1","2","3","4","5","6","7"] truncated"#),
        "{many_line}"
    );
}

#[test]
fn opensnoop_sees_named_opens_and_their_results_over_a_perf_buffer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let present = dir.path().join("opensnoop-present.txt");
    std::fs::write(&present, "x").expect("write");
    let missing = dir.path().join("opensnoop-missing.txt");
    let me = std::process::id();
    let out = observe(
        "opensnoop.wasm",
        &["-p", &me.to_string()],
        "tracing opens",
        || {
            let _file = std::fs::File::open(&present).expect("open present");
            assert!(std::fs::File::open(&missing).is_err());
        },
    );
    let hit = line_with(
        &out,
        "OPEN",
        &[
            ("pid", me.to_string()),
            ("path", present.display().to_string()),
        ],
    )
    .unwrap_or_else(|| panic!("no open of {} in:\n{out}", present.display()));
    let fd: i32 = value(hit, "ret").parse().expect("ret");
    assert!(fd >= 0, "{hit}");
    assert!(
        line_with(
            &out,
            "OPEN",
            &[
                ("pid", me.to_string()),
                ("path", missing.display().to_string()),
                ("ret", "-2".into())
            ]
        )
        .is_some(),
        "no failed open (-ENOENT) of {} in:\n{out}",
        missing.display()
    );
    // -p went into .rodata: other processes' opens were filtered in BPF.
    assert!(
        out.lines().all(|l| value(l, "pid") == me.to_string()),
        "opens of other processes despite -p:\n{out}"
    );
}

#[test]
fn runqlat_counts_wakeups_of_the_target_in_its_histogram() {
    let mut target = RunqlatTarget::spawn(25);
    let out = observe("runqlat.wasm", &["-p", &target.pid()], "sampling", || {
        target.run()
    });
    assert_case("runqlat", &target.facts(), &out);
}

#[test]
fn uprobe_reports_arguments_and_return_values_of_the_target() {
    uprobe_sees_the_target("uprobe.wasm");
}

/// The same uprobe object built for arm64 and for riscv64 (reading
/// `struct user_pt_regs` / `user_regs_struct`): unibpf points its register
/// reads at x86_64's, and the values are the same. Without that pass
/// libbpf poisons every read and the object does not load.
#[test]
fn uprobe_objects_built_for_other_architectures_read_the_right_registers() {
    on_foreign_uprobe_builds(
        ["for-arm64/uprobe.wasm", "for-riscv/uprobe.wasm"],
        uprobe_sees_the_target,
    );
}

fn uprobe_sees_the_target(wasm: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let binary = program("uprobe.target");
    let mut target = Command::new(&binary)
        .args(["40", "2", "-5000000000", "3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning the target");
    let pid = target.id().to_string();
    let out = observe(wasm, &[binary.to_str().unwrap()], "probing", || {
        target
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"x")
            .expect("starting the target");
        assert!(target.wait().expect("target").success());
    });
    assert_case("uprobe", &[("target_pid", pid)], &out);
}

#[test]
fn xdp_sees_each_packet_with_its_size_and_per_cpu_totals_agree() {
    const DATAGRAMS: usize = 6;
    const PAYLOAD: usize = 300;
    const PORT: u16 = 9317;
    let net = VethPair::new("x", 1);
    let out = observe("xdp.wasm", &[&net.host_if], "counting packets", || {
        net.send_udp_from_peer(DATAGRAMS, PAYLOAD, PORT);
    });
    assert_case(
        "xdp",
        &[
            ("datagrams", DATAGRAMS.to_string()),
            ("frame", (14 + 20 + 8 + PAYLOAD).to_string()),
            ("port", PORT.to_string()),
        ],
        &out,
    );
}

#[test]
fn tc_ingress_counts_packets_and_bytes_per_protocol() {
    const DATAGRAMS: u64 = 4;
    const PAYLOAD: u64 = 200;
    let net = VethPair::new("t", 2);
    let out = observe("tc.wasm", &[&net.host_if], "counting ingress", || {
        net.send_udp_from_peer(DATAGRAMS as usize, PAYLOAD as usize, 9318);
    });
    assert_case(
        "tc",
        &[
            ("datagrams", DATAGRAMS.to_string()),
            ("frame", (14 + 20 + 8 + PAYLOAD).to_string()),
        ],
        &out,
    );
}

#[test]
fn sockfilter_counts_packets_by_protocol_on_a_packet_socket() {
    const DATAGRAMS: u64 = 5;
    let net = VethPair::new("s", 3);
    let out = observe(
        "sockfilter.wasm",
        &[&net.host_if],
        "counting packets",
        || {
            net.send_udp_from_peer(DATAGRAMS as usize, 64, 9319);
        },
    );
    assert_case("sockfilter", &[("datagrams", DATAGRAMS.to_string())], &out);
}

// kprobe, lsm and tcpconnlat need kernel features many hosts lack
// (CONFIG_KPROBES, BPF LSM, fentry; this CI machine lacks all three). What
// the test expects comes from what `unibpf probe` found here: where a
// feature is missing, the run must fail with one line naming it, the first
// kernel with it and the probe's reason; where it is there, the program must
// run and print what the matrix's check for it expects.

/// The first of `features` the host lacks: (short name, first kernel, why).
fn first_missing(features: &[&str]) -> Option<(String, String, String)> {
    let out = unibpf()
        .args(["probe", "--json"])
        .output()
        .expect("unibpf probe --json");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("probe JSON");
    features.iter().find_map(|name| {
        let f = report["features"]
            .as_array()?
            .iter()
            .find(|f| f["name"] == *name)?;
        if f["available"].as_bool()? {
            return None;
        }
        let min = f["min_kernel"].as_str()?;
        let min = min
            .rsplit_once('.')
            .map_or(min, |(major_minor, _)| major_minor);
        Some((
            name.split_once('.').map_or(*name, |(_, n)| n).to_string(),
            min.to_string(),
            f["detail"].as_str()?.to_string(),
        ))
    })
}

/// What the selector says of a program needing the first of `features`
/// the host lacks, if it lacks one.
fn lacks(features: &[&str]) -> Option<String> {
    let (feature, min, why) = first_missing(features)?;
    Some(format!(
        "needs {feature} (kernel {min}+), which this host lacks: {why}"
    ))
}

/// Where the host lacks one of `features`: the run fails with the selector's
/// one line for `bpf_program` (true). Otherwise false: the caller runs it.
fn refused_for_missing(wasm: &str, args: &[&str], bpf_program: &str, features: &[&str]) -> bool {
    let Some(why) = lacks(features) else {
        return false;
    };
    refused(wasm, args, &format!("program {bpf_program}: {why}"));
    true
}

/// Runs `wasm` with `args`, which must fail with one error line starting
/// with `error` (the kernel's reason; the line goes on to say why the
/// userspace backend cannot stand in).
fn refused(wasm: &str, args: &[&str], error: &str) {
    let path = program(wasm);
    let mut all = vec!["--timeout", "20s", path.to_str().unwrap()];
    all.extend_from_slice(args);
    assert_fails_starting_with(&all, &format!("unibpf: error: {error}"));
}

#[test]
fn kprobe_runs_where_kprobes_exist_and_fails_clearly_elsewhere() {
    if refused_for_missing(
        "kprobe.wasm",
        &[],
        "unlink_enter",
        &["prog.kprobe", "attach.kprobe"],
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("kprobe-victim");
    std::fs::write(&victim, "x").expect("write");
    let out = observe("kprobe.wasm", &[], "tracing do_unlinkat", || {
        std::fs::remove_file(&victim).expect("unlink");
    });
    assert_case("kprobe", &[("path", victim.display().to_string())], &out);
}

#[test]
fn lsm_runs_where_bpf_lsm_is_active_and_fails_clearly_elsewhere() {
    let parent = tempfile::tempdir().expect("tempdir");
    let name = "unibpf-protected";
    if refused_for_missing(
        "lsm.wasm",
        &[name],
        "deny_rmdir",
        &["prog.lsm", "attach.lsm"],
    ) {
        return;
    }
    std::fs::create_dir(parent.path().join(name)).expect("mkdir");
    let mut rmdir_rc = 0;
    let out = observe("lsm.wasm", &[name], "protecting directories", || {
        rmdir_rc = std::process::Command::new("rmdir")
            .arg(name)
            .current_dir(parent.path())
            .status()
            .expect("rmdir")
            .code()
            .unwrap_or(-1);
    });
    let still_there = parent.path().join(name).exists();
    assert_case(
        "lsm",
        &[
            ("rmdir_rc", rmdir_rc.to_string()),
            ("still_there", u8::from(still_there).to_string()),
        ],
        &out,
    );
}

#[test]
fn tcpconnlat_runs_through_fentry_or_its_kprobe_alternative_and_fails_clearly_elsewhere() {
    let fentry = lacks(&["prog.fentry", "attach.fentry"]);
    let kprobe = lacks(&["prog.kprobe", "attach.kprobe"]);
    if let (Some(fentry), Some(kprobe)) = (&fentry, &kprobe) {
        refused(
            "tcpconnlat.wasm",
            &[],
            &format!(
                "program on_connect: {fentry}, and its alternatives cannot run either \
                 (on_connect_kprobe: {kprobe})"
            ),
        );
        return;
    }
    // The sockops workload connects over loopback and prints its ports; it
    // moves itself into a cgroup first, so give it a fresh one.
    let cgroup = Cgroup::new(&format!("unibpf-tcpconnlat-{}", std::process::id()));
    let mut ports = String::new();
    let out = observe("tcpconnlat.wasm", &[], "tracing TCP connects", || {
        let run = std::process::Command::new(program("sockops.target"))
            .arg(cgroup.0.join("cgroup.procs"))
            .output()
            .expect("running the workload");
        assert!(run.status.success());
        ports = String::from_utf8_lossy(&run.stdout).into_owned();
    });
    assert_case(
        "tcpconnlat",
        &[("server_port", value(ports.trim(), "server").to_string())],
        &out,
    );
}

#[test]
fn autoload_off_leaves_the_lsm_program_out_and_the_rest_runs() {
    let parent = tempfile::tempdir().expect("tempdir");
    let name = "unibpf-countme";
    std::fs::create_dir(parent.path().join(name)).expect("mkdir");
    let out = observe(
        "lsm.wasm",
        &["--count-only", name],
        "counting rmdirs",
        || {
            // The kernel never saw deny_rmdir, so nothing refuses this.
            let status = std::process::Command::new("rmdir")
                .arg(name)
                .current_dir(parent.path())
                .status()
                .expect("rmdir");
            assert!(status.success());
            assert!(
                !kernel_program_names().iter().any(|p| p == "deny_rmdir"),
                "deny_rmdir was loaded despite autoload off"
            );
        },
    );
    assert!(!parent.path().join(name).exists());
    assert!(out.lines().any(|l| l == "ATTEMPTS count=1"), "{out}");
    assert!(out.lines().any(|l| l == "REFUSED count=0"), "{out}");
}

#[test]
fn sockops_injects_a_tcp_option_that_arrives_intact() {
    let cgroup = Cgroup::new(&format!("unibpf-sockops-{}", std::process::id()));
    let mut ports = String::new();
    let out = observe(
        "sockops.wasm",
        &[cgroup.0.to_str().unwrap()],
        "adding TCP options",
        || {
            let run = std::process::Command::new(program("sockops.target"))
                .arg(cgroup.0.join("cgroup.procs"))
                .output()
                .expect("running the workload");
            assert!(
                run.status.success(),
                "{}",
                String::from_utf8_lossy(&run.stderr)
            );
            ports = String::from_utf8_lossy(&run.stdout).into_owned();
        },
    );
    assert_case(
        "sockops",
        &[
            ("client_port", value(&ports, "client").to_string()),
            ("server_port", value(ports.trim(), "server").to_string()),
        ],
        &out,
    );
}

#[test]
fn exitsnoop_through_the_compat_header_reports_status_signal_and_age() {
    let mut coded = (0, 0);
    let mut killed = 0;
    let mut aged = (0, 0);
    let out = observe("exitsnoop.wasm", &[], "tracing process exits", || {
        coded = spawn_wait("/bin/sh", &["-c", "exit 7"]);
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        killed = child.id();
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        aged = spawn_wait("/bin/sleep", &["0.3"]);
    });
    assert!(
        line_with(
            &out,
            "EXIT",
            &[
                ("pid", coded.0.to_string()),
                ("code", "7".into()),
                ("signal", "0".into())
            ]
        )
        .is_some(),
        "{out}"
    );
    assert!(
        line_with(
            &out,
            "EXIT",
            &[("pid", killed.to_string()), ("signal", "9".into())]
        )
        .is_some(),
        "{out}"
    );
    let line = line_with(
        &out,
        "EXIT",
        &[("pid", aged.0.to_string()), ("comm", "sleep".into())],
    )
    .unwrap_or_else(|| panic!("{out}"));
    let age: u64 = value(line, "age_ms").parse().expect("age");
    assert!((300..3000).contains(&age), "{line}");
}

#[test]
fn exitsnoop_limit_goes_through_data_and_the_count_comes_back_through_bss() {
    let out = observe(
        "exitsnoop.wasm",
        &["-n", "2"],
        "tracing process exits",
        || {
            for _ in 0..4 {
                spawn_wait("/bin/true", &[]);
            }
        },
    );
    // Whichever two exits came first: the BPF side stopped after two because
    // .data said so, and counted them in .bss.
    let exits = out.lines().filter(|l| l.starts_with("EXIT ")).count();
    assert_eq!(exits, 2, "{out}");
    assert!(out.lines().any(|l| l == "REPORTED total=2"), "{out}");
}
