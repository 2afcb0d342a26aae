//! The producer: runs a bench program already loaded by a consumer process
//! with BPF_PROG_TEST_RUN, so the kernel emits exactly as many records as
//! asked, as fast as it can, with nothing else going on.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::BenchError;

/// A frame's worth of zeros: an skb test run needs at least an Ethernet header.
const PACKET: [u8; 64] = [0; 64];

/// A program of another process, opened by id.
pub struct Producer {
    fd: OwnedFd,
    name: String,
}

impl Producer {
    /// Finds the program called `name` among those process `pid` holds open.
    /// Going through the consumer's own fds (not a global scan by name) picks
    /// the right one even if other copies are loaded.
    pub fn find(pid: u32, name: &str) -> Result<Self, BenchError> {
        let dir = format!("/proc/{pid}/fdinfo");
        let entries = fs::read_dir(&dir).map_err(|e| BenchError::io(&dir, e))?;
        for entry in entries.flatten() {
            let Ok(info) = fs::read_to_string(entry.path()) else {
                continue;
            };
            let Some(id) = info
                .lines()
                .find_map(|l| l.strip_prefix("prog_id:"))
                .and_then(|v| v.trim().parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(producer) = Self::open(id, name)? {
                return Ok(producer);
            }
        }
        Err(BenchError::Setup(format!(
            "process {pid} holds no BPF program named {name}"
        )))
    }

    fn open(id: u32, name: &str) -> Result<Option<Self>, BenchError> {
        // SAFETY: a plain syscall wrapper; a negative return is an errno.
        let raw = unsafe { libbpf_sys::bpf_prog_get_fd_by_id(id) };
        if raw < 0 {
            // The program went away between listing and opening.
            return Ok(None);
        }
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: bpf_prog_info is plain data; zeroed is a valid request.
        let mut info: libbpf_sys::bpf_prog_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
        // SAFETY: info and len describe a buffer of len bytes.
        let err =
            unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
        if err < 0 {
            return Err(BenchError::Setup(format!(
                "reading program {id}'s info: errno {}",
                -err
            )));
        }
        let bytes: Vec<u8> = info
            .name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        if bytes != name.as_bytes() {
            return Ok(None);
        }
        Ok(Some(Self {
            fd,
            name: name.to_string(),
        }))
    }

    /// Runs the program `repeat` times in one syscall: `repeat` records.
    pub fn produce(&self, repeat: u32) -> Result<(), BenchError> {
        if repeat == 0 {
            return Ok(());
        }
        let mut opts = libbpf_sys::bpf_test_run_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
            data_in: PACKET.as_ptr().cast(),
            data_size_in: PACKET.len() as u32,
            repeat: repeat as i32,
            ..Default::default()
        };
        // SAFETY: opts points at PACKET, which outlives the call; no output
        // buffers are given.
        let err = unsafe { libbpf_sys::bpf_prog_test_run_opts(self.fd.as_raw_fd(), &mut opts) };
        if err < 0 {
            return Err(BenchError::Setup(format!(
                "running {} with BPF_PROG_TEST_RUN: errno {}",
                self.name, -err
            )));
        }
        Ok(())
    }
}
