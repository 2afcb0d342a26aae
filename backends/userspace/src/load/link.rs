//! ELF relocations and linking: map and global-data references become
//! 64-bit loads of map indexes (`lddw` src 5 and 6), and each program gets
//! the subprograms it calls appended, with call offsets rewritten.

use std::collections::HashMap;

use goblin::elf::section_header::SHF_EXECINSTR;
use goblin::elf::sym::STT_SECTION;
use goblin::elf::Elf;

use super::code::{Code, CALL, LDDW};
use super::LoadError;

const PSEUDO_CALL: u8 = 1;
const PSEUDO_KFUNC_CALL: u8 = 2;
const PSEUDO_FUNC: u8 = 4;
const PSEUDO_MAP_IDX: u8 = 5;
const PSEUDO_MAP_IDX_VALUE: u8 = 6;

/// An instruction of some section: (section index, instruction index).
type At = (usize, usize);

/// What relocations say about code, once applied to the map and data
/// references.
pub struct Relocated {
    /// Calls and function references across sections: where each goes.
    targets: HashMap<At, At>,
    /// Instructions that cannot run here, by section, and why (a kernel
    /// function call, an unknown extern): a program reaching one is
    /// refused, others of the same section are not.
    pub broken: HashMap<usize, Vec<(usize, String)>>,
}

/// Where map and data references point: map indexes by symbol name or
/// data section index.
pub struct MapIndexes<'a> {
    pub maps_section: Option<usize>,
    pub by_name: &'a HashMap<String, usize>,
    /// ELF section index of each data section -> its map index.
    pub data: &'a HashMap<usize, usize>,
    /// Extern name -> (map index, offset) for `.kconfig` values.
    pub externs: &'a HashMap<String, (usize, u32)>,
}

/// The executable sections of `elf`, as editable code.
pub fn code_sections(elf: &Elf<'_>, bytes: &[u8]) -> Result<Vec<Code>, LoadError> {
    let mut out = Vec::new();
    for (index, sh) in elf.section_headers.iter().enumerate() {
        if sh.sh_flags & u64::from(SHF_EXECINSTR) == 0 || sh.sh_size == 0 {
            continue;
        }
        let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("").to_string();
        let range = sh.file_range().ok_or_else(|| bad(&name, "has no bytes"))?;
        let code = bytes
            .get(range)
            .ok_or_else(|| bad(&name, "lies past the end of the file"))?;
        if code.len() % 8 != 0 {
            return Err(bad(&name, "is not a whole number of instructions"));
        }
        out.push(Code {
            name,
            index,
            bytes: code.to_vec(),
        });
    }
    Ok(out)
}

fn bad(section: &str, why: &str) -> LoadError {
    LoadError::Object(format!("section {section} {why}"))
}

/// Applies every relocation of the code sections.
pub fn relocate(
    elf: &Elf<'_>,
    code: &mut [Code],
    maps: &MapIndexes<'_>,
) -> Result<Relocated, LoadError> {
    let mut out = Relocated {
        targets: HashMap::new(),
        broken: HashMap::new(),
    };
    for (rel_index, relocs) in &elf.shdr_relocs {
        let Some(target) = elf
            .section_headers
            .get(*rel_index)
            .map(|s| s.sh_info as usize)
        else {
            continue;
        };
        let Some(section) = code.iter_mut().find(|c| c.index == target) else {
            continue;
        };
        for r in relocs.iter() {
            let insn = (r.r_offset / 8) as usize;
            let sym = elf
                .syms
                .get(r.r_sym)
                .ok_or_else(|| bad(&section.name, "has a relocation against a missing symbol"))?;
            let name = elf.strtab.get_at(sym.st_name).unwrap_or("");
            let shndx = sym.st_shndx;
            let opcode = section
                .opcode(insn)
                .ok_or_else(|| bad(&section.name, "has a relocation past its end"))?;
            let imm = section.imm(insn).unwrap_or(0);
            let in_section = sym.st_type() == STT_SECTION;
            if opcode == CALL && section.src(insn) == Some(PSEUDO_KFUNC_CALL) || shndx == 0 {
                match maps.externs.get(name) {
                    Some(&(map, offset)) if opcode == LDDW => {
                        section.set_src(insn, PSEUDO_MAP_IDX_VALUE);
                        section.set_imm(insn, map as i32);
                        section.set_imm(insn + 1, offset as i32);
                    }
                    _ => {
                        out.broken.entry(target).or_default().push((
                            insn,
                            format!("uses the kernel symbol {name}, which userspace has not"),
                        ));
                    }
                }
            } else if opcode == LDDW && Some(shndx) == maps.maps_section {
                let index = maps.by_name.get(name).ok_or_else(|| {
                    bad(&section.name, &format!("refers to an unknown map {name}"))
                })?;
                section.set_src(insn, PSEUDO_MAP_IDX);
                section.set_imm(insn, *index as i32);
            } else if let (LDDW, Some(&index)) = (opcode, maps.data.get(&shndx)) {
                let offset = i64::from(imm) + sym.st_value as i64;
                section.set_src(insn, PSEUDO_MAP_IDX_VALUE);
                section.set_imm(insn, index as i32);
                section.set_imm(insn + 1, offset as i32);
            } else if is_code(elf, shndx) && (opcode == LDDW || opcode == CALL) {
                let to = if opcode == CALL {
                    // A section symbol's call keeps the callee's offset in
                    // the immediate, relative to the next instruction.
                    let base = (sym.st_value / 8) as i64;
                    if in_section {
                        base + i64::from(imm) + 1
                    } else {
                        base
                    }
                } else {
                    (sym.st_value as i64 + i64::from(imm)) / 8
                };
                let to = usize::try_from(to)
                    .map_err(|_| bad(&section.name, "calls before a section's start"))?;
                if opcode == LDDW {
                    section.set_src(insn, PSEUDO_FUNC);
                }
                out.targets.insert((target, insn), (shndx, to));
            } else {
                return Err(bad(
                    &section.name,
                    &format!("has a relocation against {name:?} that userspace cannot apply"),
                ));
            }
        }
    }
    Ok(out)
}

fn is_code(elf: &Elf<'_>, shndx: usize) -> bool {
    elf.section_headers
        .get(shndx)
        .is_some_and(|s| s.sh_flags & u64::from(SHF_EXECINSTR) != 0)
}

/// A program's place: its section and instruction range.
pub struct Entry {
    pub section: usize,
    pub start: usize,
    pub len: usize,
}

/// The program at `entry` with every subprogram it reaches appended (each
/// callee section whole, once), calls and function references rewritten
/// to the new positions.
pub fn link(code: &[Code], rel: &Relocated, entry: &Entry) -> Result<Vec<u8>, String> {
    let find = |index: usize| code.iter().find(|c| c.index == index);
    let own = find(entry.section).ok_or("its section holds no code")?;
    let mut out = own
        .bytes
        .get(entry.start * 8..(entry.start + entry.len) * 8)
        .ok_or("its symbol lies outside its section")?
        .to_vec();
    // Section index -> where its instruction 0 lands in `out`.
    let mut placed: Vec<(usize, i64)> = vec![(entry.section, -(entry.start as i64))];
    let mut queue = vec![(entry.section, entry.start, entry.start + entry.len)];
    while let Some((section, from, to)) = queue.pop() {
        let broken = rel.broken.get(&section).into_iter().flatten();
        if let Some((_, why)) = broken.into_iter().find(|(i, _)| (from..to).contains(i)) {
            return Err(why.clone());
        }
        let sec = find(section).ok_or("it calls into a section without code")?;
        let base = placed.iter().find(|p| p.0 == section).map_or(0, |p| p.1);
        for i in from..to {
            let opcode = sec.opcode(i);
            let src = sec.src(i);
            let is_call = opcode == Some(CALL) && src == Some(PSEUDO_CALL);
            let is_ref = opcode == Some(LDDW) && src == Some(PSEUDO_FUNC);
            if !is_call && !is_ref {
                continue;
            }
            let (tsec, tinsn) = match rel.targets.get(&(section, i)) {
                Some(&t) => t,
                None => {
                    let t = i as i64 + 1 + i64::from(sec.imm(i).unwrap_or(0));
                    (
                        section,
                        usize::try_from(t).map_err(|_| "a call before its section")?,
                    )
                }
            };
            if tsec == entry.section && !(entry.start..entry.start + entry.len).contains(&tinsn) {
                return Err("it calls a function in another program's section".into());
            }
            let tbase = match placed.iter().find(|p| p.0 == tsec) {
                Some(p) => p.1,
                None => {
                    let callee = find(tsec).ok_or("it calls into a section without code")?;
                    let at = (out.len() / 8) as i64;
                    out.extend_from_slice(&callee.bytes);
                    placed.push((tsec, at));
                    queue.push((tsec, 0, callee.len()));
                    at
                }
            };
            let pos = base + i as i64;
            let new_imm = tbase + tinsn as i64 - (pos + 1);
            let imm = i32::try_from(new_imm).map_err(|_| "the program is too large")?;
            let at = usize::try_from(pos).map_err(|_| "a bad call position")? * 8;
            if let Some(b) = out.get_mut(at + 4..at + 8) {
                b.copy_from_slice(&imm.to_le_bytes());
            }
        }
    }
    Ok(out)
}
