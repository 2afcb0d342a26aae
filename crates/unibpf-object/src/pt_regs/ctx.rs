//! Where a kprobe or uprobe program reads its context (the `struct
//! pt_regs *` it is called with), and whether CO-RE relocates each read.
//!
//! A read through CO-RE names the register in `.BTF.ext`, so the pass can
//! point it elsewhere. A read at a fixed offset (`ctx->regs[0]` compiled
//! against a struct without `preserve_access_index`) names nothing: the
//! offset is all there is, and it means another register on another
//! architecture. The scan is linear and conservative where it must be: a
//! register holds the context from a copy of one that does until anything
//! else is written to it or a call clobbers it.

use std::collections::HashSet;

/// `BPF_LDX`, `BPF_ALU`, `BPF_JMP`, `BPF_JMP32`, `BPF_ALU64` classes.
const CLASS_LDX: u8 = 0x01;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;
/// `BPF_MOV`, `BPF_ADD` and `BPF_X` (register source) in an ALU opcode.
const OP_MOV: u8 = 0xb0;
const OP_ADD: u8 = 0x00;
const SRC_X: u8 = 0x08;
/// `BPF_CALL` in a jump opcode; `BPF_LD | BPF_IMM | BPF_DW`.
const OP_CALL: u8 = 0x80;
const LD_IMM64: u8 = 0x18;

/// One use of the context as a pointer: a load from it, or an address
/// computed from it (`&ctx->di` for a probe read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CtxRead {
    /// Byte offset of the instruction in its section.
    pub insn_off: u32,
    /// The offset into the context the instruction holds.
    pub offset: i64,
    /// Whether a CO-RE relocation covers the instruction.
    pub relocated: bool,
}

/// The context reads of a program: `code` is its instructions, starting
/// at byte `start` of its section, and `relocated` the section offsets of
/// the instructions CO-RE relocations cover.
pub(crate) fn ctx_reads(code: &[u8], start: u32, relocated: &HashSet<u32>) -> Vec<CtxRead> {
    // Bit n: register rn holds the context. A program starts with it in r1.
    let mut ctx: u16 = 1 << 1;
    let mut reads = Vec::new();
    let mut at = 0usize;
    while let Some(insn) = code.get(at..at + 8) {
        let insn_off = start.saturating_add(at as u32);
        let op = insn[0];
        let dst = insn[1] & 0x0f;
        let src = insn[1] >> 4;
        let holds = |r: u8| r < 11 && ctx & (1 << r) != 0;
        let off = i64::from(i16::from_le_bytes([insn[2], insn[3]]));
        let imm = i64::from(i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]));
        let mut read = |offset| {
            reads.push(CtxRead {
                insn_off,
                offset,
                relocated: relocated.contains(&insn_off),
            })
        };
        let mut dst_holds = false;
        let mut writes_dst = true;
        match op & 0x07 {
            CLASS_LDX if holds(src) => read(off),
            CLASS_LDX => {}
            CLASS_ALU64 if op & 0xf0 == OP_MOV && op & SRC_X != 0 => dst_holds = holds(src),
            CLASS_ALU64 if op & 0xf0 == OP_ADD && op & SRC_X == 0 && holds(dst) => {
                // `ctx + offset`, for a probe read: the address is the read.
                read(imm);
            }
            CLASS_ALU | CLASS_ALU64 => {}
            CLASS_JMP if op & 0xf0 == OP_CALL => {
                // r0 gets the result, r1-r5 are clobbered.
                ctx &= !0b11_1111;
                writes_dst = false;
            }
            CLASS_JMP | CLASS_JMP32 => writes_dst = false,
            // Stores write memory, not a register.
            0x02 | 0x03 => writes_dst = false,
            // BPF_LD: a 64-bit immediate (or a legacy packet load into r0).
            _ => {}
        }
        if writes_dst && dst < 11 {
            if dst_holds {
                ctx |= 1 << dst;
            } else {
                ctx &= !(1 << dst);
            }
        }
        at += if op == LD_IMM64 { 16 } else { 8 };
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = op;
        b[1] = src << 4 | dst;
        b[2..4].copy_from_slice(&off.to_le_bytes());
        b[4..8].copy_from_slice(&imm.to_le_bytes());
        b
    }

    fn code(insns: &[[u8; 8]]) -> Vec<u8> {
        insns.concat()
    }

    const LDX_DW: u8 = 0x79;
    const MOV64_X: u8 = 0xbf;
    const MOV64_K: u8 = 0xb7;
    const ADD64_K: u8 = 0x07;
    const CALL: u8 = 0x85;
    const EXIT: u8 = 0x95;

    #[test]
    fn loads_through_copies_of_r1_are_reads_and_relocations_are_told_apart() {
        let prog = code(&[
            insn(MOV64_X, 6, 1, 0, 0),  // r6 = r1
            insn(LDX_DW, 2, 6, 112, 0), // r2 = *(r6 + 112), relocated
            insn(LDX_DW, 3, 1, 104, 0), // r3 = *(r1 + 104), fixed
            insn(CALL, 0, 0, 0, 14),    // r1-r5 clobbered
            insn(LDX_DW, 4, 1, 8, 0),   // r1 is no context now
            insn(LDX_DW, 5, 6, 0, 0),   // r6 still is
            insn(EXIT, 0, 0, 0, 0),
        ]);
        let relocated = HashSet::from([8 + 64]);
        let reads = ctx_reads(&prog, 64, &relocated);
        assert_eq!(
            reads,
            vec![
                CtxRead {
                    insn_off: 72,
                    offset: 112,
                    relocated: true
                },
                CtxRead {
                    insn_off: 80,
                    offset: 104,
                    relocated: false
                },
                CtxRead {
                    insn_off: 104,
                    offset: 0,
                    relocated: false
                },
            ]
        );
    }

    #[test]
    fn an_address_computed_from_the_context_is_a_read_and_overwrites_end_it() {
        let prog = code(&[
            insn(MOV64_X, 3, 1, 0, 0),  // r3 = r1
            insn(ADD64_K, 3, 0, 0, 96), // r3 += 96: &ctx->r10
            insn(MOV64_K, 1, 0, 0, 0),  // r1 = 0
            insn(LDX_DW, 2, 1, 8, 0),   // not the context
            insn(MOV64_X, 7, 2, 0, 0),  // r7 = r2: not the context
            insn(LDX_DW, 2, 7, 8, 0),
        ]);
        let reads = ctx_reads(&prog, 0, &HashSet::new());
        assert_eq!(
            reads,
            vec![CtxRead {
                insn_off: 8,
                offset: 96,
                relocated: false
            }]
        );
    }

    #[test]
    fn wide_immediates_take_two_slots_and_truncated_code_ends_the_scan() {
        let mut prog = code(&[
            insn(LD_IMM64, 2, 0, 0, 0x7b),
            insn(0, 0, 0, 0, 0x1d), // second half: would be "r0 = ..." if read alone
            insn(LDX_DW, 2, 1, 16, 0),
        ]);
        prog.extend_from_slice(&[0x79, 0x21, 0]); // a partial instruction
        let reads = ctx_reads(&prog, 0, &HashSet::new());
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].insn_off, 16);
    }
}
