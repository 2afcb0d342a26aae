//! Where BTF comes from when the kernel has none.
//!
//! CO-RE needs the running kernel's BTF. Kernels built without
//! `CONFIG_DEBUG_INFO_BTF` have no `/sys/kernel/btf/vmlinux`; for them,
//! [`locate`] looks, in order, at the file the user names, the kernel's
//! own, BTF bundled in the `.wasm` ([`bundle`]), the local [`Cache`] (in
//! BTFHub's layout), and finally downloads from a BTFHub-archive mirror
//! ([`fetch`]), verifying before caching ([`verify`]). It knows nothing of
//! unibpf's SDK: any module, built for upstream wasm-bpf or not, gets the
//! same lookup.
//!
//! Errors print as one line that already names the cause and what to do
//! (print them with `{}`); `source()` leads to the underlying error.

mod archive;
pub mod bundle;
mod cache;
mod derived;
mod download;
mod fetch;
mod kernel;
mod locate;
pub mod min;
mod settings;
mod status;
mod tree;
pub mod verify;
use unibpf_wasm_sections as wasm;

pub use archive::{unpack_btf, ArchiveError};
pub use bundle::{bundle, bundled_btf, bundled_btf_by_release, list, BundleError, Listed};
pub use cache::{Cache, CacheEntry, CacheError, SYSTEM_CACHE_DIR};
pub use derived::{derived_min_core, derived_path, DerivedError, DERIVED_DIR};
pub use download::{download, http_client_builder, DownloadError, DownloadOptions};
pub use fetch::{fetch, FetchError, Fetched};
pub use kernel::{BtfArch, KernelId, KernelIdError};
pub use locate::{locate, Attempt, Located, NotFound, Step};
pub use min::{kernel_btfs, minimise, read_objects, KernelBtfFile, MinError, MinObject, Minimised};
pub use settings::{
    Settings, DEFAULT_MIRROR, ENV_CACHE, ENV_FILE, ENV_MIRROR, KALLSYMS, KERNEL_BTF,
};
pub use status::{status, Status};
pub use verify::{KernelCheck, VerifiedBtf, VerifyError};
pub use wasm::WasmError;
