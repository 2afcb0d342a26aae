//! Bindings to bpftime's VM, only with the `bpftime` feature and only when
//! its headers are found. bpftime's install (`~/.bpftime`) has no headers:
//! `BPFTIME_INCLUDE_DIR` (a PATH-like list) or `BPFTIME_SOURCE_DIR` (a
//! bpftime checkout: `vm/vm-core/include` and `vm/compat/include`) names
//! them. The VM's code is linked from `libbpftime.a`, which bpftime
//! installs when built with `-DBPFTIME_BUILD_STATIC_LIB=ON`, looked for
//! in `BPFTIME_LIB_DIR`, `BPFTIME_DIR` or `~/.bpftime`.

// Without the feature only the rerun lines are printed.
#![cfg_attr(not(feature = "bpftime"), allow(dead_code))]

use std::path::PathBuf;

const HEADER: &str = "ebpf-vm.h";

fn main() {
    for var in [
        "BPFTIME_INCLUDE_DIR",
        "BPFTIME_SOURCE_DIR",
        "BPFTIME_LIB_DIR",
        "BPFTIME_DIR",
        "HOME",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo::rustc-check-cfg=cfg(bpftime_bindings, bpftime_linked)");
    #[cfg(feature = "bpftime")]
    bindings();
}

fn var(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Where the headers may be, in order.
fn include_dirs() -> Vec<PathBuf> {
    if let Some(list) = var("BPFTIME_INCLUDE_DIR") {
        return std::env::split_paths(&list).collect();
    }
    match var("BPFTIME_SOURCE_DIR") {
        Some(src) => {
            let src = PathBuf::from(src);
            vec![
                src.join("vm/vm-core/include"),
                src.join("vm/compat/include"),
            ]
        }
        None => Vec::new(),
    }
}

/// Where `libbpftime.a` may be, in order.
fn lib_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ["BPFTIME_LIB_DIR", "BPFTIME_DIR"]
        .iter()
        .filter_map(|v| var(v).map(PathBuf::from))
        .collect();
    if let Some(home) = var("HOME") {
        dirs.push(PathBuf::from(home).join(".bpftime"));
    }
    dirs
}

fn show(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "nowhere: BPFTIME_INCLUDE_DIR and BPFTIME_SOURCE_DIR are unset".into();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(feature = "bpftime")]
fn bindings() {
    for dir in include_dirs() {
        println!("cargo:rerun-if-changed={}", dir.join(HEADER).display());
    }
    let dirs = include_dirs();
    let Some(header) = dirs.iter().map(|d| d.join(HEADER)).find(|h| h.is_file()) else {
        println!(
            "cargo:warning=bpftime-sys: feature `bpftime` is on but {HEADER} was not found (looked in {}); \
             building without bindings (AVAILABLE = false). Set BPFTIME_SOURCE_DIR to a bpftime checkout \
             or BPFTIME_INCLUDE_DIR to its vm/vm-core/include and vm/compat/include",
            show(&dirs)
        );
        return;
    };
    let mut builder = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .allowlist_function("ebpf_.*")
        .allowlist_type("ebpf_.*")
        .allowlist_var("EBPF_.*")
        .layout_tests(false);
    for dir in &dirs {
        builder = builder.clang_arg(format!("-I{}", dir.display()));
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    builder
        .generate()
        .unwrap_or_else(|e| panic!("bpftime-sys: bindgen failed on {}: {e}", header.display()))
        .write_to_file(out.join("bindings.rs"))
        .unwrap_or_else(|e| panic!("bpftime-sys: writing bindings: {e}"));
    println!("cargo:rustc-cfg=bpftime_bindings");
    let libs = lib_dirs();
    match libs.iter().find(|d| d.join("libbpftime.a").is_file()) {
        Some(dir) => {
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static=bpftime");
            println!("cargo:rustc-link-lib=dylib=stdc++");
            println!("cargo:rustc-cfg=bpftime_linked");
        }
        None => println!(
            "cargo:warning=bpftime-sys: bindings generated from {}, but libbpftime.a was not found \
             (looked in {}; bpftime installs it when built with -DBPFTIME_BUILD_STATIC_LIB=ON); \
             AVAILABLE = false and nothing is linked",
            header.display(),
            show(&libs)
        ),
    }
}
