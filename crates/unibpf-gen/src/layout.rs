//! Plans wasm32 definitions that reproduce the BPF side's byte layout exactly:
//! every member at the offset BTF records, explicit padding between, pointers
//! as 64-bit integers, bitfields at their exact bit positions. Renderers for C
//! and Rust turn a plan into text.

use std::collections::HashSet;

use unibpf_object::btf::{IntEncoding, Member};
use unibpf_object::{Btf, Kind, TypeId};

use crate::GenError;

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

struct Planner<'a> {
    btf: &'a Btf,
    done: HashSet<TypeId>,
    in_progress: HashSet<TypeId>,
    plan: Plan,
    /// Structs and unions being laid out, outermost first.
    depth: usize,
    /// Members still allowed (of MAX_MEMBERS).
    budget: usize,
}

impl<'a> Planner<'a> {
    fn new(btf: &'a Btf) -> Self {
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
    fn composite(&mut self, id: TypeId) -> Result<(), GenError> {
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
                // Gather the run of consecutive bitfields. One that starts
                // more than MAX_BITFIELD_GAP bytes after the end of the one
                // before starts a new run, so the bytes between are one
                // padding array instead of an unnamed bitfield per 64 bits.
                let mut run = vec![m];
                while let Some(next) = members.get(i + run.len()) {
                    if next.bitfield_size.is_none() {
                        break;
                    }
                    let prev = run[run.len() - 1];
                    let prev_end =
                        u64::from(prev.bit_offset) + u64::from(prev.bitfield_size.unwrap_or(0));
                    if u64::from(next.bit_offset) / 8 > prev_end.div_ceil(8) + MAX_BITFIELD_GAP {
                        break;
                    }
                    run.push(next);
                }
                i += run.len();
                let start_byte = cursor_bits.div_ceil(8);
                let first = u64::from(m.bit_offset);
                let run_start = (first / 8).max(start_byte);
                if run_start > start_byte {
                    items.push(Item::Pad {
                        bytes: run_start - start_byte,
                    });
                }
                // Each bitfield after the one before it: the renderers place
                // them in order, and bit positions count from run_start.
                let mut end_bit = run_start * 8;
                for b in &run {
                    let at = u64::from(b.bit_offset);
                    if at < end_bit {
                        return Err(GenError::Layout(format!(
                            "{}.{} overlaps the member before it",
                            t.name, b.name
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
                cursor_bits = end_byte * 8;
                continue;
            }
            i += 1;
            let offset = u64::from(m.bit_offset) / 8;
            if m.bit_offset % 8 != 0 {
                return Err(GenError::Layout(format!(
                    "{}.{} starts inside a byte but is not a bitfield",
                    t.name, m.name
                )));
            }
            let (ty, dims) = self.field_type(m.ty, &t.name, &m.name)?;
            let msize = self
                .btf
                .size_of(m.ty)
                .ok_or_else(|| GenError::Layout(format!("{}.{} has no size", t.name, m.name)))?;
            let here = if union { 0 } else { cursor_bits.div_ceil(8) };
            if offset < here {
                return Err(GenError::Layout(format!(
                    "{}.{} overlaps the member before it",
                    t.name, m.name
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
            if !union {
                cursor_bits = (offset + msize) * 8;
            }
        }
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
                    t.name
                )));
            }
            if end < size {
                items.push(Item::Pad { bytes: size - end });
            }
        }
        Ok(Composite {
            union,
            name: t.name.clone(),
            size,
            items,
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
            // layout() checked that every bitfield of a run starts at or
            // after run_start; a BTF bit offset has at most 24 bits.
            bit: (u64::from(m.bit_offset) - run_start * 8) as u32,
            width,
            signed,
            decl_bytes: bytes,
        })
    }

    /// The field type of a member of type `id`, and its array dimensions.
    fn field_type(
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
mod tests {
    use super::*;

    /// A BTF type for [`btf`]: name, kind, vlen, kind_flag, size or type,
    /// the words that follow.
    type RawType<'a> = (&'a str, u32, u32, bool, u32, &'a [u32]);

    /// Parsed BTF made of `types` (ids from 1).
    fn btf(types: &[RawType<'_>]) -> Btf {
        let mut strings = vec![0u8];
        let mut section = Vec::new();
        for (name, kind, vlen, flag, size_or_type, extra) in types {
            let name_off = strings.len() as u32;
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            let info = u32::from(*flag) << 31 | kind << 24 | vlen;
            for w in [name_off, info, *size_or_type].iter().chain(extra.iter()) {
                section.extend_from_slice(&w.to_le_bytes());
            }
        }
        let mut raw = vec![0x9f, 0xeb, 1, 0];
        for w in [24, 0, section.len() as u32, section.len() as u32] {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        raw.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        raw.extend_from_slice(&section);
        raw.extend_from_slice(&strings);
        Btf::parse(&raw).expect("test BTF parses")
    }

    const INT: RawType<'static> = ("int", 1, 0, false, 4, &[1 << 24 | 32]);

    #[test]
    fn bitfields_out_of_order_are_an_error_not_a_panic() {
        // Found by fuzz/fuzz_targets/gen_types.rs: a bitfield before the
        // start of its run underflowed its bit position.
        // struct s { int a:4 at bit 8; int b:4 at bit 0; }
        let b = btf(&[
            INT,
            ("s", 4, 2, true, 4, &[0, 1, 4 << 24 | 8, 0, 1, 4 << 24]),
        ]);
        let err = plan(&b, None).expect_err("overlapping bitfields");
        assert!(err.to_string().contains("overlaps"), "{err}");
    }

    #[test]
    fn an_anonymous_struct_containing_itself_is_an_error_not_a_stack_overflow() {
        // Found by fuzz/fuzz_targets/gen_types.rs: anonymous structs were
        // laid out recursively with no check. struct s { struct { <itself> } }
        let b = btf(&[
            INT,
            ("s", 4, 1, false, 4, &[0, 3, 0]),
            ("", 4, 1, false, 4, &[0, 3, 0]),
        ]);
        let err = plan(&b, None).expect_err("endless nesting");
        assert!(err.to_string().contains("nest more than"), "{err}");
    }

    #[test]
    fn anonymous_types_used_twice_at_every_level_stay_bounded() {
        // Each anonymous union here holds two of the next, so laying out
        // union top meant 2^40 members. union top { anon a, b; } where anon
        // k (id k + 3) holds two of anon k + 1, 40 deep, then two ints.
        let mut members: Vec<[u32; 6]> = Vec::new();
        for k in 0..40u32 {
            members.push([0, k + 3, 0, 0, k + 3, 0]);
        }
        members.push([0, 1, 0, 0, 1, 0]);
        let mut types = vec![INT, ("top", 5, 2, false, 4, &members[0][..])];
        for m in &members[1..] {
            types.push(("", 5, 2, false, 4, &m[..]));
        }
        let b = btf(&types);
        let start = std::time::Instant::now();
        let err = plan(&b, None).expect_err("too many members");
        assert!(err.to_string().contains("members to lay out"), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn integers_of_sizes_c_lacks_are_an_error_not_a_panic() {
        // Found by fuzz/fuzz_targets/gen_skeleton.rs: the C and Rust names
        // of an integer multiply its size by 8, which overflowed for a
        // size near 2^32. struct s { huge a; } and struct t { huge b:4; }
        let huge: RawType<'_> = ("huge", 1, 0, false, u32::MAX, &[64]);
        let b = btf(&[huge, ("s", 4, 1, false, 8, &[0, 1, 0])]);
        let err = plan(&b, None).expect_err("no such integer");
        assert!(err.to_string().contains("bytes"), "{err}");
        let b = btf(&[huge, ("t", 4, 1, true, 8, &[0, 1, 4 << 24])]);
        let err = plan(&b, None).expect_err("no such integer");
        assert!(err.to_string().contains("bytes"), "{err}");
    }

    #[test]
    fn bitfields_far_apart_render_as_padding_not_a_line_per_64_bits() {
        // Two bitfields 2^24 bits apart (struct s { int a:4; int b:4 at bit
        // 2^24 - 8; }) took 2^18 unnamed 64-bit bitfields between them, 4 MB
        // of C from 40 bytes of BTF: a few such structs and gen types runs
        // out of memory. Bytes between far-apart bitfields are padding.
        let far = (1 << 24) - 8;
        let b = btf(&[
            INT,
            (
                "s",
                4,
                2,
                true,
                1 << 21,
                &[0, 1, 4 << 24, 0, 1, 4 << 24 | far],
            ),
        ]);
        let p = plan(&b, None).expect("plan");
        let c = crate::c_types::render(&p, "S_H", "s.bpf.o");
        assert!(c.len() < 4096, "{} bytes of C", c.len());
        assert!(c.contains(&format!("char __pad0[{}];", far / 8 - 1)), "{c}");
        let rust = crate::rust_types::render(&p, "s.bpf.o");
        assert!(rust.len() < 8192, "{} bytes of Rust", rust.len());
    }

    #[test]
    fn a_bitfield_wider_than_its_type_is_an_error() {
        // struct s { int a:40; }
        let b = btf(&[INT, ("s", 4, 1, true, 8, &[0, 1, 40 << 24])]);
        let err = plan(&b, None).expect_err("too wide");
        assert!(err.to_string().contains("wider"), "{err}");
    }
}
