//! The kprobe, uprobe and ksyscall programs of an object, each with the
//! architecture of the register struct it declares as its context and
//! every read of that context (`ctx.rs`).

use std::collections::{HashMap, HashSet};

use goblin::elf::section_header::SHF_EXECINSTR;
use goblin::elf::sym::{STB_GLOBAL, STT_FUNC};

use super::arch::RegsArch;
use super::ctx::{ctx_reads, CtxRead};
use super::read::{classify, Class};
use crate::btf::{Btf, Kind};
use crate::btf_ext::CoreObject;
use crate::section::{Hook, ProgramSection};
use crate::ObjectError;

/// A program called with the probed code's registers.
#[derive(Debug, Clone)]
pub(crate) struct ProbeProgram {
    pub name: String,
    pub section: String,
    /// The architecture of the register struct its BTF says `ctx` points
    /// to; None without BTF, or for a struct of no single architecture.
    pub ctx_arch: Option<RegsArch>,
    pub reads: Vec<CtxRead>,
}

/// A program reading another architecture's registers at fixed offsets:
/// nothing tells which register each offset means, so nothing can point
/// it at the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedRegsRead {
    pub program: String,
    pub arch: RegsArch,
    /// The first such read: instruction index in the program's section,
    /// and the offset into the register struct.
    pub insn: u32,
    pub offset: i64,
}

/// The probe programs of `elf` whose context reads at fixed offsets (no
/// CO-RE relocation) go into a register struct of a known architecture.
/// Programs without BTF for their context are not in it: their
/// architecture cannot be told.
pub fn fixed_reads(elf: &[u8]) -> Result<Vec<FixedRegsRead>, ObjectError> {
    Ok(probe_programs(elf)?
        .into_iter()
        .filter_map(|p| {
            let arch = p.ctx_arch?;
            let first = p.reads.iter().find(|r| !r.relocated)?;
            Some(FixedRegsRead {
                program: p.name,
                arch,
                insn: first.insn_off / 8,
                offset: first.offset,
            })
        })
        .collect())
}

/// Every kprobe, uprobe and ksyscall program of `elf`.
pub(crate) fn probe_programs(elf: &[u8]) -> Result<Vec<ProbeProgram>, ObjectError> {
    let parsed = crate::parse::read_elf(elf)?;
    let core = match CoreObject::parse(elf) {
        Ok(core) => Some(core),
        Err(ObjectError::NoBtf) => None,
        Err(e) => return Err(e),
    };
    let mut relocated: HashMap<&str, HashSet<u32>> = HashMap::new();
    for (section, relo) in core.iter().flat_map(|c| c.relos()) {
        relocated.entry(section).or_default().insert(relo.insn_off);
    }
    let none = HashSet::new();
    let mut found = Vec::new();
    for sym in parsed.syms.iter() {
        let Some(sh) = parsed.section_headers.get(sym.st_shndx) else {
            continue;
        };
        let (Some(name), Some(section)) = (
            parsed.strtab.get_at(sym.st_name),
            parsed.shdr_strtab.get_at(sh.sh_name),
        ) else {
            continue;
        };
        let is_program = sym.st_type() == STT_FUNC
            && sym.st_bind() == STB_GLOBAL
            && sh.sh_flags & u64::from(SHF_EXECINSTR) != 0;
        if !is_program || !is_probe(section) {
            continue;
        }
        let code = usize::try_from(sh.sh_offset)
            .ok()
            .zip(usize::try_from(sym.st_value).ok())
            .zip(usize::try_from(sym.st_size).ok())
            .and_then(|((sec, value), size)| {
                let start = sec.checked_add(value)?;
                elf.get(start..start.checked_add(size)?)
            })
            .ok_or_else(|| {
                ObjectError::Elf(format!("program {name} runs past the end of the file"))
            })?;
        let start = u32::try_from(sym.st_value)
            .map_err(|_| ObjectError::Elf(format!("program {name} starts past 4 GiB")))?;
        found.push(ProbeProgram {
            name: name.to_string(),
            section: section.to_string(),
            ctx_arch: core.as_ref().and_then(|c| ctx_arch(&c.btf, name)),
            reads: ctx_reads(code, start, relocated.get(section).unwrap_or(&none)),
        });
    }
    Ok(found)
}

fn is_probe(section: &str) -> bool {
    ProgramSection::parse(section).is_ok_and(|s| {
        matches!(
            s.hook,
            Hook::Kprobe { .. } | Hook::Uprobe { .. } | Hook::Ksyscall { .. }
        )
    })
}

/// The architecture of the struct the first parameter of function `name`
/// points to, if it is a register struct of one. Declared but not defined
/// (libbpf's macros cast it to arm64's `user_pt_regs` and riscv64's
/// `user_regs_struct`), it is the architecture of the register structs the
/// object defines, if they agree.
fn ctx_arch(btf: &Btf, name: &str) -> Option<RegsArch> {
    let arch = declared_ctx_arch(btf, name)?;
    match arch {
        Some(Class::Known(arch)) => Some(arch),
        Some(Class::Shared) => None,
        None => {
            let mut arches = btf.types().filter_map(|(id, _)| match classify(btf, id) {
                Some(Class::Known(arch)) => Some(arch),
                _ => None,
            });
            let first = arches.next()?;
            arches.all(|a| a == first).then_some(first)
        }
    }
}

/// What the struct the first parameter of function `name` points to says
/// about its architecture: None inside when it is a register struct
/// without members.
fn declared_ctx_arch(btf: &Btf, name: &str) -> Option<Option<Class>> {
    let proto = btf.types().find_map(|(_, t)| match &t.kind {
        Kind::Func { proto, .. } if t.name == name => Some(*proto),
        _ => None,
    })?;
    let Kind::FuncProto { params, .. } = &btf.get(proto)?.kind else {
        return None;
    };
    let Kind::Ptr(target) = btf.get(btf.resolve(params.first()?.ty))?.kind else {
        return None;
    };
    let target = btf.resolve(target);
    match &btf.get(target)?.kind {
        Kind::Fwd { union: false } => {
            let name = &btf.get(target)?.name;
            super::read::is_regs_struct(name).then_some(None)
        }
        _ => classify(btf, target).map(Some),
    }
}
