//! Plans wasm32 definitions that reproduce the BPF side's byte layout exactly:
//! every member at the offset BTF records, explicit padding between, pointers
//! as 64-bit integers, bitfields at their exact bit positions. Renderers for C
//! and Rust turn a plan into text.

mod planner;

use std::collections::HashSet;

use unibpf_object::{Btf, Kind, TypeId};

use crate::GenError;
use planner::Planner;

/// A scalar or composite, as a field type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Int {
        bytes: u32,
        signed: bool,
    },
    Char,
    Bool,
    Float {
        bytes: u32,
    },
    /// A BPF-side pointer: 64 bits whatever the guest's pointer size.
    Pointer,
    /// An enum, stored as an integer of its size.
    Enum {
        name: String,
        bytes: u32,
        signed: bool,
    },
    /// A named struct or union defined elsewhere in the output.
    Named {
        union: bool,
        name: String,
    },
    /// An anonymous struct or union, defined inline.
    Anonymous(Box<Composite>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Explicit padding of this many bytes.
    Pad { bytes: u64 },
    Field {
        name: String,
        ty: FieldType,
        /// Array dimensions, outermost first.
        dims: Vec<u32>,
        offset: u64,
        size: u64,
    },
    /// Consecutive bitfields sharing `bytes` bytes of storage at `offset`.
    Bitfields {
        offset: u64,
        bytes: u64,
        fields: Vec<Bitfield>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitfield {
    pub name: String,
    /// Bit position within the run's storage.
    pub bit: u32,
    pub width: u32,
    pub signed: bool,
    /// The declared integer size, for the C declaration.
    pub decl_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composite {
    pub union: bool,
    /// Empty for anonymous types.
    pub name: String,
    pub size: u64,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumDef {
    pub name: String,
    pub values: Vec<(String, i64)>,
}

/// Everything to emit, dependencies first.
#[derive(Debug, Default)]
pub struct Plan {
    pub enums: Vec<EnumDef>,
    pub composites: Vec<Composite>,
}

/// Plans every named struct, union and enum of `btf` (or those named in
/// `only`, with what they depend on).
pub fn plan(btf: &Btf, only: Option<&[String]>) -> Result<Plan, GenError> {
    let mut p = Planner::new(btf);
    let mut seen_names = HashSet::new();
    for (id, t) in btf.types() {
        if t.name.is_empty() {
            continue;
        }
        if !only.is_none_or(|names| names.contains(&t.name)) {
            continue;
        }
        match &t.kind {
            Kind::Struct { .. } | Kind::Union { .. }
                if seen_names.insert(("struct", t.name.clone())) =>
            {
                p.composite(id)?;
            }
            Kind::Enum {
                size,
                signed,
                values,
                ..
            } if seen_names.insert(("enum", t.name.clone())) => {
                p.plan.enums.push(EnumDef {
                    name: t.name.clone(),
                    values: enum_values(*size, *signed, values)
                        .map(|(n, v)| (n.to_string(), v))
                        .collect(),
                });
            }
            _ => {}
        }
    }
    if let Some(names) = only {
        for n in names {
            if !seen_names.iter().any(|(_, s)| s == n) {
                return Err(GenError::NoSuchType(n.clone()));
            }
        }
    }
    Ok(p.plan)
}

/// A global data section as a struct called `name`: its global variables
/// at their offsets (static ones are private to the BPF side and left as
/// padding), padded to the section's size. The plan holds the named types the
/// variables use.
pub fn plan_datasec(btf: &Btf, datasec: TypeId, name: &str) -> Result<(Plan, Composite), GenError> {
    let Kind::Datasec { size, vars } = &btf.ty(datasec).kind else {
        return Err(GenError::Invalid(format!(
            "type {datasec} is not a data section"
        )));
    };
    let mut p = Planner::new(btf);
    let mut vars: Vec<_> = vars
        .iter()
        .filter_map(|v| match &btf.ty(v.var).kind {
            Kind::Var { ty, linkage } if *linkage == 1 => Some((
                btf.ty(v.var).name.clone(),
                *ty,
                u64::from(v.offset),
                u64::from(v.size),
            )),
            _ => None,
        })
        .collect();
    vars.sort_by_key(|v| v.2);
    let mut items = Vec::new();
    let mut cursor = 0u64;
    for (vname, ty, offset, vsize) in vars {
        if offset < cursor {
            return Err(GenError::Layout(format!(
                "{name}.{vname} overlaps the variable before it"
            )));
        }
        if offset > cursor {
            items.push(Item::Pad {
                bytes: offset - cursor,
            });
        }
        let (fty, dims) = p.field_type(ty, name, &vname)?;
        items.push(Item::Field {
            name: vname,
            ty: fty,
            dims,
            offset,
            size: vsize,
        });
        cursor = offset + vsize;
    }
    let size = u64::from(*size);
    if cursor > size {
        return Err(GenError::Layout(format!(
            "{name}'s variables run past the section"
        )));
    }
    if cursor < size {
        items.push(Item::Pad {
            bytes: size - cursor,
        });
    }
    let composite = Composite {
        union: false,
        name: name.to_string(),
        size,
        items,
    };
    Ok((p.plan, composite))
}

/// An enum's values as the source declared them. Compilers before BTF's
/// signedness flag record 4-byte values as unsigned, so -3 reads as
/// 4294967293; C enum constants are ints, so those are read back as i32.
fn enum_values(
    size: u32,
    signed: bool,
    values: &[unibpf_object::btf::EnumValue],
) -> impl Iterator<Item = (&str, i64)> {
    values.iter().map(move |v| {
        let value = if !signed && size <= 4 && v.value > i64::from(i32::MAX) {
            i64::from(v.value as u32 as i32)
        } else {
            v.value
        };
        (v.name.as_str(), value)
    })
}

#[cfg(test)]
mod tests;
