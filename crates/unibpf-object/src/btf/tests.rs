//! Unit tests on hand-built BTF bytes.

use super::*;

/// Builds raw BTF from (name, info, size_or_type, extra words).
pub(crate) fn raw_btf(types: &[(&str, u32, u32, &[u32])]) -> Vec<u8> {
    let mut strings = vec![0u8];
    let mut tsec = Vec::new();
    for (name, info, st, extra) in types {
        let off = if name.is_empty() {
            0
        } else {
            let o = strings.len() as u32;
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            o
        };
        for w in [off, *info, *st].iter().chain(extra.iter()) {
            tsec.extend_from_slice(&w.to_le_bytes());
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&[1, 0]);
    for w in [
        24u32,
        0,
        tsec.len() as u32,
        tsec.len() as u32,
        strings.len() as u32,
    ] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&tsec);
    out.extend_from_slice(&strings);
    out
}

pub(crate) fn info(kind: u32, vlen: u32, flag: bool) -> u32 {
    kind << 24 | vlen | (u32::from(flag) << 31)
}

#[test]
fn parses_ints_pointers_structs_with_bitfields() {
    // 1: int, 2: unsigned char, 3: ptr -> 1, 4: struct s { int a; bitfields b:3, c:5; ptr p; }
    let raw = raw_btf(&[
        ("int", info(1, 0, false), 4, &[1 << 24 | 32]),
        ("unsigned char", info(1, 0, false), 1, &[8]),
        ("", info(2, 0, false), 1, &[]),
        (
            "s",
            info(4, 4, true),
            16,
            &[0, 1, 0, 0, 2, 3 << 24 | 32, 0, 2, 5 << 24 | 35, 0, 3, 64],
        ),
    ]);
    let btf = Btf::parse(&raw).expect("parse");
    let s = btf.find_composite("s").expect("struct s");
    assert_eq!(btf.size_of(s), Some(16));
    assert_eq!(btf.align_of(s), 8);
    let Kind::Struct { members, .. } = &btf.ty(s).kind else {
        panic!("not a struct")
    };
    assert_eq!(members[1].bitfield_size, Some(3));
    assert_eq!(members[2].bit_offset, 35);
    assert_eq!(members[3].bitfield_size, None);
    assert_eq!(btf.size_of(3), Some(8));
}

#[test]
fn hidden_types_get_another_name_and_nothing_else_changes() {
    let raw = raw_btf(&[
        ("bpf_ringbuf", info(4, 0, false), 0, &[]),
        ("keep", info(4, 0, false), 0, &[]),
    ]);
    let hidden = hide_types(&raw, &["bpf_ringbuf"]).expect("hide");
    let btf = Btf::parse(&hidden).expect("still valid BTF");
    assert_eq!(btf.ty(1).name, "unibpf_masked_bpf_ringbuf");
    assert_eq!(btf.ty(2).name, "keep");
    assert!(btf.find_composite("bpf_ringbuf").is_none());
    assert_eq!(hide_types(&raw, &["absent"]).expect("no-op"), raw);
}

#[test]
fn corrupt_btf_is_an_error_not_a_panic() {
    let good = raw_btf(&[("int", info(1, 0, false), 4, &[32])]);
    assert!(Btf::parse(&good[..20]).is_err());
    let mut bad_magic = good.clone();
    bad_magic[0] = 0;
    assert!(Btf::parse(&bad_magic).is_err());
    let dangling = raw_btf(&[("", info(2, 0, false), 7, &[])]);
    assert!(Btf::parse(&dangling).is_err());
    let truncated_member = raw_btf(&[("s", info(4, 2, false), 4, &[0, 0, 0])]);
    assert!(Btf::parse(&truncated_member).is_err());
    let mut huge_len = good;
    huge_len[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Btf::parse(&huge_len).is_err());
    // A typedef loop does not hang.
    let looped = raw_btf(&[
        ("a", info(8, 0, false), 2, &[]),
        ("b", info(8, 0, false), 1, &[]),
    ]);
    let btf = Btf::parse(&looped).expect("loops parse");
    assert_eq!(btf.size_of(1), None);
}

#[test]
fn hide_types_refuses_btf_whose_sections_overlap() {
    // The string section starts at the type records here, and type 2's
    // name is the bytes of type 1's name offset: renaming type 1 would
    // have renamed type 2 as well, a change hide_types promises not to
    // make. Sections that overlap (or the header) are now corrupt BTF.
    let mut raw = raw_btf(&[
        ("bpf_ringbuf", info(4, 0, false), 0, &[]),
        ("x", info(4, 0, false), 0, &[]),
    ]);
    let type_len = 24u32;
    let str_len = raw.len() as u32 - 24;
    raw[16..20].copy_from_slice(&0u32.to_le_bytes());
    raw[20..24].copy_from_slice(&str_len.to_le_bytes());
    raw[24..28].copy_from_slice(&(type_len + 1).to_le_bytes());
    raw[36..40].copy_from_slice(&0u32.to_le_bytes());
    let err = Btf::parse(&raw).expect_err("overlapping sections");
    assert!(err.to_string().contains("overlap"), "{err}");
    assert!(hide_types(&raw, &["bpf_ringbuf"]).is_err());

    let mut short_header = raw_btf(&[("int", info(1, 0, false), 4, &[32])]);
    short_header[4..8].copy_from_slice(&16u32.to_le_bytes());
    assert!(Btf::parse(&short_header).is_err());
}

#[test]
fn names_longer_than_the_kernel_allows_are_refused() {
    let longest = "n".repeat(MAX_NAME);
    assert!(Btf::parse(&raw_btf(&[(&longest, info(4, 0, false), 0, &[])])).is_ok());
    let longer = "n".repeat(MAX_NAME + 1);
    let err = Btf::parse(&raw_btf(&[(&longer, info(4, 0, false), 0, &[])])).expect_err("too long");
    assert!(err.to_string().contains("longer"), "{err}");
}

#[test]
fn queries_on_ids_the_btf_lacks_answer_instead_of_panicking() {
    // Found by fuzz/fuzz_targets/btf_parse.rs: resolve, size_of and
    // align_of indexed the type table with the caller's id.
    let btf = Btf::parse(&raw_btf(&[("int", info(1, 0, false), 4, &[32])])).expect("parse");
    for id in [2, 3, u32::MAX] {
        assert!(btf.get(id).is_none());
        assert_eq!(btf.resolve(id), id);
        assert_eq!(btf.size_of(id), None);
        assert_eq!(btf.align_of(id), 1);
    }
    assert_eq!(btf.size_of(1), Some(4));
}

#[test]
fn alignment_of_nested_structs_takes_linear_time() {
    // Found by fuzz/fuzz_targets/btf_parse.rs (a libFuzzer timeout):
    // align_of walked every path through the members, so a struct with
    // two members of its own type took 2^MAX_CHAIN steps. Here: 1 is
    // int, and type k + 1 is a struct of two members of type k, 32 deep.
    let int = [1u32 << 24 | 32];
    let pair = [0, 0, 0, 0, 0, 0];
    let mut types: Vec<(&str, u32, u32, Vec<u32>)> =
        vec![("int", info(1, 0, false), 4, int.to_vec())];
    for k in 1..=32u32 {
        let mut members = pair.to_vec();
        (members[1], members[4]) = (k, k);
        types.push(("", info(4, 2, false), 8, members));
    }
    let types: Vec<_> = types
        .iter()
        .map(|(n, i, s, e)| (*n, *i, *s, &e[..]))
        .collect();
    let btf = Btf::parse(&raw_btf(&types)).expect("parse");
    let start = std::time::Instant::now();
    assert_eq!(btf.align_of(33), 4);
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    // A struct embedding itself twice ends too.
    let looped = raw_btf(&[("s", info(4, 2, false), 8, &[0, 1, 0, 0, 1, 0])]);
    assert_eq!(Btf::parse(&looped).expect("parse").align_of(1), 1);
}

#[test]
fn sizes_too_large_for_64_bits_have_no_size() {
    // Found by reading: an array's size was its element's times its
    // length, unchecked, so arrays of arrays of many elements overflowed
    // (a panic where overflow is checked, as under cargo fuzz).
    let max = u32::MAX;
    let raw = raw_btf(&[
        ("int", info(1, 0, false), 4, &[1 << 24 | 32]),
        ("", info(3, 0, false), 0, &[1, 1, max]),
        ("", info(3, 0, false), 0, &[2, 1, 1 << 20]),
        ("", info(3, 0, false), 0, &[3, 1, 1 << 20]),
    ]);
    let btf = Btf::parse(&raw).expect("parse");
    assert_eq!(btf.size_of(2), Some(4 * u64::from(max)));
    assert_eq!(btf.size_of(3), Some((4 * u64::from(max)) << 20));
    assert_eq!(btf.size_of(4), None, "2^74 bytes");
}
