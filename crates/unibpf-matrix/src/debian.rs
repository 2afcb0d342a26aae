//! Debian's package indexes, read directly: which kernel package a suite
//! has for an architecture, where its .deb is, and its SHA256.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::MatrixError;

/// One stanza of a `Packages` index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Path under the archive root.
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    pub depends: Vec<String>,
}

/// Parses a decompressed `Packages` file.
pub fn parse_packages(text: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let mut fields: HashMap<&str, &str> = HashMap::new();
            for line in stanza.lines() {
                if line.starts_with([' ', '\t']) {
                    continue; // continuation of a multi-line field
                }
                if let Some((k, v)) = line.split_once(':') {
                    fields.insert(k, v.trim());
                }
            }
            Some(Package {
                name: fields.get("Package")?.to_string(),
                version: fields.get("Version")?.to_string(),
                filename: fields.get("Filename")?.to_string(),
                sha256: fields.get("SHA256")?.to_string(),
                size: fields.get("Size")?.parse().ok()?,
                depends: fields
                    .get("Depends")
                    .map(|d| {
                        d.split(',')
                            .map(|p| p.split_whitespace().next().unwrap_or("").to_string())
                            .filter(|p| !p.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The newest kernel image package of `flavour` for `arch` (Debian's arch
/// name) whose version starts with `series` (`6.12`, `7`):
/// `linux-image-6.12.74+deb13-cloud-amd64`. An empty flavour is the arch's
/// plain kernel (`linux-image-6.12.74+deb13-riscv64`), not one of its
/// flavours or featuresets (`-cloud-`, `-rt-`). `-dbg` and `-unsigned`
/// packages are not images we boot.
pub fn newest_kernel<'a>(
    packages: &'a [Package],
    flavour: &str,
    arch: &str,
    series: &str,
) -> Option<&'a Package> {
    let suffix = if flavour.is_empty() {
        format!("-{arch}")
    } else {
        format!("-{flavour}-{arch}")
    };
    packages
        .iter()
        .filter(|p| {
            let Some(abi) = p
                .name
                .strip_prefix("linux-image-")
                .and_then(|rest| rest.strip_suffix(&suffix))
            else {
                return false;
            };
            // The ABI's last part is a version (`6.12.74+deb13`, `5.10.0-32`)
            // unless a flavour is left over.
            let plain = abi
                .rsplit('-')
                .next()
                .is_some_and(|last| last.starts_with(|c: char| c.is_ascii_digit()));
            plain
                && abi
                    .strip_prefix(series)
                    .is_some_and(|rest| rest.starts_with(['.', '-', '+']))
        })
        .max_by(|a, b| compare_versions(&a.version, &b.version).then_with(|| a.name.cmp(&b.name)))
}

/// dpkg's version order (epoch, upstream, revision; `~` sorts first).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) => (e.parse().unwrap_or(0), r),
            None => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((u, r)) => (epoch, u, r),
            None => (epoch, rest, ""),
        }
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

fn order(c: Option<char>) -> i32 {
    match c {
        None => 0,
        Some('~') => -1,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() || !b.is_empty() {
        // Non-digit prefixes, character by character.
        let na = a.find(|c: char| c.is_ascii_digit()).unwrap_or(a.len());
        let nb = b.find(|c: char| c.is_ascii_digit()).unwrap_or(b.len());
        let (pa, pb) = (&a[..na], &b[..nb]);
        let mut ca = pa.chars();
        let mut cb = pb.chars();
        loop {
            let (x, y) = (ca.next(), cb.next());
            if x.is_none() && y.is_none() {
                break;
            }
            match order(x).cmp(&order(y)) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        a = &a[na..];
        b = &b[nb..];
        // Digit runs, numerically.
        let da = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
        let db = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
        let xa: u128 = a[..da].parse().unwrap_or(0);
        let xb: u128 = b[..db].parse().unwrap_or(0);
        match xa.cmp(&xb) {
            Ordering::Equal => {}
            o => return o,
        }
        a = &a[da..];
        b = &b[db..];
    }
    Ordering::Equal
}

/// Fetches and parses `dists/SUITE/main/binary-ARCH/Packages.xz`.
pub fn fetch_index(
    client: &reqwest::blocking::Client,
    archive_url: &str,
    suite: &str,
    arch: &str,
) -> Result<Vec<Package>, MatrixError> {
    let url = format!("{archive_url}/dists/{suite}/main/binary-{arch}/Packages.xz");
    let bytes = client
        .get(&url)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.bytes())
        .map_err(|e| MatrixError::Download(url.clone(), e.to_string()))?;
    let mut text = Vec::new();
    lzma_rs::xz_decompress(&mut &bytes[..], &mut text)
        .map_err(|e| MatrixError::Download(url.clone(), format!("bad xz: {e}")))?;
    Ok(parse_packages(&String::from_utf8_lossy(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_version_order() {
        use Ordering::*;
        assert_eq!(compare_versions("6.12.74-1", "6.12.9-1"), Greater);
        assert_eq!(compare_versions("1.0~rc1-1", "1.0-1"), Less);
        assert_eq!(compare_versions("1:0.1", "2.0"), Greater);
        assert_eq!(compare_versions("6.1.0-56", "6.1.0-56"), Equal);
        assert_eq!(compare_versions("6.12.95-1~bpo12+1", "6.12.95-1"), Less);
        assert_eq!(compare_versions("5.10.262-1", "5.10.223-1"), Greater);
    }

    #[test]
    fn picks_the_newest_cloud_image() {
        let index = "Package: linux-image-6.12.9+deb13-cloud-amd64\nVersion: 6.12.9-1\nFilename: pool/a.deb\nSize: 10\nSHA256: aa\n\n\
Package: linux-image-6.12.74+deb13-cloud-amd64\nVersion: 6.12.74-1\nFilename: pool/b.deb\nSize: 11\nSHA256: bb\nDepends: kmod, linux-base (>= 4.3~)\n\n\
Package: linux-image-6.12.74+deb13-cloud-amd64-dbg\nVersion: 6.12.74-1\nFilename: pool/c.deb\nSize: 12\nSHA256: cc\n\n\
Package: linux-image-cloud-amd64\nVersion: 6.12.99-1\nFilename: pool/d.deb\nSize: 13\nSHA256: dd\n";
        let pkgs = parse_packages(index);
        assert_eq!(pkgs.len(), 4);
        let k = newest_kernel(&pkgs, "cloud", "amd64", "6.12").expect("kernel");
        assert_eq!(k.name, "linux-image-6.12.74+deb13-cloud-amd64");
        assert_eq!(k.depends, vec!["kmod", "linux-base"]);
        assert!(newest_kernel(&pkgs, "cloud", "arm64", "6.12").is_none());
        assert!(newest_kernel(&pkgs, "cloud", "amd64", "6.1").is_none());
        assert!(newest_kernel(&pkgs, "cloud", "amd64", "6").is_some());
        // The plain flavour is neither a cloud image nor a featureset's.
        assert!(newest_kernel(&pkgs, "", "amd64", "6.12").is_none());
        let index = "Package: linux-image-6.12.117+deb13-riscv64\nVersion: 6.12.117-1\nFilename: pool/r.deb\nSize: 10\nSHA256: rr\n\n\
Package: linux-image-6.12.117+deb13-riscv64-dbg\nVersion: 6.12.117-1\nFilename: pool/s.deb\nSize: 10\nSHA256: ss\n\n\
Package: linux-image-5.10.0-32-amd64\nVersion: 5.10.223-1\nFilename: pool/t.deb\nSize: 10\nSHA256: tt\n\n\
Package: linux-image-5.10.0-32-rt-amd64\nVersion: 5.10.223-1\nFilename: pool/u.deb\nSize: 10\nSHA256: uu\n";
        let pkgs = parse_packages(index);
        let k = newest_kernel(&pkgs, "", "riscv64", "6.12").expect("riscv64");
        assert_eq!(k.name, "linux-image-6.12.117+deb13-riscv64");
        let k = newest_kernel(&pkgs, "", "amd64", "5.10").expect("amd64");
        assert_eq!(k.name, "linux-image-5.10.0-32-amd64");
    }
}
