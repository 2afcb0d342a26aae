//! CO-RE: patching each relocated instruction with what its relocation
//! comes to against the target BTF (`unibpf_object::min_core::resolve`
//! matches relocations to target types exactly as libbpf does; this turns
//! the match into the value libbpf would write).

use unibpf_object::btf_ext::{CoreObject, CoreReloKind};
use unibpf_object::min_core::{resolve, CandidateResult, Resolved};
use unibpf_object::Btf;

use super::code::{Code, CLASS_ALU, CLASS_ALU64, CLASS_LD, CLASS_LDX, CLASS_ST, CLASS_STX};
use super::LoadError;

/// The helper id libbpf writes over an instruction whose relocation
/// failed: the kernel's verifier names it if the instruction can run; our
/// helpers name it when it runs.
pub const POISON_HELPER: i32 = 0xbad2310;

/// A relocation that could not be resolved and was poisoned; reported at
/// load time so a missing field is named before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poisoned {
    pub section: String,
    pub insn: usize,
    pub what: String,
}

/// Applies every CO-RE relocation of `elf` to `code` (instructions per
/// section) against `target`; returns the poisoned ones.
pub fn apply(elf: &[u8], target: &Btf, code: &mut [Code]) -> Result<Vec<Poisoned>, LoadError> {
    let object = match CoreObject::parse(elf) {
        Ok(o) => o,
        // No .BTF: no relocations either (nothing to relocate against).
        Err(unibpf_object::ObjectError::NoBtf) => return Ok(Vec::new()),
        Err(e) => return Err(LoadError::Object(e.to_string())),
    };
    if object.relos().next().is_none() {
        return Ok(Vec::new());
    }
    let described: Vec<(String, String)> = object
        .relos()
        .map(|(_, r)| (type_name(&object.btf, r.type_id), r.access_str.clone()))
        .collect();
    let resolved = resolve(std::slice::from_ref(&object), target)
        .map_err(|e| LoadError::Object(format!("CO-RE: {e}")))?;
    let mut poisoned = Vec::new();
    for (r, (root, access)) in resolved.iter().zip(described) {
        let Some(section) = code.iter_mut().find(|c| c.name == r.section) else {
            return Err(LoadError::Object(format!(
                "CO-RE relocation in section {}, which holds no code",
                r.section
            )));
        };
        let insn = (r.insn_off / 8) as usize;
        match value(r)? {
            Some(v) => patch(section, insn, v, r)?,
            None => {
                section.poison(insn);
                poisoned.push(Poisoned {
                    section: r.section.clone(),
                    insn,
                    what: format!("{} of {root} (access {access})", r.kind.name()),
                });
            }
        }
    }
    Ok(poisoned)
}

fn type_name(btf: &Btf, id: unibpf_object::TypeId) -> String {
    match btf.get(btf.resolve(id)) {
        Some(t) if !t.name.is_empty() => t.name.clone(),
        _ => format!("type {id}"),
    }
}

/// The value the relocation comes to; None poisons the instruction.
fn value(r: &Resolved) -> Result<Option<i64>, LoadError> {
    let first = r
        .results
        .iter()
        .find(|c| !matches!(c, CandidateResult::Error(_)));
    let exists = first.is_some();
    use CoreReloKind::*;
    Ok(match (r.kind, first) {
        (FieldExists | TypeExists | EnumvalExists, _) => Some(exists as i64),
        // The instruction already holds the local id.
        (TypeIdLocal, _) => Some(0),
        (_, None) => None,
        (TypeMatches, Some(CandidateResult::Type { compatible, .. })) => {
            Some(compatible.unwrap_or(false) as i64)
        }
        (TypeSize, Some(CandidateResult::Type { size, .. })) => size.map(|s| s as i64),
        // Ids of our own BTF mean nothing to anything a program calls.
        (TypeIdTarget, _) => None,
        (EnumvalValue, Some(CandidateResult::Enumval(v))) => Some(*v),
        (
            kind,
            Some(CandidateResult::Field {
                bit_offset,
                bitfield,
                size,
                signed,
            }),
        ) => field_value(kind, *bit_offset, *bitfield, *size, *signed),
        (kind, Some(other)) => {
            return Err(LoadError::Object(format!(
                "CO-RE: {} relocation matched as {other:?}",
                kind.name()
            )))
        }
    })
}

/// Field relocations, for a little-endian target. Bitfields are loaded
/// through the smallest aligned power-of-two word holding them, as libbpf
/// computes it.
fn field_value(
    kind: CoreReloKind,
    bit_offset: u64,
    bitfield: Option<u32>,
    size: Option<u64>,
    signed: bool,
) -> Option<i64> {
    let size = size?;
    let (byte_off, byte_size, bit_size) = match bitfield {
        None => (bit_offset / 8, size, size * 8),
        Some(bits) => {
            let bits = u64::from(bits);
            let mut word = size.max(1);
            loop {
                let off = bit_offset / 8 / word * word;
                if bit_offset + bits - off * 8 <= word * 8 {
                    break (off, word, bits);
                }
                if word >= 8 {
                    return None;
                }
                word *= 2;
            }
        }
    };
    use CoreReloKind::*;
    Some(match kind {
        FieldByteOffset => byte_off as i64,
        FieldByteSize => byte_size as i64,
        FieldSigned => signed as i64,
        FieldLShiftU64 => (64 - (bit_offset + bit_size - byte_off * 8)) as i64,
        FieldRShiftU64 => (64 - bit_size) as i64,
        _ => return None,
    })
}

/// Writes `value` where the instruction keeps what the relocation is
/// about: the immediate of an ALU or 64-bit load, the offset of a memory
/// access.
fn patch(section: &mut Code, insn: usize, value: i64, r: &Resolved) -> Result<(), LoadError> {
    if r.kind == CoreReloKind::TypeIdLocal {
        return Ok(());
    }
    let bad = |why: &str| {
        LoadError::Object(format!(
            "CO-RE {} relocation at {}+{}: {why}",
            r.kind.name(),
            r.section,
            r.insn_off
        ))
    };
    let code = section
        .opcode(insn)
        .ok_or_else(|| bad("no instruction there"))?;
    match code & 0x07 {
        CLASS_ALU | CLASS_ALU64 => {
            let v = i32::try_from(value).map_err(|_| bad("value does not fit an immediate"))?;
            section.set_imm(insn, v);
        }
        CLASS_LDX | CLASS_ST | CLASS_STX => {
            let v = i16::try_from(value).map_err(|_| bad("offset does not fit 16 bits"))?;
            section.set_off(insn, v);
        }
        CLASS_LD if code == 0x18 => {
            section.set_imm(insn, value as i32);
            section.set_imm(insn + 1, (value >> 32) as i32);
        }
        _ => return Err(bad("not an instruction CO-RE relocates")),
    }
    Ok(())
}
