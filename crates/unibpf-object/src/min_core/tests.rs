//! Min-core on hand-built BTF: what is kept, and that every relocation
//! resolves against the output as against the full target.

use super::*;
use crate::btf::{EnumValue, IntEncoding, Kind, Member, Type, TypeId};
use crate::btf_ext::{parse_access, CoreReloSection};

pub(super) fn t(name: &str, kind: Kind) -> Type {
    Type {
        name: name.into(),
        kind,
    }
}

pub(super) fn int(name: &str, size: u32) -> Type {
    let encoding = IntEncoding::Signed;
    t(
        name,
        Kind::Int {
            size,
            encoding,
            bits: size * 8,
        },
    )
}

pub(super) fn m(name: &str, ty: TypeId, bit_offset: u32) -> Member {
    Member {
        name: name.into(),
        ty,
        bit_offset,
        bitfield_size: None,
    }
}

pub(super) fn st(name: &str, size: u32, members: Vec<Member>) -> Type {
    t(name, Kind::Struct { size, members })
}

pub(super) fn btf(types: &[Type]) -> Btf {
    Btf::parse(&write_btf(types).expect("write")).expect("parse")
}

/// An object with `local` types and relocations (type id, access, kind).
pub(super) fn object(local: &[Type], relos: &[(TypeId, &str, CoreReloKind)]) -> CoreObject {
    let relos = relos
        .iter()
        .enumerate()
        .map(|(i, (type_id, access, kind))| CoreRelo {
            insn_off: i as u32 * 8,
            type_id: *type_id,
            access_str: access.to_string(),
            access: parse_access(access).expect("access"),
            kind: *kind,
        })
        .collect();
    CoreObject {
        btf: btf(local),
        sections: vec![CoreReloSection {
            section: "tp/x".into(),
            relos,
        }],
    }
}

/// Min-core of `objects` against `target`; asserts that the relocations
/// resolve the same against it, and returns it parsed.
pub(super) fn min_of(objects: &[CoreObject], target: &[Type]) -> (Btf, MinCoreStats) {
    let full = btf(target);
    let min = min_core_of(objects, &full).expect("min-core");
    let parsed = Btf::parse(&min.btf).expect("the output parses");
    let want = resolve(objects, &full).expect("resolve against the full BTF");
    let got = resolve(objects, &parsed).expect("resolve against min-core");
    assert_eq!(
        got, want,
        "relocations resolve differently against min-core"
    );
    (parsed, min.stats)
}

/// The members of the struct or union called `name`, by name.
pub(super) fn member_names(b: &Btf, name: &str) -> Vec<String> {
    let id = b
        .types()
        .find(|(_, t)| t.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .0;
    match &b.ty(id).kind {
        Kind::Struct { members, .. } | Kind::Union { members, .. } => {
            members.iter().map(|m| m.name.clone()).collect()
        }
        Kind::Enum { values, .. } => values.iter().map(|v| v.name.clone()).collect(),
        k => panic!("{name} is {k:?}"),
    }
}

pub(super) fn names(b: &Btf) -> Vec<String> {
    b.types().map(|(_, t)| t.name.clone()).collect()
}

/// A kernel-like target: task_struct with an anonymous union, a pointer
/// to itself, a flexible array; an enum; an unrelated struct.
pub(super) fn kernel() -> Vec<Type> {
    vec![
        int("int", 4),                // 1
        t("pid_t", Kind::Typedef(1)), // 2
        t("", Kind::Ptr(4)),          // 3
        st(
            "task_struct", // 4
            64,
            vec![
                m("state", 1, 0),
                m("", 5, 32),
                m("parent", 3, 128),
                m("tgid", 2, 192),
                m("comm", 7, 224),
            ],
        ),
        t(
            "",
            Kind::Union {
                size: 8,
                members: vec![m("pid", 2, 0), m("big", 6, 0)],
            },
        ), // 5
        int("long", 8), // 6
        t(
            "",
            Kind::Array {
                elem: 8,
                index: 1,
                len: 16,
            },
        ), // 7
        int("char", 1), // 8
        t(
            "state_e", // 9
            Kind::Enum {
                size: 4,
                signed: false,
                values: ["A", "B", "C"]
                    .iter()
                    .zip(0..)
                    .map(|(n, v)| EnumValue {
                        name: n.to_string(),
                        value: v,
                    })
                    .collect(),
                wide: false,
            },
        ),
        st("unrelated", 4, vec![m("x", 1, 0)]), // 10
    ]
}

#[test]
fn a_field_keeps_its_path_through_anonymous_members_and_nothing_else() {
    // Local: struct task_struct___local { int pid; } (flavored).
    let local = [
        int("int", 4),
        st("task_struct___local", 4, vec![m("pid", 1, 0)]),
    ];
    let obj = object(&local, &[(2, "0:0", CoreReloKind::FieldByteOffset)]);
    let (min, stats) = min_of(&[obj], &kernel());
    assert_eq!(names(&min), ["int", "pid_t", "task_struct", ""]);
    assert_eq!(member_names(&min, "task_struct"), [""]);
    let Kind::Struct { size, members } = &min.ty(3).kind else {
        panic!("not a struct");
    };
    assert_eq!((*size, members[0].bit_offset), (64, 32));
    let Kind::Union { members, .. } = &min.ty(4).kind else {
        panic!("not a union");
    };
    assert_eq!(
        members.iter().map(|m| &m.name[..]).collect::<Vec<_>>(),
        ["pid"]
    );
    assert_eq!(
        (stats.matched, stats.unmatched, stats.types_kept),
        (1, 0, 4)
    );
}

#[test]
fn a_pointer_member_keeps_its_pointee_without_members() {
    let local = [
        int("int", 4),
        t("", Kind::Ptr(3)),
        st("task_struct", 8, vec![m("parent", 2, 0)]),
    ];
    let obj = object(&local, &[(3, "0:0", CoreReloKind::FieldByteOffset)]);
    let (min, _) = min_of(&[obj], &kernel());
    assert_eq!(names(&min), ["", "task_struct"]);
    assert_eq!(min.ty(1).kind, Kind::Ptr(2));
    assert_eq!(member_names(&min, "task_struct"), ["parent"]);
}

#[test]
fn array_elements_keep_the_array_element_and_index_types() {
    let local = [
        int("char", 1),
        int("int", 4),
        t(
            "",
            Kind::Array {
                elem: 1,
                index: 2,
                len: 16,
            },
        ),
        st("task_struct", 16, vec![m("comm", 3, 0)]),
    ];
    let obj = object(&local, &[(4, "0:0:3", CoreReloKind::FieldByteOffset)]);
    let (min, _) = min_of(&[obj], &kernel());
    assert_eq!(names(&min), ["int", "task_struct", "", "char"]);
}

#[test]
fn type_relocations_keep_the_type_without_members() {
    let local = [
        st("task_struct", 0, vec![]),
        t("pid_t", Kind::Typedef(3)),
        int("int", 4),
    ];
    let obj = object(
        &local,
        &[
            (1, "0", CoreReloKind::TypeExists),
            (2, "0", CoreReloKind::TypeSize),
        ],
    );
    let (min, _) = min_of(&[obj], &kernel());
    assert_eq!(names(&min), ["int", "pid_t", "task_struct"]);
    assert_eq!(member_names(&min, "task_struct"), Vec::<String>::new());
    assert_eq!(min.size_of(3), Some(64));
}

#[test]
fn enum_value_relocations_keep_that_enumerator_only() {
    let local = [t(
        "state_e___v2",
        Kind::Enum {
            size: 4,
            signed: false,
            values: vec![EnumValue {
                name: "C".into(),
                value: 7,
            }],
            wide: false,
        },
    )];
    let obj = object(
        &local,
        &[
            (1, "0", CoreReloKind::EnumvalValue),
            (1, "0", CoreReloKind::EnumvalExists),
        ],
    );
    let (min, _) = min_of(&[obj], &kernel());
    assert_eq!(member_names(&min, "state_e"), ["C"]);
    let Kind::Enum { values, .. } = &min.ty(1).kind else {
        panic!("not an enum");
    };
    assert_eq!(values[0].value, 2);
}

#[test]
fn type_matches_keeps_whole_types_but_not_behind_pointers() {
    let local = [int("int", 4), st("task_struct", 4, vec![m("state", 1, 0)])];
    let obj = object(&local, &[(2, "0", CoreReloKind::TypeMatches)]);
    let (min, _) = min_of(&[obj], &kernel());
    assert_eq!(
        member_names(&min, "task_struct"),
        ["state", "", "parent", "tgid", "comm"]
    );
    // The parent pointer keeps task_struct, which is kept whole anyway;
    // the unrelated struct is not kept.
    assert!(!names(&min).contains(&"unrelated".to_string()));
}

#[test]
fn relocations_nothing_matches_keep_nothing() {
    let local = [
        int("int", 4),
        st("task_struct", 4, vec![m("no_such_field", 1, 0)]),
        st("no_such_struct", 4, vec![m("x", 1, 0)]),
    ];
    let obj = object(
        &local,
        &[
            (2, "0:0", CoreReloKind::FieldExists),
            (3, "0:0", CoreReloKind::FieldByteOffset),
            (3, "0", CoreReloKind::TypeExists),
            (1, "0", CoreReloKind::TypeIdLocal),
        ],
    );
    let (min, stats) = min_of(&[obj], &kernel());
    assert_eq!(min.types().count(), 0);
    assert_eq!(
        (
            stats.relocations,
            stats.matched,
            stats.unmatched,
            stats.local_only
        ),
        (4, 0, 3, 1)
    );
}

#[test]
fn several_objects_share_one_output_and_it_is_deterministic() {
    let a = object(
        &[int("int", 4), st("task_struct", 4, vec![m("state", 1, 0)])],
        &[(2, "0:0", CoreReloKind::FieldByteOffset)],
    );
    let b = object(
        &[
            int("int", 4),
            t("pid_t", Kind::Typedef(1)),
            st("task_struct", 4, vec![m("tgid", 2, 0)]),
        ],
        &[(3, "0:0", CoreReloKind::FieldByteOffset)],
    );
    let (min, _) = min_of(&[a.clone(), b.clone()], &kernel());
    assert_eq!(member_names(&min, "task_struct"), ["state", "tgid"]);
    let target = btf(&kernel());
    let once = min_core_of(&[a.clone(), b.clone()], &target)
        .expect("min-core")
        .btf;
    assert_eq!(once, min_core_of(&[a, b], &target).expect("min-core").btf);
}

#[test]
fn relocations_libbpf_would_refuse_are_errors() {
    let local = [int("int", 4), st("", 4, vec![m("x", 1, 0)])];
    for (id, access, kind) in [
        (9, "0", CoreReloKind::TypeExists),
        (0, "0", CoreReloKind::TypeExists),
        (2, "0:0", CoreReloKind::FieldByteOffset),
        (1, "0:0", CoreReloKind::FieldByteOffset),
    ] {
        let obj = object(&local, &[(id, access, kind)]);
        let err = min_core_of(&[obj], &btf(&kernel())).expect_err("refused");
        assert!(matches!(err, ObjectError::CoreRelo(_)), "{err}");
    }
}

mod bounds;
mod edges;
