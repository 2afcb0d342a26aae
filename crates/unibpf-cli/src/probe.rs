//! `unibpf probe`: the host report as a short grouped table, or JSON.

use anyhow::Context;
use unibpf_host::{Group, HostReport, Mask};

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// Print the report as JSON (schema: docs/probe-json.md).
    #[arg(long)]
    json: bool,
    /// Report these features missing (aliases: ringbuf, fentry, lsm, kprobe,
    /// uprobe, tp_btf, task_btf, tcx; or full names like map.ringbuf).
    #[arg(long, value_name = "FEATURE,...", value_delimiter = ',')]
    mask: Vec<String>,
    /// Report features newer than this kernel missing (e.g. 5.4).
    #[arg(long, value_name = "VERSION")]
    assume_kernel: Option<String>,
}

pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let mask = Mask::new(&args.mask, args.assume_kernel.as_deref())?;
    let report = with_efw_execution_types(HostReport::probe(&mask));
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&report).context("rendering JSON")?;
        s.push('\n');
        s
    } else if let Some(efw) = &report.facts.ebpf_for_windows {
        windows(&report, efw)
    } else {
        human(&report, &bpftime_line())
    };
    use std::io::Write;
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("writing to stdout")
}

/// Where eBPF for Windows is installed: which execution types its driver
/// allows, found by loading a trivial program each way (only `probe` does
/// this; a run never loads anything it was not asked to).
#[cfg(windows)]
fn with_efw_execution_types(mut report: HostReport) -> HostReport {
    if let Some(efw) = report
        .facts
        .ebpf_for_windows
        .as_mut()
        .filter(|e| e.installed)
    {
        use unibpf_backend_windows::probe;
        let section = probe::probe_section(efw.sections.iter().map(|s| s.name.as_str()));
        efw.execution_types = probe::probe_execution_types(section);
    }
    report
}

#[cfg(not(windows))]
fn with_efw_execution_types(report: HostReport) -> HostReport {
    report
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// Whether bpftime is installed, for `--backend bpftime`.
#[cfg(not(target_os = "linux"))]
fn bpftime_line() -> String {
    "Linux only".into()
}

/// Whether bpftime is installed, for `--backend bpftime`.
#[cfg(target_os = "linux")]
fn bpftime_line() -> String {
    match unibpf_host::bpftime::Install::detect() {
        Err(e) => e.to_string(),
        Ok(install) => match install.version() {
            Some(v) => format!("{install}; version {v}"),
            None => install.to_string(),
        },
    }
}

/// The Windows report: the OS, and eBPF for Windows, which would run the
/// objects (the Linux kernel's features do not apply).
fn windows(r: &HostReport, efw: &unibpf_host::EbpfForWindows) -> String {
    let f = &r.facts;
    let under = f
        .distro
        .version_id
        .as_deref()
        .map_or(String::new(), |v| format!(" (under {v})"));
    let status = match efw.missing() {
        Some(_) => format!(
            "not installed ({}): install it from {}",
            efw.detail,
            unibpf_host::EBPF_FOR_WINDOWS_RELEASES
        ),
        None => format!("installed ({})", efw.detail),
    };
    let mut o = format!(
        "host      Windows {} {}{under}\n\
         eBPF for Windows: {status}\n",
        f.kernel.release, f.arch.machine
    );
    efw_facts(&mut o, efw);
    o.push_str("features  no Linux kernel eBPF: BPF objects need eBPF for Windows\n");
    o
}

/// What ebpfapi.dll's file and the extensions' registry entries say.
fn efw_facts(o: &mut String, efw: &unibpf_host::EbpfForWindows) {
    use std::fmt::Write;
    if let Some(path) = &efw.path {
        let version = efw
            .version
            .as_deref()
            .unwrap_or("unknown (no version resource)");
        let _ = writeln!(o, "  ebpfapi.dll  {path}, version {version}");
    }
    match &efw.store {
        Some(store) => {
            let _ = writeln!(
                o,
                "  providers    {store}: {} program types, {} sections",
                efw.program_types.len(),
                efw.sections.len()
            );
        }
        None => o.push_str("  providers    none registered (no Software\\eBPF\\Providers key)\n"),
    }
    for t in &efw.program_types {
        let number = t
            .bpf_prog_type
            .map_or(String::new(), |n| format!(", bpf_prog_type {n}"));
        let _ = writeln!(o, "  program type {} {}{number}", t.name, t.guid);
    }
    for s in &efw.sections {
        let of = s.program_type_name.as_deref().unwrap_or(&s.program_type);
        let _ = writeln!(o, "  hook         {} (program type {of})", s.name);
    }
    let ex = &efw.execution_types;
    let probed = ex.probe_section.as_deref().map_or(String::new(), |s| {
        format!(" (a trivial {s} program loaded each way)")
    });
    let _ = writeln!(o, "  execution types{probed}");
    let _ = writeln!(o, "    jit          {}", ex.jit);
    let _ = writeln!(o, "    interpreter  {}", ex.interpreter);
    let _ = writeln!(o, "    native       {}", ex.native);
}

fn human(r: &HostReport, bpftime: &str) -> String {
    use std::fmt::Write;
    let f = &r.facts;
    let mut o = String::new();
    let version = f
        .kernel
        .version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "?".into());
    let _ = writeln!(
        o,
        "host      {} {} (btfhub {}), {} {}",
        f.os,
        f.arch.machine,
        f.arch.btfhub,
        opt(&f.distro.id),
        opt(&f.distro.version_id)
    );
    let _ = writeln!(o, "kernel    {} (version {version})", f.kernel.release);
    let enabled: Vec<&str> = f
        .config
        .options
        .iter()
        .filter(|(_, v)| v.as_str() != "n")
        .map(|(k, _)| k.trim_start_matches("CONFIG_"))
        .collect();
    let _ = writeln!(
        o,
        "config    {}{}",
        opt(&f.config.source),
        if enabled.is_empty() {
            String::new()
        } else {
            format!(": {}", enabled.join(" "))
        }
    );
    let _ = writeln!(
        o,
        "btf       {}",
        f.btf
            .vmlinux
            .as_deref()
            .unwrap_or("none (unibpf will fetch one from btfhub)")
    );
    let p = &f.privileges;
    let _ = writeln!(
        o,
        "privilege caps {}; unprivileged_bpf_disabled {}; lockdown {}; memlock {}",
        if p.effective_caps.is_empty() {
            "none".to_string()
        } else {
            p.effective_caps.join(",")
        },
        p.unprivileged_bpf_disabled
            .map_or("-".to_string(), |v| v.to_string()),
        opt(&p.lockdown),
        p.memlock_limit
            .map_or("unlimited".to_string(), |b| format!("{} KiB", b / 1024)),
    );
    if p.bpf_syscall == unibpf_host::BpfSyscall::Missing {
        let _ = writeln!(
            o,
            "bpf()     missing (ENOSYS): no CONFIG_BPF_SYSCALL, or a seccomp filter; the userspace backend runs programs here"
        );
    }
    let m = &f.mounts;
    let _ = writeln!(
        o,
        "mounts    tracefs {}  debugfs {}  bpffs {}  cgroup2 {}",
        opt(&m.tracefs),
        opt(&m.debugfs),
        opt(&m.bpffs),
        opt(&m.cgroup2)
    );
    let _ = writeln!(o, "bpftime   {bpftime}");
    if !r.masked.is_empty() || r.assumed_kernel.is_some() {
        let _ = writeln!(
            o,
            "masked    {}{}",
            r.masked.join(" "),
            r.assumed_kernel
                .map(|k| format!(" (assuming kernel {k})"))
                .unwrap_or_default()
        );
    }
    for group in [Group::Map, Group::Program, Group::Attach, Group::Helper] {
        let _ = writeln!(o, "\n{}", group.title());
        for feat in r.features.iter().filter(|x| x.group == group) {
            let short = feat.name.split_once('.').map_or(feat.name, |(_, n)| n);
            let mark = if feat.available { "yes" } else { "no " };
            let why = if feat.available {
                ""
            } else {
                feat.detail.as_str()
            };
            let _ = writeln!(
                o,
                "  {short:<22} {mark}  {:>6}  {why}",
                format!("{}.{}+", feat.min_kernel.major, feat.min_kernel.minor)
            );
        }
    }
    let _ = writeln!(o, "\nprobed in {} ms", r.probe_ms);
    o
}
