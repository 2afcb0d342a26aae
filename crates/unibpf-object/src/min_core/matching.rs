//! Matching a local spec against one target candidate, as libbpf's CO-RE
//! does (`relo_core.c`, documented in the kernel's CO-RE and BTF docs):
//! fields by member name through anonymous structs and unions, enum
//! values by name, whole types by compatibility or by "match".
//!
//! What a match touched in the target is what min-core keeps.

use std::cell::Cell;

use super::names::{essential, kinds_compatible};
use super::spec::Access;
use crate::btf::{Btf, Kind, Member, TypeId};

/// libbpf's `BPF_CORE_SPEC_MAX_LEN`: the longest target path it follows.
const MAX_SPEC_LEN: usize = 64;
/// How deep libbpf's type comparisons go before giving up.
const MAX_DEPTH: u32 = 32;
/// Members one field search may visit, and steps one whole-type
/// comparison may take. libbpf bounds only depth, so anonymous members
/// that share types (or, in corrupt BTF, contain themselves) could make a
/// search take 2^64 steps; a kernel's take at most a few hundred.
pub(crate) const MAX_WORK: u32 = 1 << 16;

/// A member of a struct or union: the composite's id and the index.
pub(crate) type MemberRef = (TypeId, usize);

/// Where a field access ends in a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldEnd {
    /// A named member.
    Member(MemberRef),
    /// An element of an array (or the root itself), of this type.
    Element(TypeId),
}

/// A field access matched in a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldMatch {
    /// Every member on the way, anonymous ones included.
    pub path: Vec<MemberRef>,
    /// Members the search stopped at first because their names matched
    /// but their types did not, with the anonymous members leading there.
    /// libbpf's search leaves their offsets in its sum, so they must stay
    /// for the sum to come out the same.
    pub detours: Vec<Vec<MemberRef>>,
    /// libbpf's running bit offset, detours included.
    pub bit_offset: u64,
    pub end: FieldEnd,
    /// libbpf's count of steps (`raw_len`), which it bounds.
    steps: usize,
    /// Members visited, which we bound.
    visits: u32,
}

/// A failure libbpf reports as an error rather than as "no match".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchError {
    /// A path longer than `BPF_CORE_SPEC_MAX_LEN`.
    TooDeep,
    /// A type on the way has no size, or offsets overflow.
    NoSize,
    /// The search took more than [`MAX_WORK`] steps (libbpf would go on).
    TooMuchWork,
}

impl MatchError {
    pub(crate) fn what(self) -> &'static str {
        match self {
            Self::TooDeep => "a path longer than libbpf follows",
            Self::NoSize => "a type without a size on the path",
            Self::TooMuchWork => "a search over 65536 members",
        }
    }
}

type Found<T> = Result<Option<T>, MatchError>;

/// The two BTFs a match compares.
pub(crate) struct Matcher<'a> {
    pub local: &'a Btf,
    pub target: &'a Btf,
    /// Steps left for the whole-type comparison under way.
    pub(super) budget: Cell<u32>,
}

fn members(kind: &Kind) -> Option<&[Member]> {
    match kind {
        Kind::Struct { members, .. } | Kind::Union { members, .. } => Some(members),
        _ => None,
    }
}

impl<'a> Matcher<'a> {
    pub(crate) fn new(local: &'a Btf, target: &'a Btf) -> Self {
        Self {
            local,
            target,
            budget: Cell::new(MAX_WORK),
        }
    }

    /// Follows `access` from the candidate `cand`.
    pub(crate) fn field(&self, cand: TypeId, access: &[Access]) -> Found<FieldMatch> {
        let mut m = FieldMatch {
            path: Vec::new(),
            detours: Vec::new(),
            bit_offset: 0,
            end: FieldEnd::Element(cand),
            steps: 0,
            visits: 0,
        };
        let mut id = cand;
        for (i, acc) in access.iter().enumerate() {
            let here = self.target.resolve(id);
            match acc {
                Access::Member { name, local_ty } => {
                    let Some((member, ty)) = self.member(here, name, *local_ty, &mut m)? else {
                        return Ok(None);
                    };
                    m.end = FieldEnd::Member(member);
                    id = ty;
                }
                Access::Index(idx) => {
                    let Some(elem) = self.element(here, i, *idx, &m.end) else {
                        return Ok(None);
                    };
                    if m.steps == MAX_SPEC_LEN {
                        return Err(MatchError::TooDeep);
                    }
                    m.steps += 1;
                    let size = self.target.size_of(elem).ok_or(MatchError::NoSize)?;
                    m.bit_offset = u64::from(*idx)
                        .checked_mul(size)
                        .and_then(|b| b.checked_mul(8))
                        .and_then(|b| b.checked_add(m.bit_offset))
                        .ok_or(MatchError::NoSize)?;
                    m.end = FieldEnd::Element(elem);
                    id = elem;
                }
            }
        }
        Ok(Some(m))
    }

    /// The element type an index steps into: the root itself first, then
    /// an array's element, within bounds unless the array is flexible.
    fn element(&self, here: TypeId, i: usize, idx: u32, prev: &FieldEnd) -> Option<TypeId> {
        if i == 0 {
            return Some(here);
        }
        let Kind::Array { elem, len, .. } = self.target.ty(here).kind else {
            return None;
        };
        // Flexible: a zero-length array that is its struct's last member,
        // reached by name.
        let flex = len == 0
            && matches!(prev, FieldEnd::Member((parent, index))
                if members(&self.target.ty(*parent).kind).is_some_and(|ms| index + 1 == ms.len()));
        (flex || idx < len).then(|| self.target.resolve(elem))
    }

    /// Looks for the member called `name` in `comp`, depth first through
    /// anonymous members, as libbpf does: the first member of that name
    /// decides at its level; one of an incompatible type is a detour.
    fn member(
        &self,
        comp: TypeId,
        name: &str,
        local_ty: TypeId,
        m: &mut FieldMatch,
    ) -> Found<(MemberRef, TypeId)> {
        let comp = self.target.resolve(comp);
        let Some(list) = members(&self.target.ty(comp).kind) else {
            return Ok(None);
        };
        for (i, member) in list.iter().enumerate() {
            if m.steps == MAX_SPEC_LEN {
                return Err(MatchError::TooDeep);
            }
            m.visits += 1;
            if m.visits > MAX_WORK {
                return Err(MatchError::TooMuchWork);
            }
            m.bit_offset += u64::from(member.bit_offset);
            m.steps += 1;
            m.path.push((comp, i));
            if member.name.is_empty() {
                if let Some(found) = self.member(member.ty, name, local_ty, m)? {
                    return Ok(Some(found));
                }
            } else if member.name == name {
                if self.fields_compatible(local_ty, member.ty) {
                    return Ok(Some(((comp, i), member.ty)));
                }
                // libbpf returns here without taking this member's offset
                // and step back out of its sums; the caller's search goes on.
                m.detours.push(m.path.clone());
                m.path.pop();
                return Ok(None);
            }
            m.bit_offset -= u64::from(member.bit_offset);
            m.steps -= 1;
            m.path.pop();
        }
        Ok(None)
    }

    /// libbpf's `bpf_core_fields_are_compat`: whether a local member's type
    /// can stand for a target member's.
    pub(crate) fn fields_compatible(&self, local: TypeId, target: TypeId) -> bool {
        let (mut l, mut t) = (local, target);
        for _ in 0..=MAX_DEPTH {
            l = self.local.resolve(l);
            t = self.target.resolve(t);
            let (lt, tt) = (self.local.ty(l), self.target.ty(t));
            if members(&lt.kind).is_some() && members(&tt.kind).is_some() {
                return true;
            }
            if !kinds_compatible(&lt.kind, &tt.kind) {
                return false;
            }
            match (&lt.kind, &tt.kind) {
                (Kind::Ptr(_), _) | (Kind::Float { .. }, _) | (Kind::Int { .. }, _) => return true,
                (Kind::Fwd { .. }, _) | (Kind::Enum { .. }, _) => {
                    let (a, b) = (essential(&lt.name), essential(&tt.name));
                    return a.is_empty() || b.is_empty() || a == b;
                }
                (Kind::Array { elem: le, .. }, Kind::Array { elem: te, .. }) => {
                    (l, t) = (*le, *te);
                }
                _ => return false,
            }
        }
        false
    }

    /// The first enumerator of `cand` (an enum, through typedefs) whose
    /// essential name is `value`'s.
    pub(crate) fn enumval(&self, cand: TypeId, value: &str) -> Option<(TypeId, usize)> {
        let id = self.target.resolve(cand);
        let Kind::Enum { values, .. } = &self.target.ty(id).kind else {
            return None;
        };
        let want = essential(value);
        values
            .iter()
            .position(|v| essential(&v.name) == want)
            .map(|i| (id, i))
    }
}
