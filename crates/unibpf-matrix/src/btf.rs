//! BTF for hosts whose kernel has none: the kernels scripts/build-kernel.sh
//! builds with BTF off leave detached BTF made by pahole beside the image.
//! The matrix minimises it for the suite (`unibpf btf min`'s library),
//! writes the result into the repository's `btfhub-cache/` in BTFHub's
//! layout, and puts it in the VM's BTF cache, where `unibpf run` finds it
//! on its own: the VMs have no network and the suite's modules carry no
//! bundle.

use std::path::{Path, PathBuf};

use unibpf_btf::{KernelBtfFile, KernelId, SYSTEM_CACHE_DIR};

use crate::arch::Arch;
use crate::initramfs::Cpio;
use crate::MatrixError;

/// What the VMs' `/etc/os-release` says: the BTFHub ID and VERSION_ID of
/// the matrix's own kernels.
pub const OS_ID: &str = "unibpf-matrix";
pub const OS_VERSION_ID: &str = "1";

/// The VM's `/etc/os-release`.
pub fn os_release() -> String {
    format!("ID={OS_ID}\nVERSION_ID={OS_VERSION_ID}\nNAME=\"unibpf matrix VM\"\n")
}

/// The detached BTF scripts/build-kernel.sh made for a kernel, if any.
pub fn detached_btf(kernel_root: &Path, release: &str) -> Option<PathBuf> {
    let path = kernel_root
        .join("boot")
        .join(format!("vmlinux-{release}.btf"));
    path.is_file().then_some(path)
}

/// Every module of the suite (whichever cases run, so the BTF kept in git
/// does not depend on them).
pub fn suite_modules(programs: &Path) -> Result<Vec<PathBuf>, MatrixError> {
    let mut modules: Vec<PathBuf> = std::fs::read_dir(programs)
        .map_err(|e| MatrixError::io(programs, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    modules.sort();
    Ok(modules)
}

/// Min-core BTF of `full` for `modules`, written to `repo/btfhub-cache/`
/// when `repo` is given, and returned as a cpio archive that puts it in
/// the VM's BTF cache.
pub fn cache_archive(
    repo: Option<&Path>,
    modules: &[PathBuf],
    arch: Arch,
    release: &str,
    full: &Path,
) -> Result<Vec<u8>, MatrixError> {
    let kernel = KernelId::new(OS_ID, OS_VERSION_ID, arch.btf(), release)
        .map_err(|e| MatrixError::Invalid(format!("kernel {release}: {e}")))?;
    let mut objects = Vec::new();
    for path in modules {
        let found = unibpf_btf::read_objects(path).map_err(|e| btf_error(&e))?;
        objects.extend(found);
    }
    let file = KernelBtfFile {
        kernel: kernel.clone(),
        path: full.to_path_buf(),
    };
    let min = unibpf_btf::minimise(&objects, &file).map_err(|e| btf_error(&e))?;
    let rel = kernel.relative_path();
    if let Some(repo) = repo {
        let kept = repo.join("btfhub-cache").join(&rel);
        if let Some(dir) = kept.parent() {
            std::fs::create_dir_all(dir).map_err(|e| MatrixError::io(dir, e))?;
        }
        std::fs::write(&kept, &min.btf).map_err(|e| MatrixError::io(&kept, e))?;
        tracing::info!(
            path = %kept.display(),
            bytes = min.btf.len(),
            unmatched = min.stats.unmatched,
            "min-core BTF for the suite"
        );
    }
    let mut cpio = Cpio::new();
    let in_vm = Path::new(SYSTEM_CACHE_DIR).join(&rel);
    let mut made = Vec::new();
    if let Some(dir) = in_vm.parent() {
        cpio.dirs(&dir.to_string_lossy(), &mut made);
    }
    cpio.file(&in_vm.to_string_lossy(), &min.btf, false);
    Ok(cpio.finish())
}

fn btf_error(e: &dyn std::error::Error) -> MatrixError {
    MatrixError::Invalid(format!("BTF for a no-BTF host: {e}"))
}
