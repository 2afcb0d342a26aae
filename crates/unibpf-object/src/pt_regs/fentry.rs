//! Running a kprobe program as an fentry (kretprobe: fexit) program, for
//! kernels with BPF trampolines but no kprobes.
//!
//! A kprobe program gets the probed function's registers; an fentry
//! program gets its arguments as an array of 8-byte words, and fexit the
//! return value after them. A program that reads its registers only
//! through CO-RE (`BPF_KPROBE`, `PT_REGS_PARMn`) names the role of each
//! read in `.BTF.ext`, so each read can be pointed at the word for the
//! same role: argument n at `8 * (n - 1)`, the return value at `8 * params`.
//! Those relocations are then dropped (the offsets are final); the
//! program's type and attach point change as the backend loads it.
//!
//! Refused, with the reason: reads at fixed offsets (their role is
//! unknown), reads of registers fentry does not give (stack and
//! instruction pointers), relocations other than byte offsets, argument
//! reads past the function's parameters, kprobes at an offset into a
//! function.

use std::collections::HashSet;

use super::arch::{role_of, Role};
use super::probes::probe_programs;
use super::read::{accessed, usage, Loaded};
use super::write::{move_section, patch};
use crate::btf_ext::{without_core_relos, CoreReloKind};
use crate::section::{Hook, ProgramSection};
use crate::ObjectError;

/// What a kprobe program reads of its registers, by role, or why it cannot
/// run as an fentry program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KprobeReads {
    pub program: String,
    /// The probed function.
    pub function: String,
    /// A return probe (kretprobe: fexit).
    pub ret: bool,
    pub roles: Result<Vec<Role>, String>,
}

/// One register read to point at the fentry context.
struct Read {
    section: String,
    record: usize,
    insn_off: u32,
    old_offset: u64,
    role: Role,
}

/// Every single-function kprobe and kretprobe program of `elf`, with what
/// it reads.
pub fn kprobe_reads(elf: &[u8]) -> Result<Vec<KprobeReads>, ObjectError> {
    let obj = Loaded::read(elf)?;
    let mut found = Vec::new();
    for p in probe_programs(elf)? {
        let Some((function, ret)) = kprobe_of(&p.section) else {
            continue;
        };
        let roles = reads_of(obj.as_ref(), &p.name, &p.section, &p.reads)
            .map(|reads| reads.iter().map(|r| r.role).collect());
        found.push(KprobeReads {
            program: p.name,
            function,
            ret,
            roles,
        });
    }
    Ok(found)
}

/// `elf` with kprobe program `program`'s register reads pointed at the
/// fentry (or fexit) context of a function of `params` parameters, and
/// their CO-RE relocations dropped.
pub fn to_fentry(elf: &[u8], program: &str, params: u32) -> Result<Vec<u8>, ObjectError> {
    let fail = |why: String| ObjectError::PtRegs(format!("program {program}: {why}"));
    let p = probe_programs(elf)?
        .into_iter()
        .find(|p| p.name == program)
        .ok_or_else(|| fail("no kprobe program of that name".into()))?;
    let (function, _) = kprobe_of(&p.section).ok_or_else(|| fail("not a kprobe".into()))?;
    let obj = Loaded::read(elf)?;
    let reads = reads_of(obj.as_ref(), &p.name, &p.section, &p.reads).map_err(fail)?;
    let Some(obj) = obj else {
        // Nothing read, nothing to point elsewhere.
        return Ok(elf.to_vec());
    };
    let mut out = elf.to_vec();
    let mut dropped = HashSet::new();
    for r in &reads {
        let new = match r.role {
            Role::Parm(n) if u32::from(n) <= params => 8 * (u64::from(n) - 1),
            Role::Parm(n) => {
                return Err(fail(format!(
                    "reads argument {n}, but {function} takes {params}"
                )))
            }
            _ => 8 * u64::from(params),
        };
        let index = obj
            .exec_section(&r.section)
            .ok_or_else(|| fail(format!("no section {}", r.section)))?;
        let range = obj.range(index)?;
        patch(&mut out[range], r.insn_off, r.old_offset, new).map_err(fail)?;
        dropped.insert(r.record);
    }
    if !dropped.is_empty() {
        let ext = without_core_relos(&elf[obj.ext.clone()], &dropped)?;
        move_section(&obj, obj.ext_index, &ext, &mut out)?;
    }
    Ok(out)
}

/// The function a `kprobe/FUNC` or `kretprobe/FUNC` section probes, and
/// whether it is a return probe; None for other sections, and for probes
/// at an offset or on several functions.
fn kprobe_of(section: &str) -> Option<(String, bool)> {
    let parsed = ProgramSection::parse(section).ok()?;
    let Hook::Kprobe { ret, multi: false } = parsed.hook else {
        return None;
    };
    let function = parsed.target?;
    (!function.contains('+')).then_some((function, ret))
}

/// The register reads of program `name` (in `section`), each with its
/// role; `ctx_reads` are its context reads as the instruction scan found
/// them.
fn reads_of(
    obj: Option<&Loaded<'_>>,
    name: &str,
    section: &str,
    ctx_reads: &[super::ctx::CtxRead],
) -> Result<Vec<Read>, String> {
    if let Some(fixed) = ctx_reads.iter().find(|r| !r.relocated) {
        return Err(format!(
            "reads its registers at a fixed offset ({} at instruction {}), not through CO-RE",
            fixed.offset,
            fixed.insn_off / 8
        ));
    }
    let Some(obj) = obj else {
        return Ok(Vec::new());
    };
    let mut reads = Vec::new();
    for r in obj
        .regs_relos()
        .into_iter()
        .filter(|r| r.section == section && obj.program(section, r.relo.insn_off) == Some(name))
    {
        if r.relo.kind != CoreReloKind::FieldByteOffset {
            return Err(format!(
                "a CO-RE {} relocation of its registers",
                r.relo.kind.name()
            ));
        }
        let acc = accessed(&obj.btf, r.relo)?
            .ok_or_else(|| format!("reads {} of its registers", r.relo.access_str))?;
        let role = role_of(r.arch, &acc.member, acc.index, usage(section));
        let field = match acc.index {
            Some(i) => format!("{}[{i}]", acc.member),
            None => acc.member.clone(),
        };
        let role = match role {
            Some(role @ (Role::Parm(_) | Role::Rc)) => role,
            Some(other) => {
                return Err(format!(
                    "reads {} {field} ({other}), which fentry programs do not get",
                    r.arch
                ))
            }
            None => return Err(format!("reads {} {field}, which has no role", r.arch)),
        };
        reads.push(Read {
            section: section.to_string(),
            record: r.record,
            insn_off: r.relo.insn_off,
            old_offset: acc.offset,
            role,
        });
    }
    if let Some(r) = reads.iter().find(|r| r.role == Role::Rc) {
        if !usage(section).ret {
            return Err(format!(
                "reads the return value (instruction {}) in an entry probe",
                r.insn_off / 8
            ));
        }
    }
    let covered: HashSet<u32> = reads.iter().map(|r| r.insn_off).collect();
    if let Some(other) = ctx_reads.iter().find(|r| !covered.contains(&r.insn_off)) {
        return Err(format!(
            "reads its context other than as registers (instruction {})",
            other.insn_off / 8
        ));
    }
    Ok(reads)
}
