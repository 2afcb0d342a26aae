//! What a runtime learns about the host once and every module's pipeline
//! reuses: the probe report, masked copies of the kernel BTF, whether the
//! memlock limit was raised.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use unibpf_host::{HostReport, KernelVersion, Mask};

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
const MEMCG_ACCOUNTING: KernelVersion = KernelVersion::new(5, 11, 0);

#[derive(Default)]
pub struct HostState {
    report: OnceLock<Arc<HostReport>>,
    /// Masked copies of kernel BTF, by their source and the types they hide.
    masked_btf: Mutex<Vec<(PathBuf, Vec<String>, tempfile::TempPath)>>,
    memlock_raised: OnceLock<()>,
}

impl HostState {
    /// The host report, probed on first use (with `mask` applied).
    pub fn report(&self, mask: &Mask) -> Arc<HostReport> {
        self.report
            .get_or_init(|| Arc::new(HostReport::probe_lazily(mask)))
            .clone()
    }

    /// A copy of the kernel BTF at `source` with `types` renamed away.
    pub fn masked_btf(&self, source: &Path, types: &[String]) -> Result<PathBuf, String> {
        let mut cache = self.masked_btf.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, path)) = cache.iter().find(|(s, t, _)| s == source && t == types) {
            return Ok(path.to_path_buf());
        }
        let bytes =
            std::fs::read(source).map_err(|e| format!("reading {}: {e}", source.display()))?;
        let names: Vec<&str> = types.iter().map(String::as_str).collect();
        let hidden = unibpf_object::btf::hide_types(&bytes, &names).map_err(|e| e.to_string())?;
        let mut file = tempfile::Builder::new()
            .prefix("unibpf-masked-btf-")
            .tempfile()
            .map_err(|e| format!("creating a masked BTF file: {e}"))?;
        file.write_all(&hidden)
            .map_err(|e| format!("writing the masked BTF: {e}"))?;
        let path = file.into_temp_path();
        let out = path.to_path_buf();
        cache.push((source.to_path_buf(), types.to_vec(), path));
        Ok(out)
    }

    /// Raises RLIMIT_MEMLOCK once where the kernel charges BPF memory to it;
    /// the line saying what happened, the first time.
    pub fn raise_memlock(&self, report: &HostReport) -> Option<String> {
        let kernel = report.assumed_kernel.or(report.facts.kernel.version);
        if kernel.is_none_or(|k| k >= MEMCG_ACCOUNTING) || self.memlock_raised.set(()).is_err() {
            return None;
        }
        #[cfg(unix)]
        return Some(raise_memlock());
        #[cfg(not(unix))]
        None
    }
}

/// Raises RLIMIT_MEMLOCK as far as this process may; what happened.
#[cfg(unix)]
fn raise_memlock() -> String {
    use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_MEMLOCK).unwrap_or((RLIM_INFINITY, RLIM_INFINITY));
    let why = "kernels before 5.11 charge BPF maps to it";
    if soft == RLIM_INFINITY {
        format!("RLIMIT_MEMLOCK is already unlimited ({why})")
    } else if setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY).is_ok() {
        format!("RLIMIT_MEMLOCK raised to unlimited: {why}")
    } else if soft < hard && setrlimit(Resource::RLIMIT_MEMLOCK, hard, hard).is_ok() {
        format!(
            "RLIMIT_MEMLOCK raised to its hard limit, {} KiB: {why}",
            hard / 1024
        )
    } else {
        format!(
            "RLIMIT_MEMLOCK stays at {} KiB: raising it needs CAP_SYS_RESOURCE ({why})",
            soft / 1024
        )
    }
}
