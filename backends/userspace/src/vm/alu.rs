//! ALU semantics of RFC 9669: 64-bit, 32-bit (results zero-extended),
//! division by zero giving 0, modulo by zero leaving dst, shift amounts
//! masked to the width, byte swaps, and jump conditions.

use super::decode::{AluOp, Cond, Swap};

/// dst `op` src on 64 bits.
#[inline(always)]
pub fn alu64(op: AluOp, dst: u64, src: u64) -> u64 {
    match op {
        AluOp::Add => dst.wrapping_add(src),
        AluOp::Sub => dst.wrapping_sub(src),
        AluOp::Mul => dst.wrapping_mul(src),
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        AluOp::Sdiv => match src {
            0 => 0,
            _ => (dst as i64).wrapping_div(src as i64) as u64,
        },
        AluOp::Or => dst | src,
        AluOp::And => dst & src,
        AluOp::Lsh => dst << (src & 63),
        AluOp::Rsh => dst >> (src & 63),
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        AluOp::Smod => match src {
            0 => dst,
            _ => (dst as i64).wrapping_rem(src as i64) as u64,
        },
        AluOp::Xor => dst ^ src,
        AluOp::Mov => src,
        AluOp::Movsx8 => src as i8 as i64 as u64,
        AluOp::Movsx16 => src as i16 as i64 as u64,
        AluOp::Movsx32 => src as i32 as i64 as u64,
        AluOp::Arsh => ((dst as i64) >> (src & 63)) as u64,
    }
}

/// dst `op` src on the low 32 bits, the result zero-extended.
#[inline(always)]
pub fn alu32(op: AluOp, dst: u64, src: u64) -> u64 {
    let (d, s) = (dst as u32, src as u32);
    let r: u32 = match op {
        AluOp::Add => d.wrapping_add(s),
        AluOp::Sub => d.wrapping_sub(s),
        AluOp::Mul => d.wrapping_mul(s),
        AluOp::Div => d.checked_div(s).unwrap_or(0),
        AluOp::Sdiv => match s {
            0 => 0,
            _ => (d as i32).wrapping_div(s as i32) as u32,
        },
        AluOp::Or => d | s,
        AluOp::And => d & s,
        AluOp::Lsh => d << (s & 31),
        AluOp::Rsh => d >> (s & 31),
        AluOp::Mod => d.checked_rem(s).unwrap_or(d),
        AluOp::Smod => match s {
            0 => d,
            _ => (d as i32).wrapping_rem(s as i32) as u32,
        },
        AluOp::Xor => d ^ s,
        AluOp::Mov => s,
        AluOp::Movsx8 => s as i8 as i32 as u32,
        AluOp::Movsx16 => s as i16 as i32 as u32,
        // Not decodable for ALU32; kept total.
        AluOp::Movsx32 => s,
        AluOp::Arsh => ((d as i32) >> (s & 31)) as u32,
    };
    r as u64
}

/// Converts the low `bits` bits of `dst` to the byte order `swap`
/// names, zero-extending the result.
#[inline(always)]
pub fn swap(swap: Swap, bits: u8, dst: u64) -> u64 {
    match (swap, bits) {
        (Swap::Le, 16) => dst as u16 as u64,
        (Swap::Le, 32) => dst as u32 as u64,
        (Swap::Le, _) => dst,
        (Swap::Be, 16) => (dst as u16).swap_bytes() as u64,
        (Swap::Be, 32) => (dst as u32).swap_bytes() as u64,
        (Swap::Be, _) => dst.swap_bytes(),
    }
}

/// Whether `cond` holds between `a` and `b`, on 64 bits or (`wide`
/// false) on their low 32 bits.
#[inline(always)]
pub fn cond(cond: Cond, wide: bool, a: u64, b: u64) -> bool {
    let (ua, ub, sa, sb) = if wide {
        (a, b, a as i64, b as i64)
    } else {
        (
            a as u32 as u64,
            b as u32 as u64,
            a as i32 as i64,
            b as i32 as i64,
        )
    };
    match cond {
        Cond::Eq => ua == ub,
        Cond::Ne => ua != ub,
        Cond::Gt => ua > ub,
        Cond::Ge => ua >= ub,
        Cond::Lt => ua < ub,
        Cond::Le => ua <= ub,
        Cond::Sgt => sa > sb,
        Cond::Sge => sa >= sb,
        Cond::Slt => sa < sb,
        Cond::Sle => sa <= sb,
        Cond::Set => ua & ub != 0,
    }
}
