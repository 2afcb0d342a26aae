//! Nothing stays attached after a hard exit. For each attach type this host
//! can use, `unibpf run` is started, the attachment is looked up in the
//! kernel while it runs, the process is killed with SIGKILL (so no code of
//! ours runs), and the kernel is polled until the attachment and every
//! program and link the process held are gone. Interfaces and cgroups are
//! removed only after that check: removing them would detach everything and
//! hide a leak. The tests share kernel-wide state (and the guardian
//! processes), so they run one at a time.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The kernel frees what a dead process held from deferred work; this is
/// how long we give it before calling anything a leftover.
const GONE_WITHIN: Duration = Duration::from_secs(10);

/// Polls `remains` (what is still there, or None) until it says None.
fn await_gone(what: &str, mut remains: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + GONE_WITHIN;
    loop {
        match remains() {
            None => return,
            Some(left) if Instant::now() > deadline => {
                panic!("{what}: still there {GONE_WITHIN:?} after SIGKILL: {left}")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A `unibpf run` past its ready line, and what it holds in the kernel.
/// Killed on drop, so a failed assertion leaves no unibpf running.
struct Started {
    run: Option<Running>,
    bpf: HeldBpf,
}

fn start_until_ready(args: &[&str], ready: &str) -> Started {
    let mut started = Started {
        run: Some(start(args)),
        bpf: HeldBpf::default(),
    };
    let run = started.run.as_mut().expect("running");
    // A panic here drops `started`, which kills the process.
    run.wait_for_stderr(ready, Duration::from_secs(60));
    started.bpf = held_bpf(run.child.id());
    started
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(mut run) = self.run.take() {
            let _ = run.child.kill();
            let _ = run.child.wait();
        }
    }
}

impl Started {
    /// The id of the program called `name` that unibpf holds (the kernel
    /// keeps 15 characters of a name).
    fn prog(&self, name: &str) -> u32 {
        let kept = &name[..name.len().min(15)];
        self.bpf
            .programs
            .iter()
            .copied()
            .find(|id| program_name(*id).as_deref() == Some(kept))
            .unwrap_or_else(|| panic!("unibpf holds no program {name}: {:?}", self.bpf))
    }

    /// The id of unibpf's link of type `link_type` running `prog`.
    fn link(&self, prog: u32, link_type: &str) -> u32 {
        self.bpf
            .links
            .iter()
            .find(|l| l.program == prog && l.kind == link_type)
            .map(|l| l.id)
            .unwrap_or_else(|| {
                panic!(
                    "no {link_type} link for program {prog} in {:?}",
                    self.bpf.links
                )
            })
    }

    fn run(&self) -> &Running {
        self.run.as_ref().expect("running")
    }

    fn explained(&self, needle: &str) -> bool {
        self.run()
            .stderr_seen
            .iter()
            .any(|l| l.starts_with("unibpf: explain: ") && l.contains(needle))
    }

    /// SIGKILL; returns once the process is reaped.
    fn kill(mut self) -> HeldBpf {
        let run = self.run.take().expect("running");
        run.signal("KILL");
        let (status, _, stderr, _) = run.finish(Duration::from_secs(10));
        assert_eq!(status.signal(), Some(9), "not killed: {status:?}; {stderr}");
        std::mem::take(&mut self.bpf)
    }
}

/// Every program and link the killed process held is freed.
fn assert_freed(bpf: &HeldBpf) {
    assert!(!bpf.programs.is_empty(), "the process held no programs");
    bpf.assert_gone_within(GONE_WITHIN, "programs and links of the killed unibpf");
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tc_filters(ifname: &str) -> String {
    command_output("tc", &["filter", "show", "dev", ifname, "ingress"])
}

fn tc_qdiscs(ifname: &str) -> String {
    command_output("tc", &["qdisc", "show", "dev", ifname])
}

/// Live guardian processes (`unibpf-tcguard`; zombies have finished).
fn guardians() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "PID (COMM) STATE ..."
            stat.contains("(unibpf-tcguard) ") && !stat.contains(") Z ")
        })
        .collect()
}

/// The guardian started since `before` was taken.
fn new_guardian(before: &[u32]) -> Option<u32> {
    guardians().into_iter().find(|p| !before.contains(p))
}

fn await_guardian_exit(pid: u32) {
    await_gone("the guardian process", || {
        guardians().contains(&pid).then(|| format!("pid {pid}"))
    });
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn tracepoint_links_go_with_a_killed_process() {
    let _serial = serial();
    let wasm = program("bootstrap.wasm");
    let s = start_until_ready(&[path(&wasm)], "tracing process");
    for name in ["handle_exec", "handle_exit"] {
        let prog = s.prog(name);
        let link = s.link(prog, "perf");
        assert!(link_exists(link));
    }
    let bpf = s.kill();
    assert_freed(&bpf);
}

#[test]
fn btf_raw_tracepoint_links_go_with_a_killed_process() {
    let _serial = serial();
    let wasm = program("runqlat.wasm");
    let s = start_until_ready(&[path(&wasm)], "sampling");
    for name in ["on_wakeup", "on_wakeup_new", "on_switch"] {
        let prog = s.prog(name);
        assert!(link_exists(s.link(prog, "raw_tracepoint")));
    }
    let bpf = s.kill();
    assert_freed(&bpf);
}

#[test]
fn uprobe_links_go_with_a_killed_process() {
    let _serial = serial();
    let wasm = program("uprobe.wasm");
    let target = program("uprobe.target");
    let s = start_until_ready(&[path(&wasm), path(&target)], "probing");
    for name in ["enter_add", "exit_add", "enter_scale", "exit_scale"] {
        let prog = s.prog(name);
        assert!(link_exists(s.link(prog, "perf")));
    }
    let bpf = s.kill();
    assert_freed(&bpf);
}

#[test]
fn xdp_links_go_with_a_killed_process() {
    let _serial = serial();
    let net = VethPair::new("hx", 41);
    let wasm = program("xdp.wasm");
    let s = start_until_ready(&[path(&wasm), &net.host_if], "counting packets");
    let prog = s.prog("count_packets");
    assert!(link_exists(s.link(prog, "xdp")));
    let attached = format!("prog/xdp id {prog} ");
    let link_show = || command_output("ip", &["-d", "link", "show", "dev", &net.host_if]);
    assert!(link_show().contains(&attached), "{}", link_show());
    let bpf = s.kill();
    await_gone("the XDP program on the interface", || {
        let shown = link_show();
        shown.contains("prog/xdp").then_some(shown)
    });
    assert_freed(&bpf);
}

#[test]
fn tcx_links_go_with_a_killed_process() {
    let _serial = serial();
    let net = VethPair::new("ht", 42);
    let ifindex = ifindex(&net.host_if);
    let before = guardians();
    let wasm = program("tc.wasm");
    let s = start_until_ready(
        &["--explain", path(&wasm), &net.host_if],
        "counting ingress",
    );
    assert!(
        s.explained("count_ingress: kernel, tc classifier (interface from the guest), tcx link;"),
        "{:?}",
        s.run().stderr_seen
    );
    let prog = s.prog("count_ingress");
    assert!(link_exists(s.link(prog, "tcx")));
    assert_eq!(tcx_programs(ifindex, true), vec![prog]);
    // A link, not a netlink filter: no qdisc, no guardian.
    assert!(!tc_filters(&net.host_if).contains("count_ingress"));
    assert!(!tc_qdiscs(&net.host_if).contains("clsact"));
    assert_eq!(new_guardian(&before), None);
    let bpf = s.kill();
    await_gone("the tcx program on the interface", || {
        let left = tcx_programs(ifindex, true);
        (!left.is_empty()).then(|| format!("{left:?}"))
    });
    assert_freed(&bpf);
    assert_eq!(ifindex, common::ifindex(&net.host_if), "the veth went away");
}

/// Starts tc.wasm with tcx masked (netlink filter and guardian) on `net`;
/// returns it, our program id, and the guardian's pid.
fn start_netlink_tc(net: &VethPair) -> (Started, u32, u32) {
    let before = guardians();
    let wasm = program("tc.wasm");
    let s = start_until_ready(
        &["--explain", "--mask", "tcx", path(&wasm), &net.host_if],
        "counting ingress",
    );
    assert!(
        s.explained("count_ingress: kernel, tc classifier (interface from the guest), netlink filter, removed by a guardian process if unibpf dies (no tcx link: masked (--mask));"),
        "{:?}",
        s.run().stderr_seen
    );
    let prog = s.prog("count_ingress");
    let filters = tc_filters(&net.host_if);
    assert!(
        filters.contains(&format!("count_ingress:[{prog}] direct-action")),
        "{filters}"
    );
    assert!(tc_qdiscs(&net.host_if).contains("qdisc clsact"));
    assert!(tcx_programs(ifindex(&net.host_if), true).is_empty());
    let guardian =
        new_guardian(&before).expect("no guardian process while a netlink filter is attached");
    (s, prog, guardian)
}

#[test]
fn the_guardian_removes_netlink_filters_and_the_qdisc_after_sigkill() {
    let _serial = serial();
    let net = VethPair::new("hn", 43);
    let (s, _prog, guardian) = start_netlink_tc(&net);
    let bpf = s.kill();
    await_gone("the netlink filter", || {
        let shown = tc_filters(&net.host_if);
        shown.contains("count_ingress").then_some(shown)
    });
    await_gone("the clsact qdisc unibpf created", || {
        let shown = tc_qdiscs(&net.host_if);
        shown.contains("clsact").then_some(shown)
    });
    assert_freed(&bpf);
    await_guardian_exit(guardian);
    assert_ne!(common::ifindex(&net.host_if), 0, "the veth went away");
}

#[test]
fn the_guardian_leaves_a_foreign_filter_and_its_qdisc_alone() {
    let _serial = serial();
    let net = VethPair::new("hf", 44);
    let (s, _prog, guardian) = start_netlink_tc(&net);
    // Someone else's filter on the clsact qdisc unibpf created.
    let foreign = attach_foreign_tc_filter(ifindex(&net.host_if), true, 7, 7, false)
        .expect("attaching the foreign filter");
    let bpf = s.kill();
    await_guardian_exit(guardian);
    assert_freed(&bpf);
    let filters = tc_filters(&net.host_if);
    assert!(!filters.contains("count_ingress"), "{filters}");
    assert!(
        filters.contains(&format!(
            "pref 7 bpf chain 0 handle 0x7 foreign_cls:[{foreign}]"
        )),
        "the foreign filter is gone:\n{filters}"
    );
    assert!(tc_qdiscs(&net.host_if).contains("qdisc clsact"));
}

#[test]
fn the_guardian_leaves_a_filter_that_replaced_ours_alone() {
    let _serial = serial();
    let net = VethPair::new("hr", 45);
    let (s, prog, guardian) = start_netlink_tc(&net);
    // Where ours sits: "... pref P bpf chain 0 handle 0xH count_ingress:[ID] ...".
    let filters = tc_filters(&net.host_if);
    let line = filters
        .lines()
        .find(|l| l.contains(&format!("count_ingress:[{prog}]")))
        .unwrap_or_else(|| panic!("{filters}"));
    let after = |word: &str| -> &str {
        let mut it = line.split_whitespace();
        it.find(|w| *w == word);
        it.next().unwrap_or_else(|| panic!("no {word} in {line}"))
    };
    let priority: u32 = after("pref").parse().expect("pref");
    let handle_text = after("handle");
    let handle = u32::from_str_radix(handle_text.trim_start_matches("0x"), 16).expect("handle");
    // Someone replaces our program at that very place.
    let foreign = attach_foreign_tc_filter(ifindex(&net.host_if), true, handle, priority, true)
        .expect("replacing the filter");
    assert_ne!(foreign, prog);
    let bpf = s.kill();
    await_guardian_exit(guardian);
    assert_freed(&bpf);
    let filters = tc_filters(&net.host_if);
    assert!(
        filters.contains(&format!(
            "pref {priority} bpf chain 0 handle {handle_text} foreign_cls:[{foreign}]"
        )),
        "the filter that replaced ours is gone:\n{filters}"
    );
}

#[test]
fn cgroup_links_go_with_a_killed_process() {
    let _serial = serial();
    let cgroup = Cgroup::new(&format!("unibpf-hard-exit-{}", std::process::id()));
    let wasm = program("sockops.wasm");
    let s = start_until_ready(&[path(&wasm), path(&cgroup.0)], "adding TCP options");
    let prog = s.prog("tcp_option");
    assert!(link_exists(s.link(prog, "cgroup")));
    assert_eq!(cgroup_sockops_programs(&cgroup.0), vec![prog]);
    let bpf = s.kill();
    await_gone("the sock_ops program on the cgroup", || {
        let left = cgroup_sockops_programs(&cgroup.0);
        (!left.is_empty()).then(|| format!("{left:?}"))
    });
    assert_freed(&bpf);
    assert!(cgroup.0.is_dir(), "the cgroup went away");
}

/// Inodes of the AF_PACKET sockets in this network namespace.
fn packet_socket_inodes() -> Vec<String> {
    std::fs::read_to_string("/proc/net/packet")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

/// Inodes of the sockets `pid` has open.
fn socket_inodes(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy().into_owned();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect()
}

#[test]
fn socket_filters_go_with_a_killed_process() {
    let _serial = serial();
    let net = VethPair::new("hs", 46);
    let wasm = program("sockfilter.wasm");
    let s = start_until_ready(&[path(&wasm), &net.host_if], "counting packets");
    s.prog("count_by_protocol");
    let ours = socket_inodes(s.run().child.id());
    let packet: Vec<String> = packet_socket_inodes()
        .into_iter()
        .filter(|i| ours.contains(i))
        .collect();
    assert_eq!(packet.len(), 1, "unibpf's packet sockets: {packet:?}");
    let bpf = s.kill();
    await_gone("the packet socket carrying the filter", || {
        let left = packet_socket_inodes();
        left.contains(&packet[0]).then(|| packet[0].clone())
    });
    assert_freed(&bpf);
}
