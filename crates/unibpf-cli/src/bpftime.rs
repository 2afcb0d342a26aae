//! `--backend bpftime`: the front process checks the install and replaces
//! itself (exec, so nothing is left behind) with unibpf as bpftime's
//! loader: the same command line, bpftime's syscall server preloaded. The
//! loader runs the kernel backend, whose libbpf calls the server answers,
//! and starts the target with bpftime's agent once the module consumes.

use std::ffi::OsString;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use unibpf::{Backend, BackendChoice, BackendKind, Config};
use unibpf_backend_bpftime::{
    BpftimeBackend, Install, Launcher, LoaderEnv, Session, ShmSource, Target, SHM_VAR,
};

/// In the loader: the config to run with and the target's launcher. In the
/// front process: does not return unless it fails (one line to print).
pub fn loader(
    config: Config,
    target: Option<Target>,
    explain: bool,
) -> anyhow::Result<(Config, Arc<Launcher>)> {
    let session = match Session::from_env().map_err(|e| anyhow!(e))? {
        Some(session) => session,
        None => return Err(reexec(target.as_ref(), explain)),
    };
    let launcher = Arc::new(Launcher::new(session, target));
    let for_backend = Arc::clone(&launcher);
    let config = config
        .backend(Arc::new(move || {
            let kernel = unibpf_backend_kernel::KernelBackend::new();
            Ok(Box::new(BpftimeBackend::new(
                Box::new(kernel),
                Arc::clone(&for_backend),
            )) as Box<dyn Backend>)
        }))
        .backend_choice(BackendChoice::Forced(BackendKind::Kernel));
    Ok((config, launcher))
}

/// Execs this program again with the loader's environment; returns why it
/// could not.
fn reexec(target: Option<&Target>, explain: bool) -> anyhow::Error {
    let env = match Install::detect()
        .and_then(|install| LoaderEnv::new(&install, target, std::env::var(SHM_VAR).ok()))
    {
        Ok(env) => env,
        Err(e) => return anyhow!(e).context("--backend bpftime"),
    };
    if explain {
        for line in explanation(&env, target) {
            eprintln!("unibpf: explain: {line}");
        }
    }
    let exe = match std::env::current_exe().context("--backend bpftime: finding unibpf itself") {
        Ok(exe) => exe,
        Err(e) => return e,
    };
    use std::os::unix::process::CommandExt;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let e = std::process::Command::new(&exe)
        .args(args)
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .exec();
    anyhow!(e).context(format!(
        "--backend bpftime: cannot start {} as bpftime's loader",
        exe.display()
    ))
}

/// What `--explain` says before the loader starts.
fn explanation(env: &LoaderEnv, target: Option<&Target>) -> Vec<String> {
    let shm = match env.shm_source {
        ShmSource::Unique => "made for this run",
        ShmSource::Given => "from BPFTIME_GLOBAL_SHM_NAME",
        ShmSource::TargetProcess => "the attached process's own (its injected agent reads it)",
    };
    let preload = env
        .vars
        .iter()
        .find(|(k, _)| *k == "LD_PRELOAD")
        .map(|(_, v)| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let start = match target {
        None => format!(
            "no --cmd or --pid: start targets yourself with {SHM_VAR}={} bpftime start COMMAND",
            env.shm_name
        ),
        Some(Target::Spawn(_)) => {
            "--cmd starts with bpftime's agent preloaded at the module's first poll or map read"
                .into()
        }
        Some(Target::Pid(pid)) => {
            format!("bpftime attach {pid} injects the agent at the module's first poll or map read")
        }
    };
    vec![
        format!(
            "bpftime: forced by --backend bpftime (auto never picks it: it is not verified \
             by unibpf's tests); the kernel backend loads through libbpf with {preload} \
             preloaded, so its bpf() calls go to bpftime's shared memory {} ({shm})",
            env.shm_name
        ),
        format!("bpftime: {start}"),
    ]
}
