//! The kept types as a new BTF: ids renumbered in their original order,
//! structs and unions with only their kept members (at their original
//! offsets, sizes unchanged), enums with only their kept enumerators.

use super::keep::Keep;
use crate::btf::{Kind, Member, Type, TypeId};
use crate::ObjectError;

/// The kept types, in the order of their old ids; new id = index + 1.
pub(crate) fn kept_types(keep: &Keep<'_>) -> Result<Vec<Type>, ObjectError> {
    let mut new_ids = vec![0 as TypeId; keep.types.len()];
    let mut next: TypeId = 1;
    for (id, kept) in keep.types.iter().enumerate().skip(1) {
        if *kept {
            new_ids[id] = next;
            next += 1;
        }
    }
    let remap = |id: TypeId| -> Result<TypeId, ObjectError> {
        match new_ids.get(id as usize) {
            _ if id == 0 => Ok(0),
            Some(&new) if new != 0 => Ok(new),
            _ => Err(ObjectError::Btf(format!(
                "min-core: type {id} is referred to but was not kept"
            ))),
        }
    };
    let mut out = Vec::with_capacity(next as usize - 1);
    for (id, t) in keep.btf.types() {
        if !keep.types[id as usize] {
            continue;
        }
        let parts = keep.parts.get(&id);
        let kept = |i: usize| parts.is_some_and(|p| p.contains(&i));
        let kind = match &t.kind {
            Kind::Struct { size, members } => Kind::Struct {
                size: *size,
                members: kept_members(members, kept, &remap)?,
            },
            Kind::Union { size, members } => Kind::Union {
                size: *size,
                members: kept_members(members, kept, &remap)?,
            },
            Kind::Enum {
                size,
                signed,
                values,
                wide,
            } => Kind::Enum {
                size: *size,
                signed: *signed,
                values: (values.iter().enumerate())
                    .filter(|(i, _)| kept(*i))
                    .map(|(_, v)| v.clone())
                    .collect(),
                wide: *wide,
            },
            // Sections are only ever kept by name, without variables.
            Kind::Datasec { size, .. } => Kind::Datasec {
                size: *size,
                vars: Vec::new(),
            },
            Kind::DeclTag { ty, component } => Kind::DeclTag {
                ty: remap(*ty)?,
                component: new_component(keep, *ty, *component),
            },
            other => other.map_refs(&remap)?,
        };
        out.push(Type {
            name: t.name.clone(),
            kind,
        });
    }
    Ok(out)
}

fn kept_members(
    members: &[Member],
    kept: impl Fn(usize) -> bool,
    remap: &impl Fn(TypeId) -> Result<TypeId, ObjectError>,
) -> Result<Vec<Member>, ObjectError> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        if kept(i) {
            out.push(Member {
                ty: remap(m.ty)?,
                ..m.clone()
            });
        }
    }
    Ok(out)
}

/// A tag on member `component` of a composite points at that member's new
/// index (Keep keeps the member); on anything else it is unchanged.
fn new_component(keep: &Keep<'_>, ty: TypeId, component: i32) -> i32 {
    let is_composite = matches!(
        keep.btf.ty(ty).kind,
        Kind::Struct { .. } | Kind::Union { .. }
    );
    match (is_composite, usize::try_from(component)) {
        (true, Ok(c)) => keep
            .parts
            .get(&ty)
            .map_or(0, |p| p.range(..c).count() as i32),
        _ => component,
    }
}
