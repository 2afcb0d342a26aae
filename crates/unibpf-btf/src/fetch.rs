//! Download, unpack, verify, cache: in that order, and the cache sees only
//! what passed every step.

use std::path::PathBuf;

use serde::Serialize;

use crate::archive::{unpack_btf, ArchiveError};
use crate::cache::{Cache, CacheError};
use crate::download::{download, DownloadError, DownloadOptions};
use crate::kernel::KernelId;
use crate::settings::Settings;
use crate::verify::{verify, Against, KernelSymbols, Summary, VerifyError};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Download(#[from] DownloadError),
    #[error("{url}: {source}; nothing was cached")]
    Archive {
        url: String,
        #[source]
        source: ArchiveError,
    },
    #[error("{url}: refused: {source}; nothing was cached")]
    Verify {
        url: String,
        #[source]
        source: VerifyError,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// What [`fetch`] brought.
#[derive(Debug, Clone, Serialize)]
pub struct Fetched {
    pub kernel: KernelId,
    pub url: String,
    /// Where it is now cached.
    pub path: PathBuf,
    /// Bytes taken from the mirror (the compressed archive).
    pub downloaded: u64,
    pub btf: Summary,
}

/// Downloads `kernel`'s BTF from `settings.mirror` into `cache`, verified.
pub fn fetch(settings: &Settings, cache: &Cache, kernel: &KernelId) -> Result<Fetched, FetchError> {
    let url = kernel.archive_url(&settings.mirror);
    let opts = DownloadOptions {
        timeout: settings.timeout,
        deadline: settings.deadline,
        max_bytes: settings.max_download,
        progress: settings.progress,
    };
    let xz = download(&url, &opts)?;
    let raw = unpack_btf(&xz, &kernel.member_name(), settings.max_btf).map_err(|source| {
        FetchError::Archive {
            url: url.clone(),
            source,
        }
    })?;
    let symbols;
    let against = if !kernel.is_this_host() {
        Against::Nothing(format!(
            "{kernel} is not the running kernel, whose symbols are all there is to compare with"
        ))
    } else {
        match KernelSymbols::read(&settings.kallsyms) {
            Ok(s) if !s.is_empty() => {
                symbols = s;
                Against::Symbols(&symbols)
            }
            Ok(_) => Against::Nothing(format!(
                "{} lists no kernel functions",
                settings.kallsyms.display()
            )),
            Err(e) => Against::Nothing(format!("cannot read {}: {e}", settings.kallsyms.display())),
        }
    };
    if let Against::Nothing(reason) = &against {
        tracing::warn!("the downloaded BTF is not compared with the kernel's functions: {reason}");
    }
    let verified = verify(raw, kernel, against).map_err(|source| FetchError::Verify {
        url: url.clone(),
        source,
    })?;
    let path = cache.store(kernel, &verified)?;
    Ok(Fetched {
        kernel: kernel.clone(),
        url,
        path,
        downloaded: xz.len() as u64,
        btf: verified.summary().clone(),
    })
}
