//! `unibpf`: the command-line front end. Parses flags, wires the library
//! together, maps outcomes to exit statuses; no logic of its own worth testing.

#[cfg(target_os = "linux")]
mod bpftime;
mod btf;
mod bundle;
#[cfg(any(windows, test))]
mod console;
mod log;
mod matrix;
mod probe;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use unibpf::{
    BackendChoice, BackendKind, CallbackNames, Config, Control, Exit, Limits, Mask, ModuleSpec,
    RunError, Runtime,
};
#[cfg(target_os = "linux")]
use unibpf::{ProcessHooks, TraceTarget};

#[derive(Parser)]
#[command(
    name = "unibpf",
    version,
    about = "Run eBPF applications packaged as WebAssembly modules"
)]
struct Cli {
    /// More log output (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a wasm_bpf module.
    Run(RunArgs),
    /// Report what this host can do for BPF: facts and real feature probes.
    Probe(probe::ProbeArgs),
    /// Run the compatibility matrix: Debian kernels in QEMU and this machine.
    Matrix(matrix::MatrixArgs),
    /// Generate guest code from a BPF object.
    #[command(subcommand)]
    Gen(GenCommand),
    /// Where BTF comes from when the kernel has none: status, fetch, bundle, list.
    #[command(subcommand)]
    Btf(btf::BtfCommand),
    /// Store per-platform variants of the module's BPF objects in it
    /// (eBPF for Windows cannot run Linux objects), or list them.
    Bundle(bundle::BundleArgs),
}

#[derive(Subcommand)]
enum GenCommand {
    /// Print a C skeleton header: the object embedded, program and map
    /// tables, `.rodata`/`.data`/`.bss` as typed structs.
    Skeleton {
        /// The BPF object (`clang -target bpf -g`).
        object: PathBuf,
        /// Skeleton name (default: the file name up to its first dot, plus `_bpf`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Print wasm32 definitions of the object's BTF types with the BPF side's
    /// exact byte layout.
    Types {
        /// The BPF object (`clang -target bpf -g`).
        object: PathBuf,
        #[arg(long, value_enum, default_value = "c")]
        lang: LangArg,
        /// Only this struct, union or enum and what it embeds (repeatable).
        #[arg(long = "type", value_name = "NAME")]
        only: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BackendArg {
    Auto,
    Kernel,
    Userspace,
    Windows,
    Bpftime,
}

impl BackendArg {
    fn choice(self) -> BackendChoice {
        match self {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Kernel => BackendChoice::Forced(BackendKind::Kernel),
            BackendArg::Userspace => BackendChoice::Forced(BackendKind::Userspace),
            BackendArg::Windows => BackendChoice::Forced(BackendKind::Windows),
            // The kernel backend, in a loader bpftime's syscall server serves.
            BackendArg::Bpftime => BackendChoice::Forced(BackendKind::Kernel),
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LangArg {
    C,
    Rust,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Environment variable for the guest (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Grant a host directory, optionally under another guest path (repeatable).
    #[arg(long = "dir", value_name = "HOST[:GUEST]")]
    dirs: Vec<String>,
    /// Stop the module gracefully after this long (e.g. 10s, 500ms, 2m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Let the guest's libc buffer stdout in blocks when it is not a
    /// terminal: faster for very chatty guests, but output still in the
    /// buffer is lost if the guest has to be force-stopped. By default the
    /// guest sees stdout as a terminal and flushes every line.
    #[arg(long)]
    block_buffered: bool,
    /// The default since output survives forced stops; kept for scripts.
    #[arg(long, hide = true)]
    line_buffered: bool,
    /// Grace period between a graceful stop and a forced one.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1s")]
    grace: Duration,
    /// Import module of the TinyGo callback-less poll.
    #[arg(long, value_name = "NAME", default_value = "callback-wrapper")]
    wrapper_module: String,
    /// Guest export that receives events on the TinyGo path.
    #[arg(long, value_name = "NAME", default_value = "go-callback")]
    callback_export: String,
    /// Print each decision the selector makes (backend, attach point,
    /// event transport, adaptations) on stderr.
    #[arg(long)]
    explain: bool,
    /// Backend for the module's programs. auto: the first that can (kernel,
    /// then userspace). bpftime: the kernel backend under an installed
    /// bpftime (BPFTIME_DIR or ~/.bpftime), which runs the programs in
    /// userspace in the --cmd/--pid target; only when asked, auto never
    /// picks it (it is not verified by unibpf's tests).
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Behave as if the host lacked these features (see `unibpf probe`).
    #[arg(long, value_name = "FEATURE,...", value_delimiter = ',')]
    mask: Vec<String>,
    /// Behave as if the kernel were this version (features newer are masked).
    #[arg(long, value_name = "VERSION")]
    assume_kernel: Option<String>,
    /// Change a resource limit, e.g. memory=512MiB, call-depth=4 (repeatable;
    /// README's "Security model" lists them).
    #[arg(long = "limit", value_name = "NAME=VALUE")]
    limits: Vec<String>,
    /// Kernel BTF to resolve CO-RE against, before any other (env UNIBPF_BTF).
    #[arg(long, value_name = "FILE")]
    btf: Option<PathBuf>,
    /// Never download BTF, even when nothing else has this kernel's.
    #[arg(long)]
    no_btf_download: bool,
    #[command(flatten)]
    btf_place: btf::Place,
    /// For the userspace and bpftime backends: start this command (split like a shell
    /// does, no shell involved) and trace it and its children; the module
    /// is stopped when it has exited. Given before the module, so it is
    /// never taken for the module's own arguments.
    #[arg(long, value_name = "'COMMAND ARGS'", conflicts_with = "pid")]
    cmd: Option<String>,
    /// For the userspace and bpftime backends: trace this running process (and the
    /// children it starts); it is left running when the module ends.
    #[arg(long, value_name = "PID")]
    pid: Option<i32>,
    /// The module to run.
    module: PathBuf,
    /// Arguments for the module.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    log::init(cli.verbose);
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Gen(cmd) => generate(cmd).map(|()| 0),
        Command::Probe(args) => probe::run(args).map(|()| 0),
        Command::Matrix(args) => matrix::run(args),
        Command::Btf(cmd) => btf::run(cmd),
        Command::Bundle(args) => bundle::run(args),
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            tracing::error!("{e:#}{}", remedy(&e));
            ExitCode::from(1)
        }
    }
}

/// `--dir HOST[:GUEST]` as (host, guest). On Windows a host path may
/// start with a drive letter (`C:\data:/data`): that colon is the path's.
fn split_dir(arg: &str, windows: bool) -> (&str, &str) {
    let drive = windows
        && arg.len() >= 2
        && arg.as_bytes()[0].is_ascii_alphabetic()
        && arg.as_bytes()[1] == b':';
    let from = if drive { 2 } else { 0 };
    match arg[from..].find(':') {
        Some(i) => (&arg[..from + i], &arg[from + i + 1..]),
        None => (arg, arg),
    }
}

/// What to do about an error whose cause the user can fix from outside.
fn remedy(e: &anyhow::Error) -> &'static str {
    let errno = e
        .chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>()?.raw_os_error());
    #[cfg(not(target_os = "linux"))]
    let _ = errno;
    #[cfg(target_os = "linux")]
    match errno {
        Some(libc::EMFILE) => {
            ": this process is out of file descriptors; raise its limit (ulimit -n)"
        }
        Some(libc::ENFILE) => {
            ": the system is out of file descriptors; close some, or raise fs.file-max"
        }
        _ => "",
    }
    #[cfg(not(target_os = "linux"))]
    ""
}

fn run(args: RunArgs) -> anyhow::Result<u8> {
    let wasm = std::fs::read(&args.module)
        .with_context(|| format!("cannot read {}", args.module.display()))?;
    let name = args.module.to_string_lossy().into_owned();
    let mut spec = ModuleSpec::new(name, wasm)
        .args(args.args)
        .line_buffered(args.line_buffered || !args.block_buffered);
    for kv in &args.env {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--env {kv:?}: expected KEY=VALUE");
        };
        spec = spec.env(k, v);
    }
    for dir in &args.dirs {
        let (host, guest) = split_dir(dir, cfg!(windows));
        spec = spec.dir(host, guest);
    }
    let mask = Mask::new(&args.mask, args.assume_kernel.as_deref())?;
    let mut limits = Limits::default();
    for setting in &args.limits {
        limits.apply(setting).context("--limit")?;
    }
    let mut btf = args.btf_place.settings();
    if let Some(file) = args.btf {
        btf.user_file = Some(file);
    }
    btf.download &= !args.no_btf_download;
    let mut config = Config::default()
        .btf(btf)
        .limits(limits)
        .backend_choice(args.backend.choice())
        .mask(mask)
        .stop_grace(args.grace)
        .callback_names(CallbackNames {
            wrapper_module: args.wrapper_module,
            callback_export: args.callback_export,
        });
    #[cfg(target_os = "linux")]
    let (mut config, launcher, hooks) = {
        let target = trace_target(args.cmd.as_deref(), args.pid)?;
        let mut launcher = None;
        let mut hooks = None;
        if matches!(args.backend, BackendArg::Bpftime) {
            let (c, l) = bpftime::loader(config, target.map(bpftime_target), args.explain)?;
            (config, launcher) = (c, Some(l));
        } else if let Some(target) = target {
            let h = Arc::new(ProcessHooks::new(Some(target)));
            config = config.clone().trace(Arc::clone(&h));
            hooks = Some(h);
        }
        (config, launcher, hooks)
    };
    #[cfg(not(target_os = "linux"))]
    let launcher: Option<()> = {
        if matches!(args.backend, BackendArg::Bpftime) {
            bail!("--backend bpftime: bpftime runs on Linux only");
        }
        if args.cmd.is_some() || args.pid.is_some() {
            bail!("--cmd and --pid trace processes with ptrace, which is Linux only");
        }
        None
    };
    if args.explain {
        let under = if launcher.is_some() {
            "under bpftime: "
        } else {
            ""
        };
        config = config
            .explain(move |line| eprintln!("unibpf: explain: {under}{}", log::one_line(line)));
    }
    let runtime = Runtime::new(config)?;
    let handle = runtime.spawn(spec)?;
    let control = handle.control();
    #[cfg(target_os = "linux")]
    {
        if let Some(hooks) = hooks {
            stop_when_traced_processes_end(hooks, ProcessHooks::finished, Arc::clone(&control));
        }
        if let Some(launcher) = launcher {
            stop_when_traced_processes_end(
                launcher,
                unibpf_backend_bpftime::Launcher::finished,
                Arc::clone(&control),
            );
        }
    }
    watch_for_stop(control, args.timeout, args.grace)?;
    match handle.join() {
        Ok(exit) => Ok(exit_status(exit)),
        Err(RunError::Trap(msg)) => {
            tracing::error!("the guest trapped: {msg}");
            Ok(134)
        }
        Err(e) => Err(e.into()),
    }
}

/// What `--cmd` or `--pid` names for the userspace backend to trace.
#[cfg(target_os = "linux")]
fn trace_target(cmd: Option<&str>, pid: Option<i32>) -> anyhow::Result<Option<TraceTarget>> {
    Ok(match (cmd, pid) {
        (Some(cmd), _) => {
            let argv = shell_words::split(cmd).with_context(|| format!("--cmd {cmd:?}"))?;
            if argv.is_empty() {
                bail!("--cmd is empty: name the command to start, e.g. --cmd 'ls -l /tmp'");
            }
            Some(TraceTarget::Spawn {
                argv: argv.into_iter().map(Into::into).collect(),
            })
        }
        (None, Some(pid)) if pid <= 0 => bail!("--pid {pid}: not a process id"),
        (None, Some(pid)) => Some(TraceTarget::Pid(pid)),
        (None, None) => None,
    })
}

/// The userspace target as the bpftime backend's.
#[cfg(target_os = "linux")]
fn bpftime_target(target: TraceTarget) -> unibpf_backend_bpftime::Target {
    match target {
        TraceTarget::Spawn { argv } => unibpf_backend_bpftime::Target::Spawn(argv),
        TraceTarget::Pid(pid) => unibpf_backend_bpftime::Target::Pid(pid),
    }
}

/// Once every traced process has exited, the module is asked to stop: it
/// gets the events still queued, then its poll returns -EINTR.
#[cfg(target_os = "linux")]
fn stop_when_traced_processes_end<T: Send + Sync + 'static>(
    hooks: Arc<T>,
    finished: fn(&T) -> bool,
    control: Arc<Control>,
) {
    std::thread::spawn(move || loop {
        if finished(&hooks) {
            control.request_stop();
            break;
        }
        if Arc::strong_count(&hooks) == 1 {
            // The module ended and dropped its backends.
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    });
}

fn generate(cmd: GenCommand) -> anyhow::Result<()> {
    let read =
        |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let text = match cmd {
        GenCommand::Skeleton { object, name } => {
            let bytes = read(&object)?;
            let source = object.to_string_lossy();
            unibpf_gen::skeleton(&bytes, &source, name.as_deref())
                .with_context(|| source.into_owned())?
        }
        GenCommand::Types { object, lang, only } => {
            let bytes = read(&object)?;
            let lang = match lang {
                LangArg::C => unibpf_gen::Lang::C,
                LangArg::Rust => unibpf_gen::Lang::Rust,
            };
            let only = (!only.is_empty()).then_some(only.as_slice());
            let source = object.to_string_lossy();
            unibpf_gen::types(&bytes, &source, lang, only).with_context(|| source.into_owned())?
        }
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // The reader went away (`| head`): like other command-line tools,
        // stop quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

fn exit_status(exit: Exit) -> u8 {
    match exit {
        Exit::Stopped { forced } => {
            if forced {
                tracing::warn!(
                    "the module did not stop within the grace period and was force-stopped"
                );
            }
            0
        }
        // Exit statuses are 8 bits wide; a guest's 255 stays 255.
        Exit::Code(code) => (code & 0xff) as u8,
    }
}

/// Sends a message on `tx` for each SIGINT or SIGTERM.
#[cfg(unix)]
fn forward_signals(tx: std::sync::mpsc::Sender<()>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    Ok(())
}

/// On Windows, Ctrl-C, Ctrl-Break and closing the console send on `tx`,
/// as SIGINT and SIGTERM do on Unix (see [`console`]).
#[cfg(windows)]
fn forward_signals(tx: std::sync::mpsc::Sender<()>) -> anyhow::Result<()> {
    console::forward_ctrl(tx).context("installing the console control handler")
}

/// Elsewhere Ctrl-C ends the process as usual; only `--timeout` asks the
/// guest to stop first. Nothing sends, but the sender is kept for the
/// life of the process: were it dropped, the stop watcher would take the
/// closed channel for the module's end and never apply `--timeout`.
#[cfg(not(any(unix, windows)))]
fn forward_signals(tx: std::sync::mpsc::Sender<()>) -> anyhow::Result<()> {
    std::mem::forget(tx);
    Ok(())
}

/// SIGINT/SIGTERM or the timeout ask the guest to stop; if it has not ended after
/// `grace`, it is killed; a second signal kills at once. If even that does not end
/// it (stuck in a host call that cannot be interrupted), we detach and exit.
fn watch_for_stop(
    control: Arc<Control>,
    timeout: Option<Duration>,
    grace: Duration,
) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    forward_signals(tx.clone())?;
    std::thread::spawn(move || {
        // A timeout counts like a signal; a closed channel (the module ended)
        // means there is nothing left to stop.
        let stop = match timeout {
            Some(t) => !matches!(
                rx.recv_timeout(t),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
            ),
            None => rx.recv().is_ok(),
        };
        if !stop {
            return;
        }
        // A second signal forces the stop before the grace period ends.
        control.stop_within(grace, |grace| {
            let _ = rx.recv_timeout(grace);
            false
        });
        std::thread::sleep(Duration::from_secs(3));
        tracing::error!("the module did not stop after being killed; detaching and exiting");
        #[cfg(target_os = "linux")]
        unibpf_backend_kernel::emergency_detach_all();
        std::process::exit(0);
    });
    drop(tx);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_dir;

    #[test]
    fn dir_grants_split_at_the_colon_after_a_drive_letter() {
        assert_eq!(split_dir("/srv/data:/data", false), ("/srv/data", "/data"));
        assert_eq!(split_dir("/srv/data", false), ("/srv/data", "/srv/data"));
        assert_eq!(split_dir("C:\\data:/data", true), ("C:\\data", "/data"));
        assert_eq!(split_dir("C:\\data", true), ("C:\\data", "C:\\data"));
        assert_eq!(split_dir("rel:/data", true), ("rel", "/data"));
        // Not a drive on Unix: a directory named C.
        assert_eq!(split_dir("C:/data", false), ("C", "/data"));
    }
}
