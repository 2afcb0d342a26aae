//! Questions asked of parsed BTF: types by id, what typedefs resolve to,
//! sizes and alignments on the BPF side, and lookups by name.

use std::collections::HashMap;

use super::{Btf, Kind, Type, TypeId, MAX_CHAIN};

impl Btf {
    /// The type with id `id`.
    pub fn get(&self, id: TypeId) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// The type with id `id`; ids come from this BTF, so they exist.
    pub fn ty(&self, id: TypeId) -> &Type {
        &self.types[id as usize]
    }

    /// All types with their ids, `void` (id 0) excluded.
    pub fn types(&self) -> impl Iterator<Item = (TypeId, &Type)> {
        self.types
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, t)| (i as TypeId, t))
    }

    /// Mutable access for fix-ups (data section offsets).
    pub(crate) fn kind_mut(&mut self, id: TypeId) -> &mut Kind {
        &mut self.types[id as usize].kind
    }

    /// Follows typedefs, qualifiers and type tags to the underlying type. An
    /// id this BTF does not have is returned as it is, like any other type
    /// that is not a typedef or qualifier.
    pub fn resolve(&self, mut id: TypeId) -> TypeId {
        for _ in 0..MAX_CHAIN {
            match self.get(id).map(|t| &t.kind) {
                Some(
                    Kind::Typedef(t)
                    | Kind::Volatile(t)
                    | Kind::Const(t)
                    | Kind::Restrict(t)
                    | Kind::TypeTag(t),
                ) => id = *t,
                _ => return id,
            }
        }
        id
    }

    /// Size in bytes on the BPF side (pointers are 8 bytes), or None for types
    /// without one (void, functions, forward declarations, loops, ids this
    /// BTF does not have, sizes past 64 bits).
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        self.size_depth(id, 0)
    }

    fn size_depth(&self, id: TypeId, depth: usize) -> Option<u64> {
        if depth > MAX_CHAIN {
            return None;
        }
        match &self.get(self.resolve(id))?.kind {
            Kind::Int { size, .. }
            | Kind::Struct { size, .. }
            | Kind::Union { size, .. }
            | Kind::Enum { size, .. }
            | Kind::Float { size }
            | Kind::Datasec { size, .. } => Some(u64::from(*size)),
            Kind::Ptr(_) => Some(8),
            Kind::Array { elem, len, .. } => self
                .size_depth(*elem, depth + 1)?
                .checked_mul(u64::from(*len)),
            Kind::Var { ty, .. } => self.size_depth(*ty, depth + 1),
            _ => None,
        }
    }

    /// Alignment in bytes on the BPF side, derived from the largest scalar
    /// (1 for an id this BTF does not have).
    pub fn align_of(&self, id: TypeId) -> u64 {
        self.align_depth(id, 0, &mut HashMap::new())
    }

    /// `known` holds the alignments found so far: a type reached through
    /// several members is walked once, which keeps a struct of structs of
    /// structs linear instead of exponential.
    fn align_depth(&self, id: TypeId, depth: usize, known: &mut HashMap<TypeId, u64>) -> u64 {
        if depth > MAX_CHAIN {
            return 1;
        }
        let id = self.resolve(id);
        if let Some(&align) = known.get(&id) {
            return align;
        }
        let Some(t) = self.get(id) else {
            return 1;
        };
        let align = match &t.kind {
            Kind::Int { size, .. } | Kind::Enum { size, .. } | Kind::Float { size } => {
                u64::from((*size).clamp(1, 8))
            }
            Kind::Ptr(_) => 8,
            Kind::Array { elem, .. } => self.align_depth(*elem, depth + 1, known),
            Kind::Struct { members, .. } | Kind::Union { members, .. } => members
                .iter()
                .map(|m| self.align_depth(m.ty, depth + 1, known))
                .max()
                .unwrap_or(1),
            _ => 1,
        };
        known.insert(id, align);
        align
    }

    /// Ids of all types called `name` of a struct, union or enum kind.
    pub fn find_composite(&self, name: &str) -> Option<TypeId> {
        self.types().find_map(|(id, t)| {
            (t.name == name
                && matches!(
                    t.kind,
                    Kind::Struct { .. } | Kind::Union { .. } | Kind::Enum { .. }
                ))
            .then_some(id)
        })
    }

    /// How many parameters function `name` takes, by its `FUNC` type.
    pub fn function_params(&self, name: &str) -> Option<u32> {
        let proto = self.types().find_map(|(_, t)| match &t.kind {
            Kind::Func { proto, .. } if t.name == name => Some(*proto),
            _ => None,
        })?;
        match &self.get(proto)?.kind {
            Kind::FuncProto { params, .. } => u32::try_from(params.len()).ok(),
            _ => None,
        }
    }

    /// The data section type called `name` (e.g. `.rodata`).
    pub fn datasec(&self, name: &str) -> Option<TypeId> {
        self.types().find_map(|(id, t)| {
            (t.name == name && matches!(t.kind, Kind::Datasec { .. })).then_some(id)
        })
    }
}
