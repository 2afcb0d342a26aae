//! Finding the BPF objects a module carries: a guest embeds each object's
//! bytes as data (the skeleton's byte array), so they sit whole somewhere
//! in the `.wasm`. Each candidate is checked as a complete ELF.

use goblin::elf::Elf;

/// `EM_BPF`.
const EM_BPF: u16 = 247;
/// `SHT_NOBITS`: a section with no bytes in the file.
const SHT_NOBITS: u32 = 8;

/// A BPF object found in a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// Where its bytes start in the module, and how many.
    pub offset: usize,
    pub len: usize,
    /// [`crate::key_of`] its bytes: what its variants are stored under.
    pub key: String,
    /// Its programs (function symbols in code sections other than .text).
    pub programs: Vec<String>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Whether `bytes` start with a 64-bit little-endian BPF ELF header.
pub(crate) fn is_bpf_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
        && bytes.get(4) == Some(&2)
        && bytes.get(5) == Some(&1)
        && u16_at(bytes, 18) == Some(EM_BPF)
}

/// The length of the ELF at the start of `bytes`: the furthest of its
/// section header table and its sections' contents.
fn elf_len(bytes: &[u8]) -> Option<usize> {
    let shoff = usize::try_from(u64_at(bytes, 0x28)?).ok()?;
    let shentsize = usize::from(u16_at(bytes, 0x3a)?);
    let shnum = usize::from(u16_at(bytes, 0x3c)?);
    if shentsize < 64 {
        return None;
    }
    let mut end = shoff.checked_add(shentsize.checked_mul(shnum)?)?;
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        if u32_at(bytes, sh + 4)? == SHT_NOBITS {
            continue;
        }
        let off = usize::try_from(u64_at(bytes, sh + 0x18)?).ok()?;
        let size = usize::try_from(u64_at(bytes, sh + 0x20)?).ok()?;
        end = end.max(off.checked_add(size)?);
    }
    (end <= bytes.len()).then_some(end)
}

fn programs(elf: &Elf<'_>) -> Vec<String> {
    elf.syms
        .iter()
        .filter(|s| s.is_function() && s.st_bind() == goblin::elf::sym::STB_GLOBAL)
        .filter(|s| {
            elf.section_headers
                .get(s.st_shndx)
                .and_then(|h| elf.shdr_strtab.get_at(h.sh_name))
                .is_some_and(|n| n != ".text")
        })
        .filter_map(|s| elf.strtab.get_at(s.st_name).map(str::to_string))
        .collect()
}

/// Every whole BPF object inside `wasm`, in order.
pub fn embedded_objects(wasm: &[u8]) -> Vec<Embedded> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = wasm
        .get(at..)
        .and_then(|rest| rest.windows(4).position(|w| w == b"\x7fELF"))
    {
        let start = at + found;
        let rest = &wasm[start..];
        let whole = is_bpf_elf(rest)
            .then(|| elf_len(rest))
            .flatten()
            .and_then(|len| Some((len, Elf::parse(&rest[..len]).ok()?)));
        match whole {
            Some((len, elf)) => {
                out.push(Embedded {
                    offset: start,
                    len,
                    key: crate::key_of(&rest[..len]),
                    programs: programs(&elf),
                });
                at = start + len;
            }
            None => at = start + 1,
        }
    }
    out
}
