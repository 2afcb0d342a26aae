//! `.BTF.ext` records built by hand.

use super::*;

/// Raw BTF with no types and `strings` (after the leading NUL); returns it
/// and the offset of each string.
fn strings_btf(strings: &[&str]) -> (Vec<u8>, Vec<u32>) {
    let mut sec = vec![0u8];
    let mut offs = Vec::new();
    for s in strings {
        offs.push(sec.len() as u32);
        sec.extend_from_slice(s.as_bytes());
        sec.push(0);
    }
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for w in [24u32, 0, 0, 0, sec.len() as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&sec);
    (out, offs)
}

/// A `.BTF.ext` whose CO-RE part is `core` (record size first), after
/// an empty func_info and line_info.
fn ext(core: &[u32]) -> Vec<u8> {
    let mut out = vec![0x9f, 0xeb, 1, 0];
    let len = core.len() as u32 * 4;
    for w in [32u32, 0, 0, 0, 0, 0, len] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend(core.iter().flat_map(|w| w.to_le_bytes()));
    out
}

#[test]
fn records_are_read_with_their_section_and_access_string() {
    let (btf, s) = strings_btf(&["tp/sched/x", "0:1:2", "kprobe/f", "0"]);
    let core = [
        16, // record size
        s[0], 2, // two records
        8, 5, s[1], 0, // byte_off of 0:1:2 at insn 1
        24, 6, s[1], 2, // field_exists
        s[2], 1, 0, 7, s[3], 9, // type_size
    ];
    let sections = parse_core_relos(&ext(&core), &btf).expect("parse");
    assert_eq!(sections.len(), 2);
    assert_eq!(sections[0].section, "tp/sched/x");
    assert_eq!(
        sections[0].relos[0],
        CoreRelo {
            insn_off: 8,
            type_id: 5,
            access_str: "0:1:2".into(),
            access: vec![0, 1, 2],
            kind: CoreReloKind::FieldByteOffset,
        }
    );
    assert_eq!(sections[0].relos[1].kind, CoreReloKind::FieldExists);
    assert_eq!(sections[1].section, "kprobe/f");
    assert_eq!(sections[1].relos[0].kind, CoreReloKind::TypeSize);
    assert_eq!(sections[1].relos[0].access, vec![0]);
}

#[test]
fn longer_records_from_newer_compilers_are_read_by_their_first_fields() {
    let (btf, s) = strings_btf(&["xdp", "0:3"]);
    let core = [20, s[0], 2, 0, 1, s[1], 11, 0xdead, 8, 1, s[1], 10, 0xbeef];
    let sections = parse_core_relos(&ext(&core), &btf).expect("parse");
    let kinds: Vec<_> = sections[0].relos.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [CoreReloKind::EnumvalValue, CoreReloKind::EnumvalExists]
    );
    assert_eq!(sections[0].relos[1].insn_off, 8);
}

#[test]
fn a_header_without_a_core_part_means_no_relocations() {
    let (btf, _) = strings_btf(&[]);
    let mut old = vec![0x9f, 0xeb, 1, 0];
    for w in [24u32, 0, 0, 0, 0] {
        old.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(parse_core_relos(&old, &btf).expect("parse"), []);
    assert_eq!(parse_core_relos(&ext(&[]), &btf).expect("parse"), []);
}

#[test]
fn every_kind_has_its_number_and_libbpfs_name() {
    for raw in 0..13 {
        let k = CoreReloKind::from_raw(raw).expect("known kind");
        assert_eq!(k.raw(), raw);
        assert_eq!(
            [k.is_field(), k.is_type(), k.is_enumval()]
                .iter()
                .filter(|b| **b)
                .count(),
            1,
            "{k:?} is exactly one of field, type, enumval"
        );
    }
    assert_eq!(CoreReloKind::from_raw(13), None);
    assert_eq!(CoreReloKind::FieldLShiftU64.name(), "lshift_u64");
    assert_eq!(CoreReloKind::TypeMatches.name(), "type_matches");
}

#[test]
fn bad_access_strings_are_refused() {
    assert_eq!(parse_access("0:12:3"), Ok(vec![0, 12, 3]));
    for bad in ["", "0:", ":1", "a", "-1", "0:+1", "1 ", "99999999999"] {
        assert!(parse_access(bad).is_err(), "{bad:?}");
    }
    let deepest = vec!["0"; MAX_ACCESS_LEN].join(":");
    assert!(parse_access(&deepest).is_ok());
    assert!(parse_access(&format!("{deepest}:0")).is_err());
}

#[test]
fn corrupt_sections_are_errors_not_panics() {
    let (btf, s) = strings_btf(&["sec", "0:1"]);
    let good = ext(&[16, s[0], 1, 0, 1, s[1], 0]);
    assert!(parse_core_relos(&good, &btf).is_ok());
    // Every truncation, and every word set to a hostile value.
    for len in 0..good.len() {
        let _ = parse_core_relos(&good[..len], &btf);
    }
    for at in (0..good.len()).step_by(4) {
        for v in [0u32, 1, 13, 0x7fff_ffff, u32::MAX] {
            let mut bad = good.clone();
            bad[at..at + 4].copy_from_slice(&v.to_le_bytes());
            let _ = parse_core_relos(&bad, &btf);
        }
    }
    let cases: [(&str, Vec<u32>); 6] = [
        ("short records", vec![12, s[0], 1, 0, 1, s[1]]),
        ("odd record size", vec![18, s[0], 1, 0, 1, s[1], 0, 0]),
        ("no records", vec![16, s[0], 0]),
        ("cut short", vec![16, s[0], 2, 0, 1, s[1], 0]),
        ("unknown kind", vec![16, s[0], 1, 0, 1, s[1], 13]),
        ("name past the strings", vec![16, 999, 1, 0, 1, s[1], 0]),
    ];
    for (what, core) in cases {
        assert!(parse_core_relos(&ext(&core), &btf).is_err(), "{what}");
    }
    let mut bad_magic = good.clone();
    bad_magic[0] = 0;
    assert!(parse_core_relos(&bad_magic, &btf).is_err());
    let mut past_end = good;
    past_end[28..32].copy_from_slice(&64u32.to_le_bytes());
    assert!(parse_core_relos(&past_end, &btf).is_err());
}

#[test]
fn an_object_without_btf_ext_has_no_relocations() {
    let (btf, _) = strings_btf(&[]);
    let bytes = crate::tests::elf(&[(".BTF", 1, 0, btf)], &[]);
    let obj = CoreObject::parse(&bytes).expect("parse");
    assert_eq!(obj.relos().count(), 0);
    let no_btf = crate::tests::elf(&[], &[]);
    assert!(matches!(
        CoreObject::parse(&no_btf),
        Err(ObjectError::NoBtf)
    ));
}

#[test]
fn an_objects_relocations_are_read_from_its_sections() {
    let (btf, s) = strings_btf(&["tp/x", "0:0"]);
    let core = ext(&[16, s[0], 1, 16, 3, s[1], 2]);
    let bytes = crate::tests::elf(&[(".BTF", 1, 0, btf), (".BTF.ext", 1, 0, core)], &[]);
    let obj = CoreObject::parse(&bytes).expect("parse");
    let relos: Vec<_> = obj.relos().collect();
    assert_eq!(relos.len(), 1);
    assert_eq!(relos[0].0, "tp/x");
    assert_eq!((relos[0].1.insn_off, relos[0].1.type_id), (16, 3));
}

#[test]
fn record_positions_point_at_each_records_first_word() {
    let (btf, s) = strings_btf(&["tp/x", "0:0", "kprobe/f"]);
    let core = ext(&[
        20, s[0], 2, 8, 3, s[1], 2, 0, 16, 3, s[1], 0, 0, s[2], 1, 24, 4, s[1], 1, 0,
    ]);
    let sections = parse_core_relos_at(&core, &btf).expect("parse");
    let positions: Vec<usize> = sections.iter().flat_map(|(_, p)| p.clone()).collect();
    // After the 32-byte header: the record size, a section head, 20-byte
    // records, another section head.
    assert_eq!(positions, [32 + 12, 32 + 32, 32 + 60]);
    for ((section, at), want) in sections.iter().zip([vec![8, 16], vec![24]]) {
        let got: Vec<u32> = at
            .iter()
            .map(|&p| u32::from_le_bytes(core[p..p + 4].try_into().expect("4 bytes")))
            .collect();
        assert_eq!(got, want);
        let insns: Vec<u32> = section.relos.iter().map(|r| r.insn_off).collect();
        assert_eq!(insns, want);
    }
}
