//! Writing the retargeted object: instructions get the host's offsets,
//! `.BTF.ext` records their new root and access string in place, and the
//! grown `.BTF` goes to the end of the file. Nothing else moves.

use std::collections::HashMap;

use super::plan::{Rewrite, Synthesized};
use super::read::Loaded;
use crate::btf_ext::CoreReloKind;
use crate::ObjectError;

/// `BPF_LD | BPF_IMM | BPF_DW`: the first half of a 64-bit immediate load.
const LD_IMM64: u8 = 0x18;
/// Where `sh_offset` and `sh_size` are in an `Elf64_Shdr`.
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;
const SHDR_SIZE: usize = 64;

/// The object with the rewrites applied.
pub(crate) fn write(
    obj: &Loaded<'_>,
    rewrites: &[Rewrite],
    synth: &Synthesized,
) -> Result<Vec<u8>, ObjectError> {
    let mut out = obj.bytes.to_vec();
    patch_instructions(obj, rewrites, &mut out)?;
    for &(record, root, access) in &synth.records {
        // Parsing the records checked that each lies within .BTF.ext.
        let at = obj.ext.start + record;
        out[at + 4..at + 8].copy_from_slice(&root.to_le_bytes());
        out[at + 8..at + 12].copy_from_slice(&access.to_le_bytes());
    }
    move_section(obj, obj.btf_index, &synth.btf, &mut out)?;
    Ok(out)
}

/// Puts `bytes` at the end of `out` (8-aligned) as section `index`'s
/// contents; the old ones stay where they were, unreferenced.
pub(crate) fn move_section(
    obj: &Loaded<'_>,
    index: usize,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ObjectError> {
    while out.len() % 8 != 0 {
        out.push(0);
    }
    let offset = out.len() as u64;
    out.extend_from_slice(bytes);
    let header = section_header(obj, index, out.len())?;
    out[header + SH_OFFSET..header + SH_OFFSET + 8].copy_from_slice(&offset.to_le_bytes());
    let size = bytes.len() as u64;
    out[header + SH_SIZE..header + SH_SIZE + 8].copy_from_slice(&size.to_le_bytes());
    Ok(())
}

/// libbpf checks that a relocated instruction holds the value the local
/// types give before it patches it; the local types now give the host's
/// offsets, so the `byte_off` instructions get them too.
fn patch_instructions(
    obj: &Loaded<'_>,
    rewrites: &[Rewrite],
    out: &mut [u8],
) -> Result<(), ObjectError> {
    let mut done: HashMap<(usize, u32), u64> = HashMap::new();
    for rw in rewrites
        .iter()
        .filter(|rw| rw.kind == CoreReloKind::FieldByteOffset)
    {
        let fail = |why: String| {
            ObjectError::PtRegs(format!(
                "{}, instruction {}: {why}",
                rw.section,
                rw.insn_off / 8
            ))
        };
        let index = obj
            .exec_section(&rw.section)
            .ok_or_else(|| fail("no executable section of that name".into()))?;
        match done.insert((index, rw.insn_off), rw.new_offset) {
            Some(new) if new == rw.new_offset => continue,
            Some(_) => return Err(fail("two relocations of one instruction disagree".into())),
            None => {}
        }
        let range = obj.range(index)?;
        patch(&mut out[range], rw.insn_off, rw.old_offset, rw.new_offset).map_err(fail)?;
    }
    Ok(())
}

/// Replaces the offset instruction `insn_off` of `code` holds, `old`,
/// with `new`, where libbpf's CO-RE looks for it: the immediate of an ALU
/// instruction or a 64-bit load, the offset of a load or store.
pub(crate) fn patch(code: &mut [u8], insn_off: u32, old: u64, new: u64) -> Result<(), String> {
    let at = insn_off as usize;
    if at % 8 != 0 {
        return Err("the relocation is not at an instruction".into());
    }
    let wide = code.get(at) == Some(&LD_IMM64);
    let len = if wide { 16 } else { 8 };
    let insn = at
        .checked_add(len)
        .and_then(|end| code.get_mut(at..end))
        .ok_or("the relocation is past the end of its section")?;
    let holds = |v: i64| {
        if v as u64 == old {
            Ok(())
        } else {
            Err(format!(
                "the instruction holds {v}, not {old} as its relocation says; \
                 libbpf would refuse it too"
            ))
        }
    };
    let class = insn[0] & 0x07;
    match class {
        // BPF_ALU, BPF_ALU64 with an immediate operand (not BPF_X).
        0x04 | 0x07 if insn[0] & 0x08 == 0 => {
            holds(i64::from(i32::from_le_bytes([
                insn[4], insn[5], insn[6], insn[7],
            ])))?;
            let new = i32::try_from(new).map_err(|_| "offset too large".to_string())?;
            insn[4..8].copy_from_slice(&new.to_le_bytes());
        }
        // BPF_LDX, BPF_ST, BPF_STX.
        0x01..=0x03 => {
            holds(i64::from(i16::from_le_bytes([insn[2], insn[3]])))?;
            let new = i16::try_from(new).map_err(|_| "offset too large".to_string())?;
            insn[2..4].copy_from_slice(&new.to_le_bytes());
        }
        _ if wide => {
            let word =
                |i: usize| u32::from_le_bytes([insn[i], insn[i + 1], insn[i + 2], insn[i + 3]]);
            holds((u64::from(word(12)) << 32 | u64::from(word(4))) as i64)?;
            insn[4..8].copy_from_slice(&(new as u32).to_le_bytes());
            insn[12..16].copy_from_slice(&((new >> 32) as u32).to_le_bytes());
        }
        _ => {
            return Err(format!(
                "instruction code {:#04x} is not one CO-RE relocates",
                insn[0]
            ))
        }
    }
    Ok(())
}

/// Where section `index`'s header is in a file of `len` bytes.
fn section_header(obj: &Loaded<'_>, index: usize, len: usize) -> Result<usize, ObjectError> {
    let h = &obj.elf.header;
    let bad = || ObjectError::Elf("the section header table runs past the end of the file".into());
    if usize::from(h.e_shentsize) < SHDR_SIZE {
        return Err(ObjectError::Elf(format!(
            "section headers of {} bytes",
            h.e_shentsize
        )));
    }
    usize::try_from(h.e_shoff)
        .ok()
        .and_then(|off| off.checked_add(index.checked_mul(usize::from(h.e_shentsize))?))
        .filter(|at| at.checked_add(SHDR_SIZE).is_some_and(|end| end <= len))
        .ok_or_else(bad)
}
