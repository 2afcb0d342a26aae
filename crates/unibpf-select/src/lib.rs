//! The selector: given a BPF object and what the host can do, decide which
//! backend runs each program, how the object must be adapted before load,
//! and explain it in one line per decision. Pure: no kernel, no files.

use unibpf_backend::{BackendKind, LoadPlan, TcAttach};
use unibpf_object::{BpfObject, MAP_TYPE_RINGBUF};

/// What the selector needs to know about the host. `unibpf_host::HostReport`
/// implements it; tests use a fake.
pub trait HostFeatures {
    /// None when `feature` is available, else why not.
    fn missing(&self, feature: &str) -> Option<String>;
    /// True when the feature exists but is hidden on purpose (`--mask`).
    fn masked(&self, feature: &str) -> bool;
    /// The first kernel with `feature`, as text (`5.8`).
    fn min_kernel(&self, feature: &str) -> Option<String>;
    /// Whether tracepoint `category/name` exists; None when it cannot tell.
    fn tracepoint_exists(&self, category: &str, name: &str) -> Option<bool>;
}

/// Which backend to use: the first one that can run everything, or a
/// forced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    #[default]
    Auto,
    Forced(BackendKind),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error(
        "program {program}: needs {feature} (kernel {min_kernel}+), which this host lacks: {why}"
    )]
    MissingFeature {
        program: String,
        feature: String,
        min_kernel: String,
        why: String,
    },
    #[error("program {program}: the {backend} backend is not available yet; use --backend kernel (or auto)")]
    BackendNotAvailable {
        program: String,
        backend: BackendKind,
    },
    #[error("program {program}: tracepoint {tracepoint} does not exist on this host; mark the program optional (UNIBPF_OPTIONAL in <unibpf/compat.bpf.h>) or turn its autoload off")]
    NoTracepoint { program: String, tracepoint: String },
    #[error("program {}: {reason}; the object is refused", unibpf_backend::Escaped(.program))]
    BadSection {
        program: String,
        reason: unibpf_backend::TargetError,
    },
    #[error("map {map}: a ring buffer, which this host lacks (kernel 5.8+): {why}; build the object with <unibpf/compat.bpf.h> so it falls back to a perf buffer")]
    RingbufWithoutCompat { map: String, why: String },
}

/// What to do with one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub backend: Option<BackendKind>,
    pub plan: LoadPlan,
    /// Kernel BTF types the object's CO-RE checks must not see (masked
    /// features); the runtime builds a BTF copy without them.
    pub hide_kernel_types: Vec<String>,
    /// One line per decision, for `--explain`.
    pub explain: Vec<String>,
}

/// Features a program's section needs, and how it attaches, in words.
fn requirements(section: &str) -> (Vec<&'static str>, String) {
    let (kind, rest) = section.split_once('/').unwrap_or((section, ""));
    let target = |what: &str, from_guest: &str| {
        if rest.is_empty() {
            format!("{what} ({from_guest} from the guest)")
        } else {
            format!("{what} {rest}")
        }
    };
    match kind {
        "tp" | "tracepoint" => (vec!["prog.tracepoint"], target("tracepoint", "target")),
        "raw_tp" | "raw_tracepoint" | "raw_tp.w" | "raw_tracepoint.w" => (
            vec!["prog.raw_tracepoint"],
            target("raw tracepoint", "target"),
        ),
        "tp_btf" => (vec!["prog.tp_btf"], target("BTF tracepoint", "target")),
        "kprobe" | "kretprobe" | "ksyscall" | "kretsyscall" => (
            vec!["prog.kprobe", "attach.kprobe"],
            target(kind, "function"),
        ),
        k if k.starts_with("uprobe") || k.starts_with("uretprobe") => (
            vec!["prog.kprobe", "attach.uprobe"],
            target(k.trim_end_matches(".s"), "BINARY:FUNC"),
        ),
        "fentry" | "fexit" | "fmod_ret" | "fentry.s" | "fexit.s" => (
            vec!["prog.fentry", "attach.fentry"],
            target(kind.trim_end_matches(".s"), "function"),
        ),
        "lsm" | "lsm.s" => (vec!["prog.lsm", "attach.lsm"], target("LSM hook", "hook")),
        "xdp" | "xdp.frags" => (vec!["prog.xdp"], target("XDP", "interface")),
        "tc" | "classifier" | "tcx" | "action" => (
            vec!["prog.sched_cls"],
            format!(
                "tc {} (interface from the guest)",
                if rest.is_empty() { "classifier" } else { rest }
            ),
        ),
        "sockops" => (
            vec!["prog.sock_ops"],
            "sock_ops (cgroup from the guest)".into(),
        ),
        "cgroup_skb" => (
            vec!["prog.cgroup_skb"],
            format!("cgroup skb {rest} (cgroup from the guest)"),
        ),
        "socket" => (
            vec!["prog.socket_filter"],
            "socket filter (interface from the guest)".into(),
        ),
        "perf_event" => (vec!["prog.perf_event"], "perf event".into()),
        _ => (vec![], format!("section {section}")),
    }
}

/// How tc classifiers attach on `host`, in words for `--explain`: a tcx
/// link where the kernel has them (it dies with the process), else a
/// netlink filter, which the backend's guardian process removes after a
/// hard exit.
pub fn tc_attach(host: &dyn HostFeatures) -> (TcAttach, String) {
    match host.missing("attach.tcx") {
        None => (TcAttach::Link, TcAttach::Link.name().to_string()),
        Some(why) => (
            TcAttach::Netlink,
            format!(
                "{}, removed by a guardian process if unibpf dies (no tcx link: {why})",
                TcAttach::Netlink.name()
            ),
        ),
    }
}

/// `category/name` of a tracepoint section (`tp/sched/sched_switch`).
fn tracepoint_of(section: &str) -> Option<&str> {
    let (kind, rest) = section.split_once('/')?;
    (matches!(kind, "tp" | "tracepoint") && rest.contains('/')).then_some(rest)
}

/// Decides for `object` on `host`. `available` lists the backends this
/// build can use.
pub fn select(
    object: &BpfObject,
    host: &dyn HostFeatures,
    choice: BackendChoice,
    available: &[BackendKind],
) -> Result<Selection, SelectError> {
    let mut sel = Selection::default();
    let backend = match choice {
        BackendChoice::Auto => BackendKind::Kernel,
        BackendChoice::Forced(b) => b,
    };
    if !available.contains(&backend) {
        let program = object
            .programs
            .first()
            .map_or_else(|| "(none)".to_string(), |p| p.name.clone());
        return Err(SelectError::BackendNotAvailable { program, backend });
    }
    sel.backend = Some(backend);

    // Programs: the kernel backend needs every feature its section implies.
    let mut attach = Vec::new();
    for p in &object.programs {
        // Before anything looks the section up on the host (tracefs paths).
        unibpf_backend::target::check_section(&p.section).map_err(|reason| {
            SelectError::BadSection {
                program: p.name.clone(),
                reason,
            }
        })?;
        if let Some(tp) = tracepoint_of(&p.section) {
            let (cat, name) = tp.split_once('/').unwrap_or(("", tp));
            if host.tracepoint_exists(cat, name) == Some(false) {
                if object.optional_programs.contains(&p.name) {
                    sel.plan.skip_programs.push(p.name.clone());
                    sel.explain.push(format!(
                        "{}: skipped: tracepoint {tp} does not exist on this host (optional)",
                        p.name
                    ));
                    continue;
                }
                return Err(SelectError::NoTracepoint {
                    program: p.name.clone(),
                    tracepoint: tp.to_string(),
                });
            }
        }
        let (needs, mut how) = requirements(&p.section);
        if needs.contains(&"prog.sched_cls") {
            let (tc, words) = tc_attach(host);
            sel.plan.tc_attach = tc;
            how = format!("{how}, {words}");
        }
        for f in &needs {
            if let Some(why) = host.missing(f) {
                return Err(SelectError::MissingFeature {
                    program: p.name.clone(),
                    feature: f.split_once('.').map_or(*f, |(_, n)| n).to_string(),
                    min_kernel: host.min_kernel(f).unwrap_or_else(|| "?".into()),
                    why,
                });
            }
        }
        attach.push((p.name.clone(), how));
    }

    // Event maps: ring buffers where the host has them, else the compat
    // header's perf buffer fallback.
    let ringbuf_missing = host
        .missing("map.ringbuf")
        .or_else(|| host.missing("helper.ringbuf_output"));
    let compat = object.checks_for_ringbuf();
    let mut events = Vec::new();
    for m in object
        .maps
        .iter()
        .filter(|m| m.map_type == Some(MAP_TYPE_RINGBUF))
    {
        match &ringbuf_missing {
            None => events.push(format!("ring buffer {}", m.name)),
            Some(why) if compat => {
                sel.plan.ringbuf_to_perf.push(m.name.clone());
                sel.explain.push(format!(
                    "map {}: ring buffer -> perf event array (compat header; {why})",
                    m.name
                ));
                events.push(format!("perf buffer {}", m.name));
            }
            Some(why) => {
                return Err(SelectError::RingbufWithoutCompat {
                    map: m.name.clone(),
                    why: why.clone(),
                })
            }
        }
    }
    for m in object
        .maps
        .iter()
        .filter(|m| m.map_type == Some(unibpf_object::MAP_TYPE_PERF_EVENT_ARRAY))
    {
        events.push(format!("perf buffer {}", m.name));
    }
    if compat {
        if ringbuf_missing.is_none() {
            for heap in object.compat_heaps() {
                sel.plan.skip_maps.push(heap.name.clone());
                sel.explain.push(format!(
                    "map {}: not created (compat heap; ring buffers are available)",
                    heap.name
                ));
            }
        } else if host.masked("map.ringbuf") || host.masked("helper.ringbuf_output") {
            // The kernel really has ring buffers: CO-RE must not see them.
            sel.hide_kernel_types.push("bpf_ringbuf".into());
            sel.explain.push(
                "CO-RE: against a copy of the kernel BTF without struct bpf_ringbuf (masked)"
                    .into(),
            );
        }
    }

    let events = if events.is_empty() {
        "none".to_string()
    } else {
        events.join(", ")
    };
    let lines: Vec<String> = attach
        .into_iter()
        .map(|(name, how)| format!("{name}: {backend}, {how}; events: {events}"))
        .collect();
    sel.explain.splice(0..0, lines);
    Ok(sel)
}

#[cfg(test)]
mod tests;
