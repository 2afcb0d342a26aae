//! The masked-BTF pass: a copy of kernel BTF in which some types carry
//! another name, so CO-RE finds them missing.

use super::{le_u32, Btf, Kind};
use crate::ObjectError;

/// A copy of `bytes` (raw BTF) in which the structs, unions and forward
/// declarations called one of `names` carry another name, so CO-RE
/// existence checks against it find them missing. Everything else, ids
/// included, is unchanged.
pub fn hide_types(bytes: &[u8], names: &[&str]) -> Result<Vec<u8>, ObjectError> {
    let btf = Btf::parse(bytes)?;
    let hdr_len = le_u32(bytes, 4) as usize;
    let str_off = le_u32(bytes, 16) as usize;
    let str_len = le_u32(bytes, 20) as usize;
    let strings_end = hdr_len + str_off + str_len;
    let mut out = bytes.to_vec();
    let mut extra = Vec::new();
    for (id, t) in btf.types() {
        let composite = matches!(
            t.kind,
            Kind::Struct { .. } | Kind::Union { .. } | Kind::Fwd { .. }
        );
        if !composite || !names.contains(&t.name.as_str()) {
            continue;
        }
        // No "___" in the new name: CO-RE ignores what follows it.
        let new_off = (str_len + extra.len()) as u32;
        extra.extend_from_slice(format!("unibpf_masked_{}", t.name).as_bytes());
        extra.push(0);
        let at = btf.record_offsets[id as usize - 1];
        out[at..at + 4].copy_from_slice(&new_off.to_le_bytes());
    }
    if extra.is_empty() {
        return Ok(out);
    }
    // The string section must stay last for the appended names to follow it.
    if strings_end != bytes.len() {
        return Err(ObjectError::Btf(
            "the string section is not at the end; cannot append names".into(),
        ));
    }
    out.extend_from_slice(&extra);
    out[20..24].copy_from_slice(&((str_len + extra.len()) as u32).to_le_bytes());
    Ok(out)
}
