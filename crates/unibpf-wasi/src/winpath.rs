//! Guest paths as Windows would read them: which name inside a granted
//! directory a guest path means, refusing what would leave it. Pure (no
//! file system), so it is tested on every OS; `fs_windows` then refuses
//! symlinks and junctions on the way, which names alone cannot show.

use crate::errno::{WasiErrno, WasiResult};

/// Names Windows maps to devices in any directory, with any extension.
const DEVICES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM1", "COM2", "COM3", "COM4", "COM5",
    "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8",
    "LPT9",
];

/// The components of `path` below the granted directory, `..` already
/// applied. Refused with `ENOTCAPABLE`, as on Linux for what leaves the
/// directory: an absolute path, a `..` above the directory, and what
/// Windows reads as a way out (a `\\` separator, a `:` of a drive letter
/// or a stream, a device name); `EINVAL` for a name Windows cannot hold.
pub(crate) fn components(path: &str) -> WasiResult<Vec<&str>> {
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(WasiErrno::NOTCAPABLE);
    }
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop().ok_or(WasiErrno::NOTCAPABLE)?;
            }
            name => {
                check_name(name)?;
                out.push(name);
            }
        }
    }
    Ok(out)
}

fn check_name(name: &str) -> WasiResult<()> {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    if DEVICES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
        return Err(WasiErrno::NOTCAPABLE);
    }
    // Win32 drops trailing dots and spaces ("a." is "a", "..." is ".").
    if name.ends_with('.') || name.ends_with(' ') {
        return Err(WasiErrno::NOTCAPABLE);
    }
    if name
        .chars()
        .any(|c| c < ' ' || matches!(c, '<' | '>' | '"' | '|' | '?' | '*'))
    {
        return Err(WasiErrno::INVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_below_the_directory_resolve() {
        assert_eq!(components("a/b.txt"), Ok(vec!["a", "b.txt"]));
        assert_eq!(components("./a//b/../c"), Ok(vec!["a", "c"]));
        assert_eq!(components(""), Ok(vec![]));
        assert_eq!(components("a/.."), Ok(vec![]));
    }

    #[test]
    fn ways_out_are_refused() {
        for path in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "..\\x",
            "a\\..\\..\\x",
            "C:\\Windows\\win.ini",
            "C:x",
            "in.txt:secret",
            "NUL",
            "con.txt",
            "a/COM1",
            "...",
            "x. ",
        ] {
            assert_eq!(components(path), Err(WasiErrno::NOTCAPABLE), "{path}");
        }
        assert_eq!(components("a?b"), Err(WasiErrno::INVAL));
    }
}
