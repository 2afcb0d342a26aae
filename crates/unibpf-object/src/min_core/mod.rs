//! Min-core BTF: of a kernel's BTF, only what some BPF objects' CO-RE
//! relocations touch (what `bpftool gen min_core_btf` makes), for hosts
//! without BTF of their own: typically a few hundred bytes to a few KB
//! instead of megabytes, and libbpf resolves every relocation of those
//! objects against it exactly as against the full BTF.
//!
//! For each relocation, the target's candidates are found the way libbpf
//! finds them (same name without `___flavor`, compatible kind) and the
//! relocation is matched against each, as libbpf matches. Kept:
//!
//! - field relocations (offsets, sizes, existence, signedness, shifts):
//!   the candidate, every member on the access path (anonymous structs and
//!   unions on the way included) at its original offset, in structs of
//!   unchanged size, and each such member's type;
//! - type relocations (exists, size, target id): every candidate, without
//!   members; `type_matches`: every candidate with all members and
//!   enumerators, recursively, except behind pointers, as it compares;
//! - enum value relocations: the enum and the matched enumerator only.
//!
//! A kept type keeps what its record refers to (typedef and qualifier
//! chains, array element and index types, function prototypes, pointees)
//! without their members, so nothing dangles: a pointer to a struct no
//! relocation goes into stays a pointer to that (memberless) struct, where
//! bpftool writes `void *`. Kept types keep their original order.
//!
//! Pure: bytes in, bytes out. The computation reads BTF with our own
//! parser (see `crate::btf`): btf-rs reads no `.BTF.ext` and writes no BTF,
//! and was three times slower on a kernel's BTF.

mod compat;
mod emit;
mod keep;
mod matching;
pub(crate) mod names;
mod resolve;
mod spec;

pub use resolve::{resolve, CandidateResult, Resolved};

use crate::btf::{write_btf, Btf, TypeId};
use crate::btf_ext::{CoreObject, CoreRelo, CoreReloKind};
use crate::ObjectError;
use keep::Keep;
use matching::{FieldEnd, MatchError, Matcher};
use names::Candidates;
use spec::{local_relo, LocalRelo, LocalSpec};

/// A min-core BTF and what went into it.
#[derive(Debug, Clone)]
pub struct MinCore {
    /// Raw BTF, for libbpf's `btf_custom_path`.
    pub btf: Vec<u8>,
    pub stats: MinCoreStats,
}

/// Counts for a report (`unibpf btf min` prints them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinCoreStats {
    /// CO-RE relocations in the objects.
    pub relocations: usize,
    /// Of those, relocations with a candidate in the target (for field
    /// and enum value relocations: one that matched).
    pub matched: usize,
    /// Relocations no candidate matched: nothing is kept for them, and
    /// libbpf treats them as against the full BTF (answers 0 for
    /// existence checks, poisons the instruction otherwise).
    pub unmatched: usize,
    /// `type_id_local` relocations, which need no target.
    pub local_only: usize,
    /// Types in the target BTF, and kept of them.
    pub target_types: usize,
    pub types_kept: usize,
    /// Struct and union members kept, and the members of those structs
    /// and unions in the target.
    pub members_kept: usize,
    pub members_of_kept: usize,
}

/// The min-core BTF of `kernel_btf` (raw BTF, e.g. `/sys/kernel/btf/vmlinux`
/// or a BTFHub file) for the BPF ELF `objects`.
///
/// ```no_run
/// let object = std::fs::read("execsnoop.bpf.o")?;
/// let kernel = std::fs::read("/sys/kernel/btf/vmlinux")?;
/// let min = unibpf_object::min_core::min_core_btf(&[&object], &kernel)?;
/// std::fs::write("execsnoop.min.btf", &min)?; // for btf_custom_path
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The same inputs always give the same bytes. Errors: an object or the
/// kernel BTF does not parse, or a relocation is one libbpf would refuse
/// (its type does not exist or has no name, its access string does not fit
/// the object's types).
pub fn min_core_btf(objects: &[&[u8]], kernel_btf: &[u8]) -> Result<Vec<u8>, ObjectError> {
    Ok(min_core(objects, kernel_btf)?.btf)
}

/// [`min_core_btf`] with counts for a report:
///
/// ```no_run
/// # let (object, kernel) = (Vec::<u8>::new(), Vec::<u8>::new());
/// let min = unibpf_object::min_core::min_core(&[&object], &kernel)?;
/// let s = &min.stats;
/// println!(
///     "{} bytes: {} of {} types, {} members; {} relocations ({} unmatched)",
///     min.btf.len(), s.types_kept, s.target_types, s.members_kept,
///     s.relocations, s.unmatched,
/// );
/// # Ok::<(), unibpf_object::ObjectError>(())
/// ```
pub fn min_core(objects: &[&[u8]], kernel_btf: &[u8]) -> Result<MinCore, ObjectError> {
    let target = Btf::parse(kernel_btf)?;
    let objects = objects
        .iter()
        .map(|o| CoreObject::parse(o))
        .collect::<Result<Vec<_>, _>>()?;
    min_core_of(&objects, &target)
}

/// [`min_core`] on parsed objects and target.
pub fn min_core_of(objects: &[CoreObject], target: &Btf) -> Result<MinCore, ObjectError> {
    let prepared = prepare(objects)?;
    let locals = || {
        prepared
            .iter()
            .filter_map(|p| p.local.as_ref().map(|l| (p, l)))
    };
    let cands = Candidates::index(target, locals().map(|(_, l)| l.root_name));
    let mut keep = Keep::new(target);
    let mut stats = MinCoreStats {
        relocations: prepared.len(),
        local_only: prepared.len() - locals().count(),
        target_types: target.types().count(),
        ..MinCoreStats::default()
    };
    for (p, l) in locals() {
        let m = Matcher::new(&p.object.btf, target);
        let mut matched = false;
        for cand in cands.of(l.root_kind, l.root_name, target) {
            matched |= keep_for(&mut keep, &m, l, cand).map_err(|e| {
                relo_error(
                    p.section,
                    p.relo,
                    &format!("candidate {cand}: {}", e.what()),
                )
            })?;
        }
        if matched {
            stats.matched += 1;
        } else {
            stats.unmatched += 1;
        }
    }
    let types = emit::kept_types(&keep)?;
    stats.types_kept = types.len();
    for (id, parts) in &keep.parts {
        if let crate::Kind::Struct { members, .. } | crate::Kind::Union { members, .. } =
            &target.ty(*id).kind
        {
            stats.members_kept += parts.len();
            stats.members_of_kept += members.len();
        }
    }
    Ok(MinCore {
        btf: write_btf(&types)?,
        stats,
    })
}

/// Keeps what relocation `l` needs of candidate `cand`; whether it matched.
/// A search libbpf gives up on with an error fails its load: min-core
/// fails too rather than emit BTF that would answer otherwise.
fn keep_for(
    keep: &mut Keep<'_>,
    m: &Matcher<'_>,
    l: &LocalRelo<'_>,
    cand: TypeId,
) -> Result<bool, MatchError> {
    match &l.spec {
        // All candidates, matching or not: the comparisons only look at
        // what Keep keeps, so they come out the same against the output.
        LocalSpec::Type if l.kind == CoreReloKind::TypeMatches => keep.matching(cand),
        LocalSpec::Type => keep.ty(cand),
        LocalSpec::Enumval { value } => {
            let Some((e, i)) = m.enumval(cand, value) else {
                return Ok(false);
            };
            keep.ty(cand);
            keep.enumerator(e, i);
        }
        LocalSpec::Field { access } => {
            let Some(f) = m.field(cand, access)? else {
                return Ok(false);
            };
            keep.ty(cand);
            for member in f.path.iter().chain(f.detours.iter().flatten()) {
                keep.member(*member);
            }
            if let FieldEnd::Element(ty) = f.end {
                keep.ty(ty);
            }
        }
    }
    Ok(true)
}

/// A relocation with the object it is in, read locally (None for
/// `type_id_local`, which needs no target).
pub(crate) struct Prepared<'a> {
    pub object: &'a CoreObject,
    pub section: &'a str,
    pub relo: &'a CoreRelo,
    pub local: Option<LocalRelo<'a>>,
}

/// Every relocation of `objects`, read against its object's BTF.
pub(crate) fn prepare(objects: &[CoreObject]) -> Result<Vec<Prepared<'_>>, ObjectError> {
    let mut out = Vec::new();
    for object in objects {
        for (section, relo) in object.relos() {
            let local = if relo.kind == CoreReloKind::TypeIdLocal {
                None
            } else {
                Some(local_relo(&object.btf, relo).map_err(|e| relo_error(section, relo, &e))?)
            };
            out.push(Prepared {
                object,
                section,
                relo,
                local,
            });
        }
    }
    Ok(out)
}

fn relo_error(section: &str, relo: &CoreRelo, why: &str) -> ObjectError {
    ObjectError::CoreRelo(format!(
        "{section}, instruction {}: {} {}: {why}",
        relo.insn_off / 8,
        relo.kind.name(),
        relo.access_str
    ))
}

#[cfg(test)]
mod tests;
