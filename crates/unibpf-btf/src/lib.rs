//! Where BTF comes from when the kernel has none.
//!
//! CO-RE needs the running kernel's BTF. Kernels built without
//! `CONFIG_DEBUG_INFO_BTF` have no `/sys/kernel/btf/vmlinux`; for them,
//! BTF comes bundled in the `.wasm` ([`bundle`]) or from the local
//! [`Cache`] (in BTFHub's layout), filled from a BTFHub-archive mirror
//! ([`fetch`]), verifying before caching ([`verify`]).
//!
//! Errors print as one line that already names the cause and what to do
//! (print them with `{}`); `source()` leads to the underlying error.

mod archive;
pub mod bundle;
mod cache;
mod download;
mod fetch;
mod kernel;
mod settings;
pub mod verify;
mod wasm;

pub use archive::{unpack_btf, ArchiveError};
pub use bundle::{bundle, bundled_btf, list, BundleError, Listed};
pub use cache::{Cache, CacheEntry, CacheError, SYSTEM_CACHE_DIR};
pub use download::{download, DownloadError, DownloadOptions};
pub use fetch::{fetch, FetchError, Fetched};
pub use kernel::{BtfArch, KernelId, KernelIdError};
pub use settings::{
    Settings, DEFAULT_MIRROR, ENV_CACHE, ENV_FILE, ENV_MIRROR, KALLSYMS, KERNEL_BTF,
};
pub use verify::{VerifiedBtf, VerifyError};
pub use wasm::WasmError;
