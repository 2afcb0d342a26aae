//! Walking a BTFHub-layout tree: `ID/VERSION_ID/ARCH/RELEASE.btf` files, or
//! the archive's `RELEASE.btf.tar.xz`, under a root directory.

use std::path::{Path, PathBuf};

use crate::kernel::{KernelId, KernelIdError};

pub(crate) enum TreeError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Layout {
        path: PathBuf,
        source: KernelIdError,
    },
}

/// `RELEASE` of `…/RELEASE.btf` or `…/RELEASE.btf.tar.xz`.
pub(crate) fn layout_stem(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".btf.tar.xz")
        .or_else(|| name.strip_suffix(".btf"))
}

/// The kernel a file at `rel` (relative to a tree's root) is the BTF of.
pub(crate) fn kernel_of(path: &Path, rel: &Path) -> Result<KernelId, TreeError> {
    let rel = rel.to_string_lossy();
    let rel = rel.strip_suffix(".tar.xz").unwrap_or(&rel);
    KernelId::from_relative_path(rel).map_err(|source| TreeError::Layout {
        path: path.to_path_buf(),
        source,
    })
}

/// Every BTF file under `root` that `wanted` accepts, with its kernel,
/// sorted by kernel.
pub(crate) fn btf_files(
    root: &Path,
    wanted: impl Fn(&Path) -> bool + Copy,
) -> Result<Vec<(KernelId, PathBuf)>, TreeError> {
    let mut out = Vec::new();
    walk(root, root, wanted, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    wanted: impl Fn(&Path) -> bool + Copy,
    out: &mut Vec<(KernelId, PathBuf)>,
) -> Result<(), TreeError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TreeError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            walk(root, &path, wanted, out)?;
        } else if layout_stem(&path).is_some() && wanted(&path) {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push((kernel_of(&path, rel)?, path));
        }
    }
    Ok(())
}
