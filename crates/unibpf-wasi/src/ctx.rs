//! The per-instance WASI state: arguments, environment, and the fd table.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use unibpf_hostcall::Control;

use crate::errno::{WasiErrno, WasiResult};
use crate::host::{self, DirFd};

/// Receives a guest's stdout or stderr bytes when they are captured.
pub trait OutputSink: Send + Sync {
    fn write(&self, bytes: &[u8]);
}

/// Where a guest's stdout or stderr goes.
#[derive(Clone, Default)]
pub enum Output {
    /// The host process's own stdout/stderr.
    #[default]
    Inherit,
    /// Discarded.
    Null,
    /// Handed to a sink (a buffer, a callback, a log).
    Sink(Arc<dyn OutputSink>),
}

/// Where a guest's stdin comes from.
#[derive(Clone, Debug, Default)]
pub enum Input {
    #[default]
    Inherit,
    Null,
}

/// What the guest may see and touch. Nothing is granted by default.
#[derive(Clone, Default)]
pub struct WasiConfig {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// (host directory, name the guest sees it under).
    pub preopens: Vec<(PathBuf, String)>,
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
    /// Leave stdout block-buffered in the guest when it is not a terminal.
    /// By default stdout is reported as a terminal, so the guest's libc
    /// flushes each line: a guest that is force-stopped (it ignored the
    /// stop request) cannot take what it printed down with its buffer.
    pub stdout_block_buffered: bool,
}

pub(crate) enum FdKind {
    Stdin(Input),
    Out {
        which: i32,
        output: Output,
        tty: bool,
    },
    File {
        file: File,
        readable: bool,
        writable: bool,
        append: bool,
    },
    Dir {
        fd: DirFd,
        preopen: Option<String>,
    },
}

pub struct WasiCtx {
    pub(crate) args: Vec<Vec<u8>>,
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) fds: Vec<Option<FdKind>>,
    pub(crate) control: Arc<Control>,
    pub(crate) memory: Option<wasmi::Memory>,
}

/// Error building a context (a preopened directory that cannot be opened).
#[derive(Debug, thiserror::Error)]
#[error("cannot grant directory {path}: {source}")]
pub struct PreopenError {
    path: String,
    source: host::HostError,
}

fn c_bytes(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().filter(|&b| b != 0).collect();
    v.push(0);
    v
}

impl WasiCtx {
    pub fn new(config: WasiConfig, control: Arc<Control>) -> Result<Self, PreopenError> {
        let out_tty = |o: &Output, fd: i32| matches!(o, Output::Inherit) && host::is_tty(fd);
        let mut fds = vec![
            Some(FdKind::Stdin(config.stdin.clone())),
            Some(FdKind::Out {
                which: 1,
                tty: !config.stdout_block_buffered || out_tty(&config.stdout, 1),
                output: config.stdout.clone(),
            }),
            Some(FdKind::Out {
                which: 2,
                tty: out_tty(&config.stderr, 2),
                output: config.stderr.clone(),
            }),
        ];
        for (host, guest) in &config.preopens {
            let fd = host::open_dir(host.as_path()).map_err(|source| PreopenError {
                path: host.display().to_string(),
                source,
            })?;
            fds.push(Some(FdKind::Dir {
                fd,
                preopen: Some(guest.clone()),
            }));
        }
        Ok(Self {
            args: config.args.iter().map(|a| c_bytes(a)).collect(),
            env: config
                .env
                .iter()
                .map(|(k, v)| c_bytes(&format!("{k}={v}")))
                .collect(),
            fds,
            control,
            memory: None,
        })
    }

    /// The guest's exported memory, set once the module is instantiated.
    pub fn set_memory(&mut self, memory: wasmi::Memory) {
        self.memory = Some(memory);
    }

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    pub(crate) fn get(&mut self, fd: i32) -> WasiResult<&mut FdKind> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fds.get_mut(i))
            .and_then(|e| e.as_mut())
            .ok_or(WasiErrno::BADF)
    }

    pub(crate) fn insert(&mut self, kind: FdKind) -> WasiResult<i32> {
        const MAX_FDS: usize = 1024;
        let slot = match self.fds.iter().position(|e| e.is_none()) {
            Some(i) => i,
            None if self.fds.len() < MAX_FDS => {
                self.fds.push(None);
                self.fds.len() - 1
            }
            None => return Err(WasiErrno::MFILE),
        };
        self.fds[slot] = Some(kind);
        i32::try_from(slot).map_err(|_| WasiErrno::MFILE)
    }

    pub(crate) fn close(&mut self, fd: i32) -> WasiResult<()> {
        let slot = usize::try_from(fd)
            .ok()
            .and_then(|i| self.fds.get_mut(i))
            .ok_or(WasiErrno::BADF)?;
        match slot {
            Some(FdKind::Dir {
                preopen: Some(_), ..
            }) => Err(WasiErrno::NOTSUP),
            Some(_) => {
                *slot = None;
                Ok(())
            }
            None => Err(WasiErrno::BADF),
        }
    }
}

impl FdKind {
    /// Writes the pieces of one `fd_write`. Standard output goes out in
    /// one system call (see `host::write_stdio`) and to a sink in one
    /// call; a file takes them in turn, stopping at a short write.
    pub(crate) fn write_vectored(&mut self, parts: &[&[u8]]) -> WasiResult<usize> {
        if let FdKind::Out { which, output, .. } = self {
            match output {
                Output::Inherit => host::write_stdio(*which, parts)?,
                Output::Null => {}
                Output::Sink(sink) => sink.write(&parts.concat()),
            }
            return Ok(parts.iter().map(|p| p.len()).sum());
        }
        let mut total = 0;
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let n = self.write(part)?;
            total += n;
            if n < part.len() {
                break;
            }
        }
        Ok(total)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> WasiResult<usize> {
        match self {
            FdKind::Out { .. } => self.write_vectored(&[bytes]),
            FdKind::File {
                file,
                writable: true,
                append,
                ..
            } => {
                if *append {
                    file.seek(SeekFrom::End(0))?;
                }
                Ok(file.write(bytes)?)
            }
            FdKind::File { .. } | FdKind::Stdin(_) => Err(WasiErrno::BADF),
            FdKind::Dir { .. } => Err(WasiErrno::ISDIR),
        }
    }

    /// Reads from this fd; a read of the host's stdin waits interruptibly,
    /// so a guest blocked on it still stops when asked.
    pub(crate) fn read(&mut self, buf: &mut [u8], control: &Control) -> WasiResult<usize> {
        match self {
            FdKind::Stdin(Input::Null) => Ok(0),
            FdKind::Stdin(Input::Inherit) => host::read_stdin(buf, control),
            FdKind::File {
                file,
                readable: true,
                ..
            } => Ok(file.read(buf)?),
            FdKind::File { .. } | FdKind::Out { .. } => Err(WasiErrno::BADF),
            FdKind::Dir { .. } => Err(WasiErrno::ISDIR),
        }
    }

    #[cfg(unix)]
    pub(crate) fn host_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        match self {
            FdKind::File { file, .. } => Some(host::borrow_file(file)),
            FdKind::Dir { fd, .. } => Some(fd.as_fd()),
            _ => None,
        }
    }
}
