//! What the BTF tests share: a real HTTP server on loopback that counts the
//! requests it sees, BTFHub-layout archives made with GNU tar and xz (as
//! BTFHub makes them), and BTFs of this kernel and of others.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use unibpf_btf::{BtfArch, KernelId, Settings};

/// How the server answers.
#[derive(Clone)]
enum Mode {
    /// Files by path (`/debian/12/...`); anything else is a 404.
    Files(Arc<HashMap<String, Vec<u8>>>),
    /// Reads the request, then says nothing until the server stops.
    Stall,
}

pub struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `files` (path without the leading `/` -> body).
    pub fn serving(files: HashMap<String, Vec<u8>>) -> Self {
        Self::start(Mode::Files(Arc::new(files)))
    }

    /// Accepts connections and stalls on each.
    /// A mirror with this kernel's archive and nothing else.
    pub fn serving_this_kernel() -> Self {
        Self::serving(HashMap::from([(
            mirror_path(&this_kernel()),
            this_kernel_archive().to_vec(),
        )]))
    }

    pub fn stalling() -> Self {
        Self::start(Mode::Stall)
    }

    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (mode, r, s) = (mode.clone(), r.clone(), s.clone());
                std::thread::spawn(move || handle(conn, &mode, &r, &s));
            }
        });
        Self {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests seen so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(mut conn: TcpStream, mode: &Mode, requests: &AtomicUsize, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    requests.fetch_add(1, Ordering::SeqCst);
    match mode {
        Mode::Stall => {
            // Hold the connection open, silent, until the test ends (bounded).
            let until = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Mode::Files(files) => {
            let reply = match files.get(path.trim_start_matches('/')) {
                Some(body) => [
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/x-xz\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes(),
                    body.clone(),
                ]
                .concat(),
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
                    .to_vec(),
            };
            let _ = conn.write_all(&reply);
        }
    }
}

/// A loopback port nobody listens on.
pub fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = l.local_addr().expect("local addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// This machine's kernel under a BTFHub name (the distribution part does not
/// matter to the checks, so tests do not depend on /etc/os-release).
pub fn this_kernel() -> KernelId {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let arch = BtfArch::from_machine(std::env::consts::ARCH).expect("a BTFHub architecture");
    KernelId::new("debian", "12", arch, release.trim()).expect("kernel id")
}

/// The running kernel's BTF.
pub fn vmlinux() -> &'static [u8] {
    static BTF: OnceLock<Vec<u8>> = OnceLock::new();
    BTF.get_or_init(|| {
        std::fs::read("/sys/kernel/btf/vmlinux")
            .expect("these tests need the kernel's BTF at /sys/kernel/btf/vmlinux")
    })
}

/// `<member>` holding `bytes`, as BTFHub packs it: `tar cJf` (GNU tar, xz).
pub fn tar_xz(member: &str, bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(member), bytes).expect("write member");
    let out = dir.path().join("out.tar.xz");
    let status = std::process::Command::new("tar")
        .env("XZ_OPT", "-0")
        .arg("-C")
        .arg(dir.path())
        .arg("-cJf")
        .arg(&out)
        .arg(member)
        .status()
        .expect("run tar (GNU tar and xz are needed)");
    assert!(status.success(), "tar failed");
    std::fs::read(out).expect("read archive")
}

/// This kernel's BTF as a BTFHub archive, made once.
pub fn this_kernel_archive() -> &'static [u8] {
    static XZ: OnceLock<Vec<u8>> = OnceLock::new();
    XZ.get_or_init(|| tar_xz(&this_kernel().member_name(), vmlinux()))
}

/// A mirror path for `kernel`.
pub fn mirror_path(kernel: &KernelId) -> String {
    format!("{kernel}.btf.tar.xz")
}

/// Settings for a test: a private cache, `mirror`, short timeouts, no real
/// sysfs (so the later steps are reached).
pub fn settings(cache: &Path, mirror: &str) -> Settings {
    Settings {
        kernel_btf: cache.join("no-such-sysfs/vmlinux"),
        cache_dir: Some(cache.join("cache")),
        mirror: mirror.to_string(),
        timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(60),
        ..Settings::default()
    }
}

/// Every file under `dir` (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A real kernel BTF whose functions are partly another kernel's: every
/// fourth `FUNC` is renamed (about the share that differs between 6.12 and
/// 6.18), everything else left as it is.
pub fn other_kernel_btf() -> Vec<u8> {
    let mut btf = vmlinux().to_vec();
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    assert_eq!(&btf[..2], &[0x9f, 0xeb], "little-endian BTF expected");
    let hdr_len = u32_at(&btf, 4) as usize;
    let (type_off, type_len) = (u32_at(&btf, 8) as usize, u32_at(&btf, 12) as usize);
    let str_off = u32_at(&btf, 16) as usize;
    let strings = hdr_len + str_off;
    let (mut pos, end) = (hdr_len + type_off, hdr_len + type_off + type_len);
    let mut funcs = 0;
    while pos < end {
        let name_off = u32_at(&btf, pos) as usize;
        let info = u32_at(&btf, pos + 4);
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        if kind == 12 {
            funcs += 1;
            if funcs % 4 == 0 {
                // Same length, still UTF-8, and no kernel has such a function.
                btf[strings + name_off] = b'Q';
            }
        }
        pos += 12
            + match kind {
                1 | 9 | 14 | 17 => 4,    // int, var, decl_tag
                3 => 12,                 // array
                4 | 5 | 15 => 12 * vlen, // struct, union, datasec
                6 | 13 => 8 * vlen,      // enum, func_proto
                19 => 12 * vlen,         // enum64
                _ => 0,
            };
    }
    assert!(funcs > 1000, "the kernel BTF has {funcs} functions");
    btf
}

/// The `.BTF` of a BPF object: real BTF, but a program's, not a kernel's.
pub fn object_btf() -> Vec<u8> {
    object_btf_of("exec.bpf.o")
}

/// The `.BTF` of the test guests' BPF object `file`.
pub fn object_btf_of(file: &str) -> Vec<u8> {
    let path = unibpf_test_guests::guest(file);
    let bytes = std::fs::read(&path).expect("read object");
    let elf = goblin::elf::Elf::parse(&bytes).expect("ELF");
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".BTF"))
        .expect("a .BTF section");
    let range = sh.file_range().expect("file range");
    bytes[range].to_vec()
}
