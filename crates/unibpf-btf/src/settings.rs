//! Where to look for BTF and how to download it.

use std::path::PathBuf;
use std::time::Duration;

/// The public BTFHub archive (reached over HTTPS).
pub const DEFAULT_MIRROR: &str = "https://github.com/aquasecurity/btfhub-archive/raw/main";
/// The running kernel's own BTF.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";
/// The running kernel's symbols, to tell its BTF from another kernel's.
pub const KALLSYMS: &str = "/proc/kallsyms";

/// Environment variables [`Settings::from_env`] reads.
pub const ENV_FILE: &str = "UNIBPF_BTF";
pub const ENV_CACHE: &str = "UNIBPF_BTF_CACHE";
pub const ENV_MIRROR: &str = "UNIBPF_BTF_MIRROR";

#[derive(Debug, Clone)]
pub struct Settings {
    /// `--btf FILE` / `UNIBPF_BTF`: used as it is, before anything else.
    pub user_file: Option<PathBuf>,
    /// The kernel's own BTF ([`KERNEL_BTF`]; another path in tests).
    pub kernel_btf: PathBuf,
    /// `--btf-cache DIR`; None: [`crate::Cache::default_dir`].
    pub cache_dir: Option<PathBuf>,
    /// `--btf-mirror URL`: a BTFHub-archive tree, `<ID>/<VERSION_ID>/<arch>/<release>.btf.tar.xz`.
    pub mirror: String,
    /// Whether the lookup may download when nothing else has BTF.
    pub download: bool,
    /// Connecting, and each read: a mirror silent this long has stalled.
    pub timeout: Duration,
    /// The whole download.
    pub deadline: Duration,
    /// A progress bar on stderr while downloading (drawn only on a terminal).
    pub progress: bool,
    /// The most bytes taken from a mirror.
    pub max_download: u64,
    /// The most a downloaded archive may unpack to.
    pub max_btf: u64,
    /// Symbols of the running kernel ([`KALLSYMS`]).
    pub kallsyms: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            user_file: None,
            kernel_btf: PathBuf::from(KERNEL_BTF),
            cache_dir: None,
            mirror: DEFAULT_MIRROR.to_string(),
            download: true,
            timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(600),
            progress: true,
            // Kernel BTF is 2-10 MB raw, a third of that compressed.
            max_download: 64 << 20,
            max_btf: 128 << 20,
            kallsyms: PathBuf::from(KALLSYMS),
        }
    }
}

impl Settings {
    /// The defaults, with [`ENV_FILE`], [`ENV_CACHE`] and [`ENV_MIRROR`]
    /// applied when set (command-line flags then override these).
    pub fn from_env() -> Self {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut s = Self::default();
        if let Some(f) = var(ENV_FILE) {
            s.user_file = Some(f.into());
        }
        if let Some(d) = var(ENV_CACHE) {
            s.cache_dir = Some(d.into());
        }
        if let Some(m) = var(ENV_MIRROR) {
            s.mirror = m.to_string_lossy().into_owned();
        }
        s
    }
}
