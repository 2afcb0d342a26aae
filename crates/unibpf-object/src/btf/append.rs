//! Growing an object's raw BTF without disturbing what refers to it:
//! new types get the ids after the last one and new strings the offsets
//! after the last one, so every id and string offset that `.BTF.ext`,
//! the ELF relocations of `.BTF` or the instructions hold stays valid.

use std::collections::HashMap;

use super::parse::layout;
use super::write::Writer;
use super::{Btf, Type, TypeId};
use crate::ObjectError;

/// Longest string [`Appender::string`] takes: access strings, which the
/// limit on type names does not cover.
const MAX_STRING: usize = 4096;

/// Types and strings to add to raw BTF; [`Appender::finish`] gives the
/// grown BTF.
pub struct Appender<'a> {
    raw: &'a [u8],
    /// Types the raw BTF has, `void` included: the first new id.
    first_new: TypeId,
    types: Vec<Type>,
    /// Strings added, in order, with their offsets.
    strings: Vec<u8>,
    offsets: HashMap<String, u32>,
    /// Length of the raw BTF's string section.
    base_strings: usize,
}

impl<'a> Appender<'a> {
    /// An appender over `raw`, which must parse and hold the empty name at
    /// string offset 0 (anonymous new types and members point there).
    pub fn new(raw: &'a [u8]) -> Result<Self, ObjectError> {
        let btf = Btf::parse(raw)?;
        let strings = layout(raw)?.strings;
        if raw.get(strings.start) != Some(&0) {
            return Err(ObjectError::Btf(
                "the string section does not start with the empty name".into(),
            ));
        }
        Ok(Self {
            raw,
            first_new: btf.types().count() as TypeId + 1,
            types: Vec::new(),
            strings: Vec::new(),
            offsets: HashMap::new(),
            base_strings: strings.len(),
        })
    }

    /// Adds `t`; returns its id. Its references may name any existing id
    /// or an id returned by this appender (checked by `finish`).
    pub fn push(&mut self, t: Type) -> TypeId {
        self.types.push(t);
        self.first_new + self.types.len() as TypeId - 1
    }

    /// The id the next pushed type gets.
    pub fn next_id(&self) -> TypeId {
        self.first_new + self.types.len() as TypeId
    }

    /// The offset `s` will have in the grown string section (one copy per
    /// string added).
    pub fn string(&mut self, s: &str) -> Result<u32, ObjectError> {
        if let Some(&off) = self.offsets.get(s) {
            return Ok(off);
        }
        if s.len() > MAX_STRING || s.contains('\0') {
            return Err(ObjectError::Btf(format!("cannot add the string {s:?}")));
        }
        let off = u32::try_from(self.base_strings + self.strings.len())
            .map_err(|_| ObjectError::Btf("more than 4 GiB of strings".into()))?;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.offsets.insert(s.to_string(), off);
        Ok(off)
    }

    /// The grown BTF: the raw header (its offsets updated), the raw types
    /// then the new ones, the raw strings then the added strings, then the
    /// new types' names.
    pub fn finish(self) -> Result<Vec<u8>, ObjectError> {
        let parts = layout(self.raw)?;
        let last = u64::from(self.first_new) + self.types.len() as u64 - 1;
        let mut base = self.raw[parts.strings.clone()].to_vec();
        base.extend_from_slice(&self.strings);
        let mut w = Writer::over(base);
        for (i, t) in self.types.iter().enumerate() {
            let id = u64::from(self.first_new) + i as u64;
            if let Some(r) = t.kind.refs().find(|&r| u64::from(r) > last) {
                return Err(ObjectError::Btf(format!(
                    "new type {id} refers to type {r}, which does not exist"
                )));
            }
            w.record(t)
                .map_err(|e| ObjectError::Btf(format!("new type {id} ({}): {e}", t.name)))?;
        }
        let old_types = &self.raw[parts.types];
        let too_big = || ObjectError::Btf("more than 4 GiB of BTF".into());
        let type_len = u32::try_from(old_types.len() + w.types.len()).map_err(|_| too_big())?;
        let str_len = u32::try_from(w.strings.len()).map_err(|_| too_big())?;
        // layout() checked that the header fits and is at least 24 bytes.
        let hdr_len = super::le_u32(self.raw, 4) as usize;
        let mut out = self.raw[..hdr_len].to_vec();
        for (at, w) in [(8, 0), (12, type_len), (16, type_len), (20, str_len)] {
            out[at..at + 4].copy_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(old_types);
        out.extend_from_slice(&w.types);
        out.extend_from_slice(&w.strings);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{info, raw_btf};
    use super::super::{Kind, Member};
    use super::*;

    #[test]
    fn old_ids_and_string_offsets_stay_and_new_ones_follow() {
        let raw = raw_btf(&[
            ("long", info(1, 0, false), 8, &[1 << 24 | 64]),
            ("s", info(4, 1, false), 8, &[3, 1, 0]),
        ]);
        let mut a = Appender::new(&raw).expect("appender");
        assert_eq!(a.next_id(), 3);
        let access = a.string("0:1").expect("string");
        assert_eq!(a.string("0:1").expect("string"), access);
        let arr = a.push(Type {
            name: String::new(),
            kind: Kind::Array {
                elem: 1,
                index: 1,
                len: 2,
            },
        });
        let st = a.push(Type {
            name: "s___new".into(),
            kind: Kind::Struct {
                size: 16,
                members: vec![Member {
                    name: "regs".into(),
                    ty: arr,
                    bit_offset: 0,
                    bitfield_size: None,
                }],
            },
        });
        assert_eq!((arr, st), (3, 4));
        let out = a.finish().expect("finish");
        let btf = Btf::parse(&out).expect("parses");
        let old = Btf::parse(&raw).expect("parses");
        for (id, t) in old.types() {
            assert_eq!(btf.ty(id), t);
        }
        assert_eq!(btf.ty(4).name, "s___new");
        // The raw strings are a prefix of the new ones; the access string
        // sits where `string` said.
        let strings = super::super::Strings::of(&out).expect("strings");
        assert_eq!(strings.get(access).expect("access string"), "0:1");
        assert_eq!(strings.get(1).expect("old name"), "long");
    }

    #[test]
    fn dangling_references_and_bad_strings_are_refused() {
        let raw = raw_btf(&[("long", info(1, 0, false), 8, &[64])]);
        let mut a = Appender::new(&raw).expect("appender");
        a.push(Type {
            name: String::new(),
            kind: Kind::Ptr(3),
        });
        assert!(a.finish().is_err());
        let mut a = Appender::new(&raw).expect("appender");
        assert!(a.string("a\0b").is_err());
        assert!(a.string(&"1".repeat(MAX_STRING + 1)).is_err());
        let mut no_empty = raw.clone();
        let str_at = no_empty.len() - 6;
        no_empty[str_at] = b'x';
        assert!(Appender::new(&no_empty).is_err());
    }
}
