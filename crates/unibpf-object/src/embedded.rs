//! BPF objects embedded in other files.
//!
//! A control plane compiled to wasm carries its BPF objects as byte arrays
//! in the module's data section (what `bpftool gen skeleton` and our
//! generator emit). Tools that work on the objects, such as `unibpf btf
//! min`, take the `.wasm` itself and find them here: an object is a 64-bit
//! little-endian ELF header with `e_machine == EM_BPF`, and its length is
//! where its last section or its section header table ends.

const MAGIC: &[u8; 4] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EM_BPF: u16 = 247;
const EHDR_LEN: usize = 64;
const SHDR_LEN: usize = 64;
const SHT_NOBITS: u32 = 8;

/// Every BPF ELF object found in `bytes`, in order, as slices of it.
/// Candidates whose headers do not add up (cut short, tables outside the
/// bytes) are skipped: the bytes are arbitrary data that may contain the
/// magic by chance.
pub fn embedded_objects(bytes: &[u8]) -> Vec<&[u8]> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(&bytes[from..], MAGIC).map(|p| p + from) {
        match object_len(&bytes[pos..]) {
            Some(len) => {
                found.push(&bytes[pos..pos + len]);
                from = pos + len;
            }
            None => from = pos + 1,
        }
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?)).ok()
}

/// The length of the BPF object at the start of `b`, if one is there.
fn object_len(b: &[u8]) -> Option<usize> {
    if b.len() < EHDR_LEN || b[4] != ELFCLASS64 || b[5] != ELFDATA2LSB {
        return None;
    }
    if u16_at(b, 18)? != EM_BPF || usize::from(u16_at(b, 58)?) != SHDR_LEN {
        return None;
    }
    let shoff = u64_at(b, 40)?;
    let shnum = usize::from(u16_at(b, 60)?);
    let table_end = shnum.checked_mul(SHDR_LEN)?.checked_add(shoff)?;
    if shoff < EHDR_LEN || table_end > b.len() {
        return None;
    }
    let mut end = table_end;
    for i in 0..shnum {
        let sh = shoff + i * SHDR_LEN;
        if u32_at(b, sh + 4)? == SHT_NOBITS {
            continue;
        }
        let data_end = u64_at(b, sh + 24)?.checked_add(u64_at(b, sh + 32)?)?;
        if data_end > b.len() {
            return None;
        }
        end = end.max(data_end);
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BPF ELF with one 8-byte section after the header and the
    /// section header table (a null entry and that section) after it.
    fn tiny_object() -> Vec<u8> {
        let mut o = vec![0u8; EHDR_LEN + 8 + 2 * SHDR_LEN];
        o[..4].copy_from_slice(MAGIC);
        o[4] = ELFCLASS64;
        o[5] = ELFDATA2LSB;
        o[18..20].copy_from_slice(&EM_BPF.to_le_bytes());
        o[40..48].copy_from_slice(&((EHDR_LEN + 8) as u64).to_le_bytes());
        o[58..60].copy_from_slice(&(SHDR_LEN as u16).to_le_bytes());
        o[60..62].copy_from_slice(&2u16.to_le_bytes());
        let sh = EHDR_LEN + 8 + SHDR_LEN;
        o[sh + 4..sh + 8].copy_from_slice(&1u32.to_le_bytes());
        o[sh + 24..sh + 32].copy_from_slice(&(EHDR_LEN as u64).to_le_bytes());
        o[sh + 32..sh + 40].copy_from_slice(&8u64.to_le_bytes());
        o
    }

    #[test]
    fn objects_are_found_between_other_bytes() {
        let object = tiny_object();
        let mut blob = b"\x7fELF but not an object ".to_vec();
        blob.extend_from_slice(&object);
        blob.extend_from_slice(b"between");
        blob.extend_from_slice(&object);
        let found = embedded_objects(&blob);
        assert_eq!(found, vec![&object[..], &object[..]]);
    }

    #[test]
    fn objects_cut_short_or_not_bpf_are_skipped() {
        let object = tiny_object();
        assert!(embedded_objects(&object[..object.len() - 1]).is_empty());
        let mut x86 = object.clone();
        x86[18..20].copy_from_slice(&62u16.to_le_bytes());
        assert!(embedded_objects(&x86).is_empty());
        let mut huge = object.clone();
        huge[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(embedded_objects(&huge).is_empty());
        let mut past = object;
        let sh = EHDR_LEN + 8 + SHDR_LEN;
        past[sh + 32..sh + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(embedded_objects(&past).is_empty());
    }
}
