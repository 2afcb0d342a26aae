//! Start-up when the kernel has no BTF: bootstrap to attached with BTF from
//! the bundle in its .wasm (min-core) and from the cache (the full file, as
//! a download leaves it), beside BTF from sysfs. Every run, sysfs included,
//! goes through the same `unshare -m` wrapper; the no-BTF runs mount an
//! empty tmpfs over /sys/kernel/btf in it, as on a kernel built without BTF.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::guest::{Guests, Running};
use crate::measure::{median, Scale, BOOTSTRAP_READY};
use crate::BenchError;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Where bootstrap's BTF comes from in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Sysfs,
    Bundle,
    Cache,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Sysfs, Source::Bundle, Source::Cache];

    pub fn label(self) -> &'static str {
        match self {
            Source::Sysfs => "sysfs",
            Source::Bundle => "the bundle (min-core)",
            Source::Cache => "the cache (full file)",
        }
    }
}

/// Median ms to attached per source, and the bundle's cost in bytes.
pub struct BtfStartup {
    pub ms: Vec<(Source, f64)>,
    pub bundle_bytes_per_kernel: u64,
}

/// Files the runs need: a bundled bootstrap.wasm and a cache holding this
/// kernel's full BTF, made with unibpf's own commands.
struct Prepared {
    _dir: tempfile::TempDir,
    bundled: PathBuf,
    cache: PathBuf,
    empty_cache: PathBuf,
}

fn unibpf_ok(g: &Guests, args: &[&std::ffi::OsStr]) -> Result<(), BenchError> {
    let out = Command::new(&g.unibpf)
        .args(args)
        .output()
        .map_err(|e| BenchError::Setup(format!("running unibpf: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(BenchError::Setup(format!(
        "unibpf {:?}: {}",
        args,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

fn prepare(g: &Guests) -> Result<Prepared, BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::Setup(format!("tempdir: {e}")))?;
    let min = dir.path().join("min");
    let bundled = dir.path().join("bootstrap-bundled.wasm");
    let wasm = g.wasm("bootstrap");
    unibpf_ok(
        g,
        &[
            "btf".as_ref(),
            "min".as_ref(),
            wasm.as_os_str(),
            "--from".as_ref(),
            VMLINUX.as_ref(),
            "-o".as_ref(),
            min.as_os_str(),
        ],
    )?;
    unibpf_ok(
        g,
        &[
            "btf".as_ref(),
            "bundle".as_ref(),
            wasm.as_os_str(),
            "--from".as_ref(),
            min.as_os_str(),
            "-o".as_ref(),
            bundled.as_os_str(),
        ],
    )?;
    let kernel = unibpf_btf::KernelId::of_this_host()
        .map_err(|e| BenchError::Setup(format!("this kernel: {e}")))?;
    let cache = dir.path().join("cache");
    let cached = unibpf_btf::Cache::new(&cache).path_of(&kernel);
    if let Some(parent) = cached.parent() {
        std::fs::create_dir_all(parent).map_err(|e| BenchError::io(parent, e))?;
    }
    std::fs::copy(VMLINUX, &cached).map_err(|e| BenchError::io(&cached, e))?;
    let empty_cache = dir.path().join("empty-cache");
    std::fs::create_dir_all(&empty_cache).map_err(|e| BenchError::io(&empty_cache, e))?;
    Ok(Prepared {
        _dir: dir,
        bundled,
        cache,
        empty_cache,
    })
}

fn command(g: &Guests, p: &Prepared, source: Source) -> Command {
    let hide = match source {
        Source::Sysfs => "",
        Source::Bundle | Source::Cache => "mount -t tmpfs unibpf-no-btf /sys/kernel/btf && ",
    };
    let (wasm, cache) = match source {
        Source::Sysfs => (g.wasm("bootstrap"), &p.empty_cache),
        Source::Bundle => (p.bundled.clone(), &p.empty_cache),
        Source::Cache => (g.wasm("bootstrap"), &p.cache),
    };
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(r#"{hide}exec "$0" run --no-btf-download "$@""#))
        .arg(&g.unibpf)
        .arg("--btf-cache")
        .arg(cache)
        .arg(wasm);
    cmd
}

/// Start-up per BTF source, the sources taking turns at going first.
pub fn measure(
    g: &Guests,
    scale: &Scale,
    mut tick: impl FnMut(),
) -> Result<BtfStartup, BenchError> {
    let prepared = prepare(g)?;
    let mut samples: Vec<(Source, Vec<f64>)> =
        Source::ALL.iter().map(|s| (*s, Vec::new())).collect();
    for round in 0..scale.rounds {
        for i in 0..Source::ALL.len() {
            let (source, ms) = &mut samples[(round + i) % Source::ALL.len()];
            let what = format!("bootstrap (BTF from {})", source.label());
            let start = Instant::now();
            let mut run = Running::spawn(command(g, &prepared, *source), &what, true)?;
            let (at, _) = run.expect(BOOTSTRAP_READY)?;
            ms.push(at.duration_since(start).as_secs_f64() * 1e3);
            run.interrupt();
            crate::measure::ended_cleanly(run, &what)?;
        }
        tick();
    }
    let original = file_len(&g.wasm("bootstrap"))?;
    let bundled = file_len(&prepared.bundled)?;
    Ok(BtfStartup {
        ms: samples.iter().map(|(s, v)| (*s, median(v))).collect(),
        bundle_bytes_per_kernel: bundled.saturating_sub(original),
    })
}

fn file_len(path: &Path) -> Result<u64, BenchError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| BenchError::io(path, e))
}
