//! `unibpf probe` on this host: the facts it reports are checked against the
//! host itself, and the feature probes against what this kernel really has
//! (ring buffers and tracepoints; no kprobes, no fentry).

mod common;

use common::*;
use serde_json::Value;

fn probe(args: &[&str]) -> Value {
    let out = unibpf()
        .arg("probe")
        .arg("--json")
        .args(args)
        .output()
        .expect("unibpf probe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("probe --json is JSON")
}

fn feature<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no feature {name}"))
}

fn available(report: &Value, name: &str) -> bool {
    feature(report, name)["available"]
        .as_bool()
        .expect("available is a bool")
}

/// `bpftool feature probe kernel`: "program_type kprobe" -> available.
fn bpftool_features() -> std::collections::HashMap<String, bool> {
    let out = std::process::Command::new("bpftool")
        .args(["feature", "probe", "kernel"])
        .output()
        .expect("bpftool (scripts/install-deps.sh installs it)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("eBPF ")?;
            if let Some(what) = rest.strip_suffix(" is available") {
                Some((what.to_string(), true))
            } else {
                rest.strip_suffix(" is NOT available")
                    .map(|what| (what.to_string(), false))
            }
        })
        .collect()
}

#[test]
fn probe_reports_this_hosts_real_facts_and_features() {
    let report = probe(&[]);
    assert_eq!(report["report_version"], 1);
    let uname = nix::sys::utsname::uname().expect("uname");
    assert_eq!(
        report["kernel"]["release"],
        uname.release().to_str().unwrap()
    );
    assert_eq!(report["arch"]["machine"], uname.machine().to_str().unwrap());
    assert_eq!(report["os"], "linux");
    assert_eq!(report["btf"]["kernel_btf"], true);
    assert_eq!(report["privileges"]["cap_bpf"], true);
    let os_release = std::fs::read_to_string("/etc/os-release").expect("os-release");
    assert!(os_release.contains(&format!("ID={}", report["distro"]["id"].as_str().unwrap())));

    // What the probe says must match independent witnesses, whatever this
    // kernel has: bpftool's own feature probe for program and map types ...
    let bpftool = bpftool_features();
    for (ours, theirs) in [
        ("prog.socket_filter", "program_type socket_filter"),
        ("prog.kprobe", "program_type kprobe"),
        ("prog.sched_cls", "program_type sched_cls"),
        ("prog.tracepoint", "program_type tracepoint"),
        ("prog.xdp", "program_type xdp"),
        ("prog.perf_event", "program_type perf_event"),
        ("prog.cgroup_skb", "program_type cgroup_skb"),
        ("prog.sock_ops", "program_type sock_ops"),
        ("prog.raw_tracepoint", "program_type raw_tracepoint"),
        ("prog.fentry", "program_type tracing"),
        ("prog.lsm", "program_type lsm"),
        ("map.hash", "map_type hash"),
        ("map.array", "map_type array"),
        ("map.prog_array", "map_type prog_array"),
        ("map.perf_event_array", "map_type perf_event_array"),
        ("map.percpu_hash", "map_type percpu_hash"),
        ("map.percpu_array", "map_type percpu_array"),
        ("map.stack_trace", "map_type stack_trace"),
        ("map.lru_hash", "map_type lru_hash"),
        ("map.lpm_trie", "map_type lpm_trie"),
        ("map.ringbuf", "map_type ringbuf"),
        ("map.task_storage", "map_type task_storage"),
    ] {
        let witness = *bpftool
            .get(theirs)
            .unwrap_or_else(|| panic!("bpftool says nothing of {theirs}"));
        assert_eq!(
            available(&report, ours),
            witness,
            "{ours} disagrees with bpftool's {theirs}: {}",
            feature(&report, ours)
        );
        assert_eq!(feature(&report, ours)["masked"], false);
    }
    // ... the kernel's own kprobe and uprobe PMUs (or tracefs's legacy
    // kprobe_events) ...
    let pmu = |name: &str| std::path::Path::new("/sys/bus/event_source/devices").join(name);
    let kprobe_events = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .any(|t| std::path::Path::new(t).join("kprobe_events").exists());
    assert_eq!(
        available(&report, "attach.kprobe"),
        pmu("kprobe").exists() || kprobe_events,
        "{}",
        feature(&report, "attach.kprobe")
    );
    assert_eq!(
        available(&report, "attach.uprobe"),
        pmu("uprobe").exists(),
        "{}",
        feature(&report, "attach.uprobe")
    );
    // ... and attaching never works where loading does not.
    for (attach, load) in [("attach.fentry", "prog.fentry"), ("attach.lsm", "prog.lsm")] {
        assert!(
            !available(&report, attach) || available(&report, load),
            "{attach} without {load}"
        );
    }
    assert_eq!(feature(&report, "map.ringbuf")["min_kernel"], "5.8.0");
    // ... and tcx links exist from 6.6 on, where the kernel's config has
    // the ingress/egress hooks they need.
    assert_eq!(feature(&report, "attach.tcx")["min_kernel"], "6.6.0");
    let release = uname.release().to_str().unwrap().to_string();
    let version: Vec<u32> = release
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    let config = std::process::Command::new("sh")
        .args([
            "-c",
            "zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r)",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let xgress = config.lines().any(|l| l == "CONFIG_NET_XGRESS=y");
    if version.as_slice() < [6, 6].as_slice() {
        assert!(!available(&report, "attach.tcx"));
    } else if !config.is_empty() {
        assert_eq!(
            available(&report, "attach.tcx"),
            xgress,
            "{}",
            feature(&report, "attach.tcx")
        );
    }
    // Probing leaves no program of its own behind (a tcx link left on lo
    // would hold its program). The kernel frees programs and links from
    // deferred work, and the other tests here probe meanwhile: poll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while kernel_program_names().iter().any(|p| p == "unibpf_probe") {
        assert!(
            std::time::Instant::now() < deadline,
            "a probe program stayed loaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn masks_and_assumed_kernels_hide_features() {
    let masked = probe(&["--mask", "ringbuf"]);
    for name in ["map.ringbuf", "helper.ringbuf_output"] {
        assert!(!available(&masked, name));
        assert_eq!(feature(&masked, name)["masked"], true);
    }
    assert!(available(&masked, "map.perf_event_array"));
    assert_eq!(
        masked["masked"],
        serde_json::json!(["map.ringbuf", "helper.ringbuf_output"])
    );

    let no_tcx = probe(&["--mask", "tcx"]);
    assert!(!available(&no_tcx, "attach.tcx"));
    assert_eq!(no_tcx["masked"], serde_json::json!(["attach.tcx"]));
    assert!(available(&no_tcx, "prog.sched_cls"));

    let old = probe(&["--assume-kernel", "5.4"]);
    assert_eq!(old["assumed_kernel"], "5.4.0");
    assert!(!available(&old, "map.ringbuf"));
    assert!(!available(&old, "helper.loop"));
    assert!(available(&old, "map.hash"));
    assert!(available(&old, "prog.raw_tracepoint"));
    assert!(!available(&old, "attach.tcx"));
    assert!(feature(&old, "prog.tp_btf")["detail"]
        .as_str()
        .unwrap()
        .contains("needs kernel 5.5.0"));
}

#[test]
fn a_bad_mask_is_one_clear_line() {
    let out = unibpf()
        .args(["probe", "--mask", "warp_drive"])
        .output()
        .expect("unibpf probe");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("warp_drive") && err.contains("ringbuf"),
        "{err}"
    );
}

#[test]
fn the_human_table_is_grouped() {
    let out = unibpf().arg("probe").output().expect("unibpf probe");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for heading in ["map types", "program types", "attach", "helpers"] {
        assert!(
            text.lines().any(|l| l == heading),
            "no {heading:?} in:\n{text}"
        );
    }
    let ringbuf = text
        .lines()
        .find(|l| l.trim_start().starts_with("ringbuf "))
        .expect("ringbuf row");
    assert!(
        ringbuf.contains("yes") && ringbuf.contains("5.8+"),
        "{ringbuf}"
    );
}
