//! Fetching a host's kernel: resolve the package from the suite's index,
//! download it once into the cache (SHA256 checked against the index),
//! unpack it, and find the bootable image.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::debian::{self, Package};
use crate::hosts::Host;
use crate::MatrixError;

/// A kernel ready to boot, and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kernel {
    pub package: String,
    pub version: String,
    pub sha256: String,
    /// The unpacked package tree.
    pub root: PathBuf,
    pub vmlinuz: PathBuf,
    /// `uname -r` of this kernel (from its modules directory or image name).
    pub release: String,
    /// The series asked for, so a changed host definition refetches.
    pub series: String,
    /// For kernels built from source: SHA256 of the config fragment, so an
    /// edited fragment rebuilds.
    #[serde(default)]
    pub config_sha256: Option<String>,
    /// What this manifest's tree holds; older caches are refetched.
    #[serde(default)]
    pub format: u32,
}

/// 2: 7.x trees include their linux-modules package.
const FORMAT: u32 = 2;

const MANIFEST: &str = "kernel.json";

/// Resolves, downloads (cached) and unpacks `host`'s kernel under `cache`,
/// or builds it from source for hosts with `build` (`repo` holds scripts/
/// and matrix/kernel/).
pub fn fetch(
    client: &reqwest::blocking::Client,
    cache: &Path,
    repo: &Path,
    host: &Host,
    mirror: &str,
) -> Result<Kernel, MatrixError> {
    let dir = cache.join("kernels").join(&host.name);
    let fragment = host
        .build
        .as_ref()
        .map(|b| repo.join("matrix/kernel").join(format!("{b}.config")));
    let config_sha256 = match &fragment {
        Some(f) => Some(fragment_sha256(f).ok_or_else(|| {
            MatrixError::Invalid(format!("host {}: {} is missing", host.name, f.display()))
        })?),
        None => None,
    };
    if let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST)) {
        if let Ok(k) = serde_json::from_str::<Kernel>(&text) {
            if k.vmlinuz.exists()
                && k.series == host.kernel
                && k.config_sha256 == config_sha256
                && k.format == FORMAT
            {
                return Ok(k);
            }
        }
    }
    let archive = host.archive_url(mirror);
    let arch = host.arch.debian();
    let index = debian::fetch_index(client, &archive, &host.suite, arch)?;
    if let (Some(fragment), Some(config_sha256)) = (fragment, config_sha256) {
        let kernel = build_from_source(
            client,
            cache,
            repo,
            host,
            &archive,
            &index,
            &fragment,
            config_sha256,
        )?;
        write_manifest(&dir, &kernel)?;
        return Ok(kernel);
    }
    let flavour = host.flavour();
    let image = debian::newest_kernel(&index, flavour, arch, &host.kernel).ok_or_else(|| {
        let dash = if flavour.is_empty() { "" } else { "-" };
        MatrixError::NoKernel(format!(
            "no linux-image-{}*-{flavour}{dash}{arch} in {} {}",
            host.kernel, archive, host.suite
        ))
    })?;
    let root = dir.join("root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| MatrixError::io(&root, e))?;
    // From 7.x the image package is a meta package: the kernel is in
    // linux-binary-*, its config in linux-base-*, modules in linux-modules-*.
    let mut wanted: Vec<&Package> = vec![image];
    for dep in &image.depends {
        if ["linux-binary-", "linux-base-", "linux-modules-"]
            .iter()
            .any(|p| dep.starts_with(p))
        {
            if let Some(p) = index.iter().find(|p| &p.name == dep) {
                wanted.push(p);
            }
        }
    }
    for p in &wanted {
        let deb = download(client, &archive, p, &cache.join("debs"))?;
        unpack(&deb, &root)?;
    }
    let (vmlinuz, release) = find_image(&root).ok_or_else(|| {
        MatrixError::NoKernel(format!("no vmlinuz in {} {}", image.name, image.version))
    })?;
    let kernel = Kernel {
        package: image.name.clone(),
        version: image.version.clone(),
        sha256: image.sha256.clone(),
        root,
        vmlinuz,
        release,
        series: host.kernel.clone(),
        config_sha256: None,
        format: FORMAT,
    };
    write_manifest(&dir, &kernel)?;
    Ok(kernel)
}

fn write_manifest(dir: &Path, kernel: &Kernel) -> Result<(), MatrixError> {
    let manifest = serde_json::to_string_pretty(kernel).unwrap_or_default();
    std::fs::write(dir.join(MANIFEST), manifest).map_err(|e| MatrixError::io(dir, e))
}

/// Downloads the suite's `linux-source-SERIES` and builds it with
/// scripts/build-kernel.sh (minutes, once; the output is cached with the
/// fragment's checksum). The build log stays next to the kernel.
#[allow(clippy::too_many_arguments)]
fn build_from_source(
    client: &reqwest::blocking::Client,
    cache: &Path,
    repo: &Path,
    host: &Host,
    archive: &str,
    index: &[Package],
    fragment: &Path,
    config_sha256: String,
) -> Result<Kernel, MatrixError> {
    let name = format!("linux-source-{}", host.kernel);
    let source = index
        .iter()
        .filter(|p| p.name == name)
        .max_by(|a, b| debian::compare_versions(&a.version, &b.version))
        .ok_or_else(|| MatrixError::NoKernel(format!("no {name} in {archive} {}", host.suite)))?;
    let deb = download(client, archive, source, &cache.join("debs"))?;
    let dir = cache.join("kernels").join(&host.name);
    let root = dir.join("root");
    std::fs::create_dir_all(&dir).map_err(|e| MatrixError::io(&dir, e))?;
    let log_path = dir.join("build.log");
    let log = std::fs::File::create(&log_path).map_err(|e| MatrixError::io(&log_path, e))?;
    let log_err = log.try_clone().map_err(|e| MatrixError::io(&log_path, e))?;
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!(
        "building the {} kernel from {name} {} (a few minutes, once; log: {})",
        host.name,
        source.version,
        log_path.display()
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let status = Command::new("sh")
        .arg(repo.join("scripts/build-kernel.sh"))
        .arg(&deb)
        .arg(host.arch.name())
        .arg(fragment)
        .arg(&root)
        .stdout(log)
        .stderr(log_err)
        .status();
    spinner.finish_and_clear();
    let status =
        status.map_err(|e| MatrixError::Tool("scripts/build-kernel.sh".into(), e.to_string()))?;
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .find(|l| l.contains("build-kernel:") || l.contains("error"))
            .or_else(|| text.lines().last())
            .unwrap_or("no output")
            .to_string();
        return Err(MatrixError::Tool(
            "scripts/build-kernel.sh".into(),
            format!(
                "building the kernel failed: {last} (see {})",
                log_path.display()
            ),
        ));
    }
    let (vmlinuz, release) = find_image(&root).ok_or_else(|| {
        MatrixError::NoKernel(format!("the build left no vmlinuz in {}", root.display()))
    })?;
    Ok(Kernel {
        package: format!("{name} (built: {})", fragment_name(fragment)),
        version: source.version.clone(),
        sha256: source.sha256.clone(),
        root,
        vmlinuz,
        release,
        series: host.kernel.clone(),
        config_sha256: Some(config_sha256),
        format: FORMAT,
    })
}

fn fragment_name(fragment: &Path) -> String {
    fragment
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Downloads `p` into `dir` unless a file with the right SHA256 is there.
fn download(
    client: &reqwest::blocking::Client,
    archive: &str,
    p: &Package,
    dir: &Path,
) -> Result<PathBuf, MatrixError> {
    std::fs::create_dir_all(dir).map_err(|e| MatrixError::io(dir, e))?;
    let file = p.filename.rsplit('/').next().unwrap_or(&p.filename);
    let path = dir.join(file);
    if sha256_file(&path).as_deref() == Some(p.sha256.as_str()) {
        return Ok(path);
    }
    let url = format!("{archive}/{}", p.filename);
    let mut resp = client
        .get(&url)
        .send()
        .and_then(|r| r.error_for_status())
        .map_err(|e| MatrixError::Download(url.clone(), e.to_string()))?;
    let bar = indicatif::ProgressBar::new(p.size);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:40} {bar:30} {bytes}/{total_bytes}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(file.to_string());
    // Hosts download in parallel and may want the same file (linux-source
    // is the same .deb for every arch): each writes its own part file.
    static PARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = PARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{file}.{}-{n}.part", std::process::id()));
    let mut out = std::fs::File::create(&tmp).map_err(|e| MatrixError::io(&tmp, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = resp
            .read(&mut buf)
            .map_err(|e| MatrixError::Download(url.clone(), e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| MatrixError::io(&tmp, e))?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let got = hex(&hasher.finalize());
    if got != p.sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(MatrixError::Download(
            url,
            format!("SHA256 {got} differs from the index's {}", p.sha256),
        ));
    }
    std::fs::rename(&tmp, &path).map_err(|e| MatrixError::io(&path, e))?;
    Ok(path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA256 of a config fragment, and of the fragments its
/// `# include: NAME` lines pull in (scripts/build-kernel.sh), so editing
/// any of them rebuilds. A fragment without includes hashes as its file.
fn fragment_sha256(fragment: &Path) -> Option<String> {
    let text = std::fs::read_to_string(fragment).ok()?;
    let includes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# include:").map(str::trim))
        .collect();
    if includes.is_empty() {
        return sha256_file(fragment);
    }
    let mut hasher = Sha256::new();
    for inc in includes {
        hasher.update(std::fs::read(fragment.parent()?.join(inc)).ok()?);
    }
    hasher.update(text.as_bytes());
    Some(hex(&hasher.finalize()))
}

pub(crate) fn sha256_file(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hex(&hasher.finalize()))
}

fn unpack(deb: &Path, root: &Path) -> Result<(), MatrixError> {
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(root)
        .status()
        .map_err(|e| MatrixError::Tool("dpkg-deb".into(), e.to_string()))?;
    if !status.success() {
        return Err(MatrixError::Tool(
            "dpkg-deb".into(),
            format!("unpacking {} failed", deb.display()),
        ));
    }
    Ok(())
}

/// The bootable image and the kernel release: `boot/vmlinuz-REL` (up to
/// 6.x; riscv64's is an uncompressed `boot/vmlinux-REL`) or
/// `usr/lib/modules/REL/vmlinuz` (7.x). Not the `vmlinux-REL.btf` that
/// scripts/build-kernel.sh leaves beside its image.
fn find_image(root: &Path) -> Option<(PathBuf, String)> {
    const NAMES: [&str; 2] = ["vmlinuz", "vmlinux"];
    if let Ok(entries) = std::fs::read_dir(root.join("boot")) {
        let mut found: Vec<(usize, PathBuf, String)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                NAMES.iter().enumerate().find_map(|(rank, n)| {
                    let rel = name.strip_prefix(n)?.strip_prefix('-')?;
                    (!rel.ends_with(".btf")).then(|| (rank, e.path(), rel.to_string()))
                })
            })
            .collect();
        found.sort();
        if let Some((_, path, rel)) = found.into_iter().next() {
            return Some((path, rel));
        }
    }
    for base in ["usr/lib/modules", "lib/modules"] {
        if let Ok(entries) = std::fs::read_dir(root.join(base)) {
            for e in entries.flatten() {
                if let Some(img) = NAMES.iter().map(|n| e.path().join(n)).find(|p| p.exists()) {
                    return Some((img, e.file_name().to_string_lossy().into_owned()));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_image_not_the_detached_btf() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let boot = tmp.path().join("boot");
        std::fs::create_dir_all(&boot).expect("boot");
        std::fs::write(boot.join("vmlinux-6.1.0-x.btf"), b"btf").expect("btf");
        assert!(find_image(tmp.path()).is_none());
        std::fs::write(boot.join("vmlinux-6.12.117+deb13-riscv64"), b"img").expect("img");
        let (path, rel) = find_image(tmp.path()).expect("riscv64 image");
        assert_eq!(rel, "6.12.117+deb13-riscv64");
        assert_eq!(path, boot.join("vmlinux-6.12.117+deb13-riscv64"));
        std::fs::write(boot.join("vmlinuz-6.1.0-x"), b"img").expect("img");
        assert_eq!(find_image(tmp.path()).expect("vmlinuz").1, "6.1.0-x");
    }
}
