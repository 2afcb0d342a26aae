//! Min-core BTF for a set of kernels: what `unibpf btf min` writes and
//! `unibpf btf bundle` then packs into a module.
//!
//! Inputs are BPF objects (or modules carrying them) and kernel BTFs in
//! BTFHub's layout: a tree of `ID/VERSION_ID/ARCH/RELEASE.btf` files or the
//! archive's `.btf.tar.xz` files, or the running kernel's own BTF. The
//! minimising itself is `unibpf_object::min_core`.

use std::path::{Path, PathBuf};

use unibpf_object::btf_ext::CoreObject;
use unibpf_object::min_core::{min_core_of, MinCoreStats};
use unibpf_object::pt_regs::{self, RegsArch};
use unibpf_object::{embedded_objects, Btf, ObjectError};

use crate::archive::{unpack_btf, ArchiveError};
use crate::kernel::{KernelId, KernelIdError};
use crate::settings::KERNEL_BTF;
use crate::tree::{btf_files, kernel_of, layout_stem, TreeError};
use crate::wasm::{sections, WasmError};

/// The most one kernel BTF may unpack to (vmlinux BTF is 2-10 MB).
const MAX_KERNEL_BTF: u64 = 128 << 20;

#[derive(Debug, thiserror::Error)]
pub enum MinError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Wasm {
        path: PathBuf,
        #[source]
        source: WasmError,
    },
    #[error("{}: no BPF objects in this module's data; pass the .bpf.o files instead", .0.display())]
    NoObjects(PathBuf),
    #[error("{}: not a BPF object with readable BTF ({source})", path.display())]
    Object {
        path: PathBuf,
        #[source]
        source: ObjectError,
    },
    #[error("{}: cannot tell which kernel this BTF is for: its path does not end in ID/VERSION_ID/ARCH/RELEASE.btf (BTFHub's layout); put it in such a tree", .0.display())]
    UnknownKernel(PathBuf),
    #[error("{}: not in the BTFHub layout ({source})", path.display())]
    Layout {
        path: PathBuf,
        #[source]
        source: KernelIdError,
    },
    #[error("this host's kernel: {0}")]
    ThisHost(#[source] KernelIdError),
    #[error("no kernel BTF under {}; expected ID/VERSION_ID/ARCH/RELEASE.btf or .btf.tar.xz files", .0.display())]
    NoKernels(PathBuf),
    #[error("{}: {source}", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: ArchiveError,
    },
    #[error("{}: not BTF ({source})", path.display())]
    NotBtf {
        path: PathBuf,
        #[source]
        source: ObjectError,
    },
    #[error("{kernel}: {source}; the objects' CO-RE relocations do not fit this kernel's BTF")]
    Minimise {
        kernel: Box<KernelId>,
        #[source]
        source: ObjectError,
    },
}

/// One BPF object to minimise for, and where it came from.
pub struct MinObject {
    /// `path`, or `path#N` for the Nth object in a module.
    pub name: String,
    pub elf: Vec<u8>,
    pub core: CoreObject,
}

/// The objects in `path`: a BPF ELF object, or a `.wasm` module whose data
/// carries them.
pub fn read_objects(path: &Path) -> Result<Vec<MinObject>, MinError> {
    let bytes = std::fs::read(path).map_err(|source| MinError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parse = |name: String, elf: &[u8]| {
        CoreObject::parse(elf)
            .map(|core| MinObject {
                name,
                elf: elf.to_vec(),
                core,
            })
            .map_err(|source| MinError::Object {
                path: path.to_path_buf(),
                source,
            })
    };
    if !bytes.starts_with(b"\0asm") {
        return Ok(vec![parse(path.display().to_string(), &bytes)?]);
    }
    let wasm_error = |source| MinError::Wasm {
        path: path.to_path_buf(),
        source,
    };
    // Only the data section: code and custom sections (a bundle, debug
    // info) are not the objects the module loads.
    let data = sections(&bytes)
        .map_err(wasm_error)?
        .into_iter()
        .filter(|s| s.id == 11)
        .map(|s| &bytes[s.range])
        .collect::<Vec<_>>();
    let objects = data
        .iter()
        .flat_map(|d| embedded_objects(d))
        .enumerate()
        .map(|(i, elf)| parse(format!("{}#{i}", path.display()), elf))
        .collect::<Result<Vec<_>, _>>()?;
    if objects.is_empty() {
        return Err(MinError::NoObjects(path.to_path_buf()));
    }
    Ok(objects)
}

/// A kernel BTF to minimise against: which kernel, and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBtfFile {
    pub kernel: KernelId,
    pub path: PathBuf,
}

/// The kernel BTFs `from` names: every `.btf` or `.btf.tar.xz` of a
/// BTFHub-layout tree, one such file (its last four path components name
/// the kernel), or [`KERNEL_BTF`], which is this host's.
pub fn kernel_btfs(from: &Path) -> Result<Vec<KernelBtfFile>, MinError> {
    if from.is_dir() {
        let files = btf_files(from, |_| true).map_err(tree_error)?;
        if files.is_empty() {
            return Err(MinError::NoKernels(from.to_path_buf()));
        }
        return Ok(files
            .into_iter()
            .map(|(kernel, path)| KernelBtfFile { kernel, path })
            .collect());
    }
    if from == Path::new(KERNEL_BTF) {
        let kernel = KernelId::of_this_host().map_err(MinError::ThisHost)?;
        return Ok(vec![KernelBtfFile {
            kernel,
            path: from.to_path_buf(),
        }]);
    }
    let tail: Vec<_> = from.iter().rev().take(4).collect();
    if tail.len() < 4 || layout_stem(from).is_none() {
        return Err(MinError::UnknownKernel(from.to_path_buf()));
    }
    let rel: PathBuf = tail.into_iter().rev().collect();
    let kernel = kernel_of(from, &rel).map_err(|_| MinError::UnknownKernel(from.to_path_buf()))?;
    Ok(vec![KernelBtfFile {
        kernel,
        path: from.to_path_buf(),
    }])
}

fn tree_error(e: TreeError) -> MinError {
    match e {
        TreeError::Io { path, source } => MinError::Io { path, source },
        TreeError::Layout { path, source } => MinError::Layout { path, source },
    }
}

/// The raw BTF of `file`, unpacked when it is a BTFHub archive.
pub fn read_kernel_btf(file: &KernelBtfFile) -> Result<Vec<u8>, MinError> {
    let bytes = std::fs::read(&file.path).map_err(|source| MinError::Io {
        path: file.path.clone(),
        source,
    })?;
    if !file.path.to_string_lossy().ends_with(".tar.xz") {
        return Ok(bytes);
    }
    unpack_btf(&bytes, &file.kernel.member_name(), MAX_KERNEL_BTF).map_err(|source| {
        MinError::Archive {
            path: file.path.clone(),
            source,
        }
    })
}

/// A kernel's min-core BTF for some objects.
pub struct Minimised {
    pub kernel: KernelId,
    pub btf: Vec<u8>,
    pub stats: MinCoreStats,
}

/// The objects as the runtime loads them on `kernel`'s architecture: with
/// their reads of another architecture's `struct pt_regs` pointed at this
/// one's registers (`unibpf_object::pt_regs`), so the min-core keeps the
/// registers they will read there.
fn as_loaded_on(objects: &[MinObject], kernel: &KernelId) -> Result<Vec<CoreObject>, MinError> {
    let Some(arch) = RegsArch::from_machine(kernel.arch.as_str()) else {
        return Ok(objects.iter().map(|o| o.core.clone()).collect());
    };
    objects
        .iter()
        .map(|o| {
            let foreign = pt_regs::source_arches(&o.elf)
                .unwrap_or_default()
                .iter()
                .any(|a| *a != arch);
            if !foreign {
                return Ok(o.core.clone());
            }
            let object_error = |source| MinError::Object {
                path: PathBuf::from(&o.name),
                source,
            };
            let retargeted = pt_regs::retarget(&o.elf, arch).map_err(object_error)?;
            CoreObject::parse(&retargeted.elf).map_err(object_error)
        })
        .collect()
}

/// The min-core BTF of `file` for `objects`, as they load on its kernel.
pub fn minimise(objects: &[MinObject], file: &KernelBtfFile) -> Result<Minimised, MinError> {
    let objects = as_loaded_on(objects, &file.kernel)?;
    let raw = read_kernel_btf(file)?;
    let target = Btf::parse(&raw).map_err(|source| MinError::NotBtf {
        path: file.path.clone(),
        source,
    })?;
    let min = min_core_of(&objects, &target).map_err(|source| MinError::Minimise {
        kernel: Box::new(file.kernel.clone()),
        source,
    })?;
    Ok(Minimised {
        kernel: file.kernel.clone(),
        btf: min.btf,
        stats: min.stats,
    })
}
