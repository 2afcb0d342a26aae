//! A cpio "newc" archive, the format Linux unpacks as its initramfs.

use std::path::Path;

use crate::MatrixError;

#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        let name = name.trim_start_matches('/');
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    pub fn dir(&mut self, path: &str) {
        self.entry(path, 0o040755, &[], (0, 0));
    }

    /// A directory and every parent, each once.
    pub fn dirs(&mut self, path: &str, made: &mut Vec<String>) {
        let mut cur = String::new();
        for part in path.trim_matches('/').split('/').filter(|p| !p.is_empty()) {
            cur.push('/');
            cur.push_str(part);
            if !made.contains(&cur) {
                self.dir(&cur);
                made.push(cur.clone());
            }
        }
    }

    pub fn file(&mut self, path: &str, data: &[u8], executable: bool) {
        let mode = if executable { 0o100755 } else { 0o100644 };
        self.entry(path, mode, data, (0, 0));
    }

    pub fn host_file(
        &mut self,
        path: &str,
        source: &Path,
        executable: bool,
    ) -> Result<(), MatrixError> {
        let data = std::fs::read(source).map_err(|e| MatrixError::io(source, e))?;
        self.file(path, &data, executable);
        Ok(())
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.entry(path, 0o120777, target.as_bytes(), (0, 0));
    }

    pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        self.entry(path, 0o020600, &[], (major, minor));
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        // The kernel reads the archive in 512-byte blocks.
        while self.out.len() % 512 != 0 {
            self.out.push(0);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_headers_and_padding() {
        let mut c = Cpio::new();
        c.file("/init", b"#!/bin/sh\n", true);
        let out = c.finish();
        assert!(out.starts_with(b"070701"));
        // mode field (2nd) of the first header
        assert_eq!(&out[14..22], b"000081ed");
        // file size field (7th)
        assert_eq!(&out[54..62], b"0000000a");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("init\0"));
        assert!(text.contains("TRAILER!!!"));
        assert_eq!(out.len() % 512, 0);
    }
}
