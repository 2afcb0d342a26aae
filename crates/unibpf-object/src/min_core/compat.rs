//! Whole-type comparisons of CO-RE: "compatible" for `type_exists`,
//! `type_size` and `target_type_id`, "matches" for `type_matches`.
//!
//! Min-core does not need them to choose what to keep (it keeps every
//! candidate of a type relocation, with all these comparisons look at);
//! [`super::resolve`] uses them to report what each candidate gives.

use super::matching::{Matcher, MAX_WORK};
use super::names::{essential, kinds_compatible};
use crate::btf::{IntEncoding, Kind, Member, TypeId};

/// How deep libbpf's comparisons go before they fail.
const LEVELS: u32 = 32;

/// Names as `type_matches` compares them: both anonymous, or the same
/// essential name.
fn names_match(local: &str, target: &str) -> bool {
    if target.is_empty() {
        return local.is_empty();
    }
    essential(local) == essential(target)
}

impl Matcher<'_> {
    /// libbpf's `bpf_core_types_are_compat`; None when it gives up (too
    /// deep, or [`MAX_WORK`] steps).
    pub(crate) fn types_compatible(&self, local: TypeId, target: TypeId) -> Option<bool> {
        self.budget.set(MAX_WORK);
        self.compatible_at(local, target, LEVELS)
    }

    /// One step of a comparison; None once the budget is spent.
    fn spend(&self) -> Option<()> {
        let left = self.budget.get().checked_sub(1)?;
        self.budget.set(left);
        Some(())
    }

    fn compatible_at(&self, local: TypeId, target: TypeId, level: u32) -> Option<bool> {
        self.spend()?;
        if !kinds_compatible(&self.local.ty(local).kind, &self.target.ty(target).kind) {
            return Some(false);
        }
        let (mut l, mut t) = (local, target);
        for _ in 0..=LEVELS {
            l = self.local.resolve(l);
            t = self.target.resolve(t);
            let (lk, tk) = (&self.local.ty(l).kind, &self.target.ty(t).kind);
            if !kinds_compatible(lk, tk) {
                return Some(false);
            }
            match (lk, tk) {
                (Kind::Void, _)
                | (Kind::Struct { .. }, _)
                | (Kind::Union { .. }, _)
                | (Kind::Enum { .. }, _)
                | (Kind::Fwd { .. }, _)
                | (Kind::Int { .. }, _) => return Some(true),
                (Kind::Ptr(a), Kind::Ptr(b)) => (l, t) = (*a, *b),
                (Kind::Array { elem: a, .. }, Kind::Array { elem: b, .. }) => (l, t) = (*a, *b),
                (
                    Kind::FuncProto {
                        ret: lr,
                        params: lp,
                    },
                    Kind::FuncProto {
                        ret: tr,
                        params: tp,
                    },
                ) => {
                    if lp.len() != tp.len() {
                        return Some(false);
                    }
                    if level == 0 {
                        return None;
                    }
                    for (a, b) in lp.iter().zip(tp) {
                        let (a, b) = (self.local.resolve(a.ty), self.target.resolve(b.ty));
                        if !self.compatible_at(a, b, level - 1)? {
                            return Some(false);
                        }
                    }
                    (l, t) = (*lr, *tr);
                }
                _ => return Some(false),
            }
        }
        None
    }

    /// libbpf's `bpf_core_types_match`; None when it gives up (as above).
    pub(crate) fn types_match(&self, local: TypeId, target: TypeId) -> Option<bool> {
        self.match_at(local, target, false, LEVELS)
    }

    fn match_at(
        &self,
        local: TypeId,
        target: TypeId,
        behind_ptr: bool,
        level: u32,
    ) -> Option<bool> {
        if level == 0 {
            return None;
        }
        let (l, t) = (self.local.resolve(local), self.target.resolve(target));
        let (lt, tt) = (self.local.ty(l), self.target.ty(t));
        if !names_match(&lt.name, &tt.name) {
            return Some(false);
        }
        let deeper = |a: TypeId, b: TypeId, behind: bool| self.match_at(a, b, behind, level - 1);
        Some(match (&lt.kind, &tt.kind) {
            (Kind::Void, Kind::Void) => true,
            (Kind::Fwd { union }, Kind::Fwd { union: u }) => union == u,
            (Kind::Fwd { union }, Kind::Struct { .. }) => !union,
            (Kind::Fwd { union }, Kind::Union { .. }) => *union,
            (
                Kind::Enum { size, values, .. },
                Kind::Enum {
                    size: ts,
                    values: tv,
                    ..
                },
            ) => {
                size == ts
                    && values.len() <= tv.len()
                    && values
                        .iter()
                        .all(|v| tv.iter().any(|w| names_match(&v.name, &w.name)))
            }
            (Kind::Struct { members, .. }, Kind::Struct { members: tm, .. })
            | (Kind::Union { members, .. }, Kind::Union { members: tm, .. }) => {
                behind_ptr || self.composites_match(members, tm, level)?
            }
            (Kind::Struct { .. }, Kind::Fwd { union }) => behind_ptr && !union,
            (Kind::Union { .. }, Kind::Fwd { union }) => behind_ptr && *union,
            (
                Kind::Int { size, encoding, .. },
                Kind::Int {
                    size: ts,
                    encoding: te,
                    ..
                },
            ) => size == ts && (*encoding == IntEncoding::Signed) == (*te == IntEncoding::Signed),
            (Kind::Float { size }, Kind::Float { size: ts }) => size == ts,
            (Kind::Ptr(a), Kind::Ptr(b)) => deeper(*a, *b, true)?,
            (
                Kind::Array { elem, len, .. },
                Kind::Array {
                    elem: te, len: tl, ..
                },
            ) => len == tl && deeper(*elem, *te, behind_ptr)?,
            (
                Kind::FuncProto { ret, params },
                Kind::FuncProto {
                    ret: tr,
                    params: tp,
                },
            ) => {
                if params.len() != tp.len() {
                    return Some(false);
                }
                for (a, b) in params.iter().zip(tp) {
                    if !deeper(a.ty, b.ty, behind_ptr)? {
                        return Some(false);
                    }
                }
                deeper(*ret, *tr, behind_ptr)?
            }
            _ => false,
        })
    }

    /// Every local member has a target member of a matching name and type.
    fn composites_match(&self, local: &[Member], target: &[Member], level: u32) -> Option<bool> {
        if local.len() > target.len() {
            return Some(false);
        }
        for lm in local {
            let mut found = false;
            for tm in target.iter().filter(|tm| names_match(&lm.name, &tm.name)) {
                if self.match_at(lm.ty, tm.ty, false, level - 1)? {
                    found = true;
                    break;
                }
            }
            if !found {
                return Some(false);
            }
        }
        Some(true)
    }
}
