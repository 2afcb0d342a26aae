//! Min-core BTF derived from a full kernel BTF in the cache, one per
//! object, kept in the cache's `min-core/` directory.
//!
//! libbpf maps the kernel's own `/sys/kernel/btf/vmlinux` in place, but it
//! reads and copies a `btf_custom_path` file whole: with the 5 MB BTF of a
//! download, start-up measured 1.5x slower than from sysfs. Against a
//! min-core file of a few hundred bytes it is faster than sysfs. The first
//! run of an object pays for minimising (one parse of the full BTF); later
//! runs find the result by the object's bytes and the full file's identity.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use unibpf_object::btf_ext::CoreObject;
use unibpf_object::min_core::min_core_of;
use unibpf_object::{Btf, ObjectError};

use crate::verify::header_fits;

/// The directory under the cache.
pub const DERIVED_DIR: &str = "min-core";

#[derive(Debug, thiserror::Error)]
pub enum DerivedError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("minimising {}: {source}", path.display())]
    Minimise {
        path: PathBuf,
        #[source]
        source: ObjectError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DerivedError + '_ {
    move |source| DerivedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the min-core of `full` for the object `elf` is kept: named by a
/// hash of the object's bytes and of the full file's path, size and
/// modification time (a re-fetched file gets new min-core files).
pub fn derived_path(cache_dir: &Path, full: &Path, elf: &[u8]) -> Result<PathBuf, DerivedError> {
    let meta = std::fs::metadata(full).map_err(io(full))?;
    let mut hash = Sha256::new();
    hash.update(elf);
    hash.update(full.as_os_str().as_encoded_bytes());
    hash.update(meta.len().to_le_bytes());
    let (secs, nanos) = mtime(&meta);
    hash.update(secs.to_le_bytes());
    hash.update(nanos.to_le_bytes());
    let hex: String = hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(cache_dir.join(DERIVED_DIR).join(format!("{hex}.btf")))
}

/// A file's modification time as seconds and nanoseconds since the epoch.
#[cfg(unix)]
fn mtime(meta: &std::fs::Metadata) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (meta.mtime(), meta.mtime_nsec())
}

#[cfg(not(unix))]
fn mtime(meta: &std::fs::Metadata) -> (i64, i64) {
    let since = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    (since.as_secs() as i64, i64::from(since.subsec_nanos()))
}

/// The min-core of `full` for `elf`, made and stored on first use.
pub fn derived_min_core(
    cache_dir: &Path,
    full: &Path,
    elf: &[u8],
) -> Result<PathBuf, DerivedError> {
    let path = derived_path(cache_dir, full, elf)?;
    if is_btf_file(&path) {
        return Ok(path);
    }
    let bytes = std::fs::read(full).map_err(io(full))?;
    let minimise = |source| DerivedError::Minimise {
        path: full.to_path_buf(),
        source,
    };
    let target = Btf::parse(&bytes).map_err(minimise)?;
    let object = CoreObject::parse(elf).map_err(minimise)?;
    let min = min_core_of(std::slice::from_ref(&object), &target).map_err(minimise)?;
    let dir = path.parent().unwrap_or(cache_dir);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Written whole under a temporary name, then renamed: another run of
    // the same object sees the old state or the complete file.
    let mut tmp = tempfile::Builder::new()
        .prefix(".incoming-")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    tmp.write_all(&min.btf).map_err(io(tmp.path()))?;
    tmp.persist(&path).map_err(|e| DerivedError::Io {
        path: path.clone(),
        source: e.error,
    })?;
    Ok(path)
}

fn is_btf_file(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    bytes.len() >= 24 && header_fits(&bytes[..24], bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_full_file_or_object_gets_a_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("k.btf");
        std::fs::write(&full, b"first").unwrap();
        let a = derived_path(dir.path(), &full, b"object").unwrap();
        assert_eq!(a, derived_path(dir.path(), &full, b"object").unwrap());
        assert!(a.starts_with(dir.path().join(DERIVED_DIR)));
        assert_ne!(a, derived_path(dir.path(), &full, b"other object").unwrap());
        std::fs::write(&full, b"re-fetched").unwrap();
        assert_ne!(a, derived_path(dir.path(), &full, b"object").unwrap());
    }

    #[test]
    fn a_full_file_that_is_not_btf_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("k.btf");
        std::fs::write(&full, b"not btf at all").unwrap();
        let err = derived_min_core(dir.path(), &full, b"\x7fELF").unwrap_err();
        assert!(matches!(err, DerivedError::Minimise { .. }), "{err}");
        assert!(!dir.path().join(DERIVED_DIR).exists());
    }
}
