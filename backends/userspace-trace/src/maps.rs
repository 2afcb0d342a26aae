//! Where probed files are mapped: identifying a file by device and inode,
//! and turning /proc/PID/maps text into breakpoint addresses (pure, tested
//! on text).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A file as /proc/PID/maps names it: device (major, minor) and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId {
    pub major: u32,
    pub minor: u32,
    pub ino: u64,
}

impl FileId {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        let dev = meta.dev();
        // glibc's encoding of dev_t (what gnu_dev_major/minor undo).
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        Ok(Self {
            major: major as u32,
            minor: minor as u32,
            ino: meta.ino(),
        })
    }
}

/// One line of /proc/PID/maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mapping {
    start: u64,
    end: u64,
    exec: bool,
    offset: u64,
    file: FileId,
}

fn parse_line(line: &str) -> Option<Mapping> {
    let mut f = line.split_ascii_whitespace();
    let (start, end) = f.next()?.split_once('-')?;
    let perms = f.next()?;
    let offset = f.next()?;
    let (major, minor) = f.next()?.split_once(':')?;
    let ino = f.next()?;
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        exec: perms.as_bytes().get(2) == Some(&b'x'),
        offset: u64::from_str_radix(offset, 16).ok()?,
        file: FileId {
            major: u32::from_str_radix(major, 16).ok()?,
            minor: u32::from_str_radix(minor, 16).ok()?,
            ino: ino.parse().ok()?,
        },
    })
}

/// The addresses to break at, given `maps` and for each probe (by index)
/// its file and offset: for every executable mapping of the file covering
/// the offset, `start + (offset - mapping offset)`. Each address lists the
/// probes on it in index order.
pub(crate) fn probe_addresses(maps: &str, probes: &[(FileId, u64)]) -> BTreeMap<u64, Vec<usize>> {
    let mut out: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for m in maps.lines().filter_map(parse_line).filter(|m| m.exec) {
        for (i, &(file, offset)) in probes.iter().enumerate() {
            let len = m.end.saturating_sub(m.start);
            if file == m.file && offset >= m.offset && offset - m.offset < len {
                out.entry(m.start + (offset - m.offset))
                    .or_default()
                    .push(i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 1234                       /tmp/prog
55d0c0a01000-55d0c0a02000 r-xp 00001000 fe:00 1234                       /tmp/prog
7f80bbd3c000-7f80bbd62000 r--p 00000000 fe:00 326279                     /usr/lib/libc.so.6
7f80bbd62000-7f80bbeb8000 r-xp 00026000 fe:00 326279                     /usr/lib/libc.so.6
7ffd1e5f0000-7ffd1e5f2000 r-xp 00000000 00:00 0                          [vdso]
";

    const PROG: FileId = FileId {
        major: 0xfe,
        minor: 0,
        ino: 1234,
    };
    const LIBC: FileId = FileId {
        major: 0xfe,
        minor: 0,
        ino: 326279,
    };

    #[test]
    fn offsets_become_addresses_in_executable_mappings() {
        let probes = [
            (PROG, 0x1139),
            (LIBC, 0x26010),
            (PROG, 0x1139),
            (PROG, 0x10),
        ];
        let got = probe_addresses(MAPS, &probes);
        let want: BTreeMap<u64, Vec<usize>> =
            [(0x55d0c0a01139, vec![0, 2]), (0x7f80bbd62010, vec![1])].into();
        // Offset 0x10 is only in the read-only mapping: not probed.
        assert_eq!(got, want);
    }

    #[test]
    fn other_files_and_bad_lines_are_ignored() {
        let other = FileId { ino: 99, ..PROG };
        assert!(probe_addresses(MAPS, &[(other, 0x1139)]).is_empty());
        assert!(probe_addresses("garbage\n\n", &[(PROG, 0)]).is_empty());
    }

    #[test]
    fn file_id_of_a_real_file() {
        let id = FileId::of(Path::new("/proc/self/exe")).expect("stat");
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        assert!(maps
            .lines()
            .filter_map(parse_line)
            .any(|m| m.file == id && m.exec));
    }
}
