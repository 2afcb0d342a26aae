//! Running kprobe and uprobe programs built for one architecture on
//! another: their CO-RE reads of `struct pt_regs` (arm64's `struct
//! user_pt_regs`, riscv64's `struct user_regs_struct`) are pointed at the
//! host's register for the same role.
//!
//! A program built for x86_64 reads its first argument as `ctx->di`;
//! arm64 has no `di`, and libbpf, matching fields by name, poisons the
//! read. For each such relocation, the pass finds the register the local
//! types name (`di`), its role (the first argument, as libbpf's
//! `PT_REGS_PARM1` calls it) and the host's register for that role
//! (`regs[0]`). Then, rather than patch the offset and drop the
//! relocation, it retargets the relocation and leaves libbpf in charge:
//!
//! - a flavor of `struct pt_regs` laid out as the host kernel's,
//!   `pt_regs___unibpf_arm64 { u64 regs[31]; u64 sp; ... }`, is added to
//!   `.BTF`, and the relocation's root and access string (`0:0:0`) point
//!   into it. libbpf matches the flavor to the kernel's `struct pt_regs`
//!   by name and finds `regs` by name inside its anonymous union, so the
//!   relocation stays checked against the kernel's real types (and
//!   min-core BTF keeps working);
//! - libbpf refuses an instruction that does not hold the offset the
//!   local types give, so a `byte_off` instruction gets the flavor's
//!   offset, which is the host's.
//!
//! The section says which role a register with two stands for: arm64's
//! `regs[0]` is the return value in `kretprobe`/`uretprobe` programs and
//! the first argument elsewhere; `regs[3]` in `ksyscall` programs is the
//! 4th syscall argument, which x86_64 has in `r10`.
//!
//! Pure: bytes in, bytes out. `.BTF.ext` records are edited in place and
//! the grown `.BTF` goes to the end of the file; nothing else moves.

mod arch;
mod ctx;
mod fentry;
mod plan;
mod probes;
mod read;
mod write;

pub use arch::{RegsArch, Role};
pub use fentry::{kprobe_reads, to_fentry, KprobeReads};
pub use probes::{fixed_reads, FixedRegsRead};

use crate::btf_ext::CoreReloKind;
use crate::ObjectError;
use read::Loaded;

/// A retargeted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retargeted {
    /// The object; the input itself when nothing was rewritten.
    pub elf: Vec<u8>,
    /// The architectures of the object's register structs other than the
    /// host's, in order.
    pub from: Vec<RegsArch>,
    /// Relocations pointed at the host's registers.
    pub rewritten: usize,
    /// Relocations into another architecture's registers left as they
    /// are: libbpf answers "does not exist" for them on the host, and
    /// poisons reads (which the verifier refuses where reachable).
    pub left: Vec<LeftAlone>,
}

/// A relocation into another architecture's registers the pass left to
/// libbpf, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftAlone {
    pub section: String,
    pub insn_off: u32,
    pub kind: CoreReloKind,
    pub arch: RegsArch,
    /// The field, as the local types name it (`pstate`, `regs[12]`), or
    /// the access string.
    pub field: String,
    pub why: &'static str,
}

/// The architectures whose register structs the object's CO-RE field
/// relocations read, in order; empty when it has none (or no BTF).
pub fn source_arches(elf: &[u8]) -> Result<Vec<RegsArch>, ObjectError> {
    let Some(obj) = Loaded::read(elf)? else {
        return Ok(Vec::new());
    };
    let mut arches: Vec<RegsArch> = obj.regs_relos().iter().map(|r| r.arch).collect();
    arches.sort();
    arches.dedup();
    Ok(arches)
}

/// `elf` with every CO-RE field relocation into another architecture's
/// register struct pointed at `host`'s register for the same role.
///
/// ```no_run
/// use unibpf_object::pt_regs::{retarget, RegsArch};
/// let object = std::fs::read("probe.arm64.bpf.o")?;
/// let out = retarget(&object, RegsArch::X86_64)?;
/// println!("{} relocations from {:?}", out.rewritten, out.from);
/// std::fs::write("probe.x86_64.bpf.o", &out.elf)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Errors: the object does not parse, a relocation does not fit its
/// local types, or a program reads a register the host has none for
/// (x86_64's 7th and 8th arguments and return address are on the stack).
pub fn retarget(elf: &[u8], host: RegsArch) -> Result<Retargeted, ObjectError> {
    let unchanged = |from, left| Retargeted {
        elf: elf.to_vec(),
        from,
        rewritten: 0,
        left,
    };
    let Some(obj) = Loaded::read(elf)? else {
        return Ok(unchanged(Vec::new(), Vec::new()));
    };
    let relos = obj.regs_relos();
    let mut from: Vec<RegsArch> = relos
        .iter()
        .map(|r| r.arch)
        .filter(|a| *a != host)
        .collect();
    from.sort();
    from.dedup();
    let (rewrites, left) = plan::plan(&obj, &relos, host)?;
    if rewrites.is_empty() {
        return Ok(unchanged(from, left));
    }
    let synth = plan::synthesize(obj.raw_btf, host, &rewrites)?;
    Ok(Retargeted {
        elf: write::write(&obj, &rewrites, &synth)?,
        from,
        rewritten: rewrites.len(),
        left,
    })
}

#[cfg(test)]
mod tests;
