//! How CO-RE finds a local type's counterparts in the target BTF: by
//! "essential" name (the name without a `___flavor` suffix) and by kind.

use std::collections::{HashMap, HashSet};

use crate::btf::{Btf, Kind, TypeId};

/// The name without its flavor: `task_struct___old` is `task_struct`.
/// As libbpf does, the cut is at the last `___` that has a character
/// other than `_` on both sides; a name without one is kept whole.
pub(crate) fn essential(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() >= 5 {
        for i in (0..=b.len() - 5).rev() {
            if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
                // b[i + 1] is '_', so i + 1 is a character boundary.
                return &name[..i + 1];
            }
        }
    }
    name
}

/// Whether CO-RE takes a target type of kind `b` for a local type of kind
/// `a`: the same kind, an enum of either width counting as one kind.
pub(crate) fn kinds_compatible(a: &Kind, b: &Kind) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The target's named types by essential name, for the names asked for:
/// one pass over a kernel's 100k+ types, not one per relocation.
pub(crate) struct Candidates {
    by_name: HashMap<String, Vec<TypeId>>,
}

impl Candidates {
    /// `wanted`: the local names (flavors are cut here).
    pub(crate) fn index<'a>(target: &Btf, wanted: impl IntoIterator<Item = &'a str>) -> Self {
        let wanted: HashSet<&str> = wanted.into_iter().map(essential).collect();
        let mut by_name: HashMap<String, Vec<TypeId>> = HashMap::new();
        for (id, t) in target.types() {
            if t.name.is_empty() {
                continue;
            }
            let name = essential(&t.name);
            if wanted.contains(name) {
                by_name.entry(name.to_string()).or_default().push(id);
            }
        }
        Self { by_name }
    }

    /// The target types a local type may be, in id order: a non-empty
    /// name with the same essential name, and a compatible kind.
    pub(crate) fn of<'s>(
        &'s self,
        local: &'s Kind,
        local_name: &str,
        target: &'s Btf,
    ) -> impl Iterator<Item = TypeId> + 's {
        self.by_name
            .get(essential(local_name))
            .into_iter()
            .flatten()
            .copied()
            .filter(move |&id| kinds_compatible(local, &target.ty(id).kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavors_are_cut_at_the_last_triple_underscore() {
        assert_eq!(essential("task_struct___old"), "task_struct");
        assert_eq!(essential("task_struct"), "task_struct");
        assert_eq!(essential("a___b___c"), "a___b");
        // Underscores on either side make it part of the name.
        assert_eq!(essential("a____b"), "a____b");
        assert_eq!(essential("___a"), "___a");
        assert_eq!(essential("a___"), "a___");
        assert_eq!(essential("x___y"), "x");
        assert_eq!(essential("a_b"), "a_b");
        assert_eq!(essential(""), "");
        assert_eq!(essential("é___ü"), "é");
    }
}
