//! The compatibility matrix: the program suite's `.wasm` files, unchanged,
//! under `unibpf run` on Debian kernels booted in QEMU (x86_64, arm64 and
//! riscv64) and on this machine; each cell checks the program's real output.
//!
//! Pieces: [`arch`] (what differs per architecture), [`hosts`]
//! (matrix/hosts.toml), [`debian`] and [`kernels`]
//! (fetching or building kernels, checksummed), [`initramfs`] (the payload),
//! [`modules`] (kernel modules the cases need), [`vm`]
//! (booting), [`cases`] (what each case printed and the checks), [`report`]
//! (JSON, Markdown, SVG), [`wine`] (the Windows column: unibpf.exe under
//! wine against a recording stand-in of eBPF for Windows).

pub mod arch;
pub mod btf;
pub mod cases;
pub mod debian;
pub mod hosts;
pub mod initramfs;
pub mod kernels;
pub mod module;
pub mod modules;
pub mod report;
pub mod runner;
pub mod svg;
pub mod vm;
pub mod wine;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("matrix/hosts.toml: {0}")]
    Hosts(String),
    #[error("downloading {0}: {1}")]
    Download(String, String),
    #[error("{0}")]
    NoKernel(String),
    #[error("{0}: {1}")]
    Tool(String, String),
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

impl MatrixError {
    pub(crate) fn io(path: &Path, err: std::io::Error) -> Self {
        MatrixError::Io {
            path: path.to_path_buf(),
            err,
        }
    }
}
