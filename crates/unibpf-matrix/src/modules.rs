//! Kernel modules a VM needs that the cloud kernels build as modules (veth
//! for the network cases, the clsact qdisc and cls_bpf for tc). They go in a
//! second cpio archive appended to the arch's initramfs (Linux unpacks
//! concatenated archives), decompressed, with /modules/order listing them
//! dependencies first for /init to insmod.

use std::path::{Path, PathBuf};

use crate::initramfs::Cpio;
use crate::MatrixError;

/// What the cases need beyond a cloud kernel's built-ins.
pub const NEEDED: &[&str] = &["veth", "sch_ingress", "cls_bpf"];

/// The `lib/modules/RELEASE` directory of an unpacked kernel package tree.
fn modules_dir(root: &Path, release: &str) -> Option<PathBuf> {
    ["usr/lib/modules", "lib/modules"]
        .iter()
        .map(|base| root.join(base).join(release))
        .find(|d| d.join("kernel").is_dir())
}

/// Module names compare with `-` and `_` as one.
fn same_module(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (x == b'-' || x == b'_') && (y == b'-' || y == b'_'))
}

/// Finds `name`.ko (optionally .xz) under `dir`.
fn find_module(dir: &Path, name: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut subdirs = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            subdirs.push(path);
            continue;
        }
        let file = e.file_name().to_string_lossy().into_owned();
        let stem = file
            .strip_suffix(".ko.xz")
            .or_else(|| file.strip_suffix(".ko"));
        if stem.is_some_and(|s| same_module(s, name)) {
            return Some(path);
        }
    }
    subdirs.iter().find_map(|d| find_module(d, name))
}

/// A module's bytes, decompressed when it is `.ko.xz`.
fn read_module(path: &Path) -> Result<Vec<u8>, MatrixError> {
    let bytes = std::fs::read(path).map_err(|e| MatrixError::io(path, e))?;
    if path.extension().is_some_and(|e| e == "xz") {
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut &bytes[..], &mut out)
            .map_err(|e| MatrixError::Invalid(format!("{}: bad xz: {e}", path.display())))?;
        return Ok(out);
    }
    Ok(bytes)
}

/// The `depends=` entry of a module's .modinfo strings.
pub fn depends(module: &[u8]) -> Vec<String> {
    module
        .split(|b| *b == 0)
        .find_map(|field| field.strip_prefix(b"depends="))
        .map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The archive for a kernel, or None when the kernel has no module tree
/// (built-in options, as in the self-built kernels). Modules the tree lacks
/// are left out: their cases then fail saying what is missing.
pub fn archive(root: &Path, release: &str) -> Result<Option<Vec<u8>>, MatrixError> {
    let Some(dir) = modules_dir(root, release) else {
        return Ok(None);
    };
    let mut order: Vec<String> = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    fn add(
        dir: &Path,
        name: &str,
        order: &mut Vec<String>,
        files: &mut Vec<(String, Vec<u8>)>,
        depth: usize,
    ) -> Result<(), MatrixError> {
        if depth > 16 || order.iter().any(|o| same_module(o, name)) {
            return Ok(());
        }
        let Some(path) = find_module(&dir.join("kernel"), name) else {
            return Ok(());
        };
        let bytes = read_module(&path)?;
        for dep in depends(&bytes) {
            add(dir, &dep, order, files, depth + 1)?;
        }
        order.push(name.to_string());
        files.push((format!("{name}.ko"), bytes));
        Ok(())
    }
    for name in NEEDED {
        add(&dir, name, &mut order, &mut files, 0)?;
    }
    if files.is_empty() {
        return Ok(None);
    }
    let mut c = Cpio::new();
    c.dir("/modules");
    for (file, bytes) in &files {
        c.file(&format!("/modules/{file}"), bytes, false);
    }
    let list: Vec<String> = order.iter().map(|n| format!("{n}.ko")).collect();
    c.file("/modules/order", list.join("\n").as_bytes(), false);
    Ok(Some(c.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_depends_from_modinfo_and_matches_names_loosely() {
        let modinfo = b"\0license=GPL\0depends=sch_ingress,nf-conntrack\0name=x\0";
        assert_eq!(depends(modinfo), ["sch_ingress", "nf-conntrack"]);
        assert!(depends(b"\0depends=\0").is_empty());
        assert!(same_module("sch_ingress", "sch-ingress"));
        assert!(!same_module("veth", "vethx"));
    }

    #[test]
    fn archives_modules_dependencies_first_and_decompresses_xz() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("lib/modules/6.1.0-test/kernel/net");
        std::fs::create_dir_all(&dir).expect("dirs");
        std::fs::write(dir.join("veth.ko"), b"\0depends=\0").expect("veth");
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &b"\0depends=sch_ingress\0"[..], &mut xz).expect("xz");
        std::fs::write(dir.join("cls_bpf.ko.xz"), xz).expect("cls_bpf");
        std::fs::write(dir.join("sch_ingress.ko"), b"\0depends=\0").expect("ingress");
        let cpio = archive(tmp.path(), "6.1.0-test")
            .expect("archive")
            .expect("some modules");
        let text = String::from_utf8_lossy(&cpio);
        assert!(
            text.contains("veth.ko\nsch_ingress.ko\ncls_bpf.ko"),
            "{text}"
        );
        assert!(text.contains("depends=sch_ingress"), "decompressed: {text}");
        assert!(archive(tmp.path(), "7.0-none").expect("none").is_none());
    }
}
