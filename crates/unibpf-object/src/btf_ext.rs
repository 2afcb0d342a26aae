//! `.BTF.ext`: the CO-RE relocation records of a BPF object (format:
//! <https://docs.kernel.org/bpf/llvm_reloc.html> and the kernel's BTF
//! documentation, `struct btf_ext_header` and `struct bpf_core_relo`).
//!
//! Each record names an instruction of a program section, a local BTF type
//! (the root), an access string into it (`0:1:2`: array index into the
//! root, then member or element indices) and what the loader must compute
//! against the target kernel's BTF (a field's offset, a type's size, an
//! enum value, ...).

use goblin::elf::Elf;

use crate::btf::{self, Btf, TypeId};
use crate::ObjectError;

const MAGIC: u16 = 0xeb9f;
/// The header up to `line_info_len`; CO-RE records need the 8 bytes after.
const HEADER_WITH_CORE: usize = 32;
/// `sizeof(struct bpf_core_relo)`.
const RELO_SIZE: usize = 16;
/// libbpf's `BPF_CORE_SPEC_MAX_LEN`: the longest access string it takes.
pub const MAX_ACCESS_LEN: usize = 64;

/// `enum bpf_core_relo_kind`, in its numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreReloKind {
    FieldByteOffset,
    FieldByteSize,
    FieldExists,
    FieldSigned,
    FieldLShiftU64,
    FieldRShiftU64,
    TypeIdLocal,
    TypeIdTarget,
    TypeExists,
    TypeSize,
    EnumvalExists,
    EnumvalValue,
    TypeMatches,
}

impl CoreReloKind {
    const ALL: [CoreReloKind; 13] = [
        Self::FieldByteOffset,
        Self::FieldByteSize,
        Self::FieldExists,
        Self::FieldSigned,
        Self::FieldLShiftU64,
        Self::FieldRShiftU64,
        Self::TypeIdLocal,
        Self::TypeIdTarget,
        Self::TypeExists,
        Self::TypeSize,
        Self::EnumvalExists,
        Self::EnumvalValue,
        Self::TypeMatches,
    ];

    pub fn from_raw(raw: u32) -> Option<Self> {
        Self::ALL.get(raw as usize).copied()
    }

    pub fn raw(self) -> u32 {
        self as u32
    }

    /// Relocations that walk the access string through members/elements.
    pub fn is_field(self) -> bool {
        self.raw() <= Self::FieldRShiftU64.raw()
    }

    /// Relocations about the root type as a whole.
    pub fn is_type(self) -> bool {
        matches!(
            self,
            Self::TypeIdLocal
                | Self::TypeIdTarget
                | Self::TypeExists
                | Self::TypeSize
                | Self::TypeMatches
        )
    }

    pub fn is_enumval(self) -> bool {
        matches!(self, Self::EnumvalExists | Self::EnumvalValue)
    }

    /// The name libbpf prints for it.
    pub fn name(self) -> &'static str {
        [
            "byte_off",
            "byte_sz",
            "field_exists",
            "signed",
            "lshift_u64",
            "rshift_u64",
            "local_type_id",
            "target_type_id",
            "type_exists",
            "type_size",
            "enumval_exists",
            "enumval_value",
            "type_matches",
        ][self as usize]
    }
}

/// One `struct bpf_core_relo`, its access string read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction in its section.
    pub insn_off: u32,
    /// The local root type, in the object's own BTF.
    pub type_id: TypeId,
    /// The access string as written (`0:1:2`).
    pub access_str: String,
    /// Its indices.
    pub access: Vec<u32>,
    pub kind: CoreReloKind,
}

/// The CO-RE relocations of one program section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreReloSection {
    /// The ELF section (`tp/sched/sched_process_exec`).
    pub section: String,
    pub relos: Vec<CoreRelo>,
}

/// What CO-RE needs from an object: its BTF (the local types) and its
/// relocations.
#[derive(Debug, Clone)]
pub struct CoreObject {
    pub btf: Btf,
    pub sections: Vec<CoreReloSection>,
}

impl CoreObject {
    /// Reads the `.BTF` and `.BTF.ext` sections of a BPF ELF object (the
    /// last of each name, as libbpf does). An object without `.BTF.ext`
    /// has no relocations; one without `.BTF` is an error.
    pub fn parse(elf_bytes: &[u8]) -> Result<Self, ObjectError> {
        let elf = Elf::parse(elf_bytes).map_err(|e| ObjectError::Elf(e.to_string()))?;
        let raw_btf = last_section(&elf, elf_bytes, ".BTF")?.ok_or(ObjectError::NoBtf)?;
        let btf = Btf::parse(raw_btf)?;
        let sections = match last_section(&elf, elf_bytes, ".BTF.ext")? {
            Some(ext) => parse_core_relos(ext, raw_btf)?,
            None => Vec::new(),
        };
        Ok(Self { btf, sections })
    }

    /// Every relocation, with its section.
    pub fn relos(&self) -> impl Iterator<Item = (&str, &CoreRelo)> {
        self.sections
            .iter()
            .flat_map(|s| s.relos.iter().map(move |r| (s.section.as_str(), r)))
    }
}

fn last_section<'a>(
    elf: &Elf<'_>,
    bytes: &'a [u8],
    name: &str,
) -> Result<Option<&'a [u8]>, ObjectError> {
    let Some(sh) = elf
        .section_headers
        .iter()
        .rev()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))
    else {
        return Ok(None);
    };
    usize::try_from(sh.sh_offset)
        .ok()
        .zip(usize::try_from(sh.sh_size).ok())
        .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
        .map(Some)
        .ok_or_else(|| ObjectError::Elf(format!("section {name} runs past the end of the file")))
}

fn bad(m: impl Into<String>) -> ObjectError {
    ObjectError::BtfExt(m.into())
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// The CO-RE relocation records of a `.BTF.ext` section; names and access
/// strings are offsets into the string section of `raw_btf`, the object's
/// `.BTF`. No CO-RE part (an older header) means no relocations.
pub fn parse_core_relos(ext: &[u8], raw_btf: &[u8]) -> Result<Vec<CoreReloSection>, ObjectError> {
    Ok(parse_core_relos_at(ext, raw_btf)?
        .into_iter()
        .map(|(section, _)| section)
        .collect())
}

/// [`parse_core_relos`] with where each record starts in `ext`, for
/// passes that edit records in place.
pub(crate) fn parse_core_relos_at(
    ext: &[u8],
    raw_btf: &[u8],
) -> Result<Vec<(CoreReloSection, Vec<usize>)>, ObjectError> {
    let strings = btf::Strings::of(raw_btf)?;
    if ext.len() < 8 {
        return Err(bad("shorter than its header"));
    }
    if u16::from_le_bytes([ext[0], ext[1]]) != MAGIC {
        return Err(bad("bad magic"));
    }
    if ext[2] != 1 {
        return Err(bad(format!("version {} (only 1 is known)", ext[2])));
    }
    let hdr_len = le_u32(ext, 4).unwrap_or(0) as usize;
    if hdr_len < HEADER_WITH_CORE {
        return Ok(Vec::new());
    }
    let (Some(off), Some(len)) = (le_u32(ext, 24), le_u32(ext, 28)) else {
        return Err(bad("shorter than its header"));
    };
    if len == 0 {
        return Ok(Vec::new());
    }
    let start = hdr_len
        .checked_add(off as usize)
        .filter(|start| {
            start
                .checked_add(len as usize)
                .is_some_and(|end| end <= ext.len())
        })
        .ok_or_else(|| bad("the CO-RE relocation part runs past the end"))?;
    let data = &ext[start..start + len as usize];
    let mut sections = info_sections(data, &strings)?;
    for (_, positions) in &mut sections {
        for pos in positions {
            *pos += start;
        }
    }
    Ok(sections)
}

/// `ext` without the CO-RE records starting at `drop` (positions as
/// [`parse_core_relos_at`] gives them). The new CO-RE part goes after the
/// rest, the old one stays as unreferenced bytes, and sections left with no
/// record go (libbpf refuses empty ones).
pub(crate) fn without_core_relos(
    ext: &[u8],
    drop: &std::collections::HashSet<usize>,
) -> Result<Vec<u8>, ObjectError> {
    let hdr_len = le_u32(ext, 4).ok_or_else(|| bad("shorter than its header"))? as usize;
    let (Some(off), Some(len)) = (le_u32(ext, 24), le_u32(ext, 28)) else {
        return Err(bad("no CO-RE part"));
    };
    let start = hdr_len
        .checked_add(off as usize)
        .filter(|s| s.checked_add(len as usize).is_some_and(|e| e <= ext.len()))
        .ok_or_else(|| bad("the CO-RE relocation part runs past the end"))?;
    let data = &ext[start..start + len as usize];
    let record_size = le_u32(data, 0).ok_or_else(|| bad("no record size"))? as usize;
    if record_size < RELO_SIZE || record_size % 4 != 0 {
        return Err(bad(format!("CO-RE records of {record_size} bytes")));
    }
    let mut part = data[..4].to_vec();
    let mut pos = 4;
    while pos < data.len() {
        let (Some(name_off), Some(count)) = (le_u32(data, pos), le_u32(data, pos + 4)) else {
            return Err(bad("a section header is cut short"));
        };
        pos += 8;
        let end = (count as usize)
            .checked_mul(record_size)
            .and_then(|n| pos.checked_add(n))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| bad("records run past the end"))?;
        let kept: Vec<&[u8]> = data[pos..end]
            .chunks_exact(record_size)
            .enumerate()
            .filter(|(i, _)| !drop.contains(&(start + pos + i * record_size)))
            .map(|(_, r)| r)
            .collect();
        if !kept.is_empty() {
            part.extend_from_slice(&name_off.to_le_bytes());
            part.extend_from_slice(&(kept.len() as u32).to_le_bytes());
            kept.iter().for_each(|r| part.extend_from_slice(r));
        }
        pos = end;
    }
    let mut out = ext.to_vec();
    while out.len() % 4 != 0 {
        out.push(0);
    }
    let new_off = u32::try_from(out.len() - hdr_len).map_err(|_| bad("too large"))?;
    let new_len = if part.len() > 4 { part.len() } else { 0 };
    if new_len > 0 {
        out.extend_from_slice(&part);
    }
    out[24..28].copy_from_slice(&new_off.to_le_bytes());
    out[28..32].copy_from_slice(&(new_len as u32).to_le_bytes());
    Ok(out)
}

/// The CO-RE part: a record size, then per section its name, a count and
/// that many records. Each section comes with where its records start in
/// `data`.
fn info_sections(
    data: &[u8],
    strings: &btf::Strings<'_>,
) -> Result<Vec<(CoreReloSection, Vec<usize>)>, ObjectError> {
    let record_size = le_u32(data, 0).ok_or_else(|| bad("no record size"))? as usize;
    // Later versions may append fields; we read the ones we know.
    if record_size < RELO_SIZE || record_size % 4 != 0 {
        return Err(bad(format!("CO-RE records of {record_size} bytes")));
    }
    let mut pos = 4;
    let mut sections = Vec::new();
    while pos < data.len() {
        let (Some(name_off), Some(count)) = (le_u32(data, pos), le_u32(data, pos + 4)) else {
            return Err(bad("a section header is cut short"));
        };
        pos += 8;
        let section = strings
            .get(name_off)
            .map_err(|e| bad(format!("section name: {e}")))?;
        if count == 0 {
            return Err(bad(format!("section {section} has no records")));
        }
        let bytes = (count as usize)
            .checked_mul(record_size)
            .and_then(|n| data.get(pos..pos.checked_add(n)?))
            .ok_or_else(|| bad(format!("the records of {section} run past the end")))?;
        let positions = (0..count as usize).map(|i| pos + i * record_size).collect();
        pos += bytes.len();
        let relos = bytes
            .chunks_exact(record_size)
            .map(|r| record(r, strings))
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("{section}: {e}")))?;
        sections.push((CoreReloSection { section, relos }, positions));
    }
    Ok(sections)
}

fn record(r: &[u8], strings: &btf::Strings<'_>) -> Result<CoreRelo, String> {
    let word = |i: usize| le_u32(r, i * 4).unwrap_or(0);
    let kind = CoreReloKind::from_raw(word(3))
        .ok_or_else(|| format!("unknown CO-RE relocation kind {}", word(3)))?;
    let access_str = strings
        .get(word(2))
        .map_err(|e| format!("access string: {e}"))?;
    let access = parse_access(&access_str)?;
    Ok(CoreRelo {
        insn_off: word(0),
        type_id: word(1),
        access_str,
        access,
        kind,
    })
}

/// `0:1:2` into its indices: decimal, separated by `:`, one at least and
/// at most [`MAX_ACCESS_LEN`].
pub fn parse_access(s: &str) -> Result<Vec<u32>, String> {
    let access = s
        .split(':')
        .map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("bad access string {s:?}"));
            }
            part.parse::<u32>()
                .map_err(|_| format!("bad access string {s:?}"))
        })
        .collect::<Result<Vec<u32>, String>>()?;
    if access.len() > MAX_ACCESS_LEN {
        return Err(format!(
            "access string {s:?} is longer than {MAX_ACCESS_LEN}"
        ));
    }
    Ok(access)
}

#[cfg(test)]
mod tests;
