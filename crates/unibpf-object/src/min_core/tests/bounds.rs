//! Target BTF that would make libbpf's searches take exponential time:
//! min-core (which reads BTF from users, e.g. BTFHub files) stops.

use std::time::{Duration, Instant};

use super::*;
use crate::btf::Param;

/// T0 ... T40: each Tk has two anonymous members of type Tk+1, and T40 an
/// int; no member has the name a relocation asks for, so a search would
/// visit 2^40 members.
fn doubling() -> Vec<Type> {
    let mut types = vec![int("int", 4)];
    for k in 0..40u32 {
        // Tk is id k + 2; its members are T(k+1), id k + 3.
        let name = if k == 0 { "T0" } else { "" };
        types.push(st(name, 4, vec![m("", k + 3, 0), m("", k + 3, 0)]));
    }
    types.push(st("", 4, vec![m("x", 1, 0)]));
    types
}

#[test]
fn a_search_through_shared_anonymous_members_is_bounded() {
    let local = [int("int", 4), st("T0", 4, vec![m("missing", 1, 0)])];
    let obj = object(&local, &[(2, "0:0", CoreReloKind::FieldByteOffset)]);
    let start = Instant::now();
    // libbpf fails such a relocation (were it to finish); so does min-core.
    let err = min_core_of(std::slice::from_ref(&obj), &btf(&doubling())).expect_err("gives up");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(err.to_string().contains("65536"), "{err}");
    let results = resolve(&[obj], &btf(&doubling())).expect("resolve");
    assert_eq!(
        results[0].results,
        [CandidateResult::Error("TooMuchWork".into())]
    );
}

/// typedef cb -> pointer -> P0, where Pk (k < 28) takes two pointers to
/// Pk+1 and P28 two ints: comparing cb with itself checks 2^28 pairs.
fn prototypes() -> Vec<Type> {
    let param = |ty| Param {
        name: String::new(),
        ty,
    };
    let proto = |ty| {
        t(
            "",
            Kind::FuncProto {
                ret: 0,
                params: vec![param(ty), param(ty)],
            },
        )
    };
    // 1 int, 2 cb, 3 pointer to P0; Pk is 4 + 2k, the pointer to it 3 + 2k.
    let mut types = vec![
        int("int", 4),
        t("cb", Kind::Typedef(3)),
        t("", Kind::Ptr(4)),
    ];
    for k in 0..28u32 {
        types.push(proto(5 + 2 * k));
        types.push(t("", Kind::Ptr(6 + 2 * k)));
    }
    types.push(proto(1));
    types
}

#[test]
fn comparing_prototypes_that_share_parameters_is_bounded() {
    let cb = prototypes();
    let exists = object(&cb, &[(2, "0", CoreReloKind::TypeExists)]);
    let matches = object(&cb, &[(2, "0", CoreReloKind::TypeMatches)]);
    let start = Instant::now();
    let results = resolve(&[exists, matches], &btf(&cb)).expect("resolve");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    for r in results {
        assert!(
            matches!(
                r.results[..],
                [CandidateResult::Type {
                    compatible: None,
                    ..
                }]
            ),
            "{r:?}"
        );
    }
}
