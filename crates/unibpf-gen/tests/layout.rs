//! `unibpf gen types` against the BPF side itself: tests/layout defines types
//! with padding, nested structs and unions, arrays, enums, bitfields and
//! pointers, and initialized globals of each. clang lays them out for BPF; the
//! generated header lays them out for wasm32; the bytes of every global and the
//! sizeof/offsetof facts must be identical.

use std::path::{Path, PathBuf};
use std::process::Command;

use goblin::elf::Elf;
use unibpf::{Config, Exit, ModuleSpec, OutputBuffer, Runtime};

fn layout_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/layout")
}

fn clang(args: &[&str]) {
    let out = Command::new("clang")
        .args(args)
        .output()
        .expect("running clang (scripts/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "clang {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The bytes of global `name` in the object's data sections.
fn symbol_bytes(object: &[u8], name: &str) -> Vec<u8> {
    let elf = Elf::parse(object).expect("BPF ELF");
    let sym = elf
        .syms
        .iter()
        .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
        .unwrap_or_else(|| panic!("no symbol {name}"));
    let sh = &elf.section_headers[sym.st_shndx];
    let start = (sh.sh_offset + sym.st_value) as usize;
    object[start..start + sym.st_size as usize].to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compiles tests/layout/layout.bpf.c for BPF into `dir`; returns its bytes.
fn build_layout_object(dir: &Path) -> Vec<u8> {
    let object_path = dir.join("layout.bpf.o");
    clang(&[
        "-g",
        "-O2",
        "-target",
        "bpf",
        "-c",
        layout_dir().join("layout.bpf.c").to_str().unwrap(),
        "-o",
        object_path.to_str().unwrap(),
    ]);
    std::fs::read(&object_path).expect("object")
}

/// Every `name=hex` line of `text` must equal the BPF object's bytes.
fn compare_with_bpf(object: &[u8], text: &str) {
    for name in [
        "layout_padded",
        "layout_nested",
        "layout_bits",
        "layout_number",
        "layout_facts",
    ] {
        let guest_side = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        assert_eq!(
            guest_side,
            hex(&symbol_bytes(object, name)),
            "{name} differs between the guest side (left) and BPF (right)"
        );
    }
}

#[test]
fn generated_c_types_match_the_bpf_layout_byte_for_byte() {
    let dir = layout_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let object = build_layout_object(tmp.path());
    let header = unibpf_gen::types(&object, "layout.bpf.o", unibpf_gen::Lang::C, None)
        .expect("generating types");
    // Pointers and longs are 64-bit integers, padding is explicit.
    assert!(
        header.contains("uint64_t ptr; /* pointer on the BPF side */"),
        "{header}"
    );
    assert!(header.contains("int64_t l;"), "{header}");
    assert!(header.contains("int32_t neg : 5;"), "{header}");
    std::fs::write(tmp.path().join("layout.types.h"), &header).expect("header");

    let wasm_path = tmp.path().join("layout_check.wasm");
    clang(&[
        "--target=wasm32-wasi",
        "-O2",
        "-Wall",
        "-Werror",
        "-I",
        tmp.path().to_str().unwrap(),
        "-I",
        dir.to_str().unwrap(),
        "-o",
        wasm_path.to_str().unwrap(),
        dir.join("layout_check.c").to_str().unwrap(),
    ]);
    let out = OutputBuffer::new();
    let runtime = Runtime::new(Config::default()).expect("runtime");
    let wasm = std::fs::read(&wasm_path).expect("wasm");
    let exit = runtime
        .run(ModuleSpec::new("layout_check.wasm", wasm).stdout(out.sink()))
        .expect("running the wasm side");
    assert_eq!(exit, Exit::Code(0));
    compare_with_bpf(&object, &out.text());
}

#[test]
fn generated_rust_types_match_the_bpf_layout_byte_for_byte() {
    let dir = layout_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let object = build_layout_object(tmp.path());
    let rust = unibpf_gen::types(&object, "layout.bpf.o", unibpf_gen::Lang::Rust, None)
        .expect("generating Rust types");
    let generated = tmp.path().join("layout.rs");
    std::fs::write(&generated, &rust).expect("write");
    // Packed fixed-width types lay out the same on every target, so the host
    // compiler checks the asserts and produces the bytes.
    let exe = tmp.path().join("layout_check");
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition", "2021", "-o"])
        .arg(&exe)
        .arg(dir.join("layout_check.rs"))
        .env("UNIBPF_LAYOUT_RS", &generated)
        .output()
        .expect("running rustc");
    assert!(
        out.status.success(),
        "the generated Rust does not compile:\n{}\n{rust}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("running the check");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    compare_with_bpf(&object, &String::from_utf8_lossy(&run.stdout));
}

#[test]
fn a_named_type_can_be_picked_and_unknown_names_are_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let object = build_layout_object(tmp.path());
    let only = ["nested".to_string()];
    let header = unibpf_gen::types(&object, "x", unibpf_gen::Lang::C, Some(&only)).expect("types");
    // nested embeds inner, so inner comes first; padded is not wanted.
    let inner = header.find("struct inner {").expect("inner emitted");
    let nested = header.find("struct nested {").expect("nested emitted");
    assert!(inner < nested);
    assert!(!header.contains("struct padded {"));
    let err = unibpf_gen::types(
        &object,
        "x",
        unibpf_gen::Lang::C,
        Some(&["nope".to_string()]),
    )
    .expect_err("unknown type");
    assert!(err.to_string().contains("nope"), "{err}");
    let err =
        unibpf_gen::types(b"not an object", "x", unibpf_gen::Lang::C, None).expect_err("garbage");
    assert!(err.to_string().contains("not a BPF ELF object"), "{err}");
}
