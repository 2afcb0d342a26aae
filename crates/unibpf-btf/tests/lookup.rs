//! The lookup order: the user's file, the kernel's, the bundle, the cache,
//! a download; what each step says; and the one line when none has BTF.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use unibpf_btf::{bundle, locate, status, KernelId, Located, NotFound, Settings, Step};

/// Runs the lookup, returning its explain lines too.
fn run(
    s: &Settings,
    kernel: Option<&KernelId>,
    wasm: Option<&[u8]>,
) -> (Result<Located, NotFound>, Vec<String>) {
    let mut lines = Vec::new();
    let r = locate(s, kernel, wasm, &mut |l| lines.push(l.to_string()));
    (r, lines)
}

/// A cache holding `btf` for `kernel`, as an earlier fetch leaves it.
fn put_in_cache(s: &Settings, kernel: &KernelId, btf: &[u8]) -> PathBuf {
    let p = s.cache_dir.as_ref().unwrap().join(kernel.relative_path());
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, btf).unwrap();
    p
}

fn bundled_guest(kernel: &KernelId, btf: &[u8]) -> Vec<u8> {
    let wasm = std::fs::read(unibpf_test_guests::guest("execsnoop.wasm")).unwrap();
    bundle(&wasm, &[(kernel.clone(), btf.to_vec())]).unwrap()
}

#[test]
fn a_users_file_wins_over_everything() {
    let kernel = this_kernel();
    let server = Server::serving_this_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let mine = tmp.path().join("mine.btf");
    std::fs::write(&mine, object_btf()).unwrap();
    let s = Settings {
        user_file: Some(mine.clone()),
        // The real kernel BTF is there too, and still loses.
        kernel_btf: PathBuf::from(unibpf_btf::KERNEL_BTF),
        ..settings(tmp.path(), &server.url())
    };
    put_in_cache(&s, &kernel, vmlinux());
    let wasm = bundled_guest(&kernel, &object_btf());
    let (found, lines) = run(&s, Some(&kernel), Some(&wasm));
    let found = found.unwrap();
    assert_eq!(found.step(), Step::UserFile);
    assert_eq!(found.custom_path(), Some(mine.as_path()));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(server.requests(), 0);
}

#[test]
fn a_users_file_that_is_missing_ends_the_lookup() {
    let kernel = this_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let s = Settings {
        user_file: Some(tmp.path().join("typo.btf")),
        kernel_btf: PathBuf::from(unibpf_btf::KERNEL_BTF),
        ..settings(tmp.path(), &closed_port_url())
    };
    let (r, _) = run(&s, Some(&kernel), None);
    let e = r.unwrap_err();
    assert_eq!(e.tried.len(), 1, "no fallback past a named file: {e}");
    assert!(
        e.to_string()
            .contains("typo.btf: given, but cannot be read"),
        "{e}"
    );
}

#[test]
fn the_kernels_own_btf_needs_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Settings {
        kernel_btf: PathBuf::from(unibpf_btf::KERNEL_BTF),
        ..settings(tmp.path(), &closed_port_url())
    };
    let (found, lines) = run(&s, None, None);
    let found = found.unwrap();
    assert_eq!(found.step(), Step::Kernel);
    assert_eq!(found.custom_path(), None, "libbpf reads it itself");
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[test]
fn bundle_beats_cache_beats_download() {
    let kernel = this_kernel();
    let server = Server::serving_this_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &server.url());
    let cached = put_in_cache(&s, &kernel, vmlinux());
    let bundled = object_btf();
    let wasm = bundled_guest(&kernel, &bundled);

    let (found, lines) = run(&s, Some(&kernel), Some(&wasm));
    let found = found.unwrap();
    assert_eq!(found.step(), Step::Bundle, "{lines:#?}");
    let temp = found.path().to_path_buf();
    assert_eq!(std::fs::read(&temp).unwrap(), bundled);
    drop(found);
    assert!(
        !temp.exists(),
        "the bundled BTF's temporary file outlived its Located"
    );

    // A module bundling BTF for other kernels only: the cache answers.
    let other = "ubuntu/20.04/x86_64/5.4.0-73-generic".parse().unwrap();
    let (found, lines) = run(&s, Some(&kernel), Some(&bundled_guest(&other, &bundled)));
    assert_eq!(found.unwrap().path(), cached, "{lines:#?}");
    assert!(
        lines[2].contains("bundles BTF for 1 kernels, not"),
        "{lines:#?}"
    );

    std::fs::remove_file(&cached).unwrap();
    let (found, lines) = run(&s, Some(&kernel), None);
    assert_eq!(found.unwrap().step(), Step::Download, "{lines:#?}");
    assert_eq!(server.requests(), 1);
    assert_eq!(std::fs::read(&cached).unwrap(), vmlinux());

    // The second run finds it in the cache and asks the server nothing.
    let (found, _) = run(&s, Some(&kernel), None);
    assert_eq!(found.unwrap().step(), Step::Cache);
    assert_eq!(server.requests(), 1);
}

#[test]
fn nothing_found_lists_every_place_in_one_line() {
    let kernel = this_kernel();
    let server = Server::serving(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &server.url());
    let wasm = std::fs::read(unibpf_test_guests::guest("execsnoop.wasm")).unwrap();
    let (r, lines) = run(&s, Some(&kernel), Some(&wasm));
    let e = r.unwrap_err();
    let line = e.to_string();
    assert!(!line.contains('\n'), "{line}");
    let steps: Vec<Step> = e.tried.iter().map(|a| a.step).collect();
    assert_eq!(steps, Step::ALL.to_vec(), "{line}");
    assert_eq!(lines.len(), 5);
    for part in [
        "--btf: not given",
        "kernel: ",
        "no-such-sysfs/vmlinux: absent",
        "bundle: the module bundles no BTF",
        "cache: ",
        ": not there",
        "download: ",
        "404 Not Found",
        "`unibpf btf fetch`",
        "--btf FILE",
    ] {
        assert!(line.contains(part), "{part:?} missing from: {line}");
    }
    assert!(files_under(tmp.path()).is_empty());

    // Downloads not allowed, and a host without a BTFHub name.
    let s = Settings {
        download: false,
        ..s
    };
    let (r, _) = run(&s, Some(&kernel), None);
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("download: not allowed here"));
    let (r, _) = run(&s, None, None);
    let e = r.unwrap_err();
    assert!(e.to_string().contains("has no BTFHub name"), "{e}");
}

#[test]
fn status_reports_each_step_without_downloading() {
    let kernel = this_kernel();
    let server = Server::serving(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &server.url());
    let st = status(&s, Ok(&kernel), None);
    assert_eq!(st.steps.len(), 5);
    assert_eq!(st.source, Some(Step::Download));
    assert_eq!(server.requests(), 0);
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["steps"][0]["step"], "user_file");
    assert_eq!(json["source"], "download");
    assert_eq!(json["kernel"]["release"], kernel.release.as_str());

    put_in_cache(&s, &kernel, vmlinux());
    let st = status(&s, Ok(&kernel), None);
    assert_eq!(st.source, Some(Step::Cache));
    assert!(st.to_string().contains("BTF comes from: cache"), "{st}");

    let real = Settings {
        kernel_btf: PathBuf::from(unibpf_btf::KERNEL_BTF),
        ..s
    };
    assert_eq!(
        status(&real, Err("no os-release".into()), None).source,
        Some(Step::Kernel)
    );
}

/// A host without /etc/os-release has no BTFHub name: the bundle's one
/// entry for its architecture and release serves, under any distribution
/// name; two such entries are a guess, and nothing is taken.
#[test]
fn without_a_distribution_name_the_bundle_matches_by_release() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &closed_port_url());
    let (arch, release) = KernelId::host_arch_release().unwrap();
    let other_distro = KernelId::new("somedistro", "9", arch, &release).unwrap();
    let wasm = bundled_guest(&other_distro, vmlinux());
    let (found, lines) = run(&s, None, Some(&wasm));
    let found = found.expect("the bundle's entry for this release");
    assert_eq!(found.step(), Step::Bundle);
    assert_eq!(std::fs::read(found.path()).unwrap(), vmlinux());
    assert!(
        lines.iter().any(|l| l.contains("the one entry for")),
        "{lines:?}"
    );

    let third = KernelId::new("otherdistro", "1", arch, &release).unwrap();
    let guest = std::fs::read(unibpf_test_guests::guest("execsnoop.wasm")).unwrap();
    let two = bundle(
        &guest,
        &[
            (other_distro, vmlinux().to_vec()),
            (third, vmlinux().to_vec()),
        ],
    )
    .unwrap();
    let (r, _) = run(&s, None, Some(&two));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("no single entry for"), "{e}");
    assert!(e.contains("cache: skipped"), "{e}");
}
