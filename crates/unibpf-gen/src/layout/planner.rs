//! The planner: walks BTF from a type to everything it embeds by value and
//! lays each struct and union out member by member, within limits that keep
//! hostile BTF from exhausting the stack or memory.

use std::collections::HashSet;

use unibpf_object::btf::{IntEncoding, Member};
use unibpf_object::{Btf, Kind, TypeId};

use super::{enum_values, Bitfield, Composite, FieldType, Item, Plan};
use crate::GenError;

/// Structs and unions nested by value deeper than this are refused: an
/// anonymous struct can contain itself (only named ones are tracked in
/// `in_progress`), and each level is a native stack frame.
const MAX_NESTING: usize = 64;
/// Members laid out per plan, at most. Anonymous types are laid out anew
/// wherever they are used, so an object of a few hundred bytes could
/// otherwise ask for 2^64 of them; real objects need thousands.
const MAX_MEMBERS: usize = 1 << 20;
/// Whole bytes between two bitfields that still share a run: more than
/// alignment ever leaves (`int :0` skips at most 7).
const MAX_BITFIELD_GAP: u64 = 8;

/// Builds one [`Plan`]: each named struct or union once, after what it
/// embeds by value.
pub(super) struct Planner<'a> {
    btf: &'a Btf,
    done: HashSet<TypeId>,
    in_progress: HashSet<TypeId>,
    pub(super) plan: Plan,
    /// Structs and unions being laid out, outermost first.
    depth: usize,
    /// Members still allowed (of MAX_MEMBERS).
    budget: usize,
}

impl<'a> Planner<'a> {
    pub(super) fn new(btf: &'a Btf) -> Self {
        Planner {
            btf,
            done: HashSet::new(),
            in_progress: HashSet::new(),
            plan: Plan::default(),
            depth: 0,
            budget: MAX_MEMBERS,
        }
    }
}

impl Planner<'_> {
    /// Plans the named composite `id` after everything it embeds by value.
    pub(super) fn composite(&mut self, id: TypeId) -> Result<(), GenError> {
        if self.done.contains(&id) {
            return Ok(());
        }
        if !self.in_progress.insert(id) {
            return Err(GenError::Layout(format!(
                "{} contains itself by value",
                self.btf.ty(id).name
            )));
        }
        let c = self.layout(id)?;
        self.in_progress.remove(&id);
        self.done.insert(id);
        self.plan.composites.push(c);
        Ok(())
    }

    /// Lays out struct or union `id`, within the nesting and member limits.
    fn layout(&mut self, id: TypeId) -> Result<Composite, GenError> {
        let t = self.btf.ty(id);
        let members = match &t.kind {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => members.len(),
            _ => 0,
        };
        let what = if t.name.is_empty() {
            "an anonymous struct or union"
        } else {
            &t.name
        };
        if self.depth >= MAX_NESTING {
            return Err(GenError::Layout(format!(
                "{what}: structs and unions nest more than {MAX_NESTING} deep"
            )));
        }
        self.budget = self.budget.checked_sub(members).ok_or_else(|| {
            GenError::Layout(format!(
                "{what}: more than {MAX_MEMBERS} members to lay out"
            ))
        })?;
        self.depth += 1;
        let composite = self.layout_members(id);
        self.depth -= 1;
        composite
    }

    /// Lays out the members of struct or union `id` in order, with padding
    /// wherever BTF leaves a gap.
    fn layout_members(&mut self, id: TypeId) -> Result<Composite, GenError> {
        let t = self.btf.ty(id);
        let (union, size, members) = match &t.kind {
            Kind::Struct { size, members } => (false, *size, members),
            Kind::Union { size, members } => (true, *size, members),
            _ => unreachable!("layout() is only called on structs and unions"),
        };
        let size = u64::from(size);
        let mut items = Vec::new();
        let mut cursor_bits: u64 = 0;
        let mut i = 0;
        while i < members.len() {
            let m = &members[i];
            if m.bitfield_size.is_some() && !union {
                let run = bitfield_run(&members[i..]);
                i += run.len();
                cursor_bits = self.bitfield_run_items(&t.name, run, cursor_bits, &mut items)?;
                continue;
            }
            i += 1;
            cursor_bits = self.field_items(&t.name, m, union, cursor_bits, &mut items)?;
        }
        end_padding(&t.name, union, size, cursor_bits, &mut items)?;
        Ok(Composite {
            union,
            name: t.name.clone(),
            size,
            items,
        })
    }

    /// Adds a run of bitfields of struct `owner` to `items` as one
    /// [`Item::Bitfields`], after padding from `cursor_bits` if the run
    /// starts later; returns the bit the run ends at, rounded up to a byte.
    fn bitfield_run_items(
        &self,
        owner: &str,
        run: &[Member],
        cursor_bits: u64,
        items: &mut Vec<Item>,
    ) -> Result<u64, GenError> {
        let start_byte = cursor_bits.div_ceil(8);
        let first = run.first().map_or(0, |m| u64::from(m.bit_offset));
        let run_start = (first / 8).max(start_byte);
        if run_start > start_byte {
            items.push(Item::Pad {
                bytes: run_start - start_byte,
            });
        }
        // Each bitfield after the one before it: the renderers place
        // them in order, and bit positions count from run_start.
        let mut end_bit = run_start * 8;
        for b in run {
            let at = u64::from(b.bit_offset);
            if at < end_bit {
                return Err(GenError::Layout(format!(
                    "{}.{} overlaps the member before it",
                    owner, b.name
                )));
            }
            end_bit = at + u64::from(b.bitfield_size.unwrap_or(0));
        }
        let end_byte = end_bit.div_ceil(8);
        let fields = run
            .iter()
            .map(|b| self.bitfield(b, run_start))
            .collect::<Result<Vec<_>, _>>()?;
        items.push(Item::Bitfields {
            offset: run_start,
            bytes: end_byte - run_start,
            fields,
        });
        Ok(end_byte * 8)
    }

    /// Adds member `m` (not a bitfield of a struct) of `owner` to `items`,
    /// after padding from `cursor_bits`; returns the new cursor, which a
    /// union's members never move.
    fn field_items(
        &mut self,
        owner: &str,
        m: &Member,
        union: bool,
        cursor_bits: u64,
        items: &mut Vec<Item>,
    ) -> Result<u64, GenError> {
        let offset = u64::from(m.bit_offset) / 8;
        if m.bit_offset % 8 != 0 {
            return Err(GenError::Layout(format!(
                "{}.{} starts inside a byte but is not a bitfield",
                owner, m.name
            )));
        }
        let (ty, dims) = self.field_type(m.ty, owner, &m.name)?;
        let msize = self
            .btf
            .size_of(m.ty)
            .ok_or_else(|| GenError::Layout(format!("{}.{} has no size", owner, m.name)))?;
        let here = if union { 0 } else { cursor_bits.div_ceil(8) };
        if offset < here {
            return Err(GenError::Layout(format!(
                "{}.{} overlaps the member before it",
                owner, m.name
            )));
        }
        if offset > here {
            items.push(Item::Pad {
                bytes: offset - here,
            });
        }
        items.push(Item::Field {
            name: m.name.clone(),
            ty,
            dims,
            offset,
            size: msize,
        });
        Ok(if union {
            cursor_bits
        } else {
            (offset + msize) * 8
        })
    }

    fn bitfield(&self, m: &Member, run_start: u64) -> Result<Bitfield, GenError> {
        let resolved = self.btf.resolve(m.ty);
        let (bytes, signed) = match &self.btf.ty(resolved).kind {
            Kind::Int { size, encoding, .. } => (*size, *encoding == IntEncoding::Signed),
            Kind::Enum { size, signed, .. } => (*size, *signed),
            _ => {
                return Err(GenError::Layout(format!(
                    "bitfield {} is not an integer or enum",
                    m.name
                )))
            }
        };
        c_integer(bytes, &format!("bitfield {}", m.name))?;
        let width = m.bitfield_size.unwrap_or(0);
        if u64::from(width) > u64::from(bytes) * 8 {
            return Err(GenError::Layout(format!(
                "bitfield {} is wider than its type",
                m.name
            )));
        }
        Ok(Bitfield {
            name: m.name.clone(),
            // bitfield_run_items() checked that every bitfield of a run
            // starts at or after run_start; a BTF bit offset has at most 24
            // bits.
            bit: (u64::from(m.bit_offset) - run_start * 8) as u32,
            width,
            signed,
            decl_bytes: bytes,
        })
    }

    /// The field type of a member of type `id`, and its array dimensions.
    pub(super) fn field_type(
        &mut self,
        id: TypeId,
        owner: &str,
        member: &str,
    ) -> Result<(FieldType, Vec<u32>), GenError> {
        let mut dims = Vec::new();
        let mut id = self.btf.resolve(id);
        while let Kind::Array { elem, len, .. } = self.btf.ty(id).kind {
            dims.push(len);
            id = self.btf.resolve(elem);
            if dims.len() > 16 {
                return Err(GenError::Layout(format!(
                    "{owner}.{member}: arrays nest too deep"
                )));
            }
        }
        let t = self.btf.ty(id);
        if let Kind::Int { size, .. } | Kind::Enum { size, .. } = &t.kind {
            c_integer(*size, &format!("{owner}.{member}"))?;
        }
        let ty = match &t.kind {
            Kind::Int { size, encoding, .. } => match encoding {
                IntEncoding::Bool => FieldType::Bool,
                IntEncoding::Char => FieldType::Char,
                _ if *size == 1 && t.name == "char" => FieldType::Char,
                IntEncoding::Signed => FieldType::Int {
                    bytes: *size,
                    signed: true,
                },
                IntEncoding::Unsigned => FieldType::Int {
                    bytes: *size,
                    signed: false,
                },
            },
            Kind::Ptr(_) => FieldType::Pointer,
            Kind::Float { size } => FieldType::Float { bytes: *size },
            Kind::Enum {
                size,
                signed,
                values,
                ..
            } => FieldType::Enum {
                name: t.name.clone(),
                bytes: *size,
                signed: *signed || enum_values(*size, *signed, values).any(|(_, v)| v < 0),
            },
            Kind::Struct { .. } | Kind::Union { .. } => {
                let union = matches!(t.kind, Kind::Union { .. });
                if t.name.is_empty() {
                    FieldType::Anonymous(Box::new(self.layout(id)?))
                } else {
                    self.composite(id)?;
                    FieldType::Named {
                        union,
                        name: t.name.clone(),
                    }
                }
            }
            other => {
                return Err(GenError::Layout(format!(
                    "{owner}.{member} has a type with no layout ({})",
                    kind_name(other)
                )))
            }
        };
        Ok((ty, dims))
    }
}

/// The run of consecutive bitfields that `members` starts with (its first
/// member is a bitfield). One that starts more than MAX_BITFIELD_GAP bytes
/// after the end of the one before starts a new run, so the bytes between
/// are one padding array instead of an unnamed bitfield per 64 bits.
fn bitfield_run(members: &[Member]) -> &[Member] {
    let mut len = 1;
    while let (Some(prev), Some(next)) = (members.get(len - 1), members.get(len)) {
        if next.bitfield_size.is_none() {
            break;
        }
        let prev_end = u64::from(prev.bit_offset) + u64::from(prev.bitfield_size.unwrap_or(0));
        if u64::from(next.bit_offset) / 8 > prev_end.div_ceil(8) + MAX_BITFIELD_GAP {
            break;
        }
        len += 1;
    }
    &members[..len.min(members.len())]
}

/// Pads `items` out to the composite's `size` once its members are placed:
/// a struct after its last member, a union with a member as wide as itself
/// if none is.
fn end_padding(
    owner: &str,
    union: bool,
    size: u64,
    cursor_bits: u64,
    items: &mut Vec<Item>,
) -> Result<(), GenError> {
    if union {
        let widest = items
            .iter()
            .map(|it| match it {
                Item::Field { size, .. } => *size,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        if widest < size {
            // A union's size may exceed every member (alignment); a
            // padding member as wide as the union carries the rest.
            items.push(Item::Pad { bytes: size });
        }
    } else {
        let end = cursor_bits.div_ceil(8);
        if end > size {
            return Err(GenError::Layout(format!(
                "{}'s members run past its size",
                owner
            )));
        }
        if end < size {
            items.push(Item::Pad { bytes: size - end });
        }
    }
    Ok(())
}

/// Integers and enums are declared as C's fixed-size integers, which exist
/// for these sizes only.
fn c_integer(bytes: u32, what: &str) -> Result<(), GenError> {
    match bytes {
        1 | 2 | 4 | 8 | 16 => Ok(()),
        _ => Err(GenError::Layout(format!(
            "{what} is an integer of {bytes} bytes"
        ))),
    }
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Void => "void",
        Kind::Fwd { .. } => "a forward declaration",
        Kind::Func { .. } | Kind::FuncProto { .. } => "a function",
        _ => "not a value type",
    }
}
