//! Corners of libbpf's matching that min-core must not change by dropping
//! members.

use super::*;

fn float(name: &str) -> Type {
    t(name, Kind::Float { size: 4 })
}

/// struct skb { int a; char marker[0]; int b; } or, `last`, with marker
/// last; and a local struct skb { char marker[0]; }, where it is last.
fn marker(last: bool) -> (Vec<Type>, CoreObject) {
    let members = if last {
        vec![m("a", 1, 0), m("b", 1, 32), m("marker", 3, 64)]
    } else {
        vec![m("a", 1, 0), m("marker", 3, 32), m("b", 1, 32)]
    };
    let target = vec![
        int("int", 4),
        int("char", 1),
        t(
            "",
            Kind::Array {
                elem: 2,
                index: 1,
                len: 0,
            },
        ),
        st("skb", 8, members),
    ];
    let local = [
        int("char", 1),
        int("int", 4),
        t(
            "",
            Kind::Array {
                elem: 1,
                index: 2,
                len: 0,
            },
        ),
        st("skb", 0, vec![m("marker", 3, 0)]),
    ];
    let obj = object(&local, &[(4, "0:0:2", CoreReloKind::FieldByteOffset)]);
    (target, obj)
}

#[test]
fn a_zero_length_array_that_is_not_last_does_not_become_last() {
    // Not last: not flexible, so marker[2] is out of bounds and nothing
    // matches. Keeping marker alone would make it last, and flexible.
    let (target, obj) = marker(false);
    let full = resolve(std::slice::from_ref(&obj), &btf(&target)).expect("resolve");
    assert_eq!(full[0].results, []);
    let (min, _) = min_of(&[obj], &target);
    assert_eq!(
        min.types().count(),
        0,
        "an unmatched relocation keeps nothing"
    );

    // Matched through another relocation, it keeps the last member too.
    let (target, _) = marker(false);
    let local = [
        int("char", 1),
        int("int", 4),
        t(
            "",
            Kind::Array {
                elem: 1,
                index: 2,
                len: 4,
            },
        ),
        st("skb", 8, vec![m("marker", 3, 0)]),
    ];
    let sized = object(&local, &[(4, "0:0", CoreReloKind::FieldByteOffset)]);
    let (min, _) = min_of(&[sized, marker(false).1], &target);
    assert_eq!(member_names(&min, "skb"), ["marker", "b"]);
}

#[test]
fn a_flexible_array_stays_flexible() {
    let (target, obj) = marker(true);
    let (min, _) = min_of(&[obj], &target);
    assert_eq!(member_names(&min, "skb"), ["marker"]);
}

#[test]
fn a_same_named_member_of_another_type_met_first_is_kept() {
    // struct S { struct { float n; } at 32 (n at 16); struct { int n; } at
    // 64; }, local struct S { int n; }. libbpf meets the float n first,
    // rejects it, and goes on to the int n, leaving the float's offset in
    // its sum: 16 + 64. Without the float n the sum would be 64.
    let target = [
        int("int", 4),
        float("float"),
        st("", 8, vec![m("n", 2, 16)]),
        st("", 4, vec![m("n", 1, 0)]),
        st("S", 16, vec![m("", 3, 32), m("", 4, 64)]),
    ];
    let local = [int("int", 4), st("S", 4, vec![m("n", 1, 0)])];
    let obj = object(&local, &[(2, "0:0", CoreReloKind::FieldByteOffset)]);
    let full = resolve(std::slice::from_ref(&obj), &btf(&target)).expect("resolve");
    assert!(matches!(
        full[0].results[..],
        [CandidateResult::Field { bit_offset: 80, .. }]
    ));
    let (min, _) = min_of(&[obj], &target);
    assert_eq!(member_names(&min, "S"), ["", ""]);
    assert!(names(&min).contains(&"float".to_string()));
}

#[test]
fn tags_on_members_point_at_the_members_new_index() {
    // A relocation on the tag (by name) keeps the tag, its struct and the
    // tagged member, renumbered.
    let target = [
        int("int", 4),
        st("s", 12, vec![m("a", 1, 0), m("b", 1, 32), m("c", 1, 64)]),
        t(
            "tag",
            Kind::DeclTag {
                ty: 2,
                component: 2,
            },
        ),
    ];
    let local = [
        int("int", 4),
        t(
            "tag",
            Kind::DeclTag {
                ty: 1,
                component: -1,
            },
        ),
    ];
    let obj = object(&local, &[(2, "0", CoreReloKind::TypeExists)]);
    let (min, _) = min_of(&[obj], &target);
    assert_eq!(member_names(&min, "s"), ["c"]);
    assert_eq!(
        min.ty(3).kind,
        Kind::DeclTag {
            ty: 2,
            component: 0
        }
    );
}
