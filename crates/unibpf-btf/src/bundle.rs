//! BTF bundled inside a `.wasm`: a custom section named [`SECTION`] holding
//! a zstd-compressed tar of `<ID>/<VERSION_ID>/<arch>/<release>.btf`
//! entries (the cache's layout). Runtimes that do not know the section skip
//! it, as the wasm spec requires of custom sections.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::kernel::{BtfArch, KernelId, KernelIdError};
use crate::tree::{btf_files, TreeError};
use crate::verify::{check_format, VerifyError};
use crate::wasm::{replace_custom_section, sections, WasmError};

/// The custom section's name.
pub const SECTION: &str = "unibpf.btf";
/// The most a bundle may unpack to: it comes with an untrusted module.
pub const MAX_UNPACKED: u64 = 256 << 20;
/// zstd level: minimised BTFs are small; full ones should not take minutes.
const LEVEL: i32 = 9;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}")]
    Wasm(#[from] WasmError),
    #[error("the module has {0} {SECTION} sections, not one; rebuild it with `unibpf btf bundle`")]
    Several(usize),
    #[error(
        "the module's {SECTION} section is corrupt ({source}); rebuild it with `unibpf btf bundle`"
    )]
    Corrupt {
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the module's {SECTION} section unpacks to more than {MAX_UNPACKED} bytes and was refused"
    )]
    TooLarge,
    #[error("the module's {SECTION} section holds {name:?}, which is not ID/VERSION_ID/ARCH/RELEASE.btf; rebuild it with `unibpf btf bundle`")]
    BadEntry {
        name: String,
        #[source]
        source: KernelIdError,
    },
    #[error("{}: {source}", path.display())]
    NotBtf {
        path: PathBuf,
        #[source]
        source: VerifyError,
    },
    #[error("{}: not in the BTFHub layout ({source})", path.display())]
    Layout {
        path: PathBuf,
        #[source]
        source: KernelIdError,
    },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no .btf files under {}; expected a BTFHub-layout tree (ID/VERSION_ID/ARCH/RELEASE.btf)", .0.display())]
    NoEntries(PathBuf),
}

/// One bundled kernel, as [`list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub kernel: KernelId,
    /// Uncompressed bytes of its BTF.
    pub size: u64,
}

/// `wasm` with `entries` as its bundle, replacing any bundle it had. Each
/// entry must parse as BTF; the section goes last, the module is otherwise
/// unchanged.
pub fn bundle(wasm: &[u8], entries: &[(KernelId, Vec<u8>)]) -> Result<Vec<u8>, BundleError> {
    // A module that is not wasm is refused before any work.
    sections(wasm)?;
    let mut sorted: Vec<&(KernelId, Vec<u8>)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.dedup_by(|a, b| a.0 == b.0);
    let mut tar = tar::Builder::new(Vec::new());
    for (kernel, btf) in sorted {
        check_format(btf).map_err(|source| BundleError::NotBtf {
            path: kernel.relative_path(),
            source,
        })?;
        let mut header = tar::Header::new_ustar();
        header.set_size(btf.len() as u64);
        header.set_mode(0o644);
        // mtime 0: the same inputs give the same module.
        header.set_mtime(0);
        tar.append_data(&mut header, kernel.key(), &btf[..])
            .map_err(|source| BundleError::Corrupt { source })?;
    }
    let tar = tar
        .into_inner()
        .map_err(|source| BundleError::Corrupt { source })?;
    let packed =
        zstd::encode_all(&tar[..], LEVEL).map_err(|source| BundleError::Corrupt { source })?;
    Ok(replace_custom_section(wasm, SECTION, &packed)?)
}

/// The bundled BTF for `kernel`, if the module has a bundle with it.
pub fn bundled_btf(wasm: &[u8], kernel: &KernelId) -> Result<Option<Vec<u8>>, BundleError> {
    let mut found = None;
    for_each_entry(wasm, |k, read| {
        if k == kernel {
            let mut bytes = Vec::new();
            read.read_to_end(&mut bytes)?;
            found = Some(bytes);
        }
        Ok(())
    })?;
    Ok(found)
}

/// For a host with no distribution name (no `/etc/os-release`): the
/// bundled BTF whose architecture and release are the host's, when exactly
/// one entry has them. The release names the kernel build; two entries of
/// different distributions with one release would make it a guess.
pub fn bundled_btf_by_release(
    wasm: &[u8],
    arch: BtfArch,
    release: &str,
) -> Result<Option<(KernelId, Vec<u8>)>, BundleError> {
    let mut found = Vec::new();
    for_each_entry(wasm, |k, read| {
        if k.arch == arch && k.release == release {
            let mut bytes = Vec::new();
            read.read_to_end(&mut bytes)?;
            found.push((k.clone(), bytes));
        }
        Ok(())
    })?;
    Ok(match found.len() {
        1 => found.pop(),
        _ => None,
    })
}

/// Every kernel the module bundles BTF for (empty: no bundle).
pub fn list(wasm: &[u8]) -> Result<Vec<Listed>, BundleError> {
    let mut out = Vec::new();
    for_each_entry(wasm, |kernel, read| {
        out.push(Listed {
            kernel: kernel.clone(),
            size: std::io::copy(read, &mut std::io::sink())?,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Every `.btf` under `dir`, a BTFHub-layout tree, with its kernel.
pub fn read_tree(dir: &Path) -> Result<Vec<(KernelId, Vec<u8>)>, BundleError> {
    let is_raw = |p: &Path| p.extension().is_some_and(|e| e == "btf");
    let files = btf_files(dir, is_raw).map_err(|e| match e {
        TreeError::Io { path, source } => BundleError::Io { path, source },
        TreeError::Layout { path, source } => BundleError::Layout { path, source },
    })?;
    if files.is_empty() {
        return Err(BundleError::NoEntries(dir.to_path_buf()));
    }
    files
        .into_iter()
        .map(|(kernel, path)| match std::fs::read(&path) {
            Ok(bytes) => Ok((kernel, bytes)),
            Err(source) => Err(BundleError::Io { path, source }),
        })
        .collect()
}

fn is_bundle(s: &crate::wasm::Section<'_>) -> bool {
    matches!(s.custom, Some((name, _)) if name == SECTION)
}

/// Calls `f` with each entry's kernel and contents.
fn for_each_entry(
    wasm: &[u8],
    mut f: impl FnMut(&KernelId, &mut dyn Read) -> std::io::Result<()>,
) -> Result<(), BundleError> {
    let secs = sections(wasm)?;
    let bundles: Vec<&[u8]> = secs
        .iter()
        .filter(|s| is_bundle(s))
        .filter_map(|s| s.custom.map(|(_, payload)| payload))
        .collect();
    let payload = match bundles[..] {
        [] => return Ok(()),
        [one] => one,
        _ => return Err(BundleError::Several(bundles.len())),
    };
    let tar = unpack(payload)?;
    let corrupt = |source| BundleError::Corrupt { source };
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = entry
            .path()
            .map_err(corrupt)?
            .to_string_lossy()
            .into_owned();
        let kernel = KernelId::from_relative_path(&name)
            .map_err(|source| BundleError::BadEntry { name, source })?;
        f(&kernel, &mut entry).map_err(corrupt)?;
    }
    Ok(())
}

fn unpack(payload: &[u8]) -> Result<Vec<u8>, BundleError> {
    let corrupt = |source| BundleError::Corrupt { source };
    let decoder = zstd::stream::read::Decoder::new(payload).map_err(corrupt)?;
    let mut tar = Vec::new();
    decoder
        .take(MAX_UNPACKED + 1)
        .read_to_end(&mut tar)
        .map_err(corrupt)?;
    if tar.len() as u64 > MAX_UNPACKED {
        return Err(BundleError::TooLarge);
    }
    Ok(tar)
}
