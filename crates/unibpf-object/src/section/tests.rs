use super::*;

fn parse(s: &str) -> ProgramSection {
    ProgramSection::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn sections_read_into_hooks_and_places() {
    let tp = parse("tp/sched/sched_process_exec");
    assert_eq!(tp.hook, Hook::Tracepoint);
    assert_eq!(tp.tracepoint(), Some(("sched", "sched_process_exec")));
    assert_eq!(tp.to_string(), "tracepoint sched/sched_process_exec");
    assert!(!tp.needs_target());

    let k = parse("kretprobe/do_unlinkat");
    assert_eq!(
        k.hook,
        Hook::Kprobe {
            ret: true,
            multi: false
        }
    );
    assert_eq!(k.to_string(), "kretprobe do_unlinkat");

    let u = parse("uprobe.s");
    assert_eq!(
        u.hook,
        Hook::Uprobe {
            ret: false,
            sleepable: true,
            multi: false
        }
    );
    assert!(u.needs_target());
    assert_eq!(u.to_string(), "uprobe (BINARY:FUNC from the guest)");

    let tc = parse("tcx/egress");
    assert_eq!(
        tc.hook,
        Hook::Tc {
            tcx: true,
            direction: Some(Direction::Egress)
        }
    );
    assert_eq!(tc.target, None, "flags are not places");
    assert_eq!(tc.to_string(), "tc egress (interface from the guest)");

    assert_eq!(parse("xdp").to_string(), "XDP (interface from the guest)");
    assert_eq!(
        parse("sockops").to_string(),
        "sock_ops (cgroup from the guest)"
    );
    assert_eq!(
        parse("cgroup_skb/egress").to_string(),
        "cgroup skb egress (cgroup from the guest)"
    );
    assert_eq!(
        parse("fentry.s/do_unlinkat").hook,
        Hook::Trampoline {
            kind: Trampoline::Entry,
            sleepable: true
        }
    );
    assert_eq!(parse("lsm/file_open").to_string(), "LSM hook file_open");
    assert_eq!(parse("sk_skb/stream_parser").hook, Hook::Other);
    assert!(parse("sk_skb/stream_parser").needs_target());
    assert_eq!(parse(".text.weird").to_string(), "section .text.weird");
}

#[test]
fn tracepoints_cannot_climb_out_of_tracefs() {
    assert!(ProgramSection::parse("tracepoint/syscalls/sys_enter_openat").is_ok());
    assert!(ProgramSection::parse("tp/sched").is_ok());
    for bad in [
        "tp/../../../../tmp/x",
        "tp/sched/../../x",
        "tp/..",
        "tp/./x",
        "tp/sched/a b",
        "tp/sched/x\n",
        "raw_tp/..",
    ] {
        assert!(ProgramSection::parse(bad).is_err(), "{bad:?}");
    }
    let tp = parse("tp");
    assert!(tp.check_target("sched:sched_switch").is_ok());
    assert!(tp.check_target("../../../tmp/x/y").is_err());
    let raw = parse("raw_tp");
    assert!(raw.check_target("sched_switch").is_ok());
    assert!(raw.check_target("../x").is_err());
}

#[test]
fn symbols_paths_and_interfaces_follow_their_kind() {
    assert!(ProgramSection::parse("kprobe/do_unlinkat+0x10").is_ok());
    assert!(ProgramSection::parse("kprobe/foo.isra.0").is_ok());
    assert!(ProgramSection::parse("kprobe/../x").is_err());
    assert!(ProgramSection::parse("kprobe.multi/tcp_*").is_ok());
    assert!(ProgramSection::parse("uprobe//usr/bin/bash:readline").is_ok());
    let uprobe = parse("uprobe");
    assert!(uprobe.check_target("/proc/self/exe:uprobe_add").is_ok());
    assert!(uprobe.check_target("/bin/x:rm -rf").is_err());
    assert!(uprobe.check_target("nofunction").is_err());
    let xdp = parse("xdp");
    assert!(xdp.check_target("eth0").is_ok());
    assert!(xdp.check_target("../eth0").is_err());
    assert!(xdp.check_target("a-very-long-interface").is_err());
    let tc = parse("tc");
    assert!(tc.check_target("veth0:egress").is_ok());
    assert!(tc.check_target("veth0:sideways").is_err());
    let sockops = parse("sockops");
    assert!(sockops.check_target("/sys/fs/cgroup/unified/x").is_ok());
    assert!(sockops.check_target("/sys/fs/cgroup/../../etc").is_err());
    assert!(parse("cgroup_skb/egress")
        .check_target("relative/path")
        .is_err());
    assert!(parse("perf_event").check_target("x\ny").is_err());
}

#[test]
fn errors_quote_the_text_on_one_line() {
    let e = parse("tp")
        .check_target("a\nunibpf: error: forged")
        .unwrap_err();
    let line = e.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(line.starts_with("\"a\\nunibpf: error: forged\" is not a valid tracepoint"));
}
