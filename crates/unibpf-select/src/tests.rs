use std::collections::HashMap;

use unibpf_backend::{LoadRequest, LoadedObject, Program};
use unibpf_object::{Map, ProgramSection};

use super::*;

/// A host where listed features are missing (true = masked, not absent);
/// tracepoints named `missing/*` do not exist.
struct FakeHost(HashMap<Feature, bool>);

impl HostFeatures for FakeHost {
    fn missing(&self, f: Feature) -> Option<String> {
        self.0.get(&f).map(|masked| {
            if *masked {
                "masked (--mask)".to_string()
            } else {
                "not on this kernel".to_string()
            }
        })
    }
    fn masked(&self, f: Feature) -> bool {
        self.0.get(&f).copied().unwrap_or(false)
    }
    fn tracepoint_exists(&self, category: &str, _name: &str) -> Option<bool> {
        Some(category != "missing")
    }
    fn kernel_btf(&self) -> bool {
        true
    }
    fn kernel_function_params(&self, name: &str) -> Option<u32> {
        (name == "do_unlinkat").then_some(2)
    }
}

fn host(missing: &[(Feature, bool)]) -> FakeHost {
    FakeHost(missing.iter().copied().collect())
}

/// A backend that runs what `can` allows, saying how as the section does;
/// fentry programs need `prog.fentry`, tracepoints must exist.
struct FakeBackend {
    kind: BackendKind,
    can: fn(&Hook) -> bool,
}

impl Backend for FakeBackend {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn supports(&self, p: &Program, host: &dyn HostFeatures) -> Result<String, Unsupported> {
        if !(self.can)(&p.section.hook) {
            return Err(Unsupported::Hook {
                backend: self.kind,
                hook: p.section.to_string(),
            });
        }
        if let Some((category, name)) = p.section.tracepoint() {
            if host.tracepoint_exists(category, name) == Some(false) {
                return Err(Unsupported::NoTracepoint {
                    category: category.into(),
                    name: name.into(),
                });
            }
        }
        if let Hook::Kprobe { .. } = p.section.hook {
            if let Some(why) = host.missing(Feature::AttachKprobe) {
                return Err(Unsupported::MissingFeature {
                    feature: Feature::AttachKprobe,
                    why,
                });
            }
        }
        if matches!(p.section.hook, Hook::Trampoline { .. }) {
            if let Some(why) = host.missing(Feature::ProgFentry) {
                return Err(Unsupported::MissingFeature {
                    feature: Feature::ProgFentry,
                    why,
                });
            }
        }
        Ok(p.section.to_string())
    }

    fn load_object(
        &mut self,
        _request: &LoadRequest<'_>,
    ) -> unibpf_backend::Result<Box<dyn LoadedObject>> {
        unreachable!("the selector never loads")
    }
}

const KERNEL: FakeBackend = FakeBackend {
    kind: BackendKind::Kernel,
    can: |_| true,
};

fn object(progs: &[(&str, &str)], maps: &[(&str, u32)]) -> BpfObject {
    BpfObject {
        programs: progs
            .iter()
            .enumerate()
            .map(|(i, (n, s))| Program {
                name: n.to_string(),
                section: ProgramSection::parse(s).expect("section"),
                sym_info_offset: 100 + i as u64,
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
                values_offset: None,
            })
            .collect(),
        data_sections: vec![],
        btf: None,
        regs_arches: Vec::new(),
        fixed_regs_reads: Vec::new(),
        kprobe_reads: Vec::new(),
        optional_programs: vec![],
        alternatives: vec![],
    }
}

#[test]
fn explains_each_program_with_its_attach_point_and_events() {
    let obj = object(
        &[
            ("handle_exec", "tp/sched/sched_process_exec"),
            ("on_switch", "tp_btf/sched_switch"),
        ],
        &[("rb", MAP_TYPE_RINGBUF)],
    );
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, &[&KERNEL]).expect("select");
    assert_eq!(sel.backend, BackendKind::Kernel);
    assert!(sel.passes.is_empty());
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
        &host(&[(Feature::ProgFentry, false)]),
        BackendChoice::Auto,
        &[&KERNEL],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "program on_connect: needs fentry (kernel 5.5+), which this host lacks: not on this \
         kernel; it cannot run as a kprobe instead (its typed pointer arguments would be plain \
         numbers there); add a kprobe program with UNIBPF_ALTERNATIVE"
    );
}

#[test]
fn a_plain_ring_buffer_without_the_compat_header_is_refused_with_the_fix() {
    let obj = object(&[("p", "tp/a/b")], &[("rb", MAP_TYPE_RINGBUF)]);
    let err = select(
        &obj,
        &host(&[(Feature::MapRingbuf, true)]),
        BackendChoice::Auto,
        &[&KERNEL],
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
        &[&KERNEL],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "program handle_exec: the userspace backend is not available yet; use --backend kernel (or auto)"
    );
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
    let err = select(&obj, &host(&[]), BackendChoice::Auto, &[&KERNEL])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "program enter_open: tracepoint missing/sys_enter_open does not exist on this host; mark the program optional (UNIBPF_OPTIONAL in <unibpf/compat.bpf.h>) or turn its autoload off"
    );
    obj.optional_programs.push("enter_open".into());
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, &[&KERNEL]).expect("select");
    assert_eq!(
        sel.passes,
        vec![Pass::SkipProgram {
            program: "enter_open".into(),
            sym_info_offset: 100,
            why: "tracepoint missing/sys_enter_open does not exist on this host (optional)".into(),
        }]
    );
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
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, &[&KERNEL]).expect("select");
    assert_eq!(sel.passes, vec![Pass::TcAttach(TcAttach::Link)]);
    assert_eq!(
        sel.explain,
        vec!["count_ingress: kernel, tc classifier (interface from the guest), tcx link; events: none"]
    );
    let sel = select(
        &obj,
        &host(&[(Feature::AttachTcx, true)]),
        BackendChoice::Auto,
        &[&KERNEL],
    )
    .expect("select");
    assert_eq!(sel.passes, vec![Pass::TcAttach(TcAttach::Netlink)]);
    assert_eq!(
        sel.explain,
        vec!["count_ingress: kernel, tc classifier (interface from the guest), netlink filter, removed by a guardian process if unibpf dies (no tcx link: masked (--mask)); events: none"]
    );
}

#[test]
fn auto_takes_the_first_backend_that_runs_everything_and_says_why() {
    let tracepoints_only = FakeBackend {
        kind: BackendKind::Userspace,
        can: |h| matches!(h, Hook::Tracepoint),
    };
    let obj = object(&[("on_connect", "fentry/tcp_v4_connect")], &[]);
    let no_fentry = host(&[(Feature::ProgFentry, false)]);
    // Neither can: the first backend's reason.
    let err = select(
        &obj,
        &no_fentry,
        BackendChoice::Auto,
        &[&KERNEL, &tracepoints_only],
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs fentry"), "{err}");

    let obj = object(&[("handle_exec", "tp/sched/sched_process_exec")], &[]);
    let everything_but_tracepoints = FakeBackend {
        kind: BackendKind::Kernel,
        can: |h| !matches!(h, Hook::Tracepoint),
    };
    let sel = select(
        &obj,
        &host(&[]),
        BackendChoice::Auto,
        &[&everything_but_tracepoints, &tracepoints_only],
    )
    .expect("select");
    assert_eq!(sel.backend, BackendKind::Userspace);
    assert_eq!(
        sel.explain,
        vec![
            "not the kernel backend: program handle_exec: the kernel backend does not run tracepoint sched/sched_process_exec",
            "handle_exec: userspace, tracepoint sched/sched_process_exec; events: none",
        ]
    );
}

#[test]
fn a_forced_backend_is_used_even_where_another_would_do() {
    let any = FakeBackend {
        kind: BackendKind::Userspace,
        can: |_| true,
    };
    let obj = object(&[("handle_exec", "tp/sched/sched_process_exec")], &[]);
    let sel = select(
        &obj,
        &host(&[]),
        BackendChoice::Forced(BackendKind::Userspace),
        &[&KERNEL, &any],
    )
    .expect("select");
    assert_eq!(sel.backend, BackendKind::Userspace);
    assert_eq!(
        sel.explain,
        vec!["handle_exec: userspace, tracepoint sched/sched_process_exec; events: none"]
    );
}

#[test]
fn objects_without_tc_classifiers_need_no_passes_whatever_tcx_does() {
    let obj = object(&[("handle_exec", "tp/sched/sched_process_exec")], &[]);
    for missing in [vec![], vec![(Feature::AttachTcx, false)]] {
        let sel = select(&obj, &host(&missing), BackendChoice::Auto, &[&KERNEL]).expect("select");
        assert!(sel.passes.is_empty());
    }
}

mod pass_bytes {
    use super::super::passes::{apply_all, Pass, PassError};
    use unibpf_object::BpfObject;

    fn exec_object() -> Vec<u8> {
        std::fs::read(unibpf_test_guests::guest("optional.bpf.o")).expect("test object")
    }

    #[test]
    fn skipping_a_program_removes_it_from_the_object_and_nothing_else() {
        let elf = exec_object();
        let before = BpfObject::parse(&elf).expect("parses");
        let victim = before.programs[0].clone();
        let pass = Pass::SkipProgram {
            program: victim.name.clone(),
            sym_info_offset: victim.sym_info_offset,
            why: "test".into(),
        };
        let prepared = apply_all(&elf, &[pass]).expect("applies");
        assert_eq!(prepared.plan.skip_programs, vec![victim.name.clone()]);
        let after = BpfObject::parse(&prepared.elf).expect("still parses");
        assert!(after.programs.iter().all(|p| p.name != victim.name));
        assert_eq!(after.programs.len(), before.programs.len() - 1);
        assert_eq!(after.maps, before.maps);
        // One byte changed.
        let changed = elf
            .iter()
            .zip(&prepared.elf)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 1);
    }

    #[test]
    fn a_skip_at_a_byte_that_is_no_function_symbol_is_refused() {
        let elf = exec_object();
        for offset in [0, elf.len() as u64 + 10] {
            let pass = Pass::SkipProgram {
                program: "x".into(),
                sym_info_offset: offset,
                why: "test".into(),
            };
            assert!(matches!(
                apply_all(&elf, &[pass]),
                Err(PassError::NotAFunction { .. })
            ));
        }
    }
}

/// `FakeHost` on another machine.
struct OnMachine(FakeHost, &'static str);

impl HostFeatures for OnMachine {
    fn missing(&self, f: Feature) -> Option<String> {
        self.0.missing(f)
    }
    fn masked(&self, f: Feature) -> bool {
        self.0.masked(f)
    }
    fn tracepoint_exists(&self, category: &str, name: &str) -> Option<bool> {
        self.0.tracepoint_exists(category, name)
    }
    fn kernel_btf(&self) -> bool {
        true
    }
    fn machine(&self) -> String {
        self.1.to_string()
    }
}

#[test]
fn objects_reading_another_architectures_registers_are_retargeted() {
    use unibpf_object::pt_regs::RegsArch;
    let mut obj = object(&[("enter", "kprobe/do_unlinkat")], &[]);
    obj.regs_arches = vec![RegsArch::X86_64];
    let on_arm64 = OnMachine(host(&[]), "aarch64");
    let sel = select(&obj, &on_arm64, BackendChoice::Auto, &[&KERNEL]).expect("select");
    assert_eq!(
        sel.passes,
        vec![Pass::RetargetPtRegs {
            from: vec![RegsArch::X86_64],
            to: RegsArch::Arm64
        }]
    );
    assert!(
        sel.explain.iter().any(|l| l
            == "pt_regs: the object reads x86_64 registers; its CO-RE reads are pointed at arm64's for the same roles"),
        "{:?}",
        sel.explain
    );
    // On its own architecture, or one the pass does not know: nothing.
    for machine in ["x86_64", "s390x"] {
        let sel = select(
            &obj,
            &OnMachine(host(&[]), machine),
            BackendChoice::Auto,
            &[&KERNEL],
        )
        .expect("select");
        assert!(sel.passes.is_empty(), "{machine}: {:?}", sel.passes);
    }
}

#[test]
fn fixed_offset_reads_of_another_architectures_registers_are_refused() {
    use unibpf_object::pt_regs::{FixedRegsRead, RegsArch};
    let mut obj = object(&[("enter", "uprobe")], &[]);
    obj.fixed_regs_reads = vec![FixedRegsRead {
        program: "enter".into(),
        arch: RegsArch::Arm64,
        insn: 3,
        offset: 8,
    }];
    let err = select(
        &obj,
        &OnMachine(host(&[]), "x86_64"),
        BackendChoice::Auto,
        &[&KERNEL],
    )
    .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "program enter: reads arm64 registers at fixed offsets (struct pt_regs without CO-RE; \
         instruction 3, offset 8), which cannot be pointed at x86_64's; rebuild it with \
         vmlinux.h and BPF_KPROBE/BPF_UPROBE or PT_REGS_PARMn (CO-RE reads), or build it for x86_64"
    );
    // Where they are the host's registers, or on an architecture the pass
    // does not know, the object runs as it is.
    for machine in ["aarch64", "s390x"] {
        select(
            &obj,
            &OnMachine(host(&[]), machine),
            BackendChoice::Auto,
            &[&KERNEL],
        )
        .unwrap_or_else(|e| panic!("{machine}: {e}"));
    }
}

fn alternative(program: &str, fallback: &str) -> unibpf_object::Alternative {
    unibpf_object::Alternative {
        program: program.into(),
        fallback: fallback.into(),
    }
}

#[test]
fn of_alternatives_the_first_the_host_runs_is_loaded_and_the_rest_left_out() {
    let mut obj = object(
        &[
            ("on_connect", "fentry/tcp_v4_connect"),
            ("on_connect_kprobe", "kprobe/tcp_v4_connect"),
            ("other", "tp/sched/sched_switch"),
        ],
        &[],
    );
    obj.alternatives = vec![alternative("on_connect", "on_connect_kprobe")];
    // With trampolines: the fentry program; the kprobe one is left out.
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, &[&KERNEL]).expect("select");
    assert_eq!(
        sel.passes,
        vec![Pass::SkipProgram {
            program: "on_connect_kprobe".into(),
            sym_info_offset: 101,
            why: "alternative on_connect runs instead".into()
        }]
    );
    // Without: the kprobe, said why.
    let no_fentry = host(&[(Feature::ProgFentry, false)]);
    let sel = select(&obj, &no_fentry, BackendChoice::Auto, &[&KERNEL]).expect("select");
    assert_eq!(sel.passes.len(), 1, "{:?}", sel.passes);
    let explain = sel.explain.join("\n");
    assert!(
        explain.contains("on_connect: skipped: needs fentry")
            && explain.contains("not on this kernel; alternative on_connect_kprobe runs instead")
            && explain.contains(
                "on_connect_kprobe: kernel, kprobe tcp_v4_connect (alternative to on_connect)"
            ),
        "{explain}"
    );
}

#[test]
fn chains_of_alternatives_are_tried_in_order_and_none_running_names_each_reason() {
    let mut obj = object(
        &[
            ("typed", "tp_btf/sched_wakeup"),
            ("raw", "raw_tp/sched_wakeup"),
            ("plain", "tp/missing/sched_wakeup"),
        ],
        &[],
    );
    obj.alternatives = vec![alternative("raw", "plain"), alternative("typed", "raw")];
    let only_tracepoints = FakeBackend {
        kind: BackendKind::Kernel,
        can: |h| matches!(h, Hook::Tracepoint | Hook::RawTracepoint { .. }),
    };
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, &[&only_tracepoints]).expect("select");
    let skipped: Vec<&str> = sel
        .passes
        .iter()
        .filter_map(|p| match p {
            Pass::SkipProgram { program, .. } => Some(program.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, ["typed", "plain"]);
    let nothing = FakeBackend {
        kind: BackendKind::Kernel,
        can: |h| matches!(h, Hook::Tracepoint),
    };
    let err = select(&obj, &host(&[]), BackendChoice::Auto, &[&nothing]).expect_err("none runs");
    assert_eq!(
        err.to_string(),
        "program typed: the kernel backend does not run BTF tracepoint sched_wakeup, and its \
         alternatives cannot run either (raw: the kernel backend does not run raw tracepoint \
         sched_wakeup; plain: tracepoint missing/sched_wakeup does not exist on this host)"
    );
}

#[test]
fn alternatives_naming_no_program_or_going_round_are_refused() {
    let base = object(&[("a", "tp/sched/x"), ("b", "tp/sched/y")], &[]);
    for (alts, want) in [
        (
            vec![alternative("a", "nope")],
            "UNIBPF_ALTERNATIVE(a, nope): the object has no program of the second name",
        ),
        (
            vec![alternative("a", "b"), alternative("b", "a")],
            "UNIBPF_ALTERNATIVE(a, b): the alternatives go round in a circle",
        ),
        (
            vec![alternative("a", "a")],
            "UNIBPF_ALTERNATIVE(a, a): a program has at most one fallback, other than itself",
        ),
    ] {
        let mut obj = base.clone();
        obj.alternatives = alts;
        let err = select(&obj, &host(&[]), BackendChoice::Auto, &[&KERNEL]).expect_err("bad");
        assert_eq!(err.to_string(), want);
    }
}

fn reads(
    program: &str,
    function: &str,
    ret: bool,
    roles: Result<Vec<unibpf_object::pt_regs::Role>, String>,
) -> unibpf_object::pt_regs::KprobeReads {
    unibpf_object::pt_regs::KprobeReads {
        program: program.into(),
        function: function.into(),
        ret,
        roles,
    }
}

#[test]
fn kprobes_run_as_fentry_programs_where_the_host_has_trampolines_but_no_kprobes() {
    use unibpf_object::pt_regs::Role;
    let mut obj = object(
        &[
            ("enter", "kprobe/do_unlinkat"),
            ("exit", "kretprobe/do_unlinkat"),
        ],
        &[],
    );
    obj.kprobe_reads = vec![
        reads("enter", "do_unlinkat", false, Ok(vec![Role::Parm(2)])),
        reads("exit", "do_unlinkat", true, Ok(vec![Role::Rc])),
    ];
    // With kprobes: as they are.
    let sel = select(&obj, &host(&[]), BackendChoice::Auto, &[&KERNEL]).expect("select");
    assert!(sel.passes.is_empty(), "{:?}", sel.passes);
    let no_kprobes = host(&[(Feature::AttachKprobe, false)]);
    let sel = select(&obj, &no_kprobes, BackendChoice::Auto, &[&KERNEL]).expect("select");
    assert_eq!(
        sel.passes,
        vec![
            Pass::KprobeToFentry {
                program: "enter".into(),
                function: "do_unlinkat".into(),
                exit: false,
                params: 2,
                why: "needs kprobe (kernel 4.17+), which this host lacks: not on this kernel"
                    .into(),
            },
            Pass::KprobeToFentry {
                program: "exit".into(),
                function: "do_unlinkat".into(),
                exit: true,
                params: 2,
                why: "needs kprobe (kernel 4.17+), which this host lacks: not on this kernel"
                    .into(),
            },
        ]
    );
    let explain = sel.explain.join("\n");
    assert!(
        explain.contains("enter: kernel, fentry do_unlinkat (converted from a kprobe)")
            && explain.contains("exit: runs as fexit do_unlinkat, not as a kretprobe; its register reads now read the function's arguments and return value"),
        "{explain}"
    );
    // Neither kprobes nor trampolines: the kprobe's own reason.
    let neither = host(&[(Feature::AttachKprobe, false), (Feature::ProgFentry, false)]);
    let err = select(&obj, &neither, BackendChoice::Auto, &[&KERNEL]).expect_err("neither");
    assert_eq!(
        err.to_string(),
        "program enter: needs kprobe (kernel 4.17+), which this host lacks: not on this kernel"
    );
}

#[test]
fn kprobes_that_cannot_be_converted_say_why() {
    let mut obj = object(
        &[
            ("enter", "kprobe/do_unlinkat"),
            ("other", "kprobe/vfs_read"),
        ],
        &[],
    );
    obj.kprobe_reads = vec![
        reads(
            "enter",
            "do_unlinkat",
            false,
            Err("reads x86_64 sp (SP), which fentry programs do not get".into()),
        ),
        reads("other", "vfs_read", false, Ok(vec![])),
    ];
    let no_kprobes = host(&[(Feature::AttachKprobe, false)]);
    let err = select(&obj, &no_kprobes, BackendChoice::Auto, &[&KERNEL]).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "program enter: needs kprobe (kernel 4.17+), which this host lacks: not on this kernel; \
         it cannot run as an fentry program instead: reads x86_64 sp (SP), which fentry programs do not get"
    );
    obj.programs.remove(0);
    let err = select(&obj, &no_kprobes, BackendChoice::Auto, &[&KERNEL]).expect_err("refused");
    assert!(
        err.to_string().ends_with("it cannot run as an fentry program instead: the kernel's BTF has no function vfs_read to take its parameters from"),
        "{err}"
    );
}

#[test]
fn fentry_programs_where_only_kprobes_run_are_refused_with_the_way_out() {
    let obj = object(&[("on_connect", "fentry/tcp_v4_connect")], &[]);
    let kprobes_only = host(&[(Feature::ProgFentry, false)]);
    let err = select(&obj, &kprobes_only, BackendChoice::Auto, &[&KERNEL]).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "program on_connect: needs fentry (kernel 5.5+), which this host lacks: not on this \
         kernel; it cannot run as a kprobe instead (its typed pointer arguments would be plain \
         numbers there); add a kprobe program with UNIBPF_ALTERNATIVE"
    );
    // Without kprobes either, the fentry reason alone.
    let neither = host(&[(Feature::ProgFentry, false), (Feature::AttachKprobe, false)]);
    let err = select(&obj, &neither, BackendChoice::Auto, &[&KERNEL]).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "program on_connect: needs fentry (kernel 5.5+), which this host lacks: not on this kernel"
    );
}
