//! Reading access strings against local types.

use super::*;
use crate::btf::{EnumValue, Type};
use crate::btf_ext::parse_access;
use crate::min_core::tests::{btf, int, m, st, t};

fn relo(type_id: TypeId, access: &str, kind: CoreReloKind) -> CoreRelo {
    CoreRelo {
        insn_off: 0,
        type_id,
        access_str: access.into(),
        access: parse_access(access).expect("access"),
        kind,
    }
}

/// 1 int, 2 int[4], 3 int[0], 4 struct s { int a; struct { int b; }; int
/// arr[4]; int flex[0]; }, 5 the anonymous struct, 6 enum e { X, Y },
/// 7 typedef s_t, 8 a function prototype, 9 function f.
fn local() -> Vec<Type> {
    vec![
        int("int", 4),
        t(
            "",
            Kind::Array {
                elem: 1,
                index: 1,
                len: 4,
            },
        ),
        t(
            "",
            Kind::Array {
                elem: 1,
                index: 1,
                len: 0,
            },
        ),
        st(
            "s",
            24,
            vec![
                m("a", 1, 0),
                m("", 5, 32),
                m("arr", 2, 64),
                m("flex", 3, 192),
            ],
        ),
        st("", 4, vec![m("b", 1, 0)]),
        t(
            "e",
            Kind::Enum {
                size: 4,
                signed: false,
                values: vec![
                    EnumValue {
                        name: "X".into(),
                        value: 0,
                    },
                    EnumValue {
                        name: "Y".into(),
                        value: 1,
                    },
                ],
                wide: false,
            },
        ),
        t("s_t", Kind::Typedef(4)),
        t(
            "",
            Kind::FuncProto {
                ret: 1,
                params: vec![],
            },
        ),
        t(
            "f",
            Kind::Func {
                proto: 8,
                linkage: 0,
            },
        ),
    ]
}

fn spec(type_id: TypeId, access: &str, kind: CoreReloKind) -> Result<LocalSpec, String> {
    let b = btf(&local());
    local_relo(&b, &relo(type_id, access, kind)).map(|l| l.spec)
}

fn member(name: &str, local_ty: TypeId) -> Access {
    Access::Member {
        name: name.into(),
        local_ty,
    }
}

#[test]
fn named_members_and_indices_carry_over_and_anonymous_ones_do_not() {
    let field = CoreReloKind::FieldByteOffset;
    assert_eq!(
        spec(4, "0:1:0", field),
        Ok(LocalSpec::Field {
            access: vec![Access::Index(0), member("b", 1)]
        })
    );
    assert_eq!(
        spec(7, "1:2:3", field),
        Ok(LocalSpec::Field {
            access: vec![Access::Index(1), member("arr", 2), Access::Index(3)]
        })
    );
    // The last member, a zero-length array, takes any index.
    assert!(spec(4, "0:3:100", field).is_ok());
    assert_eq!(
        spec(6, "1", CoreReloKind::EnumvalValue),
        Ok(LocalSpec::Enumval { value: "Y".into() })
    );
    assert_eq!(spec(4, "0", CoreReloKind::TypeSize), Ok(LocalSpec::Type));
}

#[test]
fn accesses_that_do_not_fit_the_types_are_refused() {
    let field = CoreReloKind::FieldByteOffset;
    for (id, access, kind) in [
        (4, "0:4", field),                     // no member 4
        (4, "0:2:4", field),                   // arr has 4 elements
        (4, "0:0:0", field),                   // a is an int
        (2, "0:0", field),                     // the root is an array: "0" indexes it
        (9, "0", field),                       // a function has no size
        (10, "0", field),                      // no type 10
        (5, "0", CoreReloKind::TypeExists),    // anonymous
        (4, "0:0", CoreReloKind::TypeExists),  // type relocations take "0"
        (4, "0", CoreReloKind::EnumvalExists), // not an enum
        (6, "2", CoreReloKind::EnumvalValue),  // no enumerator 2
        (6, "0:0", CoreReloKind::EnumvalValue),
    ] {
        assert!(spec(id, access, kind).is_err(), "{id} {access} {kind:?}");
    }
}

#[test]
fn a_relocation_built_without_indices_is_refused_not_a_panic() {
    // CoreRelo's fields are public: one can be made without going through
    // parse_access, which never gives an empty list.
    let b = btf(&local());
    let mut r = relo(4, "0", CoreReloKind::FieldByteOffset);
    r.access.clear();
    assert!(local_relo(&b, &r).is_err());
}
