//! Which relocations the pass rewrites, which it leaves to libbpf, and
//! objects it leaves as they are.

use super::*;
use crate::btf_ext::CoreReloKind;

fn with_kind(mut r: Relo, kind: CoreReloKind) -> Relo {
    r.kind = kind;
    r
}

#[test]
fn sizes_existence_and_signedness_are_retargeted_without_touching_the_instruction() {
    for (kind, insn) in [
        (CoreReloKind::FieldByteSize, mov(8)),
        (CoreReloKind::FieldExists, mov(1)),
        (CoreReloKind::FieldSigned, mov(0)),
    ] {
        let relo = with_kind(Relo::new("kprobe/f", USER_PT_REGS, "0:0:1", insn), kind);
        let obj = object(&[relo]);
        let out = retarget(&obj, RegsArch::Riscv64).expect("retarget");
        assert_eq!(out.rewritten, 1, "{kind:?}");
        check_rewritten(&out.elf, RegsArch::Riscv64, &("a1".into(), 88), false);
        // The local size and signedness are the same: libbpf's check of
        // the instruction holds as it was.
        assert_eq!(insn_at(&out.elf, "kprobe/f", 0), insn, "{kind:?}");
    }
}

#[test]
fn what_has_no_register_on_the_host_is_left_to_libbpf() {
    let cases = [
        // A role x86_64 has no register for, only asked whether it exists.
        (
            with_kind(
                Relo::new("kprobe/f", USER_PT_REGS, "0:0:6", mov(1)),
                CoreReloKind::FieldExists,
            ),
            "regs[6]",
        ),
        // A register without a role.
        (
            Relo::new("kprobe/f", USER_PT_REGS, "0:3", ldx(264)),
            "pstate",
        ),
        (
            Relo::new("kprobe/f", USER_PT_REGS, "0:0:12", ldx(96)),
            "regs[12]",
        ),
        // A bitfield relocation kind.
        (
            with_kind(
                Relo::new("kprobe/f", USER_PT_REGS, "0:0:1", mov(0)),
                CoreReloKind::FieldLShiftU64,
            ),
            "regs[1]",
        ),
        // The whole array: no single register.
        (Relo::new("kprobe/f", USER_PT_REGS, "0:0", mov(0)), "regs"),
    ];
    for (relo, field) in cases {
        let obj = object(&[relo]);
        let out = retarget(&obj, RegsArch::X86_64).expect("retarget");
        assert_eq!((out.rewritten, &out.from[..]), (0, &[RegsArch::Arm64][..]));
        assert_eq!(out.elf, obj, "{field}: nothing rewritten, nothing changed");
        assert_eq!(out.left.len(), 1);
        assert_eq!(out.left[0].field, field);
        assert_eq!(out.left[0].arch, RegsArch::Arm64);
    }
}

#[test]
fn an_object_without_register_reads_comes_back_byte_for_byte() {
    let obj = object(&[Relo::new("tp/sched/x", TASK_STRUCT, "0:0", ldx(0))]);
    assert_eq!(source_arches(&obj).expect("source arches"), []);
    for host in RegsArch::ALL {
        let out = retarget(&obj, host).expect("retarget");
        assert_eq!(out.elf, obj);
        assert_eq!((out.rewritten, out.from, out.left), (0, vec![], vec![]));
    }
    // Nor does one without .BTF.ext.
    let bare = crate::tests::elf(&[], &[]);
    assert_eq!(
        retarget(&bare, RegsArch::Arm64).expect("retarget").elf,
        bare
    );
}

#[test]
fn a_root_with_only_shared_names_takes_the_objects_architecture() {
    let sp = Relo::new("kprobe/f", SP_ONLY, "0:0", ldx(0));
    let obj = object(&[
        Relo::new("kprobe/f", USER_PT_REGS, "0:0:0", ldx(0)),
        sp.clone(),
    ]);
    assert_eq!(source_arches(&obj).expect("arches"), [RegsArch::Arm64]);
    let out = retarget(&obj, RegsArch::X86_64).expect("retarget");
    assert_eq!(out.rewritten, 2);
    let back = CoreObject::parse(&out.elf).expect("parse");
    let (_, relo) = back.relos().nth(1).expect("the sp relocation");
    assert_eq!(local_field(&back.btf, relo), ("sp".into(), 152));
    // Alone, `sp` says nothing about the architecture.
    let alone = object(&[sp]);
    assert_eq!(source_arches(&alone).expect("arches"), []);
    assert_eq!(
        retarget(&alone, RegsArch::X86_64).expect("retarget").elf,
        alone
    );
}

#[test]
fn one_flavor_serves_every_relocation_and_sections_pick_the_role() {
    let obj = object(&[
        Relo::new("kprobe/f", USER_REGS_STRUCT, "0:10", ldx(80)),
        Relo::new("uretprobe//bin/sh:main", USER_REGS_STRUCT, "0:10", ldx(80)),
        Relo::new(
            "kprobe/__riscv_sys_openat",
            USER_REGS_STRUCT,
            "0:13",
            ldx(104),
        ),
        Relo::new("kprobe/do_openat", USER_REGS_STRUCT, "0:13", ldx(104)),
    ]);
    let out = retarget(&obj, RegsArch::X86_64).expect("retarget");
    let back = CoreObject::parse(&out.elf).expect("parse");
    let fields: Vec<_> = back
        .relos()
        .map(|(_, r)| (r.type_id, local_field(&back.btf, r).0))
        .collect();
    let flavor = fields[0].0;
    assert_eq!(
        fields,
        [
            (flavor, "di".into()),
            (flavor, "ax".into()),
            (flavor, "r10".into()),
            (flavor, "cx".into()),
        ]
    );
    let flavors = back
        .btf
        .types()
        .filter(|(_, t)| t.name.starts_with("pt_regs___unibpf"));
    assert_eq!(flavors.count(), 1);
}
