//! The process bpftime's agent runs the programs in: a command started
//! with the agent preloaded (as `bpftime start` does), or a running pid the
//! agent is injected into (`bpftime attach PID`).

use std::ffi::OsString;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use unibpf_host::bpftime::{FileState, Part};

use crate::session::{Session, LOADER_VAR, SHM_VAR};

/// What `--cmd` or `--pid` named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Start this command with the agent preloaded.
    Spawn(Vec<OsString>),
    /// Inject the agent into this running process.
    Pid(i32),
}

enum State {
    /// Not started: the module has not consumed yet.
    Waiting,
    Spawned(Child),
    Attached(i32),
    /// Started and ended, or failed to start.
    Done,
}

/// Starts the target once, when the module first consumes; ends what it
/// started when dropped.
pub struct Launcher {
    session: Session,
    target: Option<Target>,
    /// Some object hooks syscalls: the agent transformer goes first.
    syscall_trace: AtomicBool,
    state: Mutex<State>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long `bpftime attach` may take to inject the agent.
const ATTACH_LIMIT: Duration = Duration::from_secs(30);

impl Launcher {
    pub fn new(session: Session, target: Option<Target>) -> Self {
        Self {
            session,
            target,
            syscall_trace: AtomicBool::new(false),
            state: Mutex::new(State::Waiting),
        }
    }

    /// Called for every loaded object that hooks syscalls (before release).
    pub fn need_syscall_trace(&self) {
        self.syscall_trace.store(true, Ordering::Relaxed);
    }

    /// Starts the target with what is attached now. Later calls do nothing.
    pub fn release(&self) -> Result<(), String> {
        let mut state = lock(&self.state);
        if !matches!(*state, State::Waiting) {
            return Ok(());
        }
        let started = match &self.target {
            None => return Ok(()),
            Some(Target::Spawn(argv)) => self.spawn(argv).map(State::Spawned),
            Some(Target::Pid(pid)) => self.attach(*pid).map(|()| State::Attached(*pid)),
        };
        match started {
            Ok(s) => {
                *state = s;
                Ok(())
            }
            Err(why) => {
                *state = State::Done;
                tracing::error!("{why}");
                Err(why)
            }
        }
    }

    /// Whether the target has ended (never true before it started).
    pub fn finished(&self) -> bool {
        let mut state = lock(&self.state);
        let ended = match &mut *state {
            State::Waiting => return false,
            State::Done => return true,
            State::Spawned(child) => !matches!(child.try_wait(), Ok(None)),
            State::Attached(pid) => !alive(*pid),
        };
        if ended {
            *state = State::Done;
        }
        ended
    }

    /// The preloads for the target: the agent, or the transformer with the
    /// agent named in `AGENT_SO` (what `bpftime start -s` sets).
    fn agent_env(&self) -> Result<Vec<(&'static str, OsString)>, String> {
        let install = &self.session.install;
        let agent = install.path(Part::Agent).into_os_string();
        if !self.syscall_trace.load(Ordering::Relaxed) {
            return Ok(vec![("LD_PRELOAD", agent)]);
        }
        if *install.state(Part::AgentTransformer) != FileState::Ok {
            return Err(format!(
                "bpftime: a program hooks syscalls, which needs {} (bpftime built with \
                 BPFTIME_BUILD_WITH_LIBBPF installs it)",
                install.path(Part::AgentTransformer).display()
            ));
        }
        Ok(vec![
            (
                "LD_PRELOAD",
                install.path(Part::AgentTransformer).into_os_string(),
            ),
            ("AGENT_SO", agent),
        ])
    }

    fn spawn(&self, argv: &[OsString]) -> Result<Child, String> {
        let (program, args) = argv
            .split_first()
            .ok_or("bpftime: the command to start is empty")?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_remove(LOADER_VAR)
            .env_remove("AGENT_SO")
            .env(SHM_VAR, &self.session.shm_name)
            .envs(self.agent_env()?);
        let child = cmd
            .spawn()
            .map_err(|e| format!("bpftime: cannot start {}: {e}", program.to_string_lossy()))?;
        tracing::info!(
            "bpftime: started {:?} (pid {}) with the agent",
            argv,
            child.id()
        );
        Ok(child)
    }

    /// `bpftime -i DIR attach [-s] PID`, without the syscall server preloaded.
    fn attach(&self, pid: i32) -> Result<(), String> {
        let install = &self.session.install;
        let mut cmd = Command::new(install.path(Part::Cli));
        cmd.arg("-i").arg(&install.dir).arg("attach");
        if self.syscall_trace.load(Ordering::Relaxed) {
            cmd.arg("-s");
        }
        cmd.arg(pid.to_string())
            .env_remove("LD_PRELOAD")
            .env_remove(LOADER_VAR)
            .env(SHM_VAR, &self.session.shm_name)
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("bpftime: cannot run bpftime attach {pid}: {e}"))?;
        let deadline = Instant::now() + ATTACH_LIMIT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    // Ours to end: it did not finish injecting in time.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "bpftime: bpftime attach {pid} did not finish within {ATTACH_LIMIT:?}"
                    ));
                }
            }
        };
        if !status.success() {
            return Err(format!("bpftime: bpftime attach {pid} failed ({status})"));
        }
        tracing::info!("bpftime: agent injected into pid {pid}");
        Ok(())
    }
}

impl Drop for Launcher {
    /// A command we started is ended with the module (nothing it started
    /// is left running); an attached process is left running, asked to
    /// detach its agent.
    fn drop(&mut self) {
        match std::mem::replace(&mut *lock(&self.state), State::Done) {
            State::Spawned(mut child) => {
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = child.kill();
                }
                let _ = child.wait();
            }
            State::Attached(pid) if alive(pid) => detach(pid),
            _ => {}
        }
    }
}

fn alive(pid: i32) -> bool {
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    !matches!(
        kill(Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Asks the agent in `pid` to detach, as `bpftime trace` does: "detach" on
/// its control socket (newer agents), else SIGUSR1, which every agent
/// handles (we injected it, so the signal has a handler to go to).
fn detach(pid: i32) {
    use std::io::{Read, Write};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    let asked = SocketAddr::from_abstract_name(format!("bpftime-agent-{pid}"))
        .and_then(|addr| UnixStream::connect_addr(&addr))
        .and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            s.write_all(b"detach")?;
            s.shutdown(std::net::Shutdown::Write)?;
            let mut answer = Vec::new();
            s.take(64).read_to_end(&mut answer)?;
            Ok(answer.starts_with(b"ok"))
        })
        .unwrap_or(false);
    if !asked {
        use nix::sys::signal::{kill, Signal};
        let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGUSR1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unibpf_host::bpftime::{Install, Source};

    fn session(dir: &std::path::Path) -> Session {
        Session {
            install: Install::inspect(dir.into(), Source::Env),
            shm_name: "unibpf_test".into(),
        }
    }

    #[test]
    fn without_a_target_release_starts_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Launcher::new(session(tmp.path()), None);
        assert_eq!(l.release(), Ok(()));
        assert!(!l.finished());
    }

    #[test]
    fn syscall_hooks_need_the_transformer_and_say_so() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Launcher::new(
            session(tmp.path()),
            Some(Target::Spawn(vec!["/bin/true".into()])),
        );
        l.need_syscall_trace();
        let err = l.release().unwrap_err();
        assert!(err.contains("libbpftime-agent-transformer.so"), "{err}");
        // A failed start counts as ended, so the module is stopped.
        assert!(l.finished());
        assert_eq!(l.release(), Ok(()));
    }

    #[test]
    fn the_command_gets_the_agent_preload_and_the_session_shm() {
        // No agent is installed: the dynamic loader reports the missing
        // preload and runs the command anyway, which shows its environment.
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("env");
        let script = format!("env > {}", out.display());
        let l = Launcher::new(
            session(tmp.path()),
            Some(Target::Spawn(vec![
                "/bin/sh".into(),
                "-c".into(),
                script.into(),
            ])),
        );
        l.release().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !l.finished() {
            assert!(Instant::now() < deadline, "the command did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
        let env = std::fs::read_to_string(&out).unwrap();
        let agent = tmp.path().join("libbpftime-agent.so");
        assert!(
            env.lines()
                .any(|l| l == format!("LD_PRELOAD={}", agent.display())),
            "{env}"
        );
        assert!(
            env.lines()
                .any(|l| l == "BPFTIME_GLOBAL_SHM_NAME=unibpf_test"),
            "{env}"
        );
        assert!(!env.contains(LOADER_VAR), "{env}");
        assert!(!env.contains("AGENT_SO="), "{env}");
    }

    #[test]
    fn a_missing_cli_fails_attach_in_one_line() {
        let tmp = tempfile::tempdir().unwrap();
        let l = Launcher::new(session(tmp.path()), Some(Target::Pid(1)));
        let err = l.release().unwrap_err();
        assert!(
            err.starts_with("bpftime: cannot run bpftime attach 1: "),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }
}
