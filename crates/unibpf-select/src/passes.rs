//! Rewriting passes: how an object is adapted to the backend and host the
//! selector picked. Each is pure (bytes and a plan in, bytes and a plan
//! out, no syscalls), says what it did in one `--explain` line, and is
//! tested on bytes.
//!
//! Two kinds: passes that rewrite the object's bytes (leaving a program out
//! turns its symbol into a non-function, so no loader sees it), and passes
//! that record a change for the backend to make as it opens the object
//! (changing a map's type is done by libbpf's setters between open and
//! load, where the map definition, its BTF and its relocations stay
//! consistent; rewriting all three in the ELF would gain nothing).

use unibpf_backend::{KprobeAsFentry, LoadPlan, TcAttach};
use unibpf_object::pt_regs::RegsArch;

/// `STT_FUNC` and `STT_NOTYPE` in an ELF symbol's `st_info` low nibble.
const STT_FUNC: u8 = 2;
const STT_NOTYPE: u8 = 0;

/// One adaptation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Leave a program out: its symbol stops being a function, so the
    /// loader does not see it; attaching it becomes a no-op.
    SkipProgram {
        program: String,
        /// File offset of the symbol's `st_info` byte.
        sym_info_offset: u64,
        why: String,
    },
    /// Create a ring buffer as a perf event array (the compat header's
    /// fallback on hosts without ring buffers).
    RingbufToPerf { map: String, why: String },
    /// Do not create a map (the compat header's heap where ring buffers
    /// exist).
    SkipMap { map: String, why: String },
    /// Resolve CO-RE against a copy of the kernel BTF without these types,
    /// so existence checks see masked features missing.
    HideKernelTypes { types: Vec<String>, why: String },
    /// How tc classifiers attach (said in their own explain line).
    TcAttach(TcAttach),
    /// Point the programs' CO-RE reads of another architecture's
    /// `struct pt_regs` at the host's registers for the same roles
    /// (`unibpf_object::pt_regs`).
    RetargetPtRegs { from: Vec<RegsArch>, to: RegsArch },
    /// Run a kprobe program as an fentry (kretprobe: fexit) program on a
    /// function of `params` parameters: its register reads are pointed at
    /// the arguments (`unibpf_object::pt_regs::to_fentry`), and the
    /// backend loads it as a tracing program.
    KprobeToFentry {
        program: String,
        function: String,
        exit: bool,
        params: u32,
        /// Why the kprobe itself cannot run.
        why: String,
    },
}

/// An object after the passes: its bytes, what the backend must change as
/// it loads it, and the kernel types CO-RE must not see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    pub elf: Vec<u8>,
    pub plan: LoadPlan,
    pub hide_kernel_types: Vec<String>,
}

/// A pass that cannot apply to these bytes.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(
        "leaving program {program} out: its symbol at offset {offset} is {found}, not a function"
    )]
    NotAFunction {
        program: String,
        offset: u64,
        found: String,
    },
    #[error("{0}")]
    PtRegs(#[source] unibpf_object::ObjectError),
}

impl Pass {
    /// The pass's `--explain` line, where it has one of its own.
    pub fn explain(&self) -> Option<String> {
        match self {
            Pass::SkipProgram { program, why, .. } => Some(format!("{program}: skipped: {why}")),
            Pass::RingbufToPerf { map, why } => Some(format!(
                "map {map}: ring buffer -> perf event array (compat header; {why})"
            )),
            Pass::SkipMap { map, why } => Some(format!("map {map}: not created ({why})")),
            Pass::HideKernelTypes { types, why } => Some(format!(
                "CO-RE: against a copy of the kernel BTF without struct {} ({why})",
                types.join(", struct ")
            )),
            Pass::TcAttach(_) => None,
            Pass::KprobeToFentry {
                program,
                function,
                exit,
                why,
                ..
            } => Some(format!(
                "{program}: runs as {} {function}, not as a k{}probe; its register reads now read the function's arguments{} ({why})",
                if *exit { "fexit" } else { "fentry" },
                if *exit { "ret" } else { "" },
                if *exit { " and return value" } else { "" },
            )),
            Pass::RetargetPtRegs { from, to } => Some(format!(
                "pt_regs: the object reads {} registers; its CO-RE reads are pointed at {}'s for the same roles",
                from.iter().map(|a| a.name()).collect::<Vec<_>>().join(" and "),
                to.name()
            )),
        }
    }

    /// Applies the pass to `object`.
    pub fn apply(&self, object: &mut Prepared) -> Result<(), PassError> {
        match self {
            Pass::SkipProgram {
                program,
                sym_info_offset,
                ..
            } => {
                let at = usize::try_from(*sym_info_offset)
                    .ok()
                    .filter(|&at| object.elf.get(at).is_some_and(|i| i & 0xf == STT_FUNC))
                    .ok_or_else(|| PassError::NotAFunction {
                        program: program.clone(),
                        offset: *sym_info_offset,
                        found: describe_symbol(&object.elf, *sym_info_offset),
                    })?;
                let info = &mut object.elf[at];
                *info = (*info & 0xf0) | STT_NOTYPE;
                object.plan.skip_programs.push(program.clone());
            }
            Pass::RingbufToPerf { map, .. } => object.plan.ringbuf_to_perf.push(map.clone()),
            Pass::SkipMap { map, .. } => object.plan.skip_maps.push(map.clone()),
            Pass::HideKernelTypes { types, .. } => {
                object.hide_kernel_types.extend(types.iter().cloned())
            }
            Pass::TcAttach(mode) => object.plan.tc_attach = *mode,
            Pass::RetargetPtRegs { to, .. } => {
                // Symbols and sections keep their offsets (only .BTF moves
                // to the end), so byte passes before or after still fit.
                let out = unibpf_object::pt_regs::retarget(&object.elf, *to)
                    .map_err(PassError::PtRegs)?;
                object.elf = out.elf;
            }
            Pass::KprobeToFentry {
                program,
                function,
                exit,
                params,
                ..
            } => {
                object.elf = unibpf_object::pt_regs::to_fentry(&object.elf, program, *params)
                    .map_err(PassError::PtRegs)?;
                object.plan.kprobes_as_fentry.push(KprobeAsFentry {
                    program: program.clone(),
                    function: function.clone(),
                    exit: *exit,
                });
            }
        }
        Ok(())
    }
}

fn describe_symbol(elf: &[u8], offset: u64) -> String {
    match usize::try_from(offset).ok().and_then(|at| elf.get(at)) {
        Some(info) => format!("of type {}", info & 0xf),
        None => "past the end of the object".to_string(),
    }
}

/// Applies `passes` to `elf`, in order.
pub fn apply_all(elf: &[u8], passes: &[Pass]) -> Result<Prepared, PassError> {
    let mut prepared = Prepared {
        elf: elf.to_vec(),
        ..Prepared::default()
    };
    for pass in passes {
        pass.apply(&mut prepared)?;
    }
    Ok(prepared)
}
