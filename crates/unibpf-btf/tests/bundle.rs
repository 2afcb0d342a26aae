//! BTF bundled in a module: round trips, the module still runs in wasmi,
//! the entry for the host is the one picked, damage is a clear error.

mod common;

use common::*;
use unibpf_btf::{bundle, bundled_btf, list, BtfArch, BundleError, KernelId};

fn kernel(s: &str) -> KernelId {
    s.parse().unwrap()
}

/// A module built for upstream wasm-bpf, knowing nothing of unibpf.
fn guest_wasm() -> Vec<u8> {
    std::fs::read(unibpf_test_guests::guest("execsnoop.wasm")).unwrap()
}

fn three() -> Vec<(KernelId, Vec<u8>)> {
    vec![
        (
            kernel("ubuntu/20.04/x86_64/5.4.0-73-generic"),
            object_btf_of("exec.bpf.o"),
        ),
        (
            kernel("ubuntu/20.04/arm64/5.4.0-73-generic"),
            object_btf_of("maps.bpf.o"),
        ),
        (
            kernel("centos/8/x86_64/4.18.0-348.el8.x86_64"),
            object_btf_of("burst.bpf.o"),
        ),
    ]
}

#[test]
fn entries_round_trip_and_the_right_one_is_picked() {
    let wasm = guest_wasm();
    let entries = three();
    let out = bundle(&wasm, &entries).unwrap();
    let listed = list(&out).unwrap();
    assert_eq!(listed.len(), 3);
    for (k, btf) in &entries {
        assert_eq!(
            bundled_btf(&out, k).unwrap().as_deref(),
            Some(&btf[..]),
            "{k}"
        );
        let l = listed.iter().find(|l| &l.kernel == k).unwrap();
        assert_eq!(l.size, btf.len() as u64);
    }
    // Same release, other architecture or distribution: not a match.
    let near = KernelId::new("ubuntu", "20.04", BtfArch::Riscv64, "5.4.0-73-generic").unwrap();
    assert_eq!(bundled_btf(&out, &near).unwrap(), None);
    assert_eq!(
        bundled_btf(&out, &kernel("ubuntu/18.04/x86_64/5.4.0-73-generic")).unwrap(),
        None
    );
    // Without a bundle: nothing, and no error.
    assert_eq!(list(&wasm).unwrap(), vec![]);
    assert_eq!(bundled_btf(&wasm, &entries[0].0).unwrap(), None);
}

#[test]
fn the_bundled_module_still_instantiates_in_wasmi() {
    let out = bundle(&guest_wasm(), &three()).unwrap();
    let engine = wasmi::Engine::default();
    let module = wasmi::Module::new(&engine, &out).expect("wasmi validates the bundled module");
    let mut store = wasmi::Store::new(&engine, ());
    let mut linker = wasmi::Linker::<()>::new(&engine);
    // Every import a stub: instantiating checks the module, not the host.
    for import in module.imports() {
        if let wasmi::ExternType::Func(ty) = import.ty() {
            linker
                .func_new(import.module(), import.name(), ty.clone(), |_, _, _| {
                    Err(wasmi::Error::new("stub"))
                })
                .unwrap();
        }
    }
    let instance = linker.instantiate_and_start(&mut store, &module).unwrap();
    assert!(instance.get_export(&store, "_start").is_some());
}

#[test]
fn bundling_again_replaces_the_bundle() {
    let wasm = guest_wasm();
    let first = bundle(&wasm, &three()).unwrap();
    let only = vec![(kernel("debian/10/x86_64/4.19.0-17-amd64"), object_btf())];
    let second = bundle(&first, &only).unwrap();
    let listed: Vec<KernelId> = list(&second)
        .unwrap()
        .into_iter()
        .map(|l| l.kernel)
        .collect();
    assert_eq!(listed, vec![only[0].0.clone()]);
    // The rest of the module is untouched: bundling the original gives the same bytes.
    assert_eq!(second, bundle(&wasm, &only).unwrap());
}

#[test]
fn what_is_not_btf_is_not_bundled() {
    let e = bundle(
        &guest_wasm(),
        &[(kernel("a/1/x86_64/5.4"), b"not btf".to_vec())],
    )
    .unwrap_err();
    assert!(matches!(e, BundleError::NotBtf { .. }), "{e}");
    assert!(
        e.to_string().starts_with("a/1/x86_64/5.4.btf: not BTF"),
        "{e}"
    );
}

/// `wasm` with a raw `unibpf.btf` custom section holding `payload`.
fn with_section(payload: &[u8]) -> Vec<u8> {
    let mut out = guest_wasm();
    let name = b"unibpf.btf";
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(payload);
    out.push(0);
    let mut n = body.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { b } else { b | 0x80 });
        if n == 0 {
            break;
        }
    }
    out.extend(body);
    out
}

#[test]
fn a_corrupt_section_is_a_clear_error() {
    let k = kernel("ubuntu/20.04/x86_64/5.4.0-73-generic");
    for (what, wasm) in [
        ("not zstd", with_section(b"garbage, not zstd")),
        (
            "zstd of not a tar",
            with_section(&zstd::encode_all(&[1u8; 1000][..], 3).unwrap()),
        ),
    ] {
        let e = bundled_btf(&wasm, &k).unwrap_err();
        let line = e.to_string();
        assert!(matches!(e, BundleError::Corrupt { .. }), "{what}: {line}");
        assert!(
            line.contains("unibpf.btf section is corrupt") && line.contains("rebuild"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert!(list(&wasm).is_err());
    }
    // An entry whose name is not in the layout (it would be a path).
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    // Written by hand: the tar crate refuses to write such a name.
    let name = b"../../etc/passwd.btf";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    tar.append(&h, &b"x"[..]).unwrap();
    let packed = zstd::encode_all(&tar.into_inner().unwrap()[..], 3).unwrap();
    let e = list(&with_section(&packed)).unwrap_err();
    assert!(matches!(e, BundleError::BadEntry { .. }), "{e}");
    // Two bundles: which one would be meant?
    let good = bundle(&guest_wasm(), &three()).unwrap();
    let section = &good[guest_wasm().len()..];
    let twice = [&good[..], section].concat();
    assert!(matches!(list(&twice), Err(BundleError::Several(2))));
    // Not a module at all.
    assert!(matches!(list(b"\x7fELF"), Err(BundleError::Wasm(_))));
}

#[test]
fn a_btfhub_tree_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    for (k, btf) in three() {
        let p = dir.path().join(k.relative_path());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, btf).unwrap();
    }
    std::fs::write(dir.path().join("README.md"), "not BTF, not a .btf").unwrap();
    let entries = unibpf_btf::bundle::read_tree(dir.path()).unwrap();
    let mut want: Vec<KernelId> = three().into_iter().map(|(k, _)| k).collect();
    want.sort();
    assert_eq!(
        entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        want
    );
    std::fs::write(dir.path().join("stray.btf"), "x").unwrap();
    let e = unibpf_btf::bundle::read_tree(dir.path()).unwrap_err();
    assert!(matches!(e, BundleError::Layout { .. }), "{e}");
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        unibpf_btf::bundle::read_tree(empty.path()),
        Err(BundleError::NoEntries(_))
    ));
}
