//! Writing raw BTF: the header, the type records and a string section
//! holding only the names the types use, each once.
//!
//! The output is what `Btf::parse`, libbpf (`btf__parse`, so
//! `btf_custom_path`) and the kernel read: little-endian, the types right
//! after the 24-byte header, the strings after the types.

use std::collections::HashMap;

use super::{EnumValue, IntEncoding, Kind, Member, Param, Type, TypeId, MAGIC, MAX_NAME};
use crate::ObjectError;

const HEADER_LEN: u32 = 24;
/// `vlen` is 16 bits of `info`.
const MAX_VLEN: usize = 0xffff;
/// With the kind flag set, a member's offset keeps 24 bits for the offset
/// and 8 for the bitfield width.
const MAX_KFLAG_OFFSET: u32 = 0xff_ffff;

fn bad(m: String) -> ObjectError {
    ObjectError::Btf(m)
}

/// Raw BTF for `types`, which get ids 1, 2, ... in order (`void`, id 0, is
/// implicit). The same types always give the same bytes.
///
/// Refuses what would not read back as the same types: references past
/// the last id, names with a NUL or longer than the kernel allows, more
/// members than a record can count, bitfields that do not fit the record.
pub fn write_btf(types: &[Type]) -> Result<Vec<u8>, ObjectError> {
    let mut w = Writer::over(vec![0]);
    let count = types.len() as u64;
    for (i, t) in types.iter().enumerate() {
        let id = i as u64 + 1;
        if let Some(r) = t.kind.refs().find(|&r| u64::from(r) > count) {
            return Err(bad(format!(
                "type {id} refers to type {r}, which is not written"
            )));
        }
        w.record(t)
            .map_err(|e| bad(format!("type {id} ({}): {e}", t.name)))?;
    }
    w.finish()
}

pub(super) struct Writer<'a> {
    pub(super) types: Vec<u8>,
    pub(super) strings: Vec<u8>,
    /// Where each name already written starts: one copy per name.
    offsets: HashMap<&'a str, u32>,
}

impl<'a> Writer<'a> {
    /// A writer whose string section starts as `strings` (which must hold
    /// the empty name at offset 0); names it adds go after them.
    pub(super) fn over(strings: Vec<u8>) -> Self {
        Writer {
            types: Vec::new(),
            strings,
            offsets: HashMap::new(),
        }
    }

    fn word(&mut self, w: u32) {
        self.types.extend_from_slice(&w.to_le_bytes());
    }

    fn name(&mut self, name: &'a str) -> Result<u32, String> {
        if name.is_empty() {
            return Ok(0);
        }
        if let Some(&off) = self.offsets.get(name) {
            return Ok(off);
        }
        if name.len() > MAX_NAME || name.contains('\0') {
            return Err(format!("cannot write the name {name:?}"));
        }
        let off = u32::try_from(self.strings.len()).map_err(|_| "too many names".to_string())?;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.offsets.insert(name, off);
        Ok(off)
    }

    /// `struct btf_type`: name, info (kind, vlen, kind flag), size or type.
    fn head(
        &mut self,
        name: &'a str,
        kind: u32,
        vlen: usize,
        flag: bool,
        st: u32,
    ) -> Result<(), String> {
        if vlen > MAX_VLEN {
            return Err(format!("{vlen} entries; a record holds at most {MAX_VLEN}"));
        }
        let off = self.name(name)?;
        self.word(off);
        self.word(u32::from(flag) << 31 | kind << 24 | vlen as u32);
        self.word(st);
        Ok(())
    }

    pub(super) fn record(&mut self, t: &'a Type) -> Result<(), String> {
        let name = t.name.as_str();
        match &t.kind {
            Kind::Void => return Err("void is implicit, not a record".into()),
            Kind::Int {
                size,
                encoding,
                bits,
            } => {
                self.head(name, 1, 0, false, *size)?;
                if *bits > 0xff {
                    return Err(format!("an int of {bits} bits"));
                }
                self.word(int_encoding(*encoding) << 24 | bits);
            }
            Kind::Ptr(to) => self.head(name, 2, 0, false, *to)?,
            Kind::Array { elem, index, len } => {
                self.head(name, 3, 0, false, 0)?;
                for w in [*elem, *index, *len] {
                    self.word(w);
                }
            }
            Kind::Struct { size, members } => self.composite(name, 4, *size, members)?,
            Kind::Union { size, members } => self.composite(name, 5, *size, members)?,
            Kind::Enum {
                size,
                signed,
                values,
                wide,
            } => self.enumeration(name, *size, *signed, values, *wide)?,
            Kind::Fwd { union } => self.head(name, 7, 0, *union, 0)?,
            Kind::Typedef(to) => self.head(name, 8, 0, false, *to)?,
            Kind::Volatile(to) => self.head(name, 9, 0, false, *to)?,
            Kind::Const(to) => self.head(name, 10, 0, false, *to)?,
            Kind::Restrict(to) => self.head(name, 11, 0, false, *to)?,
            Kind::Func { proto, linkage } => {
                // The linkage is the record's vlen.
                self.head(name, 12, *linkage as usize, false, *proto)?
            }
            Kind::FuncProto { ret, params } => self.proto(name, *ret, params)?,
            Kind::Var { ty, linkage } => {
                self.head(name, 14, 0, false, *ty)?;
                self.word(*linkage);
            }
            Kind::Datasec { size, vars } => {
                self.head(name, 15, vars.len(), false, *size)?;
                for v in vars {
                    for w in [v.var, v.offset, v.size] {
                        self.word(w);
                    }
                }
            }
            Kind::Float { size } => self.head(name, 16, 0, false, *size)?,
            Kind::DeclTag { ty, component } => {
                self.head(name, 17, 0, false, *ty)?;
                self.word(*component as u32);
            }
            Kind::TypeTag(to) => self.head(name, 18, 0, false, *to)?,
        }
        Ok(())
    }

    fn enumeration(
        &mut self,
        name: &'a str,
        size: u32,
        signed: bool,
        values: &'a [EnumValue],
        wide: bool,
    ) -> Result<(), String> {
        self.head(name, if wide { 19 } else { 6 }, values.len(), signed, size)?;
        for v in values {
            let off = self.name(&v.name)?;
            self.word(off);
            // Narrow enums keep the low 32 bits, as they were read.
            self.word(v.value as u32);
            if wide {
                self.word((v.value as u64 >> 32) as u32);
            }
        }
        Ok(())
    }

    fn proto(&mut self, name: &'a str, ret: TypeId, params: &'a [Param]) -> Result<(), String> {
        self.head(name, 13, params.len(), false, ret)?;
        for p in params {
            let off = self.name(&p.name)?;
            self.word(off);
            self.word(p.ty);
        }
        Ok(())
    }

    /// A struct or union. The kind flag (offsets carry bitfield widths) is
    /// set only when some member is a bitfield, as compilers do.
    fn composite(
        &mut self,
        name: &'a str,
        kind: u32,
        size: u32,
        members: &'a [Member],
    ) -> Result<(), String> {
        let flag = members.iter().any(|m| m.bitfield_size.is_some());
        self.head(name, kind, members.len(), flag, size)?;
        for m in members {
            let off = self.name(&m.name)?;
            self.word(off);
            self.word(m.ty);
            self.word(member_offset(m, flag)?);
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, ObjectError> {
        let too_big = || bad("more than 4 GiB of BTF".into());
        let type_len = u32::try_from(self.types.len()).map_err(|_| too_big())?;
        let str_len = u32::try_from(self.strings.len()).map_err(|_| too_big())?;
        let mut out =
            Vec::with_capacity(HEADER_LEN as usize + self.types.len() + self.strings.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]); // version 1, no flags
        for w in [HEADER_LEN, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        Ok(out)
    }
}

fn int_encoding(e: IntEncoding) -> u32 {
    match e {
        IntEncoding::Unsigned => 0,
        IntEncoding::Signed => 1,
        IntEncoding::Char => 2,
        IntEncoding::Bool => 4,
    }
}

fn member_offset(m: &Member, flag: bool) -> Result<u32, String> {
    if !flag {
        return Ok(m.bit_offset);
    }
    let width = m.bitfield_size.unwrap_or(0);
    if m.bit_offset > MAX_KFLAG_OFFSET || width > 0xff {
        return Err(format!(
            "member {} at bit {} ({width} bits wide) does not fit a bitfield record",
            m.name, m.bit_offset
        ));
    }
    Ok(width << 24 | m.bit_offset)
}

impl super::Btf {
    /// This BTF as raw bytes again: the same types with the same ids (the
    /// strings are laid out anew).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ObjectError> {
        write_btf(&self.types[1..])
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{info, raw_btf};
    use super::super::{Btf, SecVar};
    use super::*;

    fn member(name: &str, ty: TypeId, bit_offset: u32, bitfield_size: Option<u32>) -> Member {
        Member {
            name: name.into(),
            ty,
            bit_offset,
            bitfield_size,
        }
    }

    fn ty(name: &str, kind: Kind) -> Type {
        Type {
            name: name.into(),
            kind,
        }
    }

    /// One type of every kind, bitfields, signed and 64-bit enums included.
    fn every_kind() -> Vec<Type> {
        vec![
            ty(
                "int",
                Kind::Int {
                    size: 4,
                    encoding: IntEncoding::Signed,
                    bits: 32,
                },
            ),
            ty("", Kind::Ptr(3)),
            ty(
                "s",
                Kind::Struct {
                    size: 16,
                    members: vec![
                        member("a", 1, 0, None),
                        member("b", 1, 32, Some(3)),
                        member("p", 2, 64, None),
                    ],
                },
            ),
            ty(
                "u",
                Kind::Union {
                    size: 8,
                    members: vec![member("x", 1, 0, None), member("y", 2, 0, None)],
                },
            ),
            ty(
                "e",
                Kind::Enum {
                    size: 4,
                    signed: true,
                    values: vec![
                        EnumValue {
                            name: "NEG".into(),
                            value: -1,
                        },
                        EnumValue {
                            name: "ONE".into(),
                            value: 1,
                        },
                    ],
                    wide: false,
                },
            ),
            ty(
                "e64",
                Kind::Enum {
                    size: 8,
                    signed: false,
                    values: vec![EnumValue {
                        name: "BIG".into(),
                        value: 1 << 40,
                    }],
                    wide: true,
                },
            ),
            ty(
                "",
                Kind::Array {
                    elem: 1,
                    index: 1,
                    len: 6,
                },
            ),
            ty("f", Kind::Fwd { union: true }),
            ty("int_t", Kind::Typedef(1)),
            ty("", Kind::Volatile(9)),
            ty("", Kind::Const(10)),
            ty("", Kind::Restrict(2)),
            ty(
                "",
                Kind::FuncProto {
                    ret: 1,
                    params: vec![Param {
                        name: "a".into(),
                        ty: 3,
                    }],
                },
            ),
            ty(
                "fn",
                Kind::Func {
                    proto: 13,
                    linkage: 1,
                },
            ),
            ty("v", Kind::Var { ty: 1, linkage: 1 }),
            ty(
                ".data",
                Kind::Datasec {
                    size: 4,
                    vars: vec![SecVar {
                        var: 15,
                        offset: 0,
                        size: 4,
                    }],
                },
            ),
            ty("double", Kind::Float { size: 8 }),
            ty(
                "tag",
                Kind::DeclTag {
                    ty: 3,
                    component: 1,
                },
            ),
            ty("rcu", Kind::TypeTag(3)),
            ty("", Kind::Ptr(19)),
        ]
    }

    #[test]
    fn what_is_written_parses_back_to_the_same_types() {
        let types = every_kind();
        let bytes = write_btf(&types).expect("write");
        let btf = Btf::parse(&bytes).expect("parse");
        let back: Vec<Type> = btf.types().map(|(_, t)| t.clone()).collect();
        assert_eq!(back, types);
        assert_eq!(btf.to_bytes().expect("write again"), bytes);
    }

    #[test]
    fn writing_is_deterministic_and_names_are_stored_once() {
        let types = every_kind();
        let a = write_btf(&types).expect("write");
        assert_eq!(a, write_btf(&types).expect("write"));
        // "a" names a member and a parameter; "int" is also in "int_t" but
        // is its own string. The section is "\0" plus each name once.
        let names: std::collections::BTreeSet<&str> = [
            "int", "s", "a", "b", "p", "u", "x", "y", "e", "NEG", "ONE", "e64", "BIG", "f",
            "int_t", "fn", "v", ".data", "double", "tag", "rcu",
        ]
        .into();
        let str_len = u32::from_le_bytes([a[20], a[21], a[22], a[23]]) as usize;
        assert_eq!(
            str_len,
            1 + names.iter().map(|n| n.len() + 1).sum::<usize>()
        );
        assert_eq!(&a[..4], &[0x9f, 0xeb, 1, 0]);
    }

    #[test]
    fn the_kind_flag_is_set_only_for_bitfields() {
        // Read with the kind flag but without bitfields, a struct is
        // written without it: the same members either way.
        let raw = raw_btf(&[
            ("int", info(1, 0, false), 4, &[1 << 24 | 32]),
            ("s", info(4, 1, true), 4, &[0, 1, 8]),
        ]);
        let btf = Btf::parse(&raw).expect("parse");
        let out = btf.to_bytes().expect("write");
        let info_word =
            u32::from_le_bytes(out[24 + 16 + 4..24 + 16 + 8].try_into().expect("4 bytes"));
        assert_eq!(info_word >> 31, 0);
        let back = Btf::parse(&out).expect("parse");
        assert_eq!(back.ty(2), btf.ty(2));
    }

    #[test]
    fn what_would_not_read_back_is_refused() {
        let dangling = [ty("", Kind::Ptr(2))];
        assert!(write_btf(&dangling).is_err());
        let nul = [ty("a\0b", Kind::Fwd { union: false })];
        assert!(write_btf(&nul).is_err());
        let long = [ty(&"n".repeat(MAX_NAME + 1), Kind::Fwd { union: false })];
        assert!(write_btf(&long).is_err());
        let far = [
            ty(
                "int",
                Kind::Int {
                    size: 4,
                    encoding: IntEncoding::Unsigned,
                    bits: 32,
                },
            ),
            ty(
                "s",
                Kind::Struct {
                    size: 4,
                    members: vec![member("b", 1, 1 << 24, Some(1))],
                },
            ),
        ];
        assert!(write_btf(&far).is_err());
        let many = [ty(
            "s",
            Kind::Struct {
                size: 0,
                members: vec![member("", 0, 0, None); MAX_VLEN + 1],
            },
        )];
        assert!(write_btf(&many).is_err());
        assert!(write_btf(&[ty("", Kind::Void)]).is_err());
        assert_eq!(write_btf(&[]).expect("empty").len(), 24 + 1);
    }

    #[test]
    fn the_running_kernels_btf_round_trips() {
        // The largest real BTF at hand, when there is one.
        let Ok(raw) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            return;
        };
        let btf = Btf::parse(&raw).expect("parse vmlinux");
        let out = btf.to_bytes().expect("write");
        let back = Btf::parse(&out).expect("parse what was written");
        assert_eq!(back.types().count(), btf.types().count());
        assert!(back.types().zip(btf.types()).all(|(a, b)| a == b));
        // pahole also stores each name once: about the same size.
        assert!(
            out.len() <= raw.len() + raw.len() / 100,
            "{} vs {}",
            out.len(),
            raw.len()
        );
    }
}
