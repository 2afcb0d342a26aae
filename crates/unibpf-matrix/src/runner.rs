//! Running a whole matrix: hosts in parallel (`jobs`), one boot per host
//! running every case, cells checked and recorded.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::arch::Arch;
use crate::cases::{self, CaseOutput, Runner};
use crate::hosts::{Host, HostBackend, HostKind};
use crate::module::{self, ModuleCase};
use crate::report::{Cell, HostRun, Outcome, Results, Status};
use crate::vm::{self, Payload};
use crate::{btf, kernels, modules, wine, MatrixError};

pub struct MatrixConfig {
    pub hosts: Vec<Host>,
    pub programs: Vec<String>,
    /// Downloads, kernels, initramfs images.
    pub cache: PathBuf,
    /// matrix/ (init.sh, cases.sh).
    pub matrix_dir: PathBuf,
    /// The repository (scripts/build-kernel.sh, matrix/kernel/).
    pub repo: PathBuf,
    /// The suite as built by scripts/build-programs.sh.
    pub programs_dir: PathBuf,
    /// unibpf binaries by arch; a missing arch fails its hosts with that
    /// reason.
    pub unibpf: Vec<(Arch, PathBuf)>,
    /// unibpf.exe (scripts/build-windows.sh) for the wine host; without it
    /// that host is skipped.
    pub unibpf_windows: Option<PathBuf>,
    /// Where scripts/sysroot.sh unpacks each cross-built arch's libraries
    /// and busybox ([`Arch::userland`]).
    pub sysroots: PathBuf,
    pub mirror: String,
    pub jobs: usize,
    /// Per cell; a host's deadline is boot time plus this per case.
    pub cell_timeout: Duration,
    pub unibpf_version: String,
    pub date: String,
    /// A user's module instead of the suite (`unibpf matrix --module`);
    /// `programs` is then its one row, named after it.
    pub module: Option<ModuleCase>,
    /// Where this run's initramfs images and console logs go.
    pub work: PathBuf,
}

impl MatrixConfig {
    /// The cases matrix/cases.sh runs.
    fn case_names(&self) -> Vec<String> {
        match &self.module {
            Some(_) => vec![module::CASE.to_string()],
            None => self.programs.clone(),
        }
    }
}

fn http_client() -> Result<reqwest::blocking::Client, MatrixError> {
    unibpf_btf::http_client_builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| MatrixError::Download("client".into(), e.to_string()))
}

/// Runs every host of `cfg` and returns the results, in host order.
pub fn run(cfg: &MatrixConfig) -> Result<Results, MatrixError> {
    let client = http_client()?;
    let bar = indicatif::ProgressBar::new(cfg.hosts.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("matrix {bar:30} {pos}/{len} hosts {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let next = Mutex::new(0usize);
    let done: Mutex<Vec<(usize, HostRun, Vec<Cell>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..cfg.jobs.max(1) {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(host) = cfg.hosts.get(i) else { break };
                bar.set_message(host.name.clone());
                let ran = match host.kind {
                    HostKind::Wine => run_wine(cfg, host),
                    _ => Ok(run_host(cfg, &client, host)),
                };
                bar.inc(1);
                let (run, cells) = match ran {
                    Ok(ran) => ran,
                    Err(why) => {
                        // Not run: no column, and with --merge the one
                        // already there stays.
                        bar.suspend(|| eprintln!("unibpf: matrix: {} skipped: {why}", host.name));
                        continue;
                    }
                };
                done.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, run, cells));
            });
        }
    });
    bar.finish_and_clear();
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, ..)| *i);
    let mut results = Results {
        unibpf_version: cfg.unibpf_version.clone(),
        date: cfg.date.clone(),
        hosts: Vec::new(),
        programs: cfg.programs.clone(),
        cells: Vec::new(),
    };
    for (_, run, cells) in done {
        results.hosts.push(run);
        results.cells.extend(cells);
    }
    Ok(results)
}

/// The wine host: each program's .wasm under unibpf.exe with the
/// recording stand-in ebpfapi.dll ([`wine`]); Err is why it is skipped.
fn run_wine(cfg: &MatrixConfig, host: &Host) -> Result<(HostRun, Vec<Cell>), String> {
    if cfg.module.is_some() {
        return Err("--module runs on the Linux hosts only".into());
    }
    if let Some(why) = wine::missing_tools() {
        return Err(why.into());
    }
    let exe = cfg.unibpf_windows.as_ref().ok_or(
        "no unibpf.exe in this matrix run (scripts/build-windows.sh builds it; give it with --unibpf-windows, as scripts/matrix.sh does)",
    )?;
    let wine = wine::Wine::from_build(exe).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    wine.prepare().map_err(|e| e.to_string())?;
    let mut run = HostRun {
        name: host.name.clone(),
        arch: host.arch.name().into(),
        release: format!(
            "{} with the recording stand-in ebpfapi.dll, not eBPF for Windows",
            wine::version()
        ),
        kernel_package: String::new(),
        kernel_sha256: String::new(),
        error: None,
        boot_ms: None,
        date: Some(cfg.date.clone()),
        wine: true,
    };
    // Stopped gracefully after a few seconds (the sockops guest polls its
    // ring buffer until then), killed at the cell timeout.
    let stop = Duration::from_secs(4).min(cfg.cell_timeout);
    let mut cells = Vec::new();
    let mut log = String::new();
    for p in &cfg.programs {
        let wasm = cfg.programs_dir.join(format!("{p}.wasm"));
        let dir = cfg.work.join(format!("wine/{p}"));
        let expect = wine::expectation(p);
        let (status, reason, decisions, time_ms) = if !wasm.is_file() {
            (
                Status::Fail,
                format!("{} is missing (scripts/build-programs.sh)", wasm.display()),
                vec![],
                None,
            )
        } else {
            match wine::run_program(&wine, &wasm, p, &dir, stop, cfg.cell_timeout) {
                Ok((case, record)) => {
                    log.push_str(&format!(
                        "== {p}: exit {:?}\n-- stdout\n{}\n-- stderr\n{}\n-- stand-in record\n{record}\n",
                        case.rc,
                        case.stdout.join("\n"),
                        case.stderr.join("\n")
                    ));
                    let o = wine::outcome(&case, &record, expect.as_ref());
                    (o.status, o.reason, decisions(&case), o.time_ms)
                }
                Err(e) => (Status::Fail, e.to_string(), vec![], None),
            }
        };
        cells.push(Cell {
            host: host.name.clone(),
            program: p.clone(),
            status,
            reason,
            decisions,
            time_ms,
            native: None,
        });
    }
    let console = cfg.work.join(format!("console-{}.log", host.name));
    if let Err(e) = std::fs::write(&console, log) {
        run.error = Some(format!("{}: {e}", console.display()));
    }
    run.boot_ms = Some(started.elapsed().as_millis() as u64);
    Ok((run, cells))
}

/// One host: every cell fails with the host's reason if it cannot boot.
fn run_host(
    cfg: &MatrixConfig,
    client: &reqwest::blocking::Client,
    host: &Host,
) -> (HostRun, Vec<Cell>) {
    let mut run = HostRun {
        name: host.name.clone(),
        arch: host.arch.name().into(),
        release: String::new(),
        kernel_package: String::new(),
        kernel_sha256: String::new(),
        error: None,
        boot_ms: None,
        date: Some(cfg.date.clone()),
        wine: false,
    };
    let outcome = boot_host(cfg, client, host, &mut run);
    let cells = match outcome {
        Ok(log) => cells_from(cfg, host, &log),
        Err(e) => {
            let reason = e.to_string();
            run.error = Some(reason.clone());
            cfg.programs
                .iter()
                .map(|p| Cell {
                    host: host.name.clone(),
                    program: p.clone(),
                    status: Status::Fail,
                    reason: reason.clone(),
                    decisions: vec![],
                    time_ms: None,
                    native: None,
                })
                .collect()
        }
    };
    (run, cells)
}

fn boot_host(
    cfg: &MatrixConfig,
    client: &reqwest::blocking::Client,
    host: &Host,
    run: &mut HostRun,
) -> Result<String, MatrixError> {
    let arch = host.arch;
    let payload = payload(cfg, arch)?;
    // Each case runs twice (unibpf, native), each bounded by the cell
    // timeout inside the VM; this deadline is the backstop for the VM itself.
    let deadline = Duration::from_secs(60) + cfg.cell_timeout * 2 * cfg.programs.len() as u32;
    let log = if host.kind == HostKind::Local {
        // Local hosts (root, nobody) share this machine's /tmp files, veth
        // names and cgroup: one at a time, or their cases clash (a FIFO
        // replaced under a waiting runqlat case hung the matrix).
        static ONE_LOCAL: Mutex<()> = Mutex::new(());
        let _one = ONE_LOCAL.lock().unwrap_or_else(|e| e.into_inner());
        run.release = nix_uname();
        let log = vm::run_local(&payload, &host.cases_env(), deadline)?;
        let console = cfg.work.join(format!("console-{}.log", host.name));
        std::fs::write(&console, &log.console).map_err(|e| MatrixError::io(&console, e))?;
        log
    } else {
        let kernel = kernels::fetch(client, &cfg.cache, &cfg.repo, host, &cfg.mirror)?;
        run.release = kernel.release.clone();
        run.kernel_package = format!("{} {}", kernel.package, kernel.version);
        run.kernel_sha256 = kernel.sha256.clone();
        let initrd = initrd(cfg, host, &kernel, &payload)?;
        let log = vm::boot(arch, &kernel.vmlinuz, &initrd, deadline)?;
        let console = cfg.work.join(format!("console-{}.log", host.name));
        std::fs::write(&console, &log.console).map_err(|e| MatrixError::io(&console, e))?;
        if log.timed_out && !log.console.contains("UNIBPF-VM-BEGIN") {
            return Err(MatrixError::Invalid(format!(
                "the VM did not reach /init within {}s",
                deadline.as_secs()
            )));
        }
        log
    };
    run.boot_ms = Some(log.elapsed.as_millis() as u64);
    Ok(log.console)
}

/// What goes into `arch`'s VMs, or runs on this machine.
fn payload(cfg: &MatrixConfig, arch: Arch) -> Result<Payload, MatrixError> {
    let unibpf = cfg
        .unibpf
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, p)| p.clone())
        .ok_or_else(|| {
            MatrixError::Invalid(format!(
                "no {arch} build of unibpf in this matrix run (give one with --unibpf-{arch}; scripts/matrix.sh builds it)"
            ))
        })?;
    Ok(Payload {
        arch,
        unibpf,
        userland: arch.userland(&cfg.sysroots),
        programs: cfg.programs_dir.clone(),
        matrix_dir: cfg.matrix_dir.clone(),
        cases: cfg.case_names(),
        cell_seconds: cfg.cell_timeout.as_secs().max(1),
        module: cfg.module.clone(),
    })
}

/// The initramfs for `host`: the payload's, built once per arch and run
/// (boots read it concurrently), plus this kernel's modules, for a kernel
/// without BTF min-core BTF for the modules run, and the host's settings
/// for the cases, appended as more archives.
fn initrd(
    cfg: &MatrixConfig,
    host: &Host,
    kernel: &kernels::Kernel,
    payload: &Payload,
) -> Result<PathBuf, MatrixError> {
    let base = cfg.work.join(format!("initramfs-{}.cpio", payload.arch));
    {
        static BUILT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if !built.contains(&base) {
            let bytes = vm::build_initramfs(payload)?;
            std::fs::write(&base, bytes).map_err(|e| MatrixError::io(&base, e))?;
            built.push(base.clone());
        }
    }
    let mut extra = modules::archive(&kernel.root, &kernel.release)?.unwrap_or_default();
    if let Some(full) = btf::detached_btf(&kernel.root, &kernel.release) {
        // The suite's BTF is kept in the repository; a user's module's is not.
        let (wasm, keep) = match &cfg.module {
            Some(m) => (vec![m.wasm.clone()], None),
            None => (
                btf::suite_modules(&cfg.programs_dir)?,
                Some(cfg.repo.as_path()),
            ),
        };
        extra.extend(btf::cache_archive(
            keep,
            &wasm,
            payload.arch,
            &kernel.release,
            &full,
        )?);
    }
    extra.extend(vm::host_env_archive(&host.cases_env()).unwrap_or_default());
    if extra.is_empty() {
        return Ok(base);
    }
    let path = cfg.work.join(format!("initramfs-{}.cpio", host.name));
    let mut bytes = std::fs::read(&base).map_err(|e| MatrixError::io(&base, e))?;
    bytes.extend_from_slice(&extra);
    std::fs::write(&path, bytes).map_err(|e| MatrixError::io(&path, e))?;
    Ok(path)
}

fn nix_uname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A case's result: `check`'s verdict on it, or why it has none.
fn outcome(
    case: Option<&CaseOutput>,
    check: impl Fn(&CaseOutput) -> Result<(), String>,
) -> Outcome {
    let (status, reason) = match case.map(check) {
        Some(Ok(())) => (Status::Pass, String::new()),
        Some(Err(r)) => (Status::Fail, r),
        None => (
            Status::Fail,
            "the case did not start (the VM stopped early)".into(),
        ),
    };
    Outcome {
        status,
        reason,
        time_ms: case.and_then(|c| c.ms),
    }
}

/// A host's cells from its console: one per program of the suite, with
/// the native build's result beside it, or the one of a user's module.
fn cells_from(cfg: &MatrixConfig, host: &Host, console: &str) -> Vec<Cell> {
    let outputs = cases::parse_log(console);
    let find = |p: &str, runner: Runner| outputs.iter().find(|c| c.name == p && c.runner == runner);
    let cell = |program: &str, case: Option<&CaseOutput>, unibpf: Outcome, native| Cell {
        host: host.name.clone(),
        program: program.to_string(),
        status: unibpf.status,
        reason: unibpf.reason,
        decisions: case.map(decisions).unwrap_or_default(),
        time_ms: unibpf.time_ms,
        native,
    };
    if let Some(m) = &cfg.module {
        let case = find(module::CASE, Runner::Unibpf);
        return vec![cell(&m.name, case, outcome(case, |c| m.check(c)), None)];
    }
    let natives = vm::per_arch_dir(&cfg.programs_dir, host.arch);
    let userspace = host.backend == HostBackend::Userspace;
    cfg.programs
        .iter()
        .map(|p| {
            let case = find(p, Runner::Unibpf);
            // A program without a native build has no native result.
            let native = (natives.join(format!("{p}.native")).exists())
                .then(|| outcome(find(p, Runner::Native), cases::check));
            let mut unibpf = outcome(case, cases::check);
            if userspace {
                unibpf.reason = cases::userspace_reason(unibpf.reason);
            }
            cell(p, case, unibpf, native)
        })
        .collect()
}

/// The selector's `--explain` lines from a case's stderr.
fn decisions(c: &CaseOutput) -> Vec<String> {
    c.stderr
        .iter()
        .filter_map(|l| l.strip_prefix("unibpf: explain: "))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    /// The workspace's reqwest brings no TLS crypto provider: a client
    /// built without one panics (the matrix did, once unibpf-btf chose
    /// rustls-no-provider).
    #[test]
    fn the_http_client_builds() {
        assert!(super::http_client().is_ok());
    }
}
