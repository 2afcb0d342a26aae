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

    for present in [
        "map.ringbuf",
        "map.perf_event_array",
        "prog.tracepoint",
        "prog.tp_btf",
        "prog.xdp",
        "attach.uprobe",
        "helper.ringbuf_output",
    ] {
        assert!(
            available(&report, present),
            "{present}: {}",
            feature(&report, present)
        );
    }
    // This kernel has no CONFIG_KPROBES and refuses trampolines (fentry).
    for absent in ["attach.kprobe", "prog.fentry", "attach.fentry"] {
        assert!(
            !available(&report, absent),
            "{absent}: {}",
            feature(&report, absent)
        );
        assert_eq!(feature(&report, absent)["masked"], false);
    }
    assert!(feature(&report, "attach.kprobe")["detail"]
        .as_str()
        .unwrap()
        .contains("CONFIG_KPROBES"));
    assert_eq!(feature(&report, "map.ringbuf")["min_kernel"], "5.8.0");
    // Probing leaves no program of its own behind.
    assert!(!kernel_program_names().iter().any(|p| p == "unibpf_probe"));
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

    let old = probe(&["--assume-kernel", "5.4"]);
    assert_eq!(old["assumed_kernel"], "5.4.0");
    assert!(!available(&old, "map.ringbuf"));
    assert!(!available(&old, "helper.loop"));
    assert!(available(&old, "map.hash"));
    assert!(available(&old, "prog.raw_tracepoint"));
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
