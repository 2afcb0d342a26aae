//! JMP and JMP32: every condition, register and immediate forms, signed
//! comparisons with negative numbers, JA and cpu v4's JA32 (gotol).

mod common;
use common::*;

/// 1 when `class | op` jumps with r1 = a and r2 = b (or imm b), else 0.
fn taken(class: u8, op: u8, a: u64, b: u64, use_imm: bool) -> u64 {
    let asm = Asm::new().lddw(1, a).lddw(2, b).mov(0, 0);
    let asm = if use_imm {
        asm.i(class | op | K, 1, 0, 1, b as i32)
    } else {
        asm.i(class | op | X, 1, 2, 1, 0)
    };
    r0(&asm.exit().mov(0, 1).exit())
}

fn both(class: u8, op: u8, a: u64, b: u64) -> u64 {
    let r = taken(class, op, a, b, false);
    if b as i32 as i64 as u64 == b || class == JMP32 {
        assert_eq!(
            taken(class, op, a, b, true),
            r,
            "imm form of {op:#x} {a:#x} {b:#x}"
        );
    }
    r
}

#[test]
fn unsigned_conditions_64() {
    let cases = [
        (JEQ, 5, 5, 1),
        (JEQ, 5, 6, 0),
        (JNE, 5, 6, 1),
        (JNE, 5, 5, 0),
        (JGT, 6, 5, 1),
        (JGT, 5, 5, 0),
        (JGE, 5, 5, 1),
        (JGE, 4, 5, 0),
        (JLT, 4, 5, 1),
        (JLT, 5, 5, 0),
        (JLE, 5, 5, 1),
        (JLE, 6, 5, 0),
        (JSET, 0b1010, 0b0010, 1),
        (JSET, 0b1010, 0b0101, 0),
        (JGT, u64::MAX, 1, 1),
        (JLT, 1, u64::MAX, 1),
    ];
    for (op, a, b, want) in cases {
        assert_eq!(both(JMP, op, a, b), want, "op {op:#x} {a:#x} {b:#x}");
    }
}

#[test]
fn signed_conditions_with_negative_numbers() {
    let n = |v: i64| v as u64;
    let cases = [
        (JSGT, n(-1), n(-2), 1),
        (JSGT, n(-1), 0, 0),
        (JSGT, 0, n(-1), 1),
        (JSGE, n(-2), n(-2), 1),
        (JSGE, n(-3), n(-2), 0),
        (JSLT, n(-3), n(-2), 1),
        (JSLT, n(-1), n(-2), 0),
        (JSLT, i64::MIN as u64, 0, 1),
        (JSLE, n(-2), n(-2), 1),
        (JSLE, 1, n(-2), 0),
    ];
    for (op, a, b, want) in cases {
        assert_eq!(both(JMP, op, a, b), want, "op {op:#x} {a:#x} {b:#x}");
    }
    // The unsigned view of the same values differs.
    assert_eq!(both(JMP, JGT, n(-1), 0), 1);
    assert_eq!(both(JMP, JSGT, n(-1), 0), 0);
}

#[test]
fn jmp32_compares_only_the_low_halves() {
    let hi = 0x1234_5678_0000_0000u64;
    assert_eq!(both(JMP32, JEQ, hi | 7, 7), 1);
    assert_eq!(both(JMP, JEQ, hi | 7, 7), 0);
    assert_eq!(both(JMP32, JGT, 1, hi | 2), 0);
    assert_eq!(both(JMP, JGT, hi | 1, 2), 1);
    // Signed on 32 bits: 0xffff_ffff is -1, though positive on 64.
    assert_eq!(both(JMP32, JSLT, 0xffff_ffff, 0), 1);
    assert_eq!(both(JMP, JSLT, 0xffff_ffff, 0), 0);
    assert_eq!(both(JMP32, JSGE, 0x1_7fff_ffff, 0x8000_0000), 1);
    assert_eq!(both(JMP32, JSET, 0x1_0000_0000, 0x1_0000_0000), 0);
    assert_eq!(both(JMP, JSET, 0x1_0000_0000, 0x1_0000_0000), 1);
    assert_eq!(both(JMP32, JNE, hi, 0), 0);
    assert_eq!(both(JMP32, JLE, 0xffff_ffff, 0xffff_fffe), 0);
    assert_eq!(both(JMP32, JSLE, 0xffff_ffff, 0xffff_fffe), 0);
    assert_eq!(both(JMP32, JGE, 0x8000_0000, 0x7fff_ffff), 1);
}

#[test]
fn immediate_is_sign_extended_for_64_bit_compares() {
    // r1 = 0xffff_ffff_ffff_ffff == imm -1
    let asm = Asm::new()
        .mov(1, -1)
        .mov(0, 0)
        .i(JMP | JEQ | K, 1, 0, 1, -1)
        .exit()
        .mov(0, 1)
        .exit();
    assert_eq!(r0(&asm), 1);
    // 0xffff_ffff (zero-extended) differs from imm -1 on 64 bits.
    let asm = Asm::new()
        .lddw(1, 0xffff_ffff)
        .mov(0, 0)
        .i(JMP | JEQ | K, 1, 0, 1, -1)
        .exit()
        .mov(0, 1)
        .exit();
    assert_eq!(r0(&asm), 0);
}

#[test]
fn ja_and_ja32_jump_forward_and_backward() {
    // ja +1 skips one instruction.
    let asm = Asm::new()
        .mov(0, 1)
        .i(JMP | JA, 0, 0, 1, 0)
        .mov(0, 2)
        .exit();
    assert_eq!(r0(&asm), 1);
    // gotol uses imm, not off.
    let asm = Asm::new()
        .mov(0, 1)
        .i(JMP32 | JA, 0, 0, 0, 1)
        .mov(0, 2)
        .exit();
    assert_eq!(r0(&asm), 1);
    // A counting loop with a backward jump: r0 = 10.
    let asm = Asm::new()
        .mov(0, 0)
        .i(ALU64 | ADD | K, 0, 0, 0, 1)
        .i(JMP | JLT | K, 0, 0, -2, 10)
        .exit();
    assert_eq!(r0(&asm), 10);
    // A backward gotol to the loop head.
    let asm = Asm::new()
        .mov(0, 0)
        .i(ALU64 | ADD | K, 0, 0, 0, 1)
        .i(JMP | JGE | K, 0, 0, 1, 5)
        .i(JMP32 | JA, 0, 0, 0, -3)
        .exit();
    assert_eq!(r0(&asm), 5);
}
