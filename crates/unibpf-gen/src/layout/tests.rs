use super::*;

/// A BTF type for [`btf`]: name, kind, vlen, kind_flag, size or type,
/// the words that follow.
type RawType<'a> = (&'a str, u32, u32, bool, u32, &'a [u32]);

/// Parsed BTF made of `types` (ids from 1).
fn btf(types: &[RawType<'_>]) -> Btf {
    let mut strings = vec![0u8];
    let mut section = Vec::new();
    for (name, kind, vlen, flag, size_or_type, extra) in types {
        let name_off = strings.len() as u32;
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
        let info = u32::from(*flag) << 31 | kind << 24 | vlen;
        for w in [name_off, info, *size_or_type].iter().chain(extra.iter()) {
            section.extend_from_slice(&w.to_le_bytes());
        }
    }
    let mut raw = vec![0x9f, 0xeb, 1, 0];
    for w in [24, 0, section.len() as u32, section.len() as u32] {
        raw.extend_from_slice(&w.to_le_bytes());
    }
    raw.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    raw.extend_from_slice(&section);
    raw.extend_from_slice(&strings);
    Btf::parse(&raw).expect("test BTF parses")
}

const INT: RawType<'static> = ("int", 1, 0, false, 4, &[1 << 24 | 32]);

#[test]
fn bitfields_out_of_order_are_an_error_not_a_panic() {
    // Found by fuzz/fuzz_targets/gen_types.rs: a bitfield before the
    // start of its run underflowed its bit position.
    // struct s { int a:4 at bit 8; int b:4 at bit 0; }
    let b = btf(&[
        INT,
        ("s", 4, 2, true, 4, &[0, 1, 4 << 24 | 8, 0, 1, 4 << 24]),
    ]);
    let err = plan(&b, None).expect_err("overlapping bitfields");
    assert!(err.to_string().contains("overlaps"), "{err}");
}

#[test]
fn an_anonymous_struct_containing_itself_is_an_error_not_a_stack_overflow() {
    // Found by fuzz/fuzz_targets/gen_types.rs: anonymous structs were
    // laid out recursively with no check. struct s { struct { <itself> } }
    let b = btf(&[
        INT,
        ("s", 4, 1, false, 4, &[0, 3, 0]),
        ("", 4, 1, false, 4, &[0, 3, 0]),
    ]);
    let err = plan(&b, None).expect_err("endless nesting");
    assert!(err.to_string().contains("nest more than"), "{err}");
}

#[test]
fn anonymous_types_used_twice_at_every_level_stay_bounded() {
    // Each anonymous union here holds two of the next, so laying out
    // union top meant 2^40 members. union top { anon a, b; } where anon
    // k (id k + 3) holds two of anon k + 1, 40 deep, then two ints.
    let mut members: Vec<[u32; 6]> = Vec::new();
    for k in 0..40u32 {
        members.push([0, k + 3, 0, 0, k + 3, 0]);
    }
    members.push([0, 1, 0, 0, 1, 0]);
    let mut types = vec![INT, ("top", 5, 2, false, 4, &members[0][..])];
    for m in &members[1..] {
        types.push(("", 5, 2, false, 4, &m[..]));
    }
    let b = btf(&types);
    let start = std::time::Instant::now();
    let err = plan(&b, None).expect_err("too many members");
    assert!(err.to_string().contains("members to lay out"), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn integers_of_sizes_c_lacks_are_an_error_not_a_panic() {
    // Found by fuzz/fuzz_targets/gen_skeleton.rs: the C and Rust names
    // of an integer multiply its size by 8, which overflowed for a
    // size near 2^32. struct s { huge a; } and struct t { huge b:4; }
    let huge: RawType<'_> = ("huge", 1, 0, false, u32::MAX, &[64]);
    let b = btf(&[huge, ("s", 4, 1, false, 8, &[0, 1, 0])]);
    let err = plan(&b, None).expect_err("no such integer");
    assert!(err.to_string().contains("bytes"), "{err}");
    let b = btf(&[huge, ("t", 4, 1, true, 8, &[0, 1, 4 << 24])]);
    let err = plan(&b, None).expect_err("no such integer");
    assert!(err.to_string().contains("bytes"), "{err}");
}

#[test]
fn bitfields_far_apart_render_as_padding_not_a_line_per_64_bits() {
    // Two bitfields 2^24 bits apart (struct s { int a:4; int b:4 at bit
    // 2^24 - 8; }) took 2^18 unnamed 64-bit bitfields between them, 4 MB
    // of C from 40 bytes of BTF: a few such structs and gen types runs
    // out of memory. Bytes between far-apart bitfields are padding.
    let far = (1 << 24) - 8;
    let b = btf(&[
        INT,
        (
            "s",
            4,
            2,
            true,
            1 << 21,
            &[0, 1, 4 << 24, 0, 1, 4 << 24 | far],
        ),
    ]);
    let p = plan(&b, None).expect("plan");
    let c = crate::c_types::render(&p, "S_H", "s.bpf.o");
    assert!(c.len() < 4096, "{} bytes of C", c.len());
    assert!(c.contains(&format!("char __pad0[{}];", far / 8 - 1)), "{c}");
    let rust = crate::rust_types::render(&p, "s.bpf.o");
    assert!(rust.len() < 8192, "{} bytes of Rust", rust.len());
}

#[test]
fn a_bitfield_wider_than_its_type_is_an_error() {
    // struct s { int a:40; }
    let b = btf(&[INT, ("s", 4, 1, true, 8, &[0, 1, 40 << 24])]);
    let err = plan(&b, None).expect_err("too wide");
    assert!(err.to_string().contains("wider"), "{err}");
}
