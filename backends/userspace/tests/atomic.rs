//! Atomics on 4 and 8 bytes: add/or/and/xor with and without fetch,
//! xchg, cmpxchg's r0, alignment and read-only regions.

mod common;
use common::*;
use unibpf_backend_userspace::vm::{Limits, Memory, NoHelpers, Reason, Region, VmError};

const FETCH: i32 = 0x01;
const A_ADD: i32 = 0x00;
const A_OR: i32 = 0x40;
const A_AND: i32 = 0x50;
const A_XOR: i32 = 0xa0;
const XCHG: i32 = 0xe1;
const CMPXCHG: i32 = 0xf1;

/// Runs `atomic imm` with [r1] = `mem` (8 bytes, ctx), r2 = `src`,
/// r0 = `r0`; returns (r0, r2, the memory) after it.
fn atomic(wide: bool, imm: i32, mem: u64, src: u64, r0_in: u64) -> (u64, u64, u64) {
    let size = if wide { DW } else { W };
    let mut ctx = mem.to_le_bytes();
    let asm = Asm::new()
        .lddw(2, src)
        .lddw(0, r0_in)
        .i(STX | ATOMIC | size, 1, 2, 0, imm)
        // r2 is read back from the stack after the run.
        .i(STX | MEM | DW, 10, 2, -8, 0)
        .exit();
    let prog = program(&asm);
    let mut mem_ = Memory::new(Region::ReadWrite(&mut ctx));
    let r0 = prog
        .run(&mut mem_, &mut NoHelpers, Limits::default())
        .unwrap();
    let r2 = u64::from_le_bytes(mem_.stack()[mem_.stack().len() - 8..].try_into().unwrap());
    drop(mem_);
    (r0, r2, u64::from_le_bytes(ctx))
}

#[test]
fn arithmetic_atomics_without_fetch_leave_src() {
    let m = 0xffff_ffff_0000_00f0;
    assert_eq!(
        atomic(true, A_ADD, m, 0x10, 0),
        (0, 0x10, 0xffff_ffff_0000_0100)
    );
    assert_eq!(
        atomic(true, A_OR, m, 0x0f, 0),
        (0, 0x0f, 0xffff_ffff_0000_00ff)
    );
    assert_eq!(atomic(true, A_AND, m, 0x30, 0), (0, 0x30, 0x30));
    assert_eq!(atomic(true, A_XOR, m, u64::MAX, 0), (0, u64::MAX, !m));
    // 32-bit: only the low 4 bytes change, carries do not spill.
    assert_eq!(
        atomic(false, A_ADD, 0x1_ffff_ffff, 1, 0),
        (0, 1, 0x1_0000_0000)
    );
    assert_eq!(
        atomic(false, A_XOR, m, u64::MAX, 0).2,
        0xffff_ffff_ffff_ff0f
    );
}

#[test]
fn fetch_variants_return_the_old_value() {
    let m = 0x1234_5678_9abc_def0;
    assert_eq!(atomic(true, A_ADD | FETCH, m, 1, 0), (0, m, m + 1));
    assert_eq!(atomic(true, A_OR | FETCH, m, 0xf, 0), (0, m, m | 0xf));
    assert_eq!(atomic(true, A_AND | FETCH, m, 0xff, 0), (0, m, 0xf0));
    assert_eq!(atomic(true, A_XOR | FETCH, m, m, 0), (0, m, 0));
    // 32-bit fetch: the old low half, zero-extended.
    assert_eq!(
        atomic(false, A_ADD | FETCH, m, 0x10, 0),
        (0, 0x9abc_def0, 0x1234_5678_9abc_df00)
    );
    assert_eq!(
        atomic(false, A_AND | FETCH, m, 0, 0),
        (0, 0x9abc_def0, 0x1234_5678_0000_0000)
    );
}

#[test]
fn xchg_swaps() {
    assert_eq!(atomic(true, XCHG, 5, 9, 0), (0, 5, 9));
    assert_eq!(
        atomic(false, XCHG, 0xaaaa_aaaa_0000_0005, 0xffff_ffff_0000_0009, 0),
        (0, 5, 0xaaaa_aaaa_0000_0009)
    );
}

#[test]
fn cmpxchg_success_and_failure_set_r0_to_the_old_value() {
    // Success: memory equal to r0 gets src; r0 = old; src unchanged.
    assert_eq!(atomic(true, CMPXCHG, 5, 9, 5), (5, 9, 9));
    // Failure: memory unchanged, r0 = old.
    assert_eq!(atomic(true, CMPXCHG, 5, 9, 6), (5, 9, 5));
    // 32-bit: compares r0's low half; r0 gets the old low half zero-extended.
    let m = 0x7777_7777_0000_0005;
    assert_eq!(
        atomic(false, CMPXCHG, m, 9, 0xffff_ffff_0000_0005),
        (5, 9, 0x7777_7777_0000_0009)
    );
    assert_eq!(atomic(false, CMPXCHG, m, 9, 4), (5, 9, m));
}

#[test]
fn atomics_on_the_stack_and_sync_fetch_and_add_shape() {
    let asm = Asm::new()
        .i(ST | MEM | DW, 10, 0, -8, 40)
        .mov(1, 2)
        .i(STX | ATOMIC | DW, 10, 1, -8, A_ADD | FETCH)
        .i(LDX | MEM | DW, 0, 10, -8, 0)
        .i(ALU64 | ADD | X, 0, 1, 0, 0)
        .exit();
    assert_eq!(r0(&asm), 42 + 40);
}

#[test]
fn misaligned_or_read_only_atomics_are_refused() {
    let mut ctx = [0u8; 16];
    let asm = Asm::new()
        .mov(2, 1)
        .i(STX | ATOMIC | DW, 1, 2, 4, A_ADD)
        .exit();
    match run_ctx(&asm, &mut ctx) {
        Err(VmError::Access { pc: 1, source }) => assert_eq!(source.reason, Reason::Misaligned),
        other => panic!("{other:?}"),
    }
    let asm = Asm::new()
        .mov(2, 1)
        .i(STX | ATOMIC | W, 1, 2, 4, A_ADD)
        .mov(0, 0)
        .exit();
    assert_eq!(
        run_ctx(&asm, &mut ctx).unwrap(),
        0,
        "4-aligned is enough for 32 bits"
    );
    let ro = [0u8; 8];
    let mut mem = Memory::new(Region::ReadOnly(&ro));
    let asm = Asm::new()
        .mov(0, 1)
        .mov(2, 1)
        .i(STX | ATOMIC | DW, 1, 2, 0, CMPXCHG)
        .exit();
    match program(&asm).run(&mut mem, &mut NoHelpers, Limits::default()) {
        Err(VmError::Access { source, .. }) => assert_eq!(source.reason, Reason::ReadOnly),
        other => panic!("{other:?}"),
    }
}
