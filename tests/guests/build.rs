//! Compiles the guests with scripts/build-guests.sh into OUT_DIR.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("guests");
    println!("cargo:rerun-if-changed={}", manifest.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("scripts/build-guests.sh").display()
    );
    let status = Command::new("sh")
        .arg(root.join("scripts/build-guests.sh"))
        .arg(&out)
        .status()
        .expect("running scripts/build-guests.sh");
    assert!(status.success(), "building the test guests failed; is clang with wasm32-wasi and bpf support installed? (scripts/install-deps.sh)");
    println!("cargo:rustc-env=UNIBPF_GUESTS_DIR={}", out.display());
}
