use std::collections::HashMap;

use unibpf_object::{Map, Program};

use super::*;

/// A host where listed features are missing (true = masked, not absent);
/// tracepoints named `missing/*` do not exist.
struct FakeHost(HashMap<&'static str, bool>);

impl HostFeatures for FakeHost {
    fn missing(&self, f: &str) -> Option<String> {
        self.0.get(f).map(|masked| {
            if *masked {
                "masked (--mask)".to_string()
            } else {
                "not on this kernel".to_string()
            }
        })
    }
    fn masked(&self, f: &str) -> bool {
        self.0.get(f).copied().unwrap_or(false)
    }
    fn min_kernel(&self, f: &str) -> Option<String> {
        Some(if f.contains("fentry") { "5.5" } else { "5.8" }.into())
    }
    fn tracepoint_exists(&self, category: &str, _name: &str) -> Option<bool> {
        Some(category != "missing")
    }
}

fn host(missing: &[(&'static str, bool)]) -> FakeHost {
    FakeHost(missing.iter().copied().collect())
}

fn object(progs: &[(&str, &str)], maps: &[(&str, u32)]) -> BpfObject {
    BpfObject {
        programs: progs
            .iter()
            .map(|(n, s)| Program {
                name: n.to_string(),
                section: s.to_string(),
                sym_info_offset: 0,
            })
            .collect(),
        maps: maps
            .iter()
            .map(|(n, t)| Map {
                name: n.to_string(),
                map_type: Some(*t),
                max_entries: Some(4096),
                key_size: None,
                value_size: None,
                pinning: None,
            })
            .collect(),
        data_sections: vec![],
        btf: None,
        optional_programs: vec![],
    }
}

const KERNEL: &[BackendKind] = &[BackendKind::Kernel];

#[test]
fn explains_each_program_with_its_attach_point_and_events() {
    let obj = object(
        &[
            ("handle_exec", "tp/sched/sched_process_exec"),
            ("on_switch", "tp_btf/sched_switch"),
        ],
        &[("rb", MAP_TYPE_RINGBUF)],
    );
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, KERNEL).expect("select");
    assert_eq!(sel.backend, Some(BackendKind::Kernel));
    assert!(sel.plan.is_empty());
    assert_eq!(
        sel.explain,
        vec![
            "handle_exec: kernel, tracepoint sched/sched_process_exec; events: ring buffer rb",
            "on_switch: kernel, BTF tracepoint sched_switch; events: ring buffer rb",
        ]
    );
}

#[test]
fn a_missing_feature_names_the_program_feature_and_kernel() {
    let obj = object(&[("on_connect", "fentry/tcp_v4_connect")], &[]);
    let err = select(
        &obj,
        &host(&[("prog.fentry", false)]),
        BackendChoice::Auto,
        KERNEL,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "program on_connect: needs fentry (kernel 5.5+), which this host lacks: not on this kernel"
    );
}

#[test]
fn a_plain_ring_buffer_without_the_compat_header_is_refused_with_the_fix() {
    let obj = object(&[("p", "tp/a/b")], &[("rb", MAP_TYPE_RINGBUF)]);
    let err = select(
        &obj,
        &host(&[("map.ringbuf", true)]),
        BackendChoice::Auto,
        KERNEL,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("map rb: a ring buffer, which this host lacks"),
        "{err}"
    );
    assert!(err.contains("<unibpf/compat.bpf.h>"), "{err}");
}

#[test]
fn forcing_a_backend_this_build_lacks_fails_naming_the_program() {
    let obj = object(&[("handle_exec", "tp/sched/sched_process_exec")], &[]);
    let err = select(
        &obj,
        &host(&[]),
        BackendChoice::Forced(BackendKind::Userspace),
        KERNEL,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "program handle_exec: the userspace backend is not available yet; use --backend kernel (or auto)"
    );
}

#[test]
fn sections_map_to_features() {
    assert_eq!(
        requirements("kprobe/do_unlinkat").0,
        vec!["prog.kprobe", "attach.kprobe"]
    );
    assert_eq!(
        requirements("uretprobe").1,
        "uretprobe (BINARY:FUNC from the guest)"
    );
    assert_eq!(requirements("lsm/path_rmdir").1, "LSM hook path_rmdir");
    assert_eq!(requirements("xdp").1, "XDP (interface from the guest)");
    assert_eq!(requirements("weird/thing").0, Vec::<&str>::new());
}

#[test]
fn optional_programs_on_missing_tracepoints_are_left_out_others_fail() {
    let mut obj = object(
        &[
            ("enter_open", "tracepoint/missing/sys_enter_open"),
            ("enter_openat", "tracepoint/syscalls/sys_enter_openat"),
        ],
        &[],
    );
    let err = select(&obj, &host(&[]), BackendChoice::Auto, KERNEL)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("program enter_open: tracepoint missing/sys_enter_open does not exist"),
        "{err}"
    );
    obj.optional_programs.push("enter_open".into());
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, KERNEL).expect("select");
    assert_eq!(sel.plan.skip_programs, vec!["enter_open"]);
    assert_eq!(
        sel.explain,
        vec![
            "enter_openat: kernel, tracepoint syscalls/sys_enter_openat; events: none",
            "enter_open: skipped: tracepoint missing/sys_enter_open does not exist on this host (optional)",
        ]
    );
}

#[test]
fn tc_classifiers_use_tcx_links_where_the_host_has_them() {
    let obj = object(&[("count_ingress", "tc")], &[]);
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, KERNEL).expect("select");
    assert_eq!(sel.plan.tc_attach, TcAttach::Link);
    assert_eq!(
        sel.explain,
        vec!["count_ingress: kernel, tc classifier (interface from the guest), tcx link; events: none"]
    );

    let sel = select(
        &obj,
        &host(&[("attach.tcx", true)]),
        BackendChoice::Auto,
        KERNEL,
    )
    .expect("select");
    assert_eq!(sel.plan.tc_attach, TcAttach::Netlink);
    assert_eq!(
        sel.explain,
        vec!["count_ingress: kernel, tc classifier (interface from the guest), netlink filter, removed by a guardian process if unibpf dies (no tcx link: masked (--mask)); events: none"]
    );
}

#[test]
fn objects_without_tc_classifiers_keep_an_empty_plan_whatever_tcx_does() {
    let obj = object(&[("handle_exec", "tp/sched/sched_process_exec")], &[]);
    for missing in [vec![], vec![("attach.tcx", false)]] {
        let sel = select(&obj, &host(&missing), BackendChoice::Auto, KERNEL).expect("select");
        assert!(sel.plan.is_empty());
    }
}
