//! ALU64 and ALU32: every operation, with the RFC's edge cases.

mod common;
use common::*;

/// r0 = a; r2 = b; r0 op= r2 (class, op, offset); exit.
fn reg(class: u8, op: u8, off: i16, a: u64, b: u64) -> u64 {
    r0(&Asm::new()
        .lddw(0, a)
        .lddw(2, b)
        .i(class | op | X, 0, 2, off, 0)
        .exit())
}

/// r0 = a; r0 op= imm; exit.
fn imm(class: u8, op: u8, off: i16, a: u64, imm: i32) -> u64 {
    r0(&Asm::new()
        .lddw(0, a)
        .i(class | op | K, 0, 0, off, imm)
        .exit())
}

const BIG: u64 = 0xffff_ffff_0000_0005;

#[test]
fn add_sub_mul_wrap_and_32_bit_ops_zero_extend() {
    assert_eq!(reg(ALU64, ADD, 0, u64::MAX, 2), 1);
    assert_eq!(reg(ALU, ADD, 0, 0xffff_ffff, 2), 1);
    assert_eq!(reg(ALU, ADD, 0, BIG, 0), 5, "high half cleared");
    assert_eq!(imm(ALU64, SUB, 0, 0, 1), u64::MAX);
    assert_eq!(imm(ALU, SUB, 0, 0, 1), 0xffff_ffff);
    assert_eq!(imm(ALU64, MUL, 0, 1 << 40, 1 << 30), 0);
    assert_eq!(imm(ALU, MUL, 0, 0x1_0000_0003, 3), 9);
    assert_eq!(imm(ALU64, ADD, 0, 0, -1), u64::MAX, "imm sign-extended");
    assert_eq!(imm(ALU, MOV, 0, BIG, -1), 0xffff_ffff);
    assert_eq!(imm(ALU64, MOV, 0, BIG, -1), u64::MAX);
}

#[test]
fn bitwise_operations() {
    assert_eq!(reg(ALU64, OR, 0, 0xf0, 0x0f), 0xff);
    assert_eq!(reg(ALU64, AND, 0, 0xf0f0, 0xff00), 0xf000);
    assert_eq!(reg(ALU64, XOR, 0, u64::MAX, 1), u64::MAX - 1);
    assert_eq!(reg(ALU, XOR, 0, u64::MAX, 1), 0xffff_fffe);
    assert_eq!(imm(ALU, OR, 0, BIG, 0x10), 0x15);
    assert_eq!(imm(ALU64, AND, 0, BIG, -1), BIG);
}

#[test]
fn unsigned_division_and_modulo_by_zero() {
    assert_eq!(reg(ALU64, DIV, 0, 100, 7), 14);
    assert_eq!(reg(ALU64, DIV, 0, 100, 0), 0, "div by zero gives 0");
    assert_eq!(imm(ALU64, DIV, 0, 100, 0), 0);
    assert_eq!(reg(ALU, DIV, 0, BIG, 0), 0);
    assert_eq!(reg(ALU64, MOD, 0, 100, 7), 2);
    assert_eq!(reg(ALU64, MOD, 0, BIG, 0), BIG, "mod by zero leaves dst");
    assert_eq!(
        reg(ALU, MOD, 0, BIG, 0),
        5,
        "ALU32 mod by zero truncates dst"
    );
    assert_eq!(imm(ALU, MOD, 0, BIG, 0), 5);
    // Unsigned: -1 is the largest value; imm -1 is sign-extended first.
    assert_eq!(imm(ALU64, DIV, 0, u64::MAX, -1), 1);
    assert_eq!(imm(ALU, DIV, 0, 0xffff_fffe, -1), 0);
    // ALU32 divides the low halves only.
    assert_eq!(reg(ALU, DIV, 0, 0x5_0000_0010, 0x1_0000_0002), 8);
}

#[test]
fn signed_division_and_modulo() {
    let m = |v: i64| v as u64;
    assert_eq!(reg(ALU64, DIV, 1, m(-7), 2), m(-3), "truncates to zero");
    assert_eq!(reg(ALU64, DIV, 1, m(-7), 0), 0);
    assert_eq!(reg(ALU64, DIV, 1, i64::MIN as u64, m(-1)), i64::MIN as u64);
    assert_eq!(reg(ALU64, MOD, 1, m(-7), 2), m(-1), "sign of the dividend");
    assert_eq!(reg(ALU64, MOD, 1, 7, m(-2)), 1);
    assert_eq!(reg(ALU64, MOD, 1, m(-7), 0), m(-7));
    assert_eq!(reg(ALU64, MOD, 1, i64::MIN as u64, m(-1)), 0);
    assert_eq!(imm(ALU64, DIV, 1, m(-9), -3), 3);
    assert_eq!(reg(ALU, DIV, 1, 0xffff_fff9, 2), 0xffff_fffd);
    assert_eq!(reg(ALU, DIV, 1, 0x8000_0000, 0xffff_ffff), 0x8000_0000);
    assert_eq!(reg(ALU, MOD, 1, 0xffff_fff9, 2), 0xffff_ffff);
    assert_eq!(reg(ALU, MOD, 1, 0xaaaa_aaaa_ffff_fff9, 0), 0xffff_fff9);
    assert_eq!(reg(ALU, DIV, 1, 0xaaaa_aaaa_ffff_fff9, 0), 0);
}

#[test]
fn shifts_mask_their_amount() {
    assert_eq!(imm(ALU64, LSH, 0, 1, 63), 1 << 63);
    assert_eq!(reg(ALU64, LSH, 0, 1, 64), 1, "64 & 63 = 0");
    assert_eq!(reg(ALU64, LSH, 0, 1, 65), 2);
    assert_eq!(reg(ALU, LSH, 0, 1, 32), 1, "32 & 31 = 0");
    assert_eq!(reg(ALU, LSH, 0, 1, 31), 0x8000_0000);
    assert_eq!(reg(ALU, LSH, 0, 3, 31), 0x8000_0000, "no bit 32");
    assert_eq!(reg(ALU64, RSH, 0, 1 << 63, 127), 1);
    assert_eq!(reg(ALU, RSH, 0, BIG, 33), 2);
    assert_eq!(imm(ALU64, ARSH, 0, 1 << 63, 63), u64::MAX);
    assert_eq!(reg(ALU64, ARSH, 0, 0x8000_0000_0000_0000, 64), 1 << 63);
    assert_eq!(imm(ALU, ARSH, 0, 0x8000_0000, 31), 0xffff_ffff);
    assert_eq!(imm(ALU, ARSH, 0, 0x1_8000_0000, 4), 0xf800_0000);
    assert_eq!(reg(ALU, ARSH, 0, 0x4000_0000, 33), 0x2000_0000);
    assert_eq!(imm(ALU64, RSH, 0, u64::MAX, -1), 1, "imm -1 masks to 63");
}

#[test]
fn negation() {
    assert_eq!(imm(ALU64, NEG, 0, 5, 0), (-5i64) as u64);
    assert_eq!(imm(ALU, NEG, 0, 5, 0), 0xffff_fffb);
    assert_eq!(imm(ALU, NEG, 0, BIG, 0), 0xffff_fffb);
    assert_eq!(imm(ALU64, NEG, 0, 1 << 63, 0), 1 << 63);
}

#[test]
fn movsx_sign_extends_from_its_offset() {
    assert_eq!(reg(ALU64, MOV, 8, 0, 0x80), 0xffff_ffff_ffff_ff80);
    assert_eq!(reg(ALU64, MOV, 8, 0, 0x17f), 0x7f);
    assert_eq!(reg(ALU64, MOV, 16, 0, 0x8000), 0xffff_ffff_ffff_8000);
    assert_eq!(reg(ALU64, MOV, 32, 0, 0x8000_0000), 0xffff_ffff_8000_0000);
    assert_eq!(reg(ALU64, MOV, 32, 0, 0xff_7fff_ffff), 0x7fff_ffff);
    assert_eq!(
        reg(ALU, MOV, 8, 0, 0x80),
        0xffff_ff80,
        "zero-extended to 64"
    );
    assert_eq!(reg(ALU, MOV, 16, 0, 0xffff_8001), 0xffff_8001);
    assert_eq!(reg(ALU, MOV, 16, 0, 0x7001), 0x7001);
}

#[test]
fn byte_order_conversions() {
    let v = 0x1122_3344_5566_7788;
    // To little endian: the VM is little endian, so only truncation.
    assert_eq!(imm(ALU, END, 0, v, 16), 0x7788);
    assert_eq!(imm(ALU, END, 0, v, 32), 0x5566_7788);
    assert_eq!(imm(ALU, END, 0, v, 64), v);
    // To big endian (source bit set): swapped and truncated.
    assert_eq!(
        r0(&Asm::new().lddw(0, v).i(ALU | END | X, 0, 0, 0, 16).exit()),
        0x8877
    );
    assert_eq!(
        r0(&Asm::new().lddw(0, v).i(ALU | END | X, 0, 0, 0, 32).exit()),
        0x8877_6655
    );
    assert_eq!(
        r0(&Asm::new().lddw(0, v).i(ALU | END | X, 0, 0, 0, 64).exit()),
        0x8877_6655_4433_2211
    );
    // cpu v4 bswap (ALU64 class, source bit clear): unconditional.
    assert_eq!(imm(ALU64, END, 0, v, 16), 0x8877);
    assert_eq!(imm(ALU64, END, 0, v, 32), 0x8877_6655);
    assert_eq!(imm(ALU64, END, 0, v, 64), 0x8877_6655_4433_2211);
}

#[test]
fn lddw_loads_all_64_bits() {
    assert_eq!(
        r0(&Asm::new().lddw(0, 0xdead_beef_8000_0001).exit()),
        0xdead_beef_8000_0001
    );
    assert_eq!(
        r0(&Asm::new().lddw(0, 0xffff_ffff).exit()),
        0xffff_ffff,
        "low half not sign-extended"
    );
}

#[test]
fn mov32_from_register_clears_the_high_half() {
    assert_eq!(
        r0(&Asm::new().lddw(1, BIG).i(ALU | MOV | X, 0, 1, 0, 0).exit()),
        5
    );
}
