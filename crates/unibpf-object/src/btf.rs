//! BTF: the type section of a BPF object or kernel (format:
//! <https://docs.kernel.org/bpf/btf.html>), parsed into an owned model.
//!
//! Every type is kept, in id order, with its name resolved; `resolve` walks
//! typedefs and qualifiers; `size_of` follows the layout rules BTF encodes.

use std::collections::HashMap;

use crate::ObjectError;

const MAGIC: u16 = 0xeb9f;
const HEADER_MIN: usize = 24;
/// Chains of typedefs/qualifiers/arrays longer than this are treated as loops.
const MAX_CHAIN: usize = 64;
/// Longest name, in bytes: the kernel refuses BTF with longer identifiers
/// (`KSYM_NAME_LEN` is 512 with the NUL).
const MAX_NAME: usize = 511;

/// A BTF type id; 0 is `void`.
pub type TypeId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntEncoding {
    Unsigned,
    Signed,
    Char,
    Bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub ty: TypeId,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Width in bits when the member is a bitfield.
    pub bitfield_size: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValue {
    pub name: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: TypeId,
}

/// One variable of a data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecVar {
    /// The `Var` type.
    pub var: TypeId,
    pub offset: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Void,
    Int {
        size: u32,
        encoding: IntEncoding,
        bits: u32,
    },
    Ptr(TypeId),
    Array {
        elem: TypeId,
        len: u32,
    },
    Struct {
        size: u32,
        members: Vec<Member>,
    },
    Union {
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        size: u32,
        signed: bool,
        values: Vec<EnumValue>,
    },
    Fwd {
        union: bool,
    },
    Typedef(TypeId),
    Volatile(TypeId),
    Const(TypeId),
    Restrict(TypeId),
    Func {
        proto: TypeId,
        linkage: u32,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<Param>,
    },
    Var {
        ty: TypeId,
        linkage: u32,
    },
    Datasec {
        size: u32,
        vars: Vec<SecVar>,
    },
    Float {
        size: u32,
    },
    DeclTag {
        ty: TypeId,
        component: i32,
    },
    TypeTag(TypeId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    pub name: String,
    pub kind: Kind,
}

/// Parsed BTF.
#[derive(Debug, Clone)]
pub struct Btf {
    types: Vec<Type>,
    /// Where each type's record starts (index = id - 1), as a byte offset
    /// from the start of the whole BTF blob; for in-place patching.
    record_offsets: Vec<usize>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, ObjectError> {
        let b = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| ObjectError::Btf("the type section ends inside a type".into()))?;
        self.pos += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Btf {
    /// Parses a `.BTF` section (little-endian, as BPF objects for x86_64 and
    /// arm64 are).
    pub fn parse(bytes: &[u8]) -> Result<Self, ObjectError> {
        let bad = |m: &str| ObjectError::Btf(m.to_string());
        if bytes.len() < HEADER_MIN {
            return Err(bad("shorter than its header"));
        }
        let magic = u16::from_le_bytes([bytes[0], bytes[1]]);
        if magic != MAGIC {
            return Err(if magic.swap_bytes() == MAGIC {
                bad("big-endian BTF is not supported")
            } else {
                bad("bad magic")
            });
        }
        let hdr_len = le_u32(bytes, 4) as usize;
        let (type_off, type_len) = (le_u32(bytes, 8) as usize, le_u32(bytes, 12) as usize);
        let (str_off, str_len) = (le_u32(bytes, 16) as usize, le_u32(bytes, 20) as usize);
        // As the kernel does: the sections follow the whole header and do
        // not overlap, so that hide_types can rewrite a type record or the
        // header without changing a name, and append names at the end.
        if hdr_len < HEADER_MIN {
            return Err(bad("the header length is shorter than the header"));
        }
        let section = |off: usize, len: usize, what: &str| {
            hdr_len
                .checked_add(off)
                .and_then(|start| Some(start..start.checked_add(len)?))
                .filter(|r| r.end <= bytes.len())
                .ok_or_else(|| ObjectError::Btf(format!("the {what} section runs past the end")))
        };
        let type_range = section(type_off, type_len, "type")?;
        let str_range = section(str_off, str_len, "string")?;
        if type_range.start < str_range.end && str_range.start < type_range.end {
            return Err(bad("the type and string sections overlap"));
        }
        let types = &bytes[type_range];
        let strings = &bytes[str_range];
        let name = |off: u32| -> Result<String, ObjectError> {
            let rest = strings
                .get(off as usize..)
                .ok_or_else(|| bad("a name offset points past the string section"))?;
            // Every record copies its name, so a long name shared by many
            // records would cost its length times their number: the kernel's
            // own limit keeps that linear in the input.
            let end = rest
                .iter()
                .take(MAX_NAME + 1)
                .position(|&b| b == 0)
                .ok_or_else(|| {
                    if rest.len() > MAX_NAME {
                        bad("a name longer than the kernel's limit")
                    } else {
                        bad("an unterminated name")
                    }
                })?;
            Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
        };

        let mut out = vec![Type {
            name: String::new(),
            kind: Kind::Void,
        }];
        let mut r = Reader {
            bytes: types,
            pos: 0,
        };
        let types_start = hdr_len + type_off;
        let mut record_offsets = Vec::new();
        while r.pos < types.len() {
            record_offsets.push(types_start + r.pos);
            let name_off = r.u32()?;
            let info = r.u32()?;
            let size_or_type = r.u32()?;
            let vlen = info & 0xffff;
            let kind_flag = info >> 31 == 1;
            let kind = match (info >> 24) & 0x1f {
                1 => {
                    let v = r.u32()?;
                    let encoding = match (v >> 24) & 0xf {
                        0 => IntEncoding::Unsigned,
                        1 => IntEncoding::Signed,
                        2 => IntEncoding::Char,
                        4 => IntEncoding::Bool,
                        e => return Err(ObjectError::Btf(format!("unknown int encoding {e}"))),
                    };
                    Kind::Int {
                        size: size_or_type,
                        encoding,
                        bits: v & 0xff,
                    }
                }
                2 => Kind::Ptr(size_or_type),
                3 => {
                    let elem = r.u32()?;
                    let _index = r.u32()?;
                    Kind::Array {
                        elem,
                        len: r.u32()?,
                    }
                }
                k @ (4 | 5) => {
                    let mut members = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        let (n, ty, off) = (r.u32()?, r.u32()?, r.u32()?);
                        let (bit_offset, bitfield_size) = if kind_flag {
                            (off & 0xff_ffff, Some(off >> 24).filter(|&s| s != 0))
                        } else {
                            (off, None)
                        };
                        members.push(Member {
                            name: name(n)?,
                            ty,
                            bit_offset,
                            bitfield_size,
                        });
                    }
                    if k == 4 {
                        Kind::Struct {
                            size: size_or_type,
                            members,
                        }
                    } else {
                        Kind::Union {
                            size: size_or_type,
                            members,
                        }
                    }
                }
                k @ (6 | 19) => {
                    let mut values = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        let n = r.u32()?;
                        let value = if k == 6 {
                            let raw = r.u32()?;
                            if kind_flag {
                                i64::from(raw as i32)
                            } else {
                                i64::from(raw)
                            }
                        } else {
                            let lo = u64::from(r.u32()?);
                            let hi = u64::from(r.u32()?);
                            (hi << 32 | lo) as i64
                        };
                        values.push(EnumValue {
                            name: name(n)?,
                            value,
                        });
                    }
                    Kind::Enum {
                        size: size_or_type,
                        signed: kind_flag,
                        values,
                    }
                }
                7 => Kind::Fwd { union: kind_flag },
                8 => Kind::Typedef(size_or_type),
                9 => Kind::Volatile(size_or_type),
                10 => Kind::Const(size_or_type),
                11 => Kind::Restrict(size_or_type),
                12 => Kind::Func {
                    proto: size_or_type,
                    linkage: vlen,
                },
                13 => {
                    let mut params = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        let n = r.u32()?;
                        params.push(Param {
                            name: name(n)?,
                            ty: r.u32()?,
                        });
                    }
                    Kind::FuncProto {
                        ret: size_or_type,
                        params,
                    }
                }
                14 => Kind::Var {
                    ty: size_or_type,
                    linkage: r.u32()?,
                },
                15 => {
                    let mut vars = Vec::with_capacity(vlen as usize);
                    for _ in 0..vlen {
                        vars.push(SecVar {
                            var: r.u32()?,
                            offset: r.u32()?,
                            size: r.u32()?,
                        });
                    }
                    Kind::Datasec {
                        size: size_or_type,
                        vars,
                    }
                }
                16 => Kind::Float { size: size_or_type },
                17 => Kind::DeclTag {
                    ty: size_or_type,
                    component: r.u32()? as i32,
                },
                18 => Kind::TypeTag(size_or_type),
                k => return Err(ObjectError::Btf(format!("unknown type kind {k}"))),
            };
            out.push(Type {
                name: name(name_off)?,
                kind,
            });
        }
        let btf = Btf {
            types: out,
            record_offsets,
        };
        btf.check_references()?;
        Ok(btf)
    }

    /// Every referenced id must exist, so later walks can index freely.
    fn check_references(&self) -> Result<(), ObjectError> {
        let n = self.types.len() as u32;
        for (id, t) in self.types.iter().enumerate() {
            let refs: Vec<TypeId> = match &t.kind {
                Kind::Ptr(x)
                | Kind::Typedef(x)
                | Kind::Volatile(x)
                | Kind::Const(x)
                | Kind::Restrict(x)
                | Kind::TypeTag(x) => vec![*x],
                Kind::Array { elem, .. } => vec![*elem],
                Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                    members.iter().map(|m| m.ty).collect()
                }
                Kind::Func { proto, .. } => vec![*proto],
                Kind::FuncProto { ret, params } => std::iter::once(*ret)
                    .chain(params.iter().map(|p| p.ty))
                    .collect(),
                Kind::Var { ty, .. } | Kind::DeclTag { ty, .. } => vec![*ty],
                Kind::Datasec { vars, .. } => vars.iter().map(|v| v.var).collect(),
                _ => vec![],
            };
            if let Some(bad) = refs.into_iter().find(|&r| r >= n) {
                return Err(ObjectError::Btf(format!(
                    "type {id} refers to type {bad}, which does not exist"
                )));
            }
        }
        Ok(())
    }

    /// The type with id `id`.
    pub fn get(&self, id: TypeId) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// The type with id `id`; ids come from this BTF, so they exist.
    pub fn ty(&self, id: TypeId) -> &Type {
        &self.types[id as usize]
    }

    /// All types with their ids, `void` (id 0) excluded.
    pub fn types(&self) -> impl Iterator<Item = (TypeId, &Type)> {
        self.types
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, t)| (i as TypeId, t))
    }

    /// Mutable access for fix-ups (data section offsets).
    pub(crate) fn kind_mut(&mut self, id: TypeId) -> &mut Kind {
        &mut self.types[id as usize].kind
    }

    /// Follows typedefs, qualifiers and type tags to the underlying type. An
    /// id this BTF does not have is returned as it is, like any other type
    /// that is not a typedef or qualifier.
    pub fn resolve(&self, mut id: TypeId) -> TypeId {
        for _ in 0..MAX_CHAIN {
            match self.get(id).map(|t| &t.kind) {
                Some(
                    Kind::Typedef(t)
                    | Kind::Volatile(t)
                    | Kind::Const(t)
                    | Kind::Restrict(t)
                    | Kind::TypeTag(t),
                ) => id = *t,
                _ => return id,
            }
        }
        id
    }

    /// Size in bytes on the BPF side (pointers are 8 bytes), or None for types
    /// without one (void, functions, forward declarations, loops, ids this
    /// BTF does not have).
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        self.size_depth(id, 0)
    }

    fn size_depth(&self, id: TypeId, depth: usize) -> Option<u64> {
        if depth > MAX_CHAIN {
            return None;
        }
        match &self.get(self.resolve(id))?.kind {
            Kind::Int { size, .. }
            | Kind::Struct { size, .. }
            | Kind::Union { size, .. }
            | Kind::Enum { size, .. }
            | Kind::Float { size }
            | Kind::Datasec { size, .. } => Some(u64::from(*size)),
            Kind::Ptr(_) => Some(8),
            Kind::Array { elem, len } => Some(self.size_depth(*elem, depth + 1)? * u64::from(*len)),
            Kind::Var { ty, .. } => self.size_depth(*ty, depth + 1),
            _ => None,
        }
    }

    /// Alignment in bytes on the BPF side, derived from the largest scalar
    /// (1 for an id this BTF does not have).
    pub fn align_of(&self, id: TypeId) -> u64 {
        self.align_depth(id, 0, &mut HashMap::new())
    }

    /// `known` holds the alignments found so far: a type reached through
    /// several members is walked once, which keeps a struct of structs of
    /// structs linear instead of exponential.
    fn align_depth(&self, id: TypeId, depth: usize, known: &mut HashMap<TypeId, u64>) -> u64 {
        if depth > MAX_CHAIN {
            return 1;
        }
        let id = self.resolve(id);
        if let Some(&align) = known.get(&id) {
            return align;
        }
        let Some(t) = self.get(id) else {
            return 1;
        };
        let align = match &t.kind {
            Kind::Int { size, .. } | Kind::Enum { size, .. } | Kind::Float { size } => {
                u64::from((*size).clamp(1, 8))
            }
            Kind::Ptr(_) => 8,
            Kind::Array { elem, .. } => self.align_depth(*elem, depth + 1, known),
            Kind::Struct { members, .. } | Kind::Union { members, .. } => members
                .iter()
                .map(|m| self.align_depth(m.ty, depth + 1, known))
                .max()
                .unwrap_or(1),
            _ => 1,
        };
        known.insert(id, align);
        align
    }

    /// Ids of all types called `name` of a struct, union or enum kind.
    pub fn find_composite(&self, name: &str) -> Option<TypeId> {
        self.types().find_map(|(id, t)| {
            (t.name == name
                && matches!(
                    t.kind,
                    Kind::Struct { .. } | Kind::Union { .. } | Kind::Enum { .. }
                ))
            .then_some(id)
        })
    }

    /// The data section type called `name` (e.g. `.rodata`).
    pub fn datasec(&self, name: &str) -> Option<TypeId> {
        self.types().find_map(|(id, t)| {
            (t.name == name && matches!(t.kind, Kind::Datasec { .. })).then_some(id)
        })
    }
}

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds raw BTF from (name, info, size_or_type, extra words).
    pub(crate) fn raw_btf(types: &[(&str, u32, u32, &[u32])]) -> Vec<u8> {
        let mut strings = vec![0u8];
        let mut tsec = Vec::new();
        for (name, info, st, extra) in types {
            let off = if name.is_empty() {
                0
            } else {
                let o = strings.len() as u32;
                strings.extend_from_slice(name.as_bytes());
                strings.push(0);
                o
            };
            for w in [off, *info, *st].iter().chain(extra.iter()) {
                tsec.extend_from_slice(&w.to_le_bytes());
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for w in [
            24u32,
            0,
            tsec.len() as u32,
            tsec.len() as u32,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&tsec);
        out.extend_from_slice(&strings);
        out
    }

    fn info(kind: u32, vlen: u32, flag: bool) -> u32 {
        kind << 24 | vlen | (u32::from(flag) << 31)
    }

    #[test]
    fn parses_ints_pointers_structs_with_bitfields() {
        // 1: int, 2: unsigned char, 3: ptr -> 1, 4: struct s { int a; bitfields b:3, c:5; ptr p; }
        let raw = raw_btf(&[
            ("int", info(1, 0, false), 4, &[1 << 24 | 32]),
            ("unsigned char", info(1, 0, false), 1, &[8]),
            ("", info(2, 0, false), 1, &[]),
            (
                "s",
                info(4, 4, true),
                16,
                &[0, 1, 0, 0, 2, 3 << 24 | 32, 0, 2, 5 << 24 | 35, 0, 3, 64],
            ),
        ]);
        let btf = Btf::parse(&raw).expect("parse");
        let s = btf.find_composite("s").expect("struct s");
        assert_eq!(btf.size_of(s), Some(16));
        assert_eq!(btf.align_of(s), 8);
        let Kind::Struct { members, .. } = &btf.ty(s).kind else {
            panic!("not a struct")
        };
        assert_eq!(members[1].bitfield_size, Some(3));
        assert_eq!(members[2].bit_offset, 35);
        assert_eq!(members[3].bitfield_size, None);
        assert_eq!(btf.size_of(3), Some(8));
    }

    #[test]
    fn hidden_types_get_another_name_and_nothing_else_changes() {
        let raw = raw_btf(&[
            ("bpf_ringbuf", info(4, 0, false), 0, &[]),
            ("keep", info(4, 0, false), 0, &[]),
        ]);
        let hidden = hide_types(&raw, &["bpf_ringbuf"]).expect("hide");
        let btf = Btf::parse(&hidden).expect("still valid BTF");
        assert_eq!(btf.ty(1).name, "unibpf_masked_bpf_ringbuf");
        assert_eq!(btf.ty(2).name, "keep");
        assert!(btf.find_composite("bpf_ringbuf").is_none());
        assert_eq!(hide_types(&raw, &["absent"]).expect("no-op"), raw);
    }

    #[test]
    fn corrupt_btf_is_an_error_not_a_panic() {
        let good = raw_btf(&[("int", info(1, 0, false), 4, &[32])]);
        assert!(Btf::parse(&good[..20]).is_err());
        let mut bad_magic = good.clone();
        bad_magic[0] = 0;
        assert!(Btf::parse(&bad_magic).is_err());
        let dangling = raw_btf(&[("", info(2, 0, false), 7, &[])]);
        assert!(Btf::parse(&dangling).is_err());
        let truncated_member = raw_btf(&[("s", info(4, 2, false), 4, &[0, 0, 0])]);
        assert!(Btf::parse(&truncated_member).is_err());
        let mut huge_len = good;
        huge_len[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Btf::parse(&huge_len).is_err());
        // A typedef loop does not hang.
        let looped = raw_btf(&[
            ("a", info(8, 0, false), 2, &[]),
            ("b", info(8, 0, false), 1, &[]),
        ]);
        let btf = Btf::parse(&looped).expect("loops parse");
        assert_eq!(btf.size_of(1), None);
    }

    #[test]
    fn hide_types_refuses_btf_whose_sections_overlap() {
        // The string section starts at the type records here, and type 2's
        // name is the bytes of type 1's name offset: renaming type 1 would
        // have renamed type 2 as well, a change hide_types promises not to
        // make. Sections that overlap (or the header) are now corrupt BTF.
        let mut raw = raw_btf(&[
            ("bpf_ringbuf", info(4, 0, false), 0, &[]),
            ("x", info(4, 0, false), 0, &[]),
        ]);
        let type_len = 24u32;
        let str_len = raw.len() as u32 - 24;
        raw[16..20].copy_from_slice(&0u32.to_le_bytes());
        raw[20..24].copy_from_slice(&str_len.to_le_bytes());
        raw[24..28].copy_from_slice(&(type_len + 1).to_le_bytes());
        raw[36..40].copy_from_slice(&0u32.to_le_bytes());
        let err = Btf::parse(&raw).expect_err("overlapping sections");
        assert!(err.to_string().contains("overlap"), "{err}");
        assert!(hide_types(&raw, &["bpf_ringbuf"]).is_err());

        let mut short_header = raw_btf(&[("int", info(1, 0, false), 4, &[32])]);
        short_header[4..8].copy_from_slice(&16u32.to_le_bytes());
        assert!(Btf::parse(&short_header).is_err());
    }

    #[test]
    fn names_longer_than_the_kernel_allows_are_refused() {
        let longest = "n".repeat(MAX_NAME);
        assert!(Btf::parse(&raw_btf(&[(&longest, info(4, 0, false), 0, &[])])).is_ok());
        let longer = "n".repeat(MAX_NAME + 1);
        let err =
            Btf::parse(&raw_btf(&[(&longer, info(4, 0, false), 0, &[])])).expect_err("too long");
        assert!(err.to_string().contains("longer"), "{err}");
    }

    #[test]
    fn queries_on_ids_the_btf_lacks_answer_instead_of_panicking() {
        // Found by fuzz/fuzz_targets/btf_parse.rs: resolve, size_of and
        // align_of indexed the type table with the caller's id.
        let btf = Btf::parse(&raw_btf(&[("int", info(1, 0, false), 4, &[32])])).expect("parse");
        for id in [2, 3, u32::MAX] {
            assert!(btf.get(id).is_none());
            assert_eq!(btf.resolve(id), id);
            assert_eq!(btf.size_of(id), None);
            assert_eq!(btf.align_of(id), 1);
        }
        assert_eq!(btf.size_of(1), Some(4));
    }

    #[test]
    fn alignment_of_nested_structs_takes_linear_time() {
        // Found by fuzz/fuzz_targets/btf_parse.rs (a libFuzzer timeout):
        // align_of walked every path through the members, so a struct with
        // two members of its own type took 2^MAX_CHAIN steps. Here: 1 is
        // int, and type k + 1 is a struct of two members of type k, 32 deep.
        let int = [1u32 << 24 | 32];
        let pair = [0, 0, 0, 0, 0, 0];
        let mut types: Vec<(&str, u32, u32, Vec<u32>)> =
            vec![("int", info(1, 0, false), 4, int.to_vec())];
        for k in 1..=32u32 {
            let mut members = pair.to_vec();
            (members[1], members[4]) = (k, k);
            types.push(("", info(4, 2, false), 8, members));
        }
        let types: Vec<_> = types
            .iter()
            .map(|(n, i, s, e)| (*n, *i, *s, &e[..]))
            .collect();
        let btf = Btf::parse(&raw_btf(&types)).expect("parse");
        let start = std::time::Instant::now();
        assert_eq!(btf.align_of(33), 4);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // A struct embedding itself twice ends too.
        let looped = raw_btf(&[("s", info(4, 2, false), 8, &[0, 1, 0, 0, 1, 0])]);
        assert_eq!(Btf::parse(&looped).expect("parse").align_of(1), 1);
    }
}
