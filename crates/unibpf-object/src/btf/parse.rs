//! Reading raw BTF: the header, the string section and the type records.

use std::ops::Range;

use super::{
    le_u32, Btf, EnumValue, IntEncoding, Kind, Member, Param, SecVar, Type, HEADER_MIN, MAGIC,
    MAX_NAME,
};
use crate::ObjectError;

fn bad(m: &str) -> ObjectError {
    ObjectError::Btf(m.to_string())
}

/// Where the type and string sections are in a BTF blob.
pub(super) struct Layout {
    pub(super) types: Range<usize>,
    pub(super) strings: Range<usize>,
}

/// Checks the header and finds the sections. As the kernel does: the
/// sections follow the whole header and do not overlap, so that
/// hide_types can rewrite a type record or the header without changing a
/// name, and append names at the end.
pub(super) fn layout(bytes: &[u8]) -> Result<Layout, ObjectError> {
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
    let types = section(type_off, type_len, "type")?;
    let strings = section(str_off, str_len, "string")?;
    if types.start < strings.end && strings.start < types.end {
        return Err(bad("the type and string sections overlap"));
    }
    Ok(Layout { types, strings })
}

/// The NUL-terminated name at `off` in a string section, at most `max`
/// bytes long.
pub(super) fn name_at(strings: &[u8], off: u32, max: usize) -> Result<String, ObjectError> {
    let rest = strings
        .get(off as usize..)
        .ok_or_else(|| bad("a name offset points past the string section"))?;
    // Every record copies its name, so a long name shared by many records
    // would cost its length times their number: the kernel's own limit
    // keeps that linear in the input.
    let end = rest
        .iter()
        .take(max + 1)
        .position(|&b| b == 0)
        .ok_or_else(|| {
            if rest.len() > max {
                ObjectError::Btf(format!("a name longer than {max} bytes"))
            } else {
                bad("an unterminated name")
            }
        })?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    strings: &'a [u8],
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, ObjectError> {
        let b = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| bad("the type section ends inside a type"))?;
        self.pos += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn name(&mut self) -> Result<String, ObjectError> {
        let off = self.u32()?;
        name_at(self.strings, off, MAX_NAME)
    }
}

/// The fixed part of a type record (`struct btf_type`).
struct Head {
    info: u32,
    size_or_type: u32,
}

impl Head {
    fn vlen(&self) -> u32 {
        self.info & 0xffff
    }

    fn kind_flag(&self) -> bool {
        self.info >> 31 == 1
    }
}

impl Btf {
    /// Parses a `.BTF` section (little-endian, as BPF objects for x86_64 and
    /// arm64 are).
    pub fn parse(bytes: &[u8]) -> Result<Self, ObjectError> {
        let layout = layout(bytes)?;
        let mut r = Reader {
            bytes: &bytes[layout.types.clone()],
            pos: 0,
            strings: &bytes[layout.strings],
        };
        let mut out = vec![Type {
            name: String::new(),
            kind: Kind::Void,
        }];
        let mut record_offsets = Vec::new();
        while r.pos < r.bytes.len() {
            record_offsets.push(layout.types.start + r.pos);
            let name = r.name()?;
            let head = Head {
                info: r.u32()?,
                size_or_type: r.u32()?,
            };
            let kind = record(&mut r, &head)?;
            out.push(Type { name, kind });
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
            if let Some(bad) = t.kind.refs().find(|&r| r >= n) {
                return Err(ObjectError::Btf(format!(
                    "type {id} refers to type {bad}, which does not exist"
                )));
            }
        }
        Ok(())
    }
}

/// The kind-specific part of a record, after its head.
fn record(r: &mut Reader<'_>, head: &Head) -> Result<Kind, ObjectError> {
    let st = head.size_or_type;
    Ok(match (head.info >> 24) & 0x1f {
        1 => int(r.u32()?, st)?,
        2 => Kind::Ptr(st),
        3 => {
            let elem = r.u32()?;
            let index = r.u32()?;
            Kind::Array {
                elem,
                index,
                len: r.u32()?,
            }
        }
        4 => Kind::Struct {
            size: st,
            members: members(r, head)?,
        },
        5 => Kind::Union {
            size: st,
            members: members(r, head)?,
        },
        k @ (6 | 19) => Kind::Enum {
            size: st,
            signed: head.kind_flag(),
            values: enum_values(r, head, k == 19)?,
            wide: k == 19,
        },
        7 => Kind::Fwd {
            union: head.kind_flag(),
        },
        8 => Kind::Typedef(st),
        9 => Kind::Volatile(st),
        10 => Kind::Const(st),
        11 => Kind::Restrict(st),
        12 => Kind::Func {
            proto: st,
            linkage: head.vlen(),
        },
        13 => Kind::FuncProto {
            ret: st,
            params: params(r, head)?,
        },
        14 => Kind::Var {
            ty: st,
            linkage: r.u32()?,
        },
        15 => Kind::Datasec {
            size: st,
            vars: sec_vars(r, head)?,
        },
        16 => Kind::Float { size: st },
        17 => Kind::DeclTag {
            ty: st,
            component: r.u32()? as i32,
        },
        18 => Kind::TypeTag(st),
        k => return Err(ObjectError::Btf(format!("unknown type kind {k}"))),
    })
}

fn int(v: u32, size: u32) -> Result<Kind, ObjectError> {
    let encoding = match (v >> 24) & 0xf {
        0 => IntEncoding::Unsigned,
        1 => IntEncoding::Signed,
        2 => IntEncoding::Char,
        4 => IntEncoding::Bool,
        e => return Err(ObjectError::Btf(format!("unknown int encoding {e}"))),
    };
    Ok(Kind::Int {
        size,
        encoding,
        bits: v & 0xff,
    })
}

fn members(r: &mut Reader<'_>, head: &Head) -> Result<Vec<Member>, ObjectError> {
    let mut members = Vec::with_capacity(head.vlen() as usize);
    for _ in 0..head.vlen() {
        let name = r.name()?;
        let ty = r.u32()?;
        let off = r.u32()?;
        // With the kind flag, the top byte is the bitfield width.
        let (bit_offset, bitfield_size) = if head.kind_flag() {
            (off & 0xff_ffff, Some(off >> 24).filter(|&s| s != 0))
        } else {
            (off, None)
        };
        members.push(Member {
            name,
            ty,
            bit_offset,
            bitfield_size,
        });
    }
    Ok(members)
}

fn enum_values(r: &mut Reader<'_>, head: &Head, wide: bool) -> Result<Vec<EnumValue>, ObjectError> {
    let mut values = Vec::with_capacity(head.vlen() as usize);
    for _ in 0..head.vlen() {
        let name = r.name()?;
        let value = if wide {
            let lo = u64::from(r.u32()?);
            let hi = u64::from(r.u32()?);
            (hi << 32 | lo) as i64
        } else {
            let raw = r.u32()?;
            if head.kind_flag() {
                i64::from(raw as i32)
            } else {
                i64::from(raw)
            }
        };
        values.push(EnumValue { name, value });
    }
    Ok(values)
}

fn params(r: &mut Reader<'_>, head: &Head) -> Result<Vec<Param>, ObjectError> {
    let mut params = Vec::with_capacity(head.vlen() as usize);
    for _ in 0..head.vlen() {
        let name = r.name()?;
        params.push(Param { name, ty: r.u32()? });
    }
    Ok(params)
}

fn sec_vars(r: &mut Reader<'_>, head: &Head) -> Result<Vec<SecVar>, ObjectError> {
    let mut vars = Vec::with_capacity(head.vlen() as usize);
    for _ in 0..head.vlen() {
        vars.push(SecVar {
            var: r.u32()?,
            offset: r.u32()?,
            size: r.u32()?,
        });
    }
    Ok(vars)
}
