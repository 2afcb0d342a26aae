//! A verified, decoded program: built once, run many times.

use super::decode::{decode_op, Insn, Op, Raw};
use super::env::Resolver;
use super::error::VerifyError;
use super::memory::function_pc;
use super::opcode::*;

/// Instructions a program may hold (the kernel's limit for privileged
/// programs).
pub const MAX_INSNS: usize = 1_000_000;

/// A program that passed verification: every opcode known, every
/// register valid, r10 never written, every jump and call inside the
/// program and onto an instruction's start, the last instruction an
/// exit or unconditional jump, every 64-bit immediate resolved.
#[derive(Debug, Clone)]
pub struct Program {
    pub(crate) insns: Vec<Insn>,
}

impl Program {
    /// Verifies and decodes `code` (instructions, 8 bytes each, little
    /// endian), resolving 64-bit immediate references with `resolver`.
    pub fn new(code: &[u8], resolver: &dyn Resolver) -> Result<Program, VerifyError> {
        if code.len() % 8 != 0 {
            return Err(VerifyError::Truncated(code.len()));
        }
        let raws: Vec<Raw> = code.chunks_exact(8).map(Raw::parse).collect();
        match raws.len() {
            0 => return Err(VerifyError::Empty),
            n if n > MAX_INSNS => return Err(VerifyError::TooLong(n)),
            _ => {}
        }
        let mut insns = Vec::with_capacity(raws.len());
        let mut pc = 0;
        while pc < raws.len() {
            let insn = decode_one(&raws, pc, resolver)?;
            insns.push(insn);
            if insn.op == Op::Lddw {
                insns.push(Insn {
                    op: Op::LddwHigh,
                    ..insn
                });
                pc += 1;
            }
            pc += 1;
        }
        check_targets(&insns)?;
        Ok(Program { insns })
    }

    /// The number of instruction slots (a 64-bit immediate load takes two).
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Always false: an empty program is rejected.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// The ids of the helpers the program calls, sorted, each once: a
    /// loader names the ones it lacks before running anything.
    pub fn helper_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .insns
            .iter()
            .filter(|i| i.op == Op::Call)
            .map(|i| i.imm as u32)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The pc of the subprogram a function reference names, if it is one
    /// of this program's instructions.
    pub fn function_at(&self, addr: u64) -> Option<usize> {
        function_pc(addr).filter(|&pc| pc < self.insns.len() && self.insns[pc].op != Op::LddwHigh)
    }
}

fn decode_one(raws: &[Raw], pc: usize, resolver: &dyn Resolver) -> Result<Insn, VerifyError> {
    let raw = raws[pc];
    let op = decode_op(&raw, pc)?;
    for reg in [raw.dst, raw.src] {
        if reg > 10 && !(op == Op::Lddw || op == Op::Call || op == Op::CallLocal) {
            return Err(VerifyError::BadRegister { pc, reg });
        }
    }
    if raw.dst > 10 {
        return Err(VerifyError::BadRegister { pc, reg: raw.dst });
    }
    check_r10_write(op, &raw, pc)?;
    let target = pc as i64 + 1;
    let (target, imm) = match op {
        Op::Ja if raw.code & CLASS_MASK == JMP32 => (target + raw.imm as i64, 0),
        Op::Ja | Op::Jmp { .. } => (target + raw.off as i64, raw.imm as i64),
        Op::CallLocal => (target + raw.imm as i64, 0),
        Op::Lddw => (0, lddw_value(raws, pc, resolver)?),
        _ => (0, raw.imm as i64),
    };
    let target = match op {
        Op::Ja | Op::Jmp { .. } | Op::CallLocal => in_range(op, target, pc, raws.len())?,
        _ => 0,
    };
    Ok(Insn {
        op,
        dst: raw.dst,
        src: raw.src,
        off: raw.off,
        target,
        imm,
    })
}

fn in_range(op: Op, target: i64, pc: usize, len: usize) -> Result<u32, VerifyError> {
    if (0..len as i64).contains(&target) {
        Ok(target as u32)
    } else if op == Op::CallLocal {
        Err(VerifyError::CallOutOfRange { pc, target, len })
    } else {
        Err(VerifyError::JumpOutOfRange { pc, target, len })
    }
}

/// Refuses an instruction that would write r10.
fn check_r10_write(op: Op, raw: &Raw, pc: usize) -> Result<(), VerifyError> {
    let writes_dst = matches!(
        op,
        Op::Alu64(..)
            | Op::Alu32(..)
            | Op::Neg64
            | Op::Neg32
            | Op::Swap(..)
            | Op::Lddw
            | Op::Ldx { .. }
    );
    let writes_src =
        matches!(op, Op::Atomic { fetch: true, op, .. } if op != super::decode::AtomicOp::Cmpxchg);
    if (writes_dst && raw.dst == 10) || (writes_src && raw.src == 10) {
        return Err(VerifyError::WritesFramePointer { pc });
    }
    Ok(())
}

/// The value of the 64-bit immediate load at `pc`, references resolved.
fn lddw_value(raws: &[Raw], pc: usize, resolver: &dyn Resolver) -> Result<i64, VerifyError> {
    let first = raws[pc];
    let second = raws.get(pc + 1).ok_or(VerifyError::LddwTruncated { pc })?;
    if second.code != 0 || second.dst != 0 || second.src != 0 || second.off != 0 {
        return Err(VerifyError::LddwMalformed { pc: pc + 1 });
    }
    let low = first.imm as u32 as u64;
    let value = (second.imm as u32 as u64) << 32 | low;
    let unresolved = |kind| VerifyError::Unresolved {
        pc,
        kind,
        imm: first.imm,
    };
    let resolved = match first.src {
        0 => Some(value),
        PSEUDO_MAP_FD => resolver.map_by_fd(first.imm),
        PSEUDO_MAP_VALUE => resolver.map_value_by_fd(first.imm, second.imm as u32),
        PSEUDO_MAP_IDX => resolver.map_by_index(first.imm),
        PSEUDO_MAP_IDX_VALUE => resolver.map_value_by_index(first.imm, second.imm as u32),
        PSEUDO_FUNC => {
            let target = pc as i64 + 1 + first.imm as i64;
            if !(0..raws.len() as i64).contains(&target) {
                return Err(VerifyError::CallOutOfRange {
                    pc,
                    target,
                    len: raws.len(),
                });
            }
            resolver.function(target as usize)
        }
        _ => {
            return Err(VerifyError::BadOpcode {
                pc,
                code: first.code,
                src: first.src,
                off: first.off,
                imm: first.imm,
            })
        }
    };
    let kind = match first.src {
        PSEUDO_MAP_FD => "map fd",
        PSEUDO_MAP_VALUE => "map value of fd",
        PSEUDO_MAP_IDX => "map index",
        PSEUDO_MAP_IDX_VALUE => "map value of index",
        _ => "function at offset",
    };
    resolved.map(|v| v as i64).ok_or_else(|| unresolved(kind))
}

/// Every jump and call lands on an instruction's start, and the last
/// instruction cannot fall through.
fn check_targets(insns: &[Insn]) -> Result<(), VerifyError> {
    for (pc, insn) in insns.iter().enumerate() {
        let target = insn.target as usize;
        let jumps = matches!(insn.op, Op::Ja | Op::Jmp { .. } | Op::CallLocal);
        if jumps && insns[target].op == Op::LddwHigh {
            return Err(VerifyError::JumpIntoLddw { pc, target });
        }
    }
    let last = insns.len() - 1;
    match insns[last].op {
        Op::Exit | Op::Ja => Ok(()),
        _ => Err(VerifyError::FallsOffEnd { pc: last }),
    }
}
