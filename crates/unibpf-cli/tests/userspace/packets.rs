//! xdp, tc and sockfilter on the userspace backend as uid 65534 with
//! CAP_NET_RAW only: frames from a veth pair the test creates.

use super::*;

/// Runs WASM ARGS as uid 65534 with only CAP_NET_RAW, waits for `ready` on
/// its stderr, runs the workload and stops it with SIGINT, as `observe`
/// does for the kernel tests; returns (stdout, stderr).
fn observe_as_nobody_with_net_raw(
    wasm: &str,
    args: &[&str],
    ready: &str,
    workload: impl FnOnce(),
) -> (String, String) {
    let mut cmd = unibpf_as_nobody(",+net_raw");
    cmd.args(["--explain", "-v", "--timeout", "60s", "--grace", "30s"])
        .arg(module(wasm))
        .args(args);
    let mut run = spawn_running(cmd);
    run.wait_for_stderr(ready, std::time::Duration::from_secs(30));
    workload();
    run.signal("INT");
    let (status, stdout, stderr, _) = run.finish(std::time::Duration::from_secs(10));
    assert!(
        status.success(),
        "status {status:?}, stderr:\n{stderr}\nstdout:\n{stdout}"
    );
    assert!(
        stderr.contains("from an AF_PACKET socket")
            && stderr.contains("verdicts are observed and counted, not enforced"),
        "--explain does not say how packets are seen:\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn xdp_sees_each_packet_with_net_raw_only() {
    const DATAGRAMS: usize = 6;
    const PAYLOAD: usize = 300;
    const PORT: u16 = 9327;
    let net = VethPair::new("ux", 21);
    let (out, stderr) =
        observe_as_nobody_with_net_raw("xdp.wasm", &[&net.host_if], "counting packets", || {
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
    // Every packet printed was counted, and passed.
    let seen = out.lines().filter(|l| l.starts_with("PACKET")).count();
    let report = format!(
        "XDP count_packets on {}: {seen} packets seen, verdicts observed not enforced: PASS {seen}",
        net.host_if
    );
    assert!(stderr.contains(&report), "no {report:?} in:\n{stderr}");
}

#[test]
fn tc_ingress_counts_packets_and_bytes_with_net_raw_only() {
    const DATAGRAMS: u64 = 4;
    const PAYLOAD: u64 = 200;
    let net = VethPair::new("ut", 22);
    let (out, stderr) =
        observe_as_nobody_with_net_raw("tc.wasm", &[&net.host_if], "counting ingress", || {
            net.send_udp_from_peer(DATAGRAMS as usize, PAYLOAD as usize, 9328);
        });
    assert_case(
        "tc",
        &[
            ("datagrams", DATAGRAMS.to_string()),
            ("frame", (14 + 20 + 8 + PAYLOAD).to_string()),
        ],
        &out,
    );
    assert!(
        stderr.contains(&format!("tc ingress count_ingress on {}: ", net.host_if)),
        "{stderr}"
    );
}

/// A veth pair in this namespace, deleted on drop.
struct LocalVeth(&'static str);

impl LocalVeth {
    fn new(name: &'static str, peer: &str) -> Self {
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        ip(&["link", "del", name]);
        assert!(ip(&[
            "link", "add", name, "type", "veth", "peer", "name", peer
        ]));
        assert!(ip(&["link", "set", name, "up"]) && ip(&["link", "set", peer, "up"]));
        LocalVeth(name)
    }
}

impl Drop for LocalVeth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", self.0]).status();
    }
}

/// The matrix's way of running tc.wasm: its workload as `--cmd`. The module
/// attaches, then only sleeps (it prints its counts at exit): the command
/// must start then, and the module end when it has, having counted every
/// frame the command wrote onto the peer end.
#[test]
fn a_packet_counter_that_only_sleeps_starts_its_command_and_ends_with_it() {
    let _veth = LocalVeth::new("ubuw0", "ubuw1");
    let cmd = format!("{} ubuw1 4 200 9330", module("tc.target"));
    let out = unibpf_as_nobody(",+net_raw")
        .args(["--timeout", "60s", "--cmd", &cmd])
        .arg(module("tc.wasm"))
        .arg("ubuw0")
        .output()
        .expect("running unibpf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert_case(
        "tc",
        &[
            ("datagrams", "4".to_string()),
            ("frame", (14 + 20 + 8 + 200).to_string()),
        ],
        &stdout,
    );
}

#[test]
fn sockfilter_counts_packets_by_protocol_with_net_raw_only() {
    const DATAGRAMS: u64 = 5;
    let net = VethPair::new("us", 23);
    let (out, _) = observe_as_nobody_with_net_raw(
        "sockfilter.wasm",
        &[&net.host_if],
        "counting packets",
        || net.send_udp_from_peer(DATAGRAMS as usize, 64, 9329),
    );
    assert_case("sockfilter", &[("datagrams", DATAGRAMS.to_string())], &out);
}

#[test]
fn packet_programs_without_net_raw_say_which_capability_is_missing() {
    for (wasm, target) in [("xdp.wasm", "lo"), ("sockfilter.wasm", "lo")] {
        let (out, stdout, stderr) = run_as_nobody(&[&module(wasm), target]);
        assert_eq!(out.status.code(), Some(1), "{wasm}: {stderr}\n{stdout}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
        assert_eq!(errors.len(), 1, "{wasm}: {stderr}");
        assert!(
            errors[0].contains("a packet socket on lo needs CAP_NET_RAW")
                && errors[0].contains("setpriv --inh-caps=+net_raw --ambient-caps=+net_raw"),
            "{wasm}: {stderr}"
        );
    }
}

#[test]
fn packet_programs_on_an_unknown_interface_fail_with_enodev() {
    let (out, stdout, stderr) = unibpf_as_nobody(",+net_raw")
        .args(["--timeout", "60s", &module("tc.wasm"), "nosuchif0"])
        .output()
        .map(|o| {
            let (a, b) = (
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            );
            (o, a, b)
        })
        .expect("running setpriv");
    assert_eq!(out.status.code(), Some(1), "{stderr}\n{stdout}");
    assert!(
        stderr.contains("no network interface named \"nosuchif0\"")
            && stderr.contains("No such device"),
        "{stderr}"
    );
}
