//! Per-platform variants of a module's BPF objects. A portable `.wasm`
//! loads Linux BPF objects; a platform that cannot run them (eBPF for
//! Windows: other helper ids, map types and hooks) needs its own build of
//! each. `unibpf bundle` stores those builds in the module's custom
//! section `unibpf.variants`, each keyed to the SHA-256 of the Linux
//! object it replaces, so the guest keeps loading its Linux object and
//! the runtime swaps in the variant on that platform.
//!
//! The section is a zstd-compressed tar (as the BTF bundle is), one entry
//! per variant: `PLATFORM/SHA256-OF-LINUX-OBJECT/FILE-NAME`. Entries are
//! checked when bundled and again when read: a variant must be what its
//! name says (a BPF ELF, or a PE image for a native `.sys`).

mod embedded;

use std::io::Read;

use sha2::{Digest, Sha256};
use unibpf_wasm_sections::{custom_payload, replace_custom_section, WasmError};

pub use embedded::{embedded_objects, Embedded};

/// The custom section holding the variants.
pub const SECTION: &str = "unibpf.variants";
/// zstd level: variants are small; the default is plenty.
const LEVEL: i32 = 3;
/// A variant larger than this is refused (and never decompressed past it).
const MAX_VARIANT_BYTES: u64 = 64 << 20;
/// Entries a section may hold (a module has a handful of objects), and
/// their bytes together.
const MAX_VARIANTS: usize = 256;
const MAX_TOTAL_BYTES: u64 = 256 << 20;

/// A platform that needs its own objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Platform {
    Windows,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        (name == "windows").then_some(Platform::Windows)
    }
}

/// What a variant's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantKind {
    /// A BPF ELF object (eBPF for Windows loads it with its JIT or
    /// interpreter, where those are allowed).
    Elf,
    /// A native image made by bpf2c (a PE driver, `.sys`).
    Native,
}

impl VariantKind {
    /// The kind `bytes` are, if either.
    pub fn of(bytes: &[u8]) -> Option<Self> {
        if embedded::is_bpf_elf(bytes) {
            Some(VariantKind::Elf)
        } else if bytes.starts_with(b"MZ") && goblin::pe::PE::parse(bytes).is_ok() {
            Some(VariantKind::Native)
        } else {
            None
        }
    }
}

/// One stored variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub platform: Platform,
    /// SHA-256 of the Linux object it replaces, lower-case hex.
    pub replaces: String,
    /// The file name it was bundled from, for messages.
    pub name: String,
    pub kind: VariantKind,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    #[error(transparent)]
    Wasm(#[from] WasmError),
    #[error("{name}: not a BPF ELF object nor a native .sys image, so no platform can load it as a variant")]
    NotAnObject { name: String },
    #[error("{name}: {size} bytes, more than a variant may have ({MAX_VARIANT_BYTES})")]
    TooLarge { name: String, size: u64 },
    #[error("the module's {SECTION} section is corrupt ({why}): bundle the variants again with `unibpf bundle`")]
    Corrupt { why: String },
}

fn corrupt(why: impl std::fmt::Display) -> VariantError {
    VariantError::Corrupt {
        why: why.to_string(),
    }
}

/// The key a Linux object's variants are stored under.
pub fn key_of(linux_object: &[u8]) -> String {
    Sha256::digest(linux_object)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `wasm` with `added` stored beside the variants it already has (one
/// per platform and Linux object: a new one replaces an old one).
pub fn bundle(wasm: &[u8], added: Vec<Variant>) -> Result<Vec<u8>, VariantError> {
    for v in &added {
        check(v)?;
    }
    let mut all = list(wasm)?;
    all.retain(|old| {
        !added
            .iter()
            .any(|new| new.platform == old.platform && new.replaces == old.replaces)
    });
    all.extend(added);
    all.sort_by(|a, b| (a.platform, &a.replaces).cmp(&(b.platform, &b.replaces)));
    let mut tar = tar::Builder::new(Vec::new());
    for v in &all {
        let mut header = tar::Header::new_ustar();
        header.set_size(v.bytes.len() as u64);
        header.set_mode(0o644);
        // mtime 0: the same inputs give the same module.
        header.set_mtime(0);
        let path = format!("{}/{}/{}", v.platform.name(), v.replaces, v.name);
        tar.append_data(&mut header, path, &v.bytes[..])
            .map_err(corrupt)?;
    }
    let tar = tar.into_inner().map_err(corrupt)?;
    let packed = zstd::encode_all(&tar[..], LEVEL).map_err(corrupt)?;
    Ok(replace_custom_section(wasm, SECTION, &packed)?)
}

fn check(v: &Variant) -> Result<(), VariantError> {
    let size = v.bytes.len() as u64;
    if size > MAX_VARIANT_BYTES {
        return Err(VariantError::TooLarge {
            name: v.name.clone(),
            size,
        });
    }
    if VariantKind::of(&v.bytes) != Some(v.kind) {
        return Err(VariantError::NotAnObject {
            name: v.name.clone(),
        });
    }
    let plain = |s: &str| {
        !s.is_empty() && !s.contains(['/', '\\', '\0']) && s != "." && s != ".." && s.len() <= 100
    };
    if !plain(&v.name)
        || v.replaces.len() != 64
        || !v.replaces.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(corrupt(format!("bad entry name {:?}", v.name)));
    }
    Ok(())
}

/// Every variant the module stores (none without the section).
pub fn list(wasm: &[u8]) -> Result<Vec<Variant>, VariantError> {
    let Some(packed) = custom_payload(wasm, SECTION)? else {
        return Ok(Vec::new());
    };
    let decoder = zstd::Decoder::new(packed).map_err(corrupt)?;
    let mut archive = tar::Archive::new(decoder);
    let (mut out, mut total) = (Vec::new(), 0u64);
    for entry in archive.entries().map_err(corrupt)? {
        if out.len() == MAX_VARIANTS {
            return Err(corrupt(format!("more than {MAX_VARIANTS} variants")));
        }
        let entry = entry.map_err(corrupt)?;
        let path = entry
            .path()
            .map_err(corrupt)?
            .to_string_lossy()
            .into_owned();
        let mut parts = path.splitn(3, '/');
        let (Some(platform), Some(replaces), Some(name)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt(format!("entry {path:?} is not PLATFORM/KEY/NAME")));
        };
        let platform = Platform::parse(platform)
            .ok_or_else(|| corrupt(format!("unknown platform {platform:?}")))?;
        let mut bytes = Vec::new();
        entry
            .take(MAX_VARIANT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(corrupt)?;
        total += bytes.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(corrupt(format!(
                "more than {MAX_TOTAL_BYTES} bytes of variants"
            )));
        }
        let kind = VariantKind::of(&bytes).unwrap_or(VariantKind::Elf);
        let v = Variant {
            platform,
            replaces: replaces.to_string(),
            name: name.to_string(),
            kind,
            bytes,
        };
        check(&v).map_err(|e| corrupt(e.to_string()))?;
        out.push(v);
    }
    Ok(out)
}

/// The variant for `platform` of the Linux object `linux_object`, if the
/// module stores one.
pub fn variant_for(
    wasm: &[u8],
    platform: Platform,
    linux_object: &[u8],
) -> Result<Option<Variant>, VariantError> {
    let key = key_of(linux_object);
    Ok(list(wasm)?
        .into_iter()
        .find(|v| v.platform == platform && v.replaces == key))
}

#[cfg(test)]
mod tests;
