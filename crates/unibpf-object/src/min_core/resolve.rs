//! What each relocation of an object comes to against a target BTF, per
//! candidate: the facts libbpf derives its values from. Ids are left out,
//! so the results against a kernel's BTF and against its min-core compare
//! equal exactly when the min-core serves the relocations the same.

use super::matching::{FieldEnd, FieldMatch, Matcher};
use super::names::Candidates;
use super::spec::{LocalRelo, LocalSpec};
use super::{prepare, Prepared};
use crate::btf::{Btf, IntEncoding, Kind, TypeId};
use crate::btf_ext::{CoreObject, CoreReloKind};
use crate::ObjectError;

/// What one candidate gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateResult {
    /// A field relocation matched: where the field is and what it is.
    Field {
        bit_offset: u64,
        bitfield: Option<u32>,
        size: Option<u64>,
        signed: bool,
    },
    /// A type relocation's candidate: its name and size, and whether it is
    /// compatible with the local type (`type_matches`: whether it matches).
    Type {
        name: String,
        size: Option<u64>,
        compatible: Option<bool>,
    },
    /// An enum value relocation matched.
    Enumval(i64),
    /// libbpf gives up on this candidate with an error.
    Error(String),
}

/// One relocation's results, in candidate order; empty when no candidate
/// matched (libbpf then answers 0 for the `*_exists` kinds and poisons the
/// instruction for the others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub section: String,
    pub insn_off: u32,
    pub kind: CoreReloKind,
    pub results: Vec<CandidateResult>,
}

/// Resolves every relocation of `objects` against `target`. `type_id_local`
/// relocations need no target and have no results.
pub fn resolve(objects: &[CoreObject], target: &Btf) -> Result<Vec<Resolved>, ObjectError> {
    let prepared = prepare(objects)?;
    let cands = Candidates::index(
        target,
        prepared
            .iter()
            .filter_map(|p| p.local.as_ref())
            .map(|l| l.root_name),
    );
    Ok(prepared
        .iter()
        .map(|p| Resolved {
            section: p.section.to_string(),
            insn_off: p.relo.insn_off,
            kind: p.relo.kind,
            results: p
                .local
                .as_ref()
                .map(|l| results(p, l, &cands, target))
                .unwrap_or_default(),
        })
        .collect())
}

fn results(
    p: &Prepared<'_>,
    l: &LocalRelo<'_>,
    cands: &Candidates,
    target: &Btf,
) -> Vec<CandidateResult> {
    let m = Matcher::new(&p.object.btf, target);
    cands
        .of(l.root_kind, l.root_name, target)
        .filter_map(|cand| candidate(&m, l, cand))
        .collect()
}

fn candidate(m: &Matcher<'_>, l: &LocalRelo<'_>, cand: TypeId) -> Option<CandidateResult> {
    Some(match &l.spec {
        LocalSpec::Type => CandidateResult::Type {
            name: m.target.ty(cand).name.clone(),
            size: m.target.size_of(cand),
            compatible: if l.kind == CoreReloKind::TypeMatches {
                m.types_match(l.root, cand)
            } else {
                m.types_compatible(l.root, cand)
            },
        },
        LocalSpec::Enumval { value } => {
            let (e, i) = m.enumval(cand, value)?;
            let Kind::Enum { values, .. } = &m.target.ty(e).kind else {
                return None;
            };
            CandidateResult::Enumval(values.get(i)?.value)
        }
        LocalSpec::Field { access } => match m.field(cand, access) {
            Ok(Some(f)) => field(m.target, &f),
            Ok(None) => return None,
            Err(e) => CandidateResult::Error(format!("{e:?}")),
        },
    })
}

fn field(target: &Btf, f: &FieldMatch) -> CandidateResult {
    let (ty, bitfield) = match f.end {
        FieldEnd::Member((parent, i)) => match &target.ty(parent).kind {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => members
                .get(i)
                .map_or((0, None), |m| (m.ty, m.bitfield_size)),
            _ => (0, None),
        },
        FieldEnd::Element(ty) => (ty, None),
    };
    let signed = match &target.ty(target.resolve(ty)).kind {
        Kind::Int { encoding, .. } => *encoding == IntEncoding::Signed,
        Kind::Enum { signed, .. } => *signed,
        _ => false,
    };
    CandidateResult::Field {
        bit_offset: f.bit_offset,
        bitfield,
        size: target.size_of(ty),
        signed,
    }
}
