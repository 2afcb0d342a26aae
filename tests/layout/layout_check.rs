// The Rust side of the layout test: the types `unibpf gen types --lang rust`
// generated (included from $UNIBPF_LAYOUT_RS at compile time), given the same
// values as layout_types.h gives the BPF side. Prints each value's bytes and
// the sizeof/offsetof facts, like layout_check.c.
#![allow(clippy::all)]

include!(env!("UNIBPF_LAYOUT_RS"));

use core::mem::{offset_of, size_of};

fn hex<T>(name: &str, value: &T) {
    // SAFETY: reading the bytes of a packed plain-data value.
    let bytes = unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) };
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    println!("{name}={text}");
}

fn main() {
    let mut p = padded::default();
    p.c = b'x';
    p.l = -1234567890123;
    p.s = -2;
    p.ptr = 0x1122334455667788;
    p.tail = 0xfe;

    let mut n = nested::default();
    n.id = 7;
    n.r#in = inner { a: 0xbeef, b: 0x0102030405060708, ..Default::default() };
    for (i, (a, b)) in [(1, 2), (3, 4), (5, 6)].into_iter().enumerate() {
        n.many[i] = inner { a, b, ..Default::default() };
    }
    n.name = *b"abcd\0";
    n.u.as_u32 = 0xa1b2c3d4;
    n.anon.x = -5;
    n.anon.y = 6;
    n.color = enum_color::GREEN as _;
    n.big = 0x100000000;
    n.matrix = [[1, -2, 3], [-4, 5, -6]];

    let mut b = bits::default();
    b.set_a(5);
    b.set_b(100);
    b.set_neg(-7);
    b.flag = 0x5a;
    b.set_wide(0x123456789a);
    b.set_top(0xabcdef);
    b.after = 0x7777;
    b.set_gap(3);
    b.set_next(300);
    assert_eq!((b.a(), b.b(), b.neg(), b.wide(), b.next()), (5, 100, -7, 0x123456789a, 300));

    let mut num = number::default();
    num.raw = *b"hello world\0";

    let facts: [u64; 20] = [
        size_of::<padded>(), offset_of!(padded, l), offset_of!(padded, s),
        offset_of!(padded, ptr), offset_of!(padded, tail),
        size_of::<inner>(), offset_of!(inner, b),
        size_of::<nested>(), offset_of!(nested, r#in), offset_of!(nested, many),
        offset_of!(nested, name), offset_of!(nested, u), offset_of!(nested, anon),
        offset_of!(nested, color), offset_of!(nested, big), offset_of!(nested, matrix),
        size_of::<bits>(), offset_of!(bits, flag), offset_of!(bits, after),
        size_of::<number>(),
    ]
    .map(|v| v as u64);

    hex("layout_padded", &p);
    hex("layout_nested", &n);
    hex("layout_bits", &b);
    hex("layout_number", &num);
    hex("layout_facts", &facts);
}
