//! The selector: given a BPF object, the host, and the backends this build
//! has, decide which backend runs the object and which rewriting passes
//! adapt it, and explain each decision in one line. Pure: no kernel, no
//! files; backends answer for themselves what they can run.

mod fit;
pub mod passes;

use unibpf_backend::{Backend, BackendKind, Feature, HostFeatures, TcAttach, Unsupported};
use unibpf_object::pt_regs::RegsArch;
use unibpf_object::{BpfObject, Hook, MAP_TYPE_PERF_EVENT_ARRAY, MAP_TYPE_RINGBUF};

use fit::{fit, Fit};
pub use passes::{Pass, Prepared};

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
    #[error("program {program}: {reason}{}", advice(.reason))]
    Unsupported {
        program: String,
        reason: Unsupported,
    },
    #[error("program {program}: the {backend} backend is not available yet; use --backend kernel (or auto)")]
    BackendNotAvailable {
        program: String,
        backend: BackendKind,
    },
    #[error("program {program}: reads {arch} registers at fixed offsets (struct pt_regs without CO-RE; instruction {insn}, offset {offset}), which cannot be pointed at {host}'s; rebuild it with vmlinux.h and BPF_KPROBE/BPF_UPROBE or PT_REGS_PARMn (CO-RE reads), or build it for {host}")]
    FixedRegsRead {
        program: String,
        arch: RegsArch,
        host: RegsArch,
        insn: u32,
        offset: i64,
    },
    #[error(
        "program {program}: {reason}, and its alternatives cannot run either ({alternatives})"
    )]
    NoAlternative {
        program: String,
        reason: Unsupported,
        alternatives: String,
    },
    #[error("UNIBPF_ALTERNATIVE({program}, {fallback}): {why}")]
    BadAlternative {
        program: String,
        fallback: String,
        why: &'static str,
    },
    #[error("map {map}: a ring buffer, which this host lacks (kernel 5.8+): {why}; build the object with <unibpf/compat.bpf.h> so it falls back to a perf buffer")]
    RingbufWithoutCompat { map: String, why: String },
}

/// What to do about a program the host cannot run, where there is more to
/// say than why.
fn advice(reason: &Unsupported) -> &'static str {
    match reason {
        Unsupported::NoTracepoint { .. } => "; mark the program optional (UNIBPF_OPTIONAL in <unibpf/compat.bpf.h>) or turn its autoload off",
        _ => "",
    }
}

/// What to do with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub backend: BackendKind,
    /// The adaptations, in the order they apply.
    pub passes: Vec<Pass>,
    /// One line per decision, for `--explain`: how each program attaches,
    /// why a backend was passed over, and each pass.
    pub explain: Vec<String>,
}

/// How tc classifiers attach on `host`, in words for `--explain`: a tcx
/// link where the kernel has them (it dies with the process), else a
/// netlink filter, which the backend's guardian process removes after a
/// hard exit.
pub fn tc_attach(host: &dyn HostFeatures) -> (TcAttach, String) {
    match host.missing(Feature::AttachTcx) {
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

/// Decides for `object` on `host`. `backends` are the ones this build
/// has, in order of preference.
pub fn select(
    object: &BpfObject,
    host: &dyn HostFeatures,
    choice: BackendChoice,
    backends: &[&dyn Backend],
) -> Result<Selection, SelectError> {
    refuse_fixed_regs_reads(object, host)?;
    let candidates: Vec<&dyn Backend> = match choice {
        BackendChoice::Auto => backends.to_vec(),
        BackendChoice::Forced(kind) => backends
            .iter()
            .copied()
            .filter(|b| b.kind() == kind)
            .collect(),
    };
    if let BackendChoice::Forced(backend) = choice {
        if candidates.is_empty() {
            let program = object
                .programs
                .first()
                .map_or_else(|| "(none)".to_string(), |p| p.name.clone());
            return Err(SelectError::BackendNotAvailable { program, backend });
        }
    }
    let mut passed_over = Vec::new();
    let mut first_error = None;
    for backend in candidates {
        match fit(object, host, backend) {
            Ok(fit) => {
                let mut sel = adapt(object, host, backend.kind(), fit)?;
                sel.explain.splice(0..0, passed_over);
                return Ok(sel);
            }
            Err(e) => {
                passed_over.push(format!("not the {} backend: {e}", backend.kind()));
                first_error.get_or_insert(e);
            }
        }
    }
    Err(
        first_error.unwrap_or_else(|| SelectError::BackendNotAvailable {
            program: "(none)".to_string(),
            backend: BackendKind::Kernel,
        }),
    )
}

/// The passes that adapt `object` to `backend` on `host`, and the explain
/// lines.
fn adapt(
    object: &BpfObject,
    host: &dyn HostFeatures,
    backend: BackendKind,
    fit: Fit,
) -> Result<Selection, SelectError> {
    let mut passes = fit.passes;
    let mut events = Vec::new();
    let mut how = fit.how;
    // Both the kernel's uprobes and the userspace backend's give programs
    // the host's registers.
    passes.extend(retarget_pt_regs(object, host));
    if backend == BackendKind::Kernel {
        kernel_events(object, host, &mut passes, &mut events)?;
        let tc = object
            .programs
            .iter()
            .any(|p| matches!(p.section.hook, Hook::Tc { .. }));
        if tc {
            let (mode, words) = tc_attach(host);
            passes.push(Pass::TcAttach(mode));
            for (name, line) in &mut how {
                let is_tc = object
                    .programs
                    .iter()
                    .any(|p| &p.name == name && matches!(p.section.hook, Hook::Tc { .. }));
                if is_tc {
                    line.push_str(&format!(", {words}"));
                }
            }
        }
    } else {
        events.extend(
            object
                .maps
                .iter()
                .filter(|m| m.map_type == Some(ringbuf_type(backend)))
                .map(|m| format!("ring buffer {}", m.name)),
        );
    }
    let events = if events.is_empty() {
        "none".to_string()
    } else {
        events.join(", ")
    };
    let mut explain: Vec<String> = how
        .into_iter()
        .map(|(name, how)| format!("{name}: {backend}, {how}; events: {events}"))
        .collect();
    explain.extend(passes.iter().filter_map(Pass::explain));
    Ok(Selection {
        backend,
        passes,
        explain,
    })
}

/// `BPF_MAP_TYPE_RINGBUF` as `backend` numbers it: eBPF for Windows has
/// its own map type numbers (13 in its include/ebpf_structs.h).
fn ringbuf_type(backend: BackendKind) -> u32 {
    match backend {
        BackendKind::Windows => 13,
        BackendKind::Kernel | BackendKind::Userspace => MAP_TYPE_RINGBUF,
    }
}

/// A program reading another architecture's registers at fixed offsets
/// would read the wrong ones here, whichever backend runs it.
fn refuse_fixed_regs_reads(object: &BpfObject, host: &dyn HostFeatures) -> Result<(), SelectError> {
    let Some(to) = RegsArch::from_machine(&host.machine()) else {
        return Ok(());
    };
    match object.fixed_regs_reads.iter().find(|r| r.arch != to) {
        Some(r) => Err(SelectError::FixedRegsRead {
            program: r.program.clone(),
            arch: r.arch,
            host: to,
            insn: r.insn,
            offset: r.offset,
        }),
        None => Ok(()),
    }
}

/// The pt_regs pass, when the object reads another architecture's
/// registers than the host's (an object built for x86_64 on arm64).
fn retarget_pt_regs(object: &BpfObject, host: &dyn HostFeatures) -> Option<Pass> {
    let to = RegsArch::from_machine(&host.machine())?;
    let from: Vec<RegsArch> = object
        .regs_arches
        .iter()
        .copied()
        .filter(|a| *a != to)
        .collect();
    (!from.is_empty()).then_some(Pass::RetargetPtRegs { from, to })
}

/// Event maps on the kernel: ring buffers where the host has them, else the
/// compat header's perf buffer fallback.
fn kernel_events(
    object: &BpfObject,
    host: &dyn HostFeatures,
    passes: &mut Vec<Pass>,
    events: &mut Vec<String>,
) -> Result<(), SelectError> {
    let ringbuf_missing = host
        .missing(Feature::MapRingbuf)
        .or_else(|| host.missing(Feature::HelperRingbufOutput));
    let compat = object.checks_for_ringbuf();
    for m in object
        .maps
        .iter()
        .filter(|m| m.map_type == Some(MAP_TYPE_RINGBUF))
    {
        match &ringbuf_missing {
            None => events.push(format!("ring buffer {}", m.name)),
            Some(why) if compat => {
                passes.push(Pass::RingbufToPerf {
                    map: m.name.clone(),
                    why: why.clone(),
                });
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
    events.extend(
        object
            .maps
            .iter()
            .filter(|m| m.map_type == Some(MAP_TYPE_PERF_EVENT_ARRAY))
            .map(|m| format!("perf buffer {}", m.name)),
    );
    if compat {
        if ringbuf_missing.is_none() {
            passes.extend(object.compat_heaps().map(|heap| Pass::SkipMap {
                map: heap.name.clone(),
                why: "compat heap; ring buffers are available".to_string(),
            }));
        } else if host.masked(Feature::MapRingbuf) || host.masked(Feature::HelperRingbufOutput) {
            // The kernel really has ring buffers: CO-RE must not see them.
            passes.push(Pass::HideKernelTypes {
                types: vec!["bpf_ringbuf".to_string()],
                why: "masked".to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
