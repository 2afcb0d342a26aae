//! A relocation's local side: what its access string asks for, read
//! against the object's own BTF the way libbpf reads it (the "local
//! spec"). Only named members and array indices carry over to the target;
//! anonymous members on the way are found again there by name.

use crate::btf::{Btf, Kind, TypeId};
use crate::btf_ext::{CoreRelo, CoreReloKind};

/// One step of a field access that the target must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// A named member, looked up by name in the target; `local_ty` is its
    /// type here, for the compatibility check.
    Member { name: String, local_ty: TypeId },
    /// An array element, or first, the root as an array (`p[0]` is `0`).
    Index(u32),
}

/// What a relocation needs from the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LocalSpec {
    /// Offsets, sizes, signedness or existence of the field at the end of
    /// `access` (starting with the index into the root).
    Field { access: Vec<Access> },
    /// The root type as a whole (exists, size, id, matches).
    Type,
    /// The enumerator called `value` (exists, value).
    Enumval { value: String },
}

/// A relocation with its local root read: the name and kind that pick the
/// target's candidates, and what to match in them.
#[derive(Debug, Clone)]
pub(crate) struct LocalRelo<'a> {
    pub root: TypeId,
    pub root_name: &'a str,
    pub root_kind: &'a Kind,
    pub kind: CoreReloKind,
    pub spec: LocalSpec,
}

/// Reads `relo` against the object's BTF. Errors are what makes libbpf
/// refuse the object: a root that does not exist or has no name, an
/// access string that does not fit the types.
pub(crate) fn local_relo<'a>(btf: &'a Btf, relo: &CoreRelo) -> Result<LocalRelo<'a>, String> {
    let root = btf
        .get(relo.type_id)
        .filter(|_| relo.type_id != 0)
        .ok_or_else(|| format!("type {} does not exist", relo.type_id))?;
    if root.name.is_empty() {
        return Err(format!("type {} has no name", relo.type_id));
    }
    let spec = if relo.kind.is_type() {
        // libbpf compares the string itself.
        if relo.access_str != "0" {
            return Err(format!(
                "access {:?} for a type relocation",
                relo.access_str
            ));
        }
        LocalSpec::Type
    } else if relo.kind.is_enumval() {
        enumval_spec(btf, relo)?
    } else {
        field_spec(btf, relo)?
    };
    Ok(LocalRelo {
        root: relo.type_id,
        root_name: &root.name,
        root_kind: &root.kind,
        kind: relo.kind,
        spec,
    })
}

fn enumval_spec(btf: &Btf, relo: &CoreRelo) -> Result<LocalSpec, String> {
    let Kind::Enum { values, .. } = &btf.ty(btf.resolve(relo.type_id)).kind else {
        return Err(format!("type {} is not an enum", relo.type_id));
    };
    let value = match relo.access[..] {
        [i] => values.get(i as usize),
        _ => None,
    }
    .ok_or_else(|| format!("no enumerator {:?}", relo.access_str))?;
    Ok(LocalSpec::Enumval {
        value: value.name.clone(),
    })
}

/// The previous step, when it was a named member: where a zero-length
/// array may be a flexible one.
#[derive(Clone, Copy)]
struct NamedMember {
    index: usize,
    count: usize,
}

/// A zero-length array is flexible, so any index goes, when it is the
/// last member of its struct and was reached by name.
fn is_flex(prev: Option<NamedMember>, len: u32) -> bool {
    len == 0 && prev.is_some_and(|m| m.index + 1 == m.count)
}

fn field_spec(btf: &Btf, relo: &CoreRelo) -> Result<LocalSpec, String> {
    let at = |i: usize| format!("{:?} at step {i}", relo.access_str);
    if btf.size_of(relo.type_id).is_none() {
        return Err(format!("type {} has no size", relo.type_id));
    }
    let first = relo.access.first().ok_or("an empty access string")?;
    let mut access = vec![Access::Index(*first)];
    let mut id = relo.type_id;
    let mut prev: Option<NamedMember> = None;
    for (i, &idx) in relo.access.iter().enumerate().skip(1) {
        let here = btf.resolve(id);
        match &btf.ty(here).kind {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                let m = members
                    .get(idx as usize)
                    .ok_or_else(|| format!("no member {}", at(i)))?;
                // Anonymous members are not matched by name: the target
                // search goes through them by itself.
                if !m.name.is_empty() {
                    access.push(Access::Member {
                        name: m.name.clone(),
                        local_ty: m.ty,
                    });
                    prev = Some(NamedMember {
                        index: idx as usize,
                        count: members.len(),
                    });
                }
                id = m.ty;
            }
            Kind::Array { elem, len, .. } => {
                if !is_flex(prev, *len) && idx >= *len {
                    return Err(format!("index out of bounds {}", at(i)));
                }
                id = btf.resolve(*elem);
                if btf.size_of(id).is_none() {
                    return Err(format!("an element without a size {}", at(i)));
                }
                access.push(Access::Index(idx));
                prev = None;
            }
            _ => return Err(format!("neither a struct nor an array {}", at(i))),
        }
    }
    Ok(LocalSpec::Field { access })
}

#[cfg(test)]
mod tests;
