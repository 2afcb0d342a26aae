//! What of the target BTF to keep: types, and of structs, unions and
//! enums only the members and enumerators some relocation needs.
//!
//! Keeping a type keeps what its record refers to, so the output has no
//! dangling ids: a typedef or qualifier its target, an array its element
//! and index types, a function prototype its return and parameter types,
//! a pointer its pointee. Composites and enums are kept "shallow" (name,
//! size, no members); members come only from relocation paths, and each
//! kept member keeps its type the same way. So a pointer member keeps the
//! struct it points to, but not that struct's members.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::matching::MemberRef;
use crate::btf::{Btf, Kind, TypeId};

pub(crate) struct Keep<'a> {
    pub btf: &'a Btf,
    /// By type id.
    pub types: Vec<bool>,
    /// Kept member (struct, union) or enumerator (enum) indices.
    pub parts: HashMap<TypeId, BTreeSet<usize>>,
    /// (type, behind a pointer) pairs `matching` has walked.
    matched: HashSet<(TypeId, bool)>,
}

impl<'a> Keep<'a> {
    pub(crate) fn new(btf: &'a Btf) -> Self {
        Self {
            btf,
            types: vec![false; btf.types().count() + 1],
            parts: HashMap::new(),
            matched: HashSet::new(),
        }
    }

    /// Keeps `id` and, recursively, what its record refers to.
    pub(crate) fn ty(&mut self, id: TypeId) {
        let btf = self.btf;
        let mut work = vec![id];
        let mut tagged: Vec<(TypeId, usize)> = Vec::new();
        while let Some(id) = work.pop() {
            let Some(kept) = self.types.get_mut(id as usize) else {
                continue;
            };
            if id == 0 || *kept {
                continue;
            }
            *kept = true;
            match &btf.ty(id).kind {
                // Shallow: members only where a relocation goes.
                Kind::Struct { .. }
                | Kind::Union { .. }
                | Kind::Enum { .. }
                | Kind::Datasec { .. } => {}
                Kind::DeclTag { ty, component } => {
                    work.push(*ty);
                    // A tag on a member must keep that member for its
                    // index to stay meaningful.
                    if let Ok(i) = usize::try_from(*component) {
                        tagged.push((*ty, i));
                    }
                }
                kind => work.extend(kind.refs()),
            }
        }
        for (ty, i) in tagged {
            if self.is_composite(ty) {
                self.member((ty, i));
            }
        }
    }

    fn is_composite(&self, id: TypeId) -> bool {
        matches!(
            self.btf.ty(id).kind,
            Kind::Struct { .. } | Kind::Union { .. }
        )
    }

    /// Keeps member `i` of the struct or union `comp`, and its type.
    pub(crate) fn member(&mut self, (comp, i): MemberRef) {
        let btf = self.btf;
        let (Kind::Struct { members, .. } | Kind::Union { members, .. }) = &btf.ty(comp).kind
        else {
            return;
        };
        let Some(m) = members.get(i) else {
            return;
        };
        let count = members.len();
        let ty = m.ty;
        self.ty(comp);
        if !self.parts.entry(comp).or_default().insert(i) {
            return;
        }
        self.ty(ty);
        // CO-RE lets any index into a zero-length array that is its
        // struct's last member. One that is not last must not become last
        // by dropping those after it: keep the last one too.
        if i + 1 < count && self.is_empty_array(ty) {
            self.member((comp, count - 1));
        }
    }

    fn is_empty_array(&self, id: TypeId) -> bool {
        matches!(
            self.btf.ty(self.btf.resolve(id)).kind,
            Kind::Array { len: 0, .. }
        )
    }

    /// Keeps enumerator `i` of the enum `id`.
    pub(crate) fn enumerator(&mut self, id: TypeId, i: usize) {
        self.ty(id);
        self.parts.entry(id).or_default().insert(i);
    }

    /// What a `type_matches` relocation compares: every member of the
    /// composites it reaches, except behind pointers (where only the kind
    /// and name count), every enumerator of the enums, and everything a
    /// function prototype or array refers to.
    pub(crate) fn matching(&mut self, id: TypeId) {
        let btf = self.btf;
        let mut work = vec![(id, false)];
        while let Some((id, behind_ptr)) = work.pop() {
            if id == 0 || btf.get(id).is_none() || !self.matched.insert((id, behind_ptr)) {
                continue;
            }
            self.ty(id);
            match &btf.ty(id).kind {
                Kind::Struct { members, .. } | Kind::Union { members, .. } if !behind_ptr => {
                    for (i, m) in members.iter().enumerate() {
                        self.member((id, i));
                        work.push((m.ty, false));
                    }
                }
                Kind::Enum { values, .. } => {
                    for i in 0..values.len() {
                        self.enumerator(id, i);
                    }
                }
                Kind::Ptr(to) => work.push((*to, true)),
                Kind::Typedef(to)
                | Kind::Const(to)
                | Kind::Volatile(to)
                | Kind::Restrict(to)
                | Kind::TypeTag(to) => work.push((*to, behind_ptr)),
                Kind::Array { elem, .. } => work.push((*elem, behind_ptr)),
                Kind::FuncProto { ret, params } => {
                    work.push((*ret, behind_ptr));
                    work.extend(params.iter().map(|p| (p.ty, behind_ptr)));
                }
                _ => {}
            }
        }
    }
}
