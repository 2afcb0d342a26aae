//! Just enough ELF64 reading to patch an object before load: where a global
//! variable's initial bytes are, and where a program's symbol type is.

const SHT_SYMTAB: u32 = 2;
const SHT_NOBITS: u32 = 8;
const STT_FUNC: u8 = 2;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

struct Section {
    name: usize,
    kind: u32,
    flags: u64,
    offset: usize,
    size: usize,
    link: usize,
}

fn sections(elf: &[u8]) -> Option<Vec<Section>> {
    if elf.get(..4)? != b"\x7fELF" || *elf.get(4)? != 2 || *elf.get(5)? != 1 {
        return None; // not ELF64 little-endian
    }
    let shoff = u64_at(elf, 0x28)? as usize;
    let shentsize = u16_at(elf, 0x3a)? as usize;
    let shnum = u16_at(elf, 0x3c)? as usize;
    (0..shnum)
        .map(|i| {
            let h = shoff.checked_add(i.checked_mul(shentsize)?)?;
            Some(Section {
                name: u32_at(elf, h)? as usize,
                kind: u32_at(elf, h + 4)?,
                flags: u64_at(elf, h + 8)?,
                offset: u64_at(elf, h + 0x18)? as usize,
                size: u64_at(elf, h + 0x20)? as usize,
                link: u32_at(elf, h + 0x28)? as usize,
            })
        })
        .collect()
}

fn c_str(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    Some(&rest[..rest.iter().position(|&c| c == 0)?])
}

/// A symbol: its section index, value, size, and the file offset of st_info.
pub(crate) struct Symbol {
    pub shndx: usize,
    pub value: usize,
    pub size: usize,
    pub info_offset: usize,
    pub info: u8,
}

pub(crate) fn symbol(elf: &[u8], name: &str) -> Option<Symbol> {
    let secs = sections(elf)?;
    let symtab = secs.iter().find(|s| s.kind == SHT_SYMTAB)?;
    let strtab = secs.get(symtab.link)?;
    for i in 0..symtab.size / 24 {
        let at = symtab.offset + i * 24;
        let name_off = u32_at(elf, at)? as usize;
        if c_str(elf, strtab.offset + name_off)? != name.as_bytes() {
            continue;
        }
        return Some(Symbol {
            shndx: u16_at(elf, at + 6)? as usize,
            value: u64_at(elf, at + 8)? as usize,
            size: u64_at(elf, at + 16)? as usize,
            info_offset: at + 4,
            info: *elf.get(at + 4)?,
        });
    }
    None
}

/// File range of a global variable's initial bytes (in .rodata or .data).
pub(crate) fn global_range(elf: &[u8], name: &str) -> Option<std::ops::Range<usize>> {
    let sym = symbol(elf, name)?;
    let sec = sections(elf)?.into_iter().nth(sym.shndx)?;
    if sec.kind == SHT_NOBITS || sym.value + sym.size > sec.size {
        return None;
    }
    let start = sec.offset + sym.value;
    Some(start..start + sym.size)
}

/// The st_info offset of the function symbol `name`.
pub(crate) fn function_info_offset(elf: &[u8], name: &str) -> Option<usize> {
    let sym = symbol(elf, name)?;
    (sym.info & 0xf == STT_FUNC).then_some(sym.info_offset)
}

/// Programs: global functions in executable sections other than `.text`.
pub(crate) fn program_names(elf: &[u8]) -> Vec<String> {
    program_names_inner(elf).unwrap_or_default()
}

fn program_names_inner(elf: &[u8]) -> Option<Vec<String>> {
    const SHF_EXECINSTR: u64 = 4;
    const STB_GLOBAL: u8 = 1;
    let secs = sections(elf)?;
    let shstrtab = secs.get(u16_at(elf, 0x3e)? as usize)?;
    let symtab = secs.iter().find(|s| s.kind == SHT_SYMTAB)?;
    let strtab = secs.get(symtab.link)?;
    let mut names = Vec::new();
    for i in 0..symtab.size / 24 {
        let at = symtab.offset + i * 24;
        let info = *elf.get(at + 4)?;
        if info & 0xf != STT_FUNC || info >> 4 != STB_GLOBAL {
            continue;
        }
        let Some(sec) = secs.get(u16_at(elf, at + 6)? as usize) else {
            continue;
        };
        if sec.flags & SHF_EXECINSTR == 0 || c_str(elf, shstrtab.offset + sec.name)? == b".text" {
            continue;
        }
        let name = c_str(elf, strtab.offset + u32_at(elf, at)? as usize)?;
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    Some(names)
}
