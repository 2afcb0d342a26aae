//! The environment of a bpftime session: which shared memory the loader and
//! the target meet in, and what the re-executed loader is started with.

use std::ffi::OsString;
use std::path::PathBuf;

use unibpf_host::bpftime::{BpftimeError, FileState, Install, Part, Source};

use crate::Target;

/// Set in the re-executed loader: the bpftime install directory it runs
/// under. Checked against `LD_PRELOAD` there (see [`Session::from_env`]).
pub const LOADER_VAR: &str = "UNIBPF_BPFTIME_LOADER";
/// bpftime's name for its shared memory (its runtime, maps and programs).
pub const SHM_VAR: &str = "BPFTIME_GLOBAL_SHM_NAME";
/// The name bpftime uses when [`SHM_VAR`] is unset.
pub const SHM_DEFAULT: &str = "bpftime_maps_shm";

/// Where the shared memory name came from, for `--explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShmSource {
    /// Made for this run: nobody else's loader or agent uses it.
    Unique,
    /// `BPFTIME_GLOBAL_SHM_NAME` was set for unibpf.
    Given,
    /// The attached process's own (an injected agent reads the target's
    /// environment): its `BPFTIME_GLOBAL_SHM_NAME`, or bpftime's default.
    TargetProcess,
}

/// What the front process starts the loader with.
#[derive(Debug, Clone)]
pub struct LoaderEnv {
    pub shm_name: String,
    pub shm_source: ShmSource,
    /// Variables to set (replacing any value the front process has).
    pub vars: Vec<(&'static str, OsString)>,
}

impl LoaderEnv {
    /// Checks that `install` has what `target` needs and names the shared
    /// memory: the one error to print when it cannot be used.
    pub fn new(
        install: &Install,
        target: Option<&Target>,
        given_shm: Option<String>,
    ) -> Result<Self, BpftimeError> {
        let needed: &[Part] = match target {
            None => &[Part::SyscallServer],
            Some(Target::Spawn(_)) => &[Part::SyscallServer, Part::Agent],
            Some(Target::Pid(_)) => &[Part::Cli, Part::SyscallServer, Part::Agent],
        };
        install.require(needed)?;
        let (shm_name, shm_source) = match (target, given_shm.filter(|s| !s.is_empty())) {
            (Some(Target::Pid(pid)), _) => (shm_of_process(*pid), ShmSource::TargetProcess),
            (_, Some(name)) => (name, ShmSource::Given),
            _ => (unique_shm_name(), ShmSource::Unique),
        };
        let vars = vec![
            ("LD_PRELOAD", install.path(Part::SyscallServer).into()),
            (SHM_VAR, OsString::from(&shm_name)),
            (LOADER_VAR, install.dir.clone().into()),
        ];
        Ok(Self {
            shm_name,
            shm_source,
            vars,
        })
    }
}

/// `unibpf_<pid>_<nanoseconds>`: unique on this machine for this run.
fn unique_shm_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("unibpf_{}_{nanos}", std::process::id())
}

/// The shared memory an agent injected into `pid` will open: the
/// process's `BPFTIME_GLOBAL_SHM_NAME`, or bpftime's default.
fn shm_of_process(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/environ"))
        .ok()
        .and_then(|env| shm_in_environ(&env))
        .unwrap_or_else(|| SHM_DEFAULT.to_string())
}

/// [`SHM_VAR`]'s value in a NUL-separated environment block.
pub(crate) fn shm_in_environ(env: &[u8]) -> Option<String> {
    let prefix = format!("{SHM_VAR}=");
    env.split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The loader's view: the install it runs under and its shared memory.
#[derive(Debug, Clone)]
pub struct Session {
    pub install: Install,
    pub shm_name: String,
}

impl Session {
    /// In the re-executed loader: the session [`LoaderEnv`] set up, or
    /// None when this process is not one. An error when the marker is set
    /// but bpftime's syscall server is not what was preloaded: the kernel
    /// backend would then load into the real kernel, which is not what
    /// `--backend bpftime` asked for.
    pub fn from_env() -> Result<Option<Self>, String> {
        let Some(dir) = std::env::var_os(LOADER_VAR) else {
            return Ok(None);
        };
        let install = Install::inspect(PathBuf::from(dir), Source::Env);
        let server = install.path(Part::SyscallServer);
        let preload = std::env::var_os("LD_PRELOAD").unwrap_or_default();
        let preloaded = std::env::split_paths(&preload.to_string_lossy().replace(' ', ":"))
            .any(|p| p == server);
        if !preloaded || *install.state(Part::SyscallServer) != FileState::Ok {
            return Err(format!(
                "{LOADER_VAR} is set but LD_PRELOAD does not load {}: unset {LOADER_VAR} \
                 (unibpf sets it for the loader it starts with --backend bpftime)",
                server.display()
            ));
        }
        let shm_name = std::env::var(SHM_VAR).unwrap_or_else(|_| SHM_DEFAULT.to_string());
        Ok(Some(Self { install, shm_name }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_install_names_what_each_target_needs() {
        let tmp = tempfile::tempdir().unwrap();
        let install = Install::inspect(tmp.path().into(), Source::Env);
        // An empty directory: the error is the install's, nothing is made.
        let err = LoaderEnv::new(&install, None, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("libbpftime-syscall-server.so missing"),
            "{err}"
        );
        let target = Target::Spawn(vec!["true".into()]);
        let err = LoaderEnv::new(&install, Some(&target), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("libbpftime-syscall-server.so, libbpftime-agent.so missing"),
            "{err}"
        );
        let err = LoaderEnv::new(&install, Some(&Target::Pid(1)), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("bpftime, libbpftime-syscall-server.so, libbpftime-agent.so missing"),
            "{err}"
        );
    }

    #[test]
    fn shm_names_are_unique_per_run_or_as_given() {
        let a = unique_shm_name();
        std::thread::sleep(std::time::Duration::from_millis(1));
        let b = unique_shm_name();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("unibpf_{}_", std::process::id())));
        // A name with a '/' would not be a POSIX shm name.
        assert!(!a.contains('/'));
    }

    #[test]
    fn an_attached_process_keeps_its_own_shm_name() {
        assert_eq!(
            shm_in_environ(b"A=1\0BPFTIME_GLOBAL_SHM_NAME=mine\0B=2\0"),
            Some("mine".into())
        );
        assert_eq!(shm_in_environ(b"BPFTIME_GLOBAL_SHM_NAME=\0"), None);
        assert_eq!(shm_in_environ(b"XBPFTIME_GLOBAL_SHM_NAME=no\0"), None);
        // This test process has none set: bpftime's default.
        if std::env::var_os(SHM_VAR).is_none() {
            assert_eq!(shm_of_process(std::process::id() as i32), SHM_DEFAULT);
        }
    }
}
