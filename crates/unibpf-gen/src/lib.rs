//! Code generation from BPF objects, for guests:
//! - [`types`]: wasm32 definitions of the object's BTF types with the BPF
//!   side's exact byte layout (C or Rust), so events and map values cross the
//!   boundary without serialization;
//! - [`skeleton`]: a C header embedding the object with program and map tables
//!   and patchable global data, for the C guest SDK.

mod c_types;
mod layout;
mod rust_types;
mod skeleton;

use unibpf_object::{BpfObject, ObjectError};

pub use skeleton::skeleton;

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("no struct, union or enum called {0} in the object's BTF")]
    NoSuchType(String),
    #[error("cannot lay out {0}")]
    Layout(String),
    #[error("{0}")]
    Invalid(String),
}

/// Output language of [`types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    C,
    Rust,
}

/// Type definitions for every named struct, union and enum of the object's
/// BTF (or only those in `only`, plus what they embed). `source` names the
/// object in the header comment.
pub fn types(
    object: &[u8],
    source: &str,
    lang: Lang,
    only: Option<&[String]>,
) -> Result<String, GenError> {
    let obj = BpfObject::parse(object)?;
    let btf = obj.btf.as_ref().ok_or(ObjectError::NoBtf)?;
    let plan = layout::plan(btf, only)?;
    Ok(match lang {
        Lang::C => c_types::render(&plan, &guard(source, "TYPES_H"), source),
        Lang::Rust => rust_types::render(&plan, source),
    })
}

/// An include guard from a file name: `bootstrap.bpf.o` -> `BOOTSTRAP_BPF_TYPES_H`.
fn guard(source: &str, suffix: &str) -> String {
    let stem = source.rsplit('/').next().unwrap_or(source);
    let stem = stem.strip_suffix(".o").unwrap_or(stem);
    let mut g: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    g.push('_');
    g.push_str(suffix);
    g
}
