//! Decoding one raw instruction into the compact form the interpreter
//! runs: the operation resolved once (class, operation, source, the
//! offset-encoded variants of cpu v4), so the run loop matches on one
//! small enum.

use super::error::VerifyError;
use super::opcode::*;

/// An ALU operation; the signed and sign-extending variants of cpu v4
/// are operations of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    Sdiv,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    Smod,
    Xor,
    Mov,
    Movsx8,
    Movsx16,
    Movsx32,
    Arsh,
}

/// Where the second operand comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    Reg,
    Imm,
}

/// A byte-order conversion: to little endian, to big endian, or an
/// unconditional swap (cpu v4's ALU64 bswap). eBPF memory is little
/// endian, so `Le` truncates and `Be` swaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    Le,
    Be,
}

/// A jump condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Sgt,
    Sge,
    Slt,
    Sle,
    Set,
}

/// An atomic read-modify-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicOp {
    Add,
    Or,
    And,
    Xor,
    Xchg,
    Cmpxchg,
}

/// One decoded operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Alu64(AluOp, Src),
    Alu32(AluOp, Src),
    Neg64,
    Neg32,
    /// Byte-order conversion of the low `bits` bits.
    Swap(Swap, u8),
    /// dst = the 64-bit immediate (the pair's second slot is skipped).
    Lddw,
    /// dst = `size` bytes at src + off, sign-extended when `signed`.
    Ldx {
        size: u8,
        signed: bool,
    },
    /// `size` bytes at dst + off = imm.
    St {
        size: u8,
    },
    /// `size` bytes at dst + off = src.
    Stx {
        size: u8,
    },
    /// Atomic on 4 or 8 bytes at dst + off; `fetch`: src gets the old value.
    Atomic {
        op: AtomicOp,
        wide: bool,
        fetch: bool,
    },
    /// pc = target.
    Ja,
    /// if cond(dst, operand) pc = target; `wide` false compares 32 bits.
    Jmp {
        cond: Cond,
        src: Src,
        wide: bool,
    },
    /// r0 = helper imm(r1..r5).
    Call,
    /// Call the subprogram at target.
    CallLocal,
    Exit,
    /// The second slot of a 64-bit immediate load; never executed.
    LddwHigh,
}

/// A decoded instruction. For jumps and local calls `target` is the
/// absolute pc; `imm` is sign-extended (or the full 64-bit immediate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub op: Op,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub target: u32,
    pub imm: i64,
}

/// The raw fields of one 8-byte instruction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Raw {
    pub fn parse(b: &[u8]) -> Raw {
        Raw {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    fn bad(&self, pc: usize) -> VerifyError {
        VerifyError::BadOpcode {
            pc,
            code: self.code,
            src: self.src,
            off: self.off,
            imm: self.imm,
        }
    }
}

fn size_bytes(code: u8) -> u8 {
    match code & SIZE_MASK {
        SIZE_W => 4,
        SIZE_H => 2,
        SIZE_B => 1,
        _ => 8,
    }
}

/// The operation of `raw` at `pc`, or why it is not a valid one. The
/// immediate load's second slot and jump targets are checked by the caller.
pub(crate) fn decode_op(raw: &Raw, pc: usize) -> Result<Op, VerifyError> {
    let class = raw.code & CLASS_MASK;
    let op = match class {
        ALU | ALU64 => decode_alu(raw, class == ALU64),
        JMP | JMP32 => decode_jmp(raw, class == JMP),
        LD if raw.code == LD | MODE_IMM | SIZE_DW => Some(Op::Lddw),
        LDX => match raw.code & MODE_MASK {
            MODE_MEM => Some(Op::Ldx {
                size: size_bytes(raw.code),
                signed: false,
            }),
            MODE_MEMSX if raw.code & SIZE_MASK != SIZE_DW => Some(Op::Ldx {
                size: size_bytes(raw.code),
                signed: true,
            }),
            _ => None,
        },
        ST if raw.code & MODE_MASK == MODE_MEM => Some(Op::St {
            size: size_bytes(raw.code),
        }),
        STX => match raw.code & MODE_MASK {
            MODE_MEM => Some(Op::Stx {
                size: size_bytes(raw.code),
            }),
            MODE_ATOMIC => decode_atomic(raw),
            _ => None,
        },
        _ => None,
    };
    op.ok_or_else(|| raw.bad(pc))
}

fn decode_alu(raw: &Raw, wide: bool) -> Option<Op> {
    let src = if raw.code & SRC_X != 0 {
        Src::Reg
    } else {
        Src::Imm
    };
    let signed = match raw.off {
        0 => false,
        1 => true,
        _ => return decode_alu_offset(raw, wide, src),
    };
    let op = match (raw.code & OP_MASK, signed) {
        (ADD, false) => AluOp::Add,
        (SUB, false) => AluOp::Sub,
        (MUL, false) => AluOp::Mul,
        (DIV, false) => AluOp::Div,
        (DIV, true) => AluOp::Sdiv,
        (OR, false) => AluOp::Or,
        (AND, false) => AluOp::And,
        (LSH, false) => AluOp::Lsh,
        (RSH, false) => AluOp::Rsh,
        (MOD, false) => AluOp::Mod,
        (MOD, true) => AluOp::Smod,
        (XOR, false) => AluOp::Xor,
        (MOV, false) => AluOp::Mov,
        (ARSH, false) => AluOp::Arsh,
        (NEG, false) if src == Src::Imm => return Some(if wide { Op::Neg64 } else { Op::Neg32 }),
        (END, false) => return decode_swap(raw, wide),
        _ => return None,
    };
    Some(if wide {
        Op::Alu64(op, src)
    } else {
        Op::Alu32(op, src)
    })
}

/// MOVSX: a register move whose offset is the width to sign-extend from.
fn decode_alu_offset(raw: &Raw, wide: bool, src: Src) -> Option<Op> {
    if raw.code & OP_MASK != MOV || src != Src::Reg {
        return None;
    }
    let op = match (raw.off, wide) {
        (8, _) => AluOp::Movsx8,
        (16, _) => AluOp::Movsx16,
        (32, true) => AluOp::Movsx32,
        _ => return None,
    };
    Some(if wide {
        Op::Alu64(op, src)
    } else {
        Op::Alu32(op, src)
    })
}

fn decode_swap(raw: &Raw, wide: bool) -> Option<Op> {
    let bits = match raw.imm {
        16 | 32 | 64 => raw.imm as u8,
        _ => return None,
    };
    match (wide, raw.code & SRC_X != 0) {
        (false, false) => Some(Op::Swap(Swap::Le, bits)),
        (false, true) | (true, false) => Some(Op::Swap(Swap::Be, bits)),
        (true, true) => None,
    }
}

fn decode_jmp(raw: &Raw, wide: bool) -> Option<Op> {
    let src = if raw.code & SRC_X != 0 {
        Src::Reg
    } else {
        Src::Imm
    };
    let cond = match raw.code & OP_MASK {
        JA if src == Src::Imm => return Some(Op::Ja),
        CALL if wide && src == Src::Imm => {
            return match raw.src {
                CALL_HELPER => Some(Op::Call),
                CALL_LOCAL => Some(Op::CallLocal),
                _ => None,
            }
        }
        EXIT if wide && src == Src::Imm => return Some(Op::Exit),
        JEQ => Cond::Eq,
        JNE => Cond::Ne,
        JGT => Cond::Gt,
        JGE => Cond::Ge,
        JLT => Cond::Lt,
        JLE => Cond::Le,
        JSGT => Cond::Sgt,
        JSGE => Cond::Sge,
        JSLT => Cond::Slt,
        JSLE => Cond::Sle,
        JSET => Cond::Set,
        _ => return None,
    };
    Some(Op::Jmp { cond, src, wide })
}

fn decode_atomic(raw: &Raw) -> Option<Op> {
    let wide = match raw.code & SIZE_MASK {
        SIZE_W => false,
        SIZE_DW => true,
        _ => return None,
    };
    let (op, fetch) = match raw.imm {
        XCHG => (AtomicOp::Xchg, true),
        CMPXCHG => (AtomicOp::Cmpxchg, true),
        imm => {
            let op = match imm & !FETCH {
                0x00 => AtomicOp::Add,
                0x40 => AtomicOp::Or,
                0x50 => AtomicOp::And,
                0xa0 => AtomicOp::Xor,
                _ => return None,
            };
            (op, imm & FETCH != 0)
        }
    };
    Some(Op::Atomic { op, wide, fetch })
}
