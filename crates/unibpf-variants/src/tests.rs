use super::*;
use unibpf_wasm_sections::custom_section;

const EMPTY: &[u8] = b"\0asm\x01\0\0\0";

/// A BPF object built by clang from `source`.
fn bpf_object(source: &str) -> Vec<u8> {
    unibpf_test_clang::compile(source, &[])
}

fn linux_object() -> Vec<u8> {
    bpf_object(
        r#"__attribute__((section("sockops"), used)) int on_sock(void *ctx) { return 1; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";"#,
    )
}

fn windows_object() -> Vec<u8> {
    bpf_object(
        r#"__attribute__((section("sockops"), used)) int on_sock_win(void *ctx) { return 0; }"#,
    )
}

/// A module carrying `object` as data, between bytes that look like the
/// start of an ELF but are not one.
fn module_with(object: &[u8]) -> Vec<u8> {
    let mut data = b"junk\x7fELF\x02\x01 not an object".to_vec();
    let offset = EMPTY.len() + data.len();
    data.extend_from_slice(object);
    data.extend_from_slice(b"\x7fELF tail");
    let mut wasm = EMPTY.to_vec();
    wasm.extend(custom_section("data", &data).expect("section"));
    // The section header (id, size, name) sits before the payload.
    let header = wasm.len() - EMPTY.len() - data.len();
    assert_eq!(embedded_objects(&wasm)[0].offset, offset + header);
    wasm
}

fn variant(linux: &[u8], bytes: Vec<u8>, name: &str) -> Variant {
    Variant {
        platform: Platform::Windows,
        replaces: key_of(linux),
        name: name.to_string(),
        kind: VariantKind::of(&bytes).expect("an object"),
        bytes,
    }
}

#[test]
fn embedded_objects_are_found_whole_with_their_programs() {
    let linux = linux_object();
    let wasm = module_with(&linux);
    let found = embedded_objects(&wasm);
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    assert_eq!(&wasm[e.offset..e.offset + e.len], &linux[..]);
    assert_eq!(e.key, key_of(&linux));
    assert_eq!(e.programs, ["on_sock"]);
}

#[test]
fn a_bundled_variant_replaces_exactly_its_linux_object() {
    let linux = linux_object();
    let wasm = module_with(&linux);
    let win = windows_object();
    let out = bundle(&wasm, vec![variant(&linux, win.clone(), "sockops.win.o")]).expect("bundles");
    let got = variant_for(&out, Platform::Windows, &linux)
        .expect("reads")
        .expect("a variant");
    assert_eq!(got.bytes, win);
    assert_eq!(got.kind, VariantKind::Elf);
    assert_eq!(got.name, "sockops.win.o");
    // Another object has none.
    assert_eq!(
        variant_for(&out, Platform::Windows, &win).expect("reads"),
        None
    );
    // The module is otherwise unchanged: its data still holds the object.
    assert_eq!(embedded_objects(&out)[0].key, key_of(&linux));
    // Bundling again replaces, never duplicates.
    let again = bundle(&out, vec![variant(&linux, win.clone(), "v2.o")]).expect("bundles");
    let all = list(&again).expect("lists");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name, "v2.o");
}

#[test]
fn a_native_sys_variant_is_a_pe_image() {
    // Any PE image shows the check; wine's DLLs are PE files.
    let dir = std::path::Path::new("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows");
    let Some(pe) = std::fs::read_dir(dir)
        .ok()
        .and_then(|mut d| {
            d.find_map(|e| {
                e.ok()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "dll"))
            })
        })
        .and_then(|e| std::fs::read(e.path()).ok())
    else {
        eprintln!("skipped: no PE image here (wine is not installed)");
        return;
    };
    assert_eq!(VariantKind::of(&pe), Some(VariantKind::Native));
    let linux = linux_object();
    let out = bundle(
        &module_with(&linux),
        vec![variant(&linux, pe, "sockops.sys")],
    )
    .expect("bundles");
    let got = variant_for(&out, Platform::Windows, &linux)
        .expect("reads")
        .expect("found");
    assert_eq!(got.kind, VariantKind::Native);
}

#[test]
fn what_is_not_an_object_is_refused_when_bundled() {
    let linux = linux_object();
    let mut bad = variant(&linux, windows_object(), "notes.txt");
    bad.bytes = b"#!/bin/sh\necho not an object\n".to_vec();
    let err = bundle(&module_with(&linux), vec![bad]).unwrap_err();
    assert!(matches!(err, VariantError::NotAnObject { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("notes.txt: not a BPF ELF object"),
        "{err}"
    );
}

#[test]
fn a_corrupt_section_is_one_clear_error() {
    let linux = linux_object();
    let mut wasm = module_with(&linux);
    wasm.extend(custom_section(SECTION, b"\x28\xb5\x2f\xfd garbage").expect("section"));
    let err = variant_for(&wasm, Platform::Windows, &linux).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("unibpf.variants section is corrupt"),
        "{text}"
    );
    assert!(text.contains("unibpf bundle"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

#[test]
fn a_hostile_entry_name_is_refused_when_read() {
    let linux = linux_object();
    let mut tar = tar::Builder::new(Vec::new());
    let body = windows_object();
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    let path = format!("windows/{}/../../../etc/passwd", key_of(&linux));
    header
        .set_path(&path)
        .or_else(|_| {
            // tar refuses '..' in paths it writes: put the name in the
            // header bytes directly, as a hostile bundler would.
            let name = &mut header.as_old_mut().name;
            let n = path.len().min(name.len());
            name[..n].copy_from_slice(&path.as_bytes()[..n]);
            header.set_cksum();
            Ok::<(), std::io::Error>(())
        })
        .expect("header");
    header.set_cksum();
    tar.append(&header, &body[..]).expect("append");
    let packed = zstd::encode_all(&tar.into_inner().expect("tar")[..], 3).expect("zstd");
    let mut wasm = module_with(&linux);
    wasm.extend(custom_section(SECTION, &packed).expect("section"));
    let err = list(&wasm).unwrap_err();
    assert!(matches!(err, VariantError::Corrupt { .. }), "{err}");
}
