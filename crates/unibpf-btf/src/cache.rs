//! The local BTF cache, in BTFHub's layout: `<dir>/<ID>/<VERSION_ID>/<arch>/<release>.btf`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::kernel::KernelId;
use crate::verify::{header_fits, VerifiedBtf};

/// Where root keeps BTF.
pub const SYSTEM_CACHE_DIR: &str = "/var/cache/unibpf/btf";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "no BTF cache directory: neither XDG_CACHE_HOME nor HOME is set; give --btf-cache DIR"
    )]
    NoHome,
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CacheError {
    fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What the cache holds for a kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEntry {
    Found(PathBuf),
    Absent(PathBuf),
    /// A file is there but cannot be used (and will be replaced by a fetch).
    Unusable {
        path: PathBuf,
        why: String,
    },
}

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `dir`, or the default: [`SYSTEM_CACHE_DIR`] for root,
    /// `$XDG_CACHE_HOME/unibpf/btf` or `~/.cache/unibpf/btf` for anyone else.
    pub fn open(dir: Option<&Path>) -> Result<Self, CacheError> {
        match dir {
            Some(d) => Ok(Self::new(d)),
            None => Self::default_dir().map(Self::new),
        }
    }

    pub fn default_dir() -> Result<PathBuf, CacheError> {
        #[cfg(unix)]
        if nix::unistd::geteuid().is_root() {
            return Ok(PathBuf::from(SYSTEM_CACHE_DIR));
        }
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(xdg) = var("XDG_CACHE_HOME") {
            return Ok(PathBuf::from(xdg).join("unibpf/btf"));
        }
        var("HOME")
            .map(|home| PathBuf::from(home).join(".cache/unibpf/btf"))
            .ok_or(CacheError::NoHome)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `kernel`'s BTF is or would be.
    pub fn path_of(&self, kernel: &KernelId) -> PathBuf {
        self.dir.join(kernel.relative_path())
    }

    /// The cached BTF of `kernel`. Only verified BTF is ever stored, so a
    /// look at the header is enough to catch a file damaged since.
    pub fn get(&self, kernel: &KernelId) -> CacheEntry {
        let path = self.path_of(kernel);
        let mut head = [0u8; 24];
        let read = std::fs::File::open(&path).and_then(|mut f| {
            let size = f.metadata()?.len();
            f.read_exact(&mut head).map(|()| size)
        });
        match read {
            Ok(size) if header_fits(&head, size) => CacheEntry::Found(path),
            Ok(_) => CacheEntry::Unusable {
                path,
                why: "not BTF (damaged?)".into(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CacheEntry::Absent(path),
            Err(e) => CacheEntry::Unusable {
                path,
                why: e.to_string(),
            },
        }
    }

    /// Writes `btf` as `kernel`'s: a temporary file in the same directory,
    /// renamed over the final name, so a reader sees the whole file or none.
    pub fn store(&self, kernel: &KernelId, btf: &VerifiedBtf) -> Result<PathBuf, CacheError> {
        let path = self.path_of(kernel);
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(CacheError::io("create", dir))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(dir)
            .map_err(CacheError::io("create a file in", dir))?;
        tmp.write_all(btf.bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(CacheError::io("write", tmp.path()))?;
        // Cached BTF is for every user of the machine, like /sys/kernel/btf.
        set_readable(tmp.as_file()).map_err(CacheError::io("chmod", tmp.path()))?;
        // On failure the temporary file is dropped, which removes it.
        tmp.persist(&path)
            .map_err(|e| CacheError::io("rename a file to", &path)(e.error))?;
        tracing::info!(path = %path.display(), "BTF cached");
        Ok(path)
    }
}

#[cfg(unix)]
fn set_readable(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

/// Elsewhere a new file is readable by whoever may read its directory.
#[cfg(not(unix))]
fn set_readable(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}
