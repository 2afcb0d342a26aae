//! BTFHub's `.btf.tar.xz`: an xz-compressed tar holding one `<release>.btf`.
//! Read with a cap on what it unpacks to: a mirror is not trusted.

use std::io::{Read, Write};

/// Why an archive gave no BTF.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("corrupt .tar.xz: the xz stream does not decode ({0})")]
    Xz(#[source] lzma_rs::error::Error),
    #[error(
        "the .tar.xz unpacks to more than {limit} bytes and was refused (kernel BTF is a few MB)"
    )]
    TooLarge { limit: u64 },
    #[error("corrupt .tar.xz: the tar inside does not read ({0})")]
    Tar(#[source] std::io::Error),
    #[error("the .tar.xz holds no file; expected {expected}")]
    Empty { expected: String },
    #[error("the .tar.xz holds {found:?}, not {expected:?}: it is not the BTF asked for")]
    WrongMember { expected: String, found: String },
    #[error("the .tar.xz holds more than {expected:?} (also {found:?}); a BTFHub archive holds one file")]
    ExtraMember { expected: String, found: String },
}

/// The single member `member` of an xz-compressed tar, at most `limit`
/// bytes unpacked.
pub fn unpack_btf(xz: &[u8], member: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
    let tar = unxz(xz, limit)?;
    let mut archive = tar::Archive::new(&tar[..]);
    let mut found: Option<Vec<u8>> = None;
    for entry in archive.entries().map_err(ArchiveError::Tar)? {
        let mut entry = entry.map_err(ArchiveError::Tar)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_dir() {
            continue;
        }
        let path = entry.path().map_err(ArchiveError::Tar)?;
        let name = path.to_string_lossy();
        let name = name.strip_prefix("./").unwrap_or(&name).to_string();
        if found.is_some() {
            return Err(ArchiveError::ExtraMember {
                expected: member.to_string(),
                found: name,
            });
        }
        if name != member || !(kind.is_file() || kind.is_contiguous()) {
            return Err(ArchiveError::WrongMember {
                expected: member.to_string(),
                found: name,
            });
        }
        // The tar is in memory and was capped: its members cannot be larger.
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(ArchiveError::Tar)?;
        found = Some(bytes);
    }
    found.ok_or_else(|| ArchiveError::Empty {
        expected: member.to_string(),
    })
}

fn unxz(xz: &[u8], limit: u64) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Capped {
        buf: Vec::new(),
        limit,
        over: false,
    };
    match lzma_rs::xz_decompress(&mut &xz[..], &mut out) {
        Ok(()) => Ok(out.buf),
        Err(_) if out.over => Err(ArchiveError::TooLarge { limit }),
        Err(e) => Err(ArchiveError::Xz(e)),
    }
}

/// A Vec that refuses to grow past `limit`.
struct Capped {
    buf: Vec<u8>,
    limit: u64,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + data.len() as u64 > self.limit {
            self.over = true;
            return Err(std::io::Error::other("over the size limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_xz(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &tar[..], &mut xz).unwrap();
        xz
    }

    #[test]
    fn the_one_member_comes_out() {
        let xz = tar_xz(&[("5.4.0.btf", b"hello")]);
        assert_eq!(unpack_btf(&xz, "5.4.0.btf", 1 << 20).unwrap(), b"hello");
    }

    #[test]
    fn wrong_extra_and_missing_members_are_named() {
        let e = unpack_btf(&tar_xz(&[("x.btf", b"a")]), "5.4.0.btf", 1 << 20).unwrap_err();
        assert!(matches!(e, ArchiveError::WrongMember { .. }), "{e}");
        let two = tar_xz(&[("5.4.0.btf", b"a"), ("y", b"b")]);
        let e = unpack_btf(&two, "5.4.0.btf", 1 << 20).unwrap_err();
        assert!(matches!(e, ArchiveError::ExtraMember { .. }), "{e}");
        let e = unpack_btf(&tar_xz(&[]), "5.4.0.btf", 1 << 20).unwrap_err();
        assert!(matches!(e, ArchiveError::Empty { .. }), "{e}");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 4 << 20];
        let xz = tar_xz(&[("5.4.0.btf", &zeros)]);
        let e = unpack_btf(&xz, "5.4.0.btf", 1 << 20).unwrap_err();
        assert!(matches!(e, ArchiveError::TooLarge { .. }), "{e}");
    }
}
