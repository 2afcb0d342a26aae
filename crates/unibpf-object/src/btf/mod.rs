//! BTF: the type section of a BPF object or kernel (format:
//! <https://docs.kernel.org/bpf/btf.html>), parsed into an owned model.
//!
//! Every type is kept, in id order, with its name resolved; `resolve` walks
//! typedefs and qualifiers; `size_of` follows the layout rules BTF encodes.

mod append;
mod hide;
mod parse;
mod queries;
mod types;
mod write;

pub use append::Appender;
pub use hide::hide_types;
pub use types::{EnumValue, IntEncoding, Kind, Member, Param, SecVar, Type, TypeId};
pub use write::write_btf;

const MAGIC: u16 = 0xeb9f;
const HEADER_MIN: usize = 24;
/// Chains of typedefs/qualifiers/arrays longer than this are treated as loops.
const MAX_CHAIN: usize = 64;
/// Longest name, in bytes: the kernel refuses BTF with longer identifiers
/// (`KSYM_NAME_LEN` is 512 with the NUL).
const MAX_NAME: usize = 511;

/// Parsed BTF.
#[derive(Debug, Clone)]
pub struct Btf {
    types: Vec<Type>,
    /// Where each type's record starts (index = id - 1), as a byte offset
    /// from the start of the whole BTF blob; for in-place patching.
    record_offsets: Vec<usize>,
}

/// The string section of raw BTF, for strings that other sections refer
/// to by offset (`.BTF.ext`'s section names and access strings).
pub(crate) struct Strings<'a>(&'a [u8]);

impl<'a> Strings<'a> {
    /// Longest string read: section names hold paths (`uprobe//usr/...`),
    /// which the kernel's limit on type names does not cover.
    const MAX: usize = 4096;

    pub(crate) fn of(raw: &'a [u8]) -> Result<Self, crate::ObjectError> {
        let layout = parse::layout(raw)?;
        Ok(Strings(&raw[layout.strings]))
    }

    pub(crate) fn get(&self, off: u32) -> Result<String, crate::ObjectError> {
        parse::name_at(self.0, off, Self::MAX)
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
pub(crate) mod tests;
