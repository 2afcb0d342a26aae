//! Kernel functions a kprobe names, checked against this kernel's symbols
//! before attaching: a syscall wrapper of another architecture
//! (`__x64_sys_openat` on arm64) becomes this one's, and a function the
//! kernel does not have is named with the closest ones it does.

use std::collections::HashSet;
use std::sync::OnceLock;

const KALLSYMS: &str = "/proc/kallsyms";

/// Syscall wrapper prefixes by architecture (`__<prefix>_sys_<name>`).
const WRAPPER_PREFIXES: &[&str] = &["x64", "ia32", "arm64", "riscv", "s390x", "s390"];

/// This machine's syscall wrapper prefix.
fn host_prefix() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("x64"),
        "aarch64" => Some("arm64"),
        "riscv64" => Some("riscv"),
        "s390x" => Some("s390x"),
        _ => None,
    }
}

/// The kernel's function names, read once; None when kallsyms cannot be
/// read (then nothing is checked and libbpf decides).
fn kernel_functions() -> Option<&'static HashSet<String>> {
    static FUNCTIONS: OnceLock<Option<HashSet<String>>> = OnceLock::new();
    FUNCTIONS
        .get_or_init(|| {
            let text = std::fs::read_to_string(KALLSYMS).ok()?;
            Some(functions_in(&text))
        })
        .as_ref()
}

/// Text symbols of kallsyms text (`ADDR t NAME [module]`).
fn functions_in(kallsyms: &str) -> HashSet<String> {
    kallsyms
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
            matches!(kind, "t" | "T").then(|| name.to_string())
        })
        .collect()
}

/// What to attach a kprobe on `function` to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// The kernel has it, or cannot say.
    AsIs,
    /// Another architecture's syscall wrapper, renamed to this kernel's.
    Renamed(String),
    /// Not in the kernel; the closest names it has.
    Missing { closest: Vec<String> },
}

pub(crate) fn resolve(function: &str) -> Resolved {
    match kernel_functions() {
        Some(functions) => resolve_in(function, functions, host_prefix()),
        None => Resolved::AsIs,
    }
}

fn resolve_in(function: &str, functions: &HashSet<String>, host: Option<&str>) -> Resolved {
    if functions.contains(function) {
        return Resolved::AsIs;
    }
    if let Some(syscall) = syscall_of(function) {
        let candidates = host
            .map(|p| format!("__{p}_sys_{syscall}"))
            .into_iter()
            // Kernels without syscall wrappers (before 4.17 on x86_64).
            .chain([format!("sys_{syscall}")]);
        for candidate in candidates {
            if functions.contains(&candidate) {
                return Resolved::Renamed(candidate);
            }
        }
    }
    Resolved::Missing {
        closest: closest(function, functions),
    }
}

/// `openat` of `__x64_sys_openat` (any architecture's wrapper) or
/// `sys_openat`.
fn syscall_of(function: &str) -> Option<&str> {
    if let Some(rest) = function.strip_prefix("__") {
        let (prefix, name) = rest.split_once("_sys_")?;
        return WRAPPER_PREFIXES.contains(&prefix).then_some(name);
    }
    function.strip_prefix("sys_")
}

/// Up to three kernel functions nearest to `function` by edit distance,
/// within a third of its length; ties by name.
fn closest(function: &str, functions: &HashSet<String>) -> Vec<String> {
    let limit = (function.len() / 3).max(2);
    let mut near: Vec<(usize, &String)> = functions
        .iter()
        .filter(|f| f.len().abs_diff(function.len()) <= limit)
        .filter_map(|f| {
            let d = edit_distance(function.as_bytes(), f.as_bytes(), limit)?;
            Some((d, f))
        })
        .collect();
    near.sort();
    near.into_iter().take(3).map(|(_, f)| f.clone()).collect()
}

/// Levenshtein distance, or None once it must exceed `limit`.
fn edit_distance(a: &[u8], b: &[u8], limit: usize) -> Option<usize> {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= limit).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(names: &[&str]) -> HashSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn kallsyms_text_symbols_are_the_functions() {
        let text = "ffffffff81000000 T _stext\n\
                    ffffffff81001000 t do_one_initcall\n\
                    ffffffff82000000 D jiffies\n\
                    ffffffffc0000000 t veth_open\t[veth]\n";
        assert_eq!(
            functions_in(text),
            kernel(&["_stext", "do_one_initcall", "veth_open"])
        );
    }

    #[test]
    fn another_architectures_syscall_wrapper_becomes_this_ones() {
        let arm64 = kernel(&["__arm64_sys_openat", "do_sys_openat2"]);
        assert_eq!(
            resolve_in("__x64_sys_openat", &arm64, Some("arm64")),
            Resolved::Renamed("__arm64_sys_openat".into())
        );
        assert_eq!(
            resolve_in("__arm64_sys_openat", &arm64, Some("arm64")),
            Resolved::AsIs
        );
        let riscv = kernel(&["__riscv_sys_openat"]);
        assert_eq!(
            resolve_in("__arm64_sys_openat", &riscv, Some("riscv")),
            Resolved::Renamed("__riscv_sys_openat".into())
        );
        // A kernel without wrappers has sys_openat itself.
        let old = kernel(&["sys_openat"]);
        assert_eq!(
            resolve_in("__x64_sys_openat", &old, Some("x64")),
            Resolved::Renamed("sys_openat".into())
        );
    }

    #[test]
    fn a_missing_function_comes_with_the_closest_names() {
        let k = kernel(&[
            "do_unlinkat_nofollow",
            "do_unlink",
            "do_linkat",
            "vfs_unlink",
            "something_else_entirely",
        ]);
        match resolve_in("do_unlinkat", &k, Some("x64")) {
            Resolved::Missing { closest } => {
                assert_eq!(closest, vec!["do_linkat", "do_unlink"]);
            }
            other => panic!("{other:?}"),
        }
        match resolve_in("no_such_thing_here", &k, Some("x64")) {
            Resolved::Missing { closest } => assert!(closest.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn edit_distance_counts_and_gives_up_past_the_limit() {
        assert_eq!(edit_distance(b"do_unlinkat", b"do_linkat", 5), Some(2));
        assert_eq!(edit_distance(b"kitten", b"sitting", 5), Some(3));
        assert_eq!(edit_distance(b"abc", b"xyz", 2), None);
    }
}
