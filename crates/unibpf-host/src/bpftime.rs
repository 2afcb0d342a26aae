//! Whether bpftime (a userspace eBPF runtime) is installed, and what of it.
//!
//! bpftime's CLI installs into `$HOME/.bpftime` by default (its
//! `--install-location`); `BPFTIME_DIR` names another directory. There we
//! look for the CLI and the three libraries `unibpf run --backend bpftime`
//! preloads: each must be an ELF shared object for this machine. Nothing
//! here loads or runs a library; [`Install::version`] runs `bpftime
//! --version`.

use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable naming bpftime's install directory.
pub const DIR_VAR: &str = "BPFTIME_DIR";

/// A file of a bpftime install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `bpftime`, the CLI (`bpftime attach PID` injects the agent).
    Cli,
    /// Preloaded into the loader: serves its `bpf()` calls from shared memory.
    SyscallServer,
    /// Preloaded into (or injected in) a target: runs the programs there.
    Agent,
    /// Preloaded before the agent to hook the target's syscalls.
    AgentTransformer,
}

impl Part {
    pub const ALL: [Part; 4] = [
        Part::Cli,
        Part::SyscallServer,
        Part::Agent,
        Part::AgentTransformer,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Part::Cli => "bpftime",
            Part::SyscallServer => "libbpftime-syscall-server.so",
            Part::Agent => "libbpftime-agent.so",
            Part::AgentTransformer => "libbpftime-agent-transformer.so",
        }
    }
}

/// Where the install directory came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `BPFTIME_DIR`.
    Env,
    /// `$HOME/.bpftime`, the CLI's default.
    Home,
}

/// What one file of the install is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Ok,
    Missing,
    /// There, but not what bpftime installs under that name.
    Bad(String),
}

#[derive(Debug, thiserror::Error)]
pub enum BpftimeError {
    #[error("bpftime is not installed: neither {DIR_VAR} nor HOME is set; set {DIR_VAR} to its install directory")]
    NoLocation,
    #[error("bpftime is not installed (looked in {}{}; set {DIR_VAR} to its install directory)", .0.display(), source_note(.1))]
    NotInstalled(PathBuf, Source),
    #[error("bpftime in {} is incomplete: {} missing (reinstall it, or set {DIR_VAR} to a complete install)", .0.display(), .1.join(", "))]
    Incomplete(PathBuf, Vec<&'static str>),
    #[error("bpftime in {}: {}: {} (reinstall it, or set {DIR_VAR} to a complete install)", .0.display(), .1, .2)]
    BadFile(PathBuf, &'static str, String),
}

fn source_note(source: &Source) -> &'static str {
    match source {
        Source::Env => ", from BPFTIME_DIR",
        Source::Home => ", the default",
    }
}

/// A bpftime install directory and the state of each of its files.
#[derive(Debug, Clone)]
pub struct Install {
    pub dir: PathBuf,
    pub source: Source,
    pub dir_exists: bool,
    /// In the order of [`Part::ALL`].
    pub parts: Vec<(Part, FileState)>,
}

impl Install {
    /// Inspects `BPFTIME_DIR`, or `$HOME/.bpftime` when it is unset.
    pub fn detect() -> Result<Self, BpftimeError> {
        Self::detect_from(std::env::var_os(DIR_VAR), std::env::var_os("HOME"))
    }

    /// [`Install::detect`] with the variables given.
    pub fn detect_from(
        dir: Option<OsString>,
        home: Option<OsString>,
    ) -> Result<Self, BpftimeError> {
        match (
            dir.filter(|d| !d.is_empty()),
            home.filter(|h| !h.is_empty()),
        ) {
            (Some(dir), _) => Ok(Self::inspect(PathBuf::from(dir), Source::Env)),
            (None, Some(home)) => Ok(Self::inspect(
                PathBuf::from(home).join(".bpftime"),
                Source::Home,
            )),
            (None, None) => Err(BpftimeError::NoLocation),
        }
    }

    /// Checks every file bpftime installs into `dir`.
    pub fn inspect(dir: PathBuf, source: Source) -> Self {
        let dir_exists = dir.is_dir();
        let parts = Part::ALL
            .iter()
            .map(|&part| {
                let state = if dir_exists {
                    check(part, &dir.join(part.file_name()))
                } else {
                    FileState::Missing
                };
                (part, state)
            })
            .collect();
        Self {
            dir,
            source,
            dir_exists,
            parts,
        }
    }

    pub fn state(&self, part: Part) -> &FileState {
        self.parts
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, s)| s)
            .unwrap_or(&FileState::Missing)
    }

    pub fn path(&self, part: Part) -> PathBuf {
        self.dir.join(part.file_name())
    }

    /// Ok when every one of `parts` is there and sound; otherwise the one
    /// reason to print.
    pub fn require(&self, parts: &[Part]) -> Result<(), BpftimeError> {
        if !self.dir_exists {
            return Err(BpftimeError::NotInstalled(
                self.dir.clone(),
                self.source.clone(),
            ));
        }
        if let Some((part, FileState::Bad(why))) = parts
            .iter()
            .map(|&p| (p, self.state(p)))
            .find(|(_, s)| matches!(s, FileState::Bad(_)))
        {
            return Err(BpftimeError::BadFile(
                self.dir.clone(),
                part.file_name(),
                why.clone(),
            ));
        }
        let missing: Vec<&'static str> = parts
            .iter()
            .filter(|&&p| *self.state(p) == FileState::Missing)
            .map(|p| p.file_name())
            .collect();
        if !missing.is_empty() {
            return Err(BpftimeError::Incomplete(self.dir.clone(), missing));
        }
        Ok(())
    }

    /// The first line `bpftime --version` prints, when the CLI is there and
    /// answers within two seconds.
    pub fn version(&self) -> Option<String> {
        if *self.state(Part::Cli) != FileState::Ok {
            return None;
        }
        first_line_of(
            Command::new(self.path(Part::Cli)).arg("--version"),
            Duration::from_secs(2),
        )
    }
}

/// `unibpf probe`'s line: what was found, or where we looked.
impl fmt::Display for Install {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.dir_exists {
            return write!(
                f,
                "not installed (looked in {}{}; set {DIR_VAR})",
                self.dir.display(),
                source_note(&self.source)
            );
        }
        write!(f, "{}:", self.dir.display())?;
        for (part, state) in &self.parts {
            match state {
                FileState::Ok => write!(f, " {}", part.file_name())?,
                FileState::Missing => write!(f, " {} missing", part.file_name())?,
                FileState::Bad(why) => write!(f, " {} {why}", part.file_name())?,
            }
            if *part != Part::AgentTransformer {
                f.write_str(",")?;
            }
        }
        Ok(())
    }
}

/// What `path` is, for `part`: the CLI must be an executable file, the
/// libraries ELF shared objects for this machine.
fn check(part: Part, path: &Path) -> FileState {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return FileState::Missing,
        Err(e) => return FileState::Bad(format!("unreadable: {e}")),
    };
    if !meta.is_file() {
        return FileState::Bad("not a regular file".into());
    }
    if part == Part::Cli {
        use std::os::unix::fs::PermissionsExt;
        return if meta.permissions().mode() & 0o111 == 0 {
            FileState::Bad("not executable".into())
        } else {
            FileState::Ok
        };
    }
    match shared_object_machine(path) {
        Ok(machine) if Some(machine) == host_machine() => FileState::Ok,
        Ok(machine) => FileState::Bad(format!(
            "built for {}, not {}",
            goblin::elf::header::machine_to_str(machine),
            std::env::consts::ARCH
        )),
        Err(why) => FileState::Bad(why),
    }
}

/// The ELF machine of the shared object at `path`, from its header.
fn shared_object_machine(path: &Path) -> Result<u16, String> {
    use goblin::elf::header::{header64::SIZEOF_EHDR, ET_DYN};
    let mut bytes = Vec::with_capacity(SIZEOF_EHDR);
    std::fs::File::open(path)
        .and_then(|f| f.take(SIZEOF_EHDR as u64).read_to_end(&mut bytes))
        .map_err(|e| format!("unreadable: {e}"))?;
    const NOT_SO: &str = "not an ELF shared object";
    let header = goblin::elf::Elf::parse_header(&bytes).map_err(|_| NOT_SO.to_string())?;
    if header.e_type != ET_DYN {
        return Err(NOT_SO.into());
    }
    Ok(header.e_machine)
}

/// The ELF machine this process runs as.
fn host_machine() -> Option<u16> {
    use goblin::elf::header::{EM_386, EM_AARCH64, EM_ARM, EM_LOONGARCH, EM_RISCV, EM_X86_64};
    Some(match std::env::consts::ARCH {
        "x86_64" => EM_X86_64,
        "aarch64" => EM_AARCH64,
        "riscv64" => EM_RISCV,
        "loongarch64" => EM_LOONGARCH,
        "arm" => EM_ARM,
        "x86" => EM_386,
        _ => return None,
    })
}

/// Runs `cmd` and returns the first non-empty line it prints (stdout, else
/// stderr) if it ends within `limit`; kills it otherwise.
fn first_line_of(cmd: &mut Command, limit: Duration) -> Option<String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                // Ours to end: it did not answer in time.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut buf = Vec::new();
        let _ = stream.take(4096).read_to_end(&mut buf);
        text = String::from_utf8_lossy(&buf).into_owned();
        if text.lines().any(|l| !l.trim().is_empty()) {
            break;
        }
    }
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(unibpf_backend::one_line(line).chars().take(80).collect())
}

#[cfg(test)]
#[path = "bpftime_tests.rs"]
mod tests;
