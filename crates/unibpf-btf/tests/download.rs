//! Downloads from a real HTTP server on loopback serving a BTFHub-layout
//! tree: what is verified and cached, and every way it fails leaving the
//! cache as it was.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use unibpf_btf::verify::KernelCheck;
use unibpf_btf::{
    fetch, ArchiveError, Cache, DownloadError, FetchError, KernelId, Settings, VerifyError,
};

fn serving(kernel: &KernelId, archive: Vec<u8>) -> Server {
    Server::serving(HashMap::from([(mirror_path(kernel), archive)]))
}

/// One line, and the cache holds nothing: no BTF, no temporary file.
fn assert_refused(e: &FetchError, cache: &Path, says: &str) {
    let line = e.to_string();
    eprintln!("refused: {line}");
    assert!(!line.contains('\n'), "more than one line: {line}");
    assert!(line.contains(says), "{line:?} does not say {says:?}");
    assert_eq!(
        files_under(cache),
        Vec::<std::path::PathBuf>::new(),
        "after: {line}"
    );
}

fn fetch_with(s: &Settings, kernel: &KernelId) -> Result<unibpf_btf::Fetched, FetchError> {
    let cache = Cache::open(s.cache_dir.as_deref()).expect("cache");
    fetch(s, &cache, kernel)
}

#[test]
fn download_is_verified_and_cached() {
    let kernel = this_kernel();
    let archive = this_kernel_archive().to_vec();
    let server = serving(&kernel, archive.clone());
    let tmp = tempfile::tempdir().unwrap();
    let s = Settings {
        // The bar's code runs; it draws only on a terminal.
        progress: true,
        ..settings(tmp.path(), &server.url())
    };
    let f = fetch_with(&s, &kernel).unwrap();
    assert_eq!(server.requests(), 1);
    let cache_dir = s.cache_dir.clone().unwrap();
    let cached = cache_dir.join(kernel.relative_path());
    assert_eq!(f.path, cached);
    assert_eq!(f.downloaded, archive.len() as u64);
    assert_eq!(std::fs::read(&cached).unwrap(), vmlinux());
    assert_eq!(
        files_under(&cache_dir),
        vec![cached.clone()],
        "only the BTF, no temporary file"
    );
    let cache = Cache::open(Some(&cache_dir)).unwrap();
    assert_eq!(cache.get(&kernel), unibpf_btf::CacheEntry::Found(cached));
}

#[test]
fn fetch_reports_what_it_verified() {
    let kernel = this_kernel();
    let server = serving(&kernel, this_kernel_archive().to_vec());
    let tmp = tempfile::tempdir().unwrap();
    let f = fetch_with(&settings(tmp.path(), &server.url()), &kernel).unwrap();
    assert_eq!(f.downloaded, this_kernel_archive().len() as u64);
    assert!(f.btf.functions > 1000);
    let KernelCheck::Matched { checked, present } = f.btf.this_kernel else {
        panic!("not compared with kallsyms: {:?}", f.btf.this_kernel);
    };
    assert!(present * 100 >= checked * 95, "{present} of {checked}");
}

#[test]
fn a_404_is_one_line_and_caches_nothing() {
    let kernel = this_kernel();
    let server = Server::serving(HashMap::new());
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch_with(&settings(tmp.path(), &server.url()), &kernel).unwrap_err();
    assert!(
        matches!(e, FetchError::Download(DownloadError::NotOnMirror { .. })),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "404 Not Found");
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_corrupt_archive_is_refused() {
    let kernel = this_kernel();
    let mut damaged = this_kernel_archive().to_vec();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    for (what, archive) in [
        ("damaged", damaged),
        ("cut short", this_kernel_archive()[..1000].to_vec()),
        ("not xz", b"<html>moved</html>".to_vec()),
    ] {
        let server = serving(&kernel, archive);
        let tmp = tempfile::tempdir().unwrap();
        let e = fetch_with(&settings(tmp.path(), &server.url()), &kernel).unwrap_err();
        assert!(
            matches!(
                e,
                FetchError::Archive {
                    source: ArchiveError::Xz(_),
                    ..
                }
            ),
            "{what}: {e}"
        );
        assert_refused(&e, tmp.path(), "corrupt .tar.xz");
    }
}

#[test]
fn a_member_with_the_wrong_name_is_refused() {
    let kernel = this_kernel();
    let server = serving(&kernel, tar_xz("vmlinux.btf", vmlinux()));
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch_with(&settings(tmp.path(), &server.url()), &kernel).unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Archive {
                source: ArchiveError::WrongMember { .. },
                ..
            }
        ),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "holds \"vmlinux.btf\"");
}

#[test]
fn the_btf_of_another_kernel_is_refused() {
    let kernel = this_kernel();
    let other = other_kernel_btf();
    let server = serving(&kernel, tar_xz(&kernel.member_name(), &other));
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch_with(&settings(tmp.path(), &server.url()), &kernel).unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Verify {
                source: VerifyError::OtherKernel { .. },
                ..
            }
        ),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "BTF of another kernel");
    assert!(e.to_string().contains(&kernel.release));
}

#[test]
fn the_btf_of_a_bpf_object_is_refused() {
    let kernel = this_kernel();
    let server = serving(&kernel, tar_xz(&kernel.member_name(), &object_btf()));
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch_with(&settings(tmp.path(), &server.url()), &kernel).unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Verify {
                source: VerifyError::MissingCoreType(_),
                ..
            }
        ),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "not a kernel's BTF");
}

#[test]
fn bytes_that_are_not_btf_are_refused() {
    let kernel = this_kernel();
    let server = serving(
        &kernel,
        tar_xz(&kernel.member_name(), b"\x7fELF not btf at all"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch_with(&settings(tmp.path(), &server.url()), &kernel).unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Verify {
                source: VerifyError::NotBtf(_),
                ..
            }
        ),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "not BTF");
}

#[test]
fn a_stalled_server_times_out() {
    let kernel = this_kernel();
    let server = Server::stalling();
    let tmp = tempfile::tempdir().unwrap();
    let s = Settings {
        timeout: Duration::from_secs(1),
        ..settings(tmp.path(), &server.url())
    };
    // The test bounds itself: a fetch that hangs fails here, not in CI's timeout.
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    let k = kernel.clone();
    std::thread::spawn(move || {
        let _ = tx.send(fetch_with(&s, &k));
    });
    let result = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the fetch did not give up on a stalled server");
    let e = result.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(e, FetchError::Download(DownloadError::Timeout { .. })),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "did not answer within 1s");
    assert_eq!(
        server.requests(),
        1,
        "the server saw the request, then stalled"
    );
}

#[test]
fn a_server_that_is_down_is_one_line() {
    let kernel = this_kernel();
    let tmp = tempfile::tempdir().unwrap();
    let e = fetch_with(&settings(tmp.path(), &closed_port_url()), &kernel).unwrap_err();
    assert!(
        matches!(e, FetchError::Download(DownloadError::Unreachable { .. })),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "cannot reach the BTF mirror");
    assert!(
        e.to_string().to_lowercase().contains("connection refused"),
        "{e}"
    );
}

#[test]
fn a_mirror_sending_too_much_is_cut_off() {
    let kernel = this_kernel();
    let server = serving(&kernel, this_kernel_archive().to_vec());
    let tmp = tempfile::tempdir().unwrap();
    let s = Settings {
        max_download: 64 * 1024,
        ..settings(tmp.path(), &server.url())
    };
    let e = fetch_with(&s, &kernel).unwrap_err();
    assert!(
        matches!(e, FetchError::Download(DownloadError::TooLarge { .. })),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "more than 65536 bytes");

    // An archive that unpacks to more than allowed (an xz bomb, in effect).
    let s = Settings {
        max_btf: 1 << 20,
        ..settings(tmp.path(), &server.url())
    };
    let e = fetch_with(&s, &kernel).unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Archive {
                source: ArchiveError::TooLarge { .. },
                ..
            }
        ),
        "{e}"
    );
    assert_refused(&e, tmp.path(), "unpacks to more than 1048576 bytes");
}
