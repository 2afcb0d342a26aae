//! Is this BTF, and is it the BTF of the kernel it claims to describe?
//!
//! Nothing reaches the cache without passing [`verify`]. What can be told:
//! - it parses as BTF (unibpf-object reads the header, every type and the
//!   strings);
//! - it holds the structs every kernel's BTF has (a BPF object's BTF or a
//!   truncated file does not);
//! - its `struct pt_regs` is the one of the kernel's architecture;
//! - for the running kernel, its functions are this kernel's: of the BTF's
//!   `FUNC` names, at least [`MIN_PRESENT_PERCENT`] must be text symbols
//!   of `/proc/kallsyms`. The BTF of this very kernel scores about 99% (the
//!   rest are functions the compiler inlined everywhere); the BTF of the
//!   neighbouring Debian kernel (6.12 against 6.18) about 79%.
//!
//! What cannot be told: raw BTF does not record the kernel release, so two
//! builds of one source with one configuration are indistinguishable (and
//! interchangeable for CO-RE); another kernel's BTF passes when kallsyms
//! cannot be read, or when the BTF has too few functions to judge.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use unibpf_object::{Btf, Kind, ObjectError};

use crate::kernel::{BtfArch, KernelId};

/// Structs that the BTF of every kernel unibpf can run on has.
const CORE_STRUCTS: &[&str] = &["task_struct", "mm_struct", "file", "sk_buff", "pt_regs"];
/// The share of the BTF's functions that must be in kallsyms.
pub const MIN_PRESENT_PERCENT: usize = 95;
/// Fewer functions than this and the comparison says nothing.
const MIN_FUNCS: usize = 1000;

/// Why bytes are not acceptable BTF for a kernel.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not BTF: {0}")]
    NotBtf(#[source] ObjectError),
    #[error("not a kernel's BTF: it has no struct {0}, which every kernel's BTF has (a BPF object's or a truncated BTF?)")]
    MissingCoreType(&'static str),
    #[error("BTF of a {found} kernel, not of a {expected} one")]
    WrongArch { expected: BtfArch, found: BtfArch },
    #[error("BTF of another kernel: {missing} of its {total} functions ({percent}%) are not in this kernel's /proc/kallsyms (e.g. {examples}); it does not describe {release}")]
    OtherKernel {
        missing: usize,
        total: usize,
        percent: usize,
        examples: String,
        release: String,
    },
}

/// What the running kernel's symbol table says, for comparing with BTF.
pub struct KernelSymbols {
    names: HashSet<String>,
}

impl KernelSymbols {
    /// The text symbols of vmlinux in a kallsyms file (module symbols left
    /// out: vmlinux BTF does not describe modules). `foo.isra.0` also counts
    /// as `foo`, the name BTF gives it.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut names = HashSet::new();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(_addr), Some(kind), Some(name), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            if let Some((base, _)) = name.split_once('.') {
                names.insert(base.to_string());
            }
            names.insert(name.to_string());
        }
        Ok(Self { names })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Whether the BTF was compared with the running kernel.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum KernelCheck {
    /// `present` of `checked` functions are in kallsyms.
    Matched { checked: usize, present: usize },
    /// Not compared, and why.
    Skipped { reason: String },
}

/// What [`verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub types: usize,
    pub functions: usize,
    pub this_kernel: KernelCheck,
}

/// BTF that passed [`verify`]; the only thing [`crate::Cache::store`] takes.
pub struct VerifiedBtf {
    bytes: Vec<u8>,
    summary: Summary,
}

impl std::fmt::Debug for VerifiedBtf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedBtf")
            .field("len", &self.bytes.len())
            .field("summary", &self.summary)
            .finish()
    }
}

impl VerifiedBtf {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }
}

/// What to compare a BTF's functions with.
pub enum Against<'a> {
    /// The running kernel's symbols (the BTF is meant for this kernel).
    Symbols(&'a KernelSymbols),
    /// No comparison, and why (another kernel, kallsyms unreadable).
    Nothing(String),
}

/// Checks `bytes` as the BTF of `kernel`.
pub fn verify(
    bytes: Vec<u8>,
    kernel: &KernelId,
    against: Against<'_>,
) -> Result<VerifiedBtf, VerifyError> {
    let btf = Btf::parse(&bytes).map_err(VerifyError::NotBtf)?;
    let types = btf.types().count();
    let funcs: Vec<String> = btf
        .types()
        .filter(|(_, t)| matches!(t.kind, Kind::Func { .. }))
        .map(|(_, t)| t.name.clone())
        .collect();
    for name in CORE_STRUCTS {
        if find_struct(&btf, name).is_none() {
            return Err(VerifyError::MissingCoreType(name));
        }
    }
    if let Some(found) = pt_regs_arch(&btf) {
        if found != kernel.arch {
            return Err(VerifyError::WrongArch {
                expected: kernel.arch,
                found,
            });
        }
    }
    let this_kernel = match against {
        Against::Nothing(reason) => KernelCheck::Skipped { reason },
        Against::Symbols(symbols) => compare(&funcs, symbols, &kernel.release)?,
    };
    tracing::debug!(types, functions = funcs.len(), ?this_kernel, "BTF verified");
    let functions = funcs.len();
    Ok(VerifiedBtf {
        bytes,
        summary: Summary {
            types,
            functions,
            this_kernel,
        },
    })
}

/// Parses as BTF, nothing more: for minimised BTF (bundles), which holds
/// only what some objects need.
pub fn check_format(bytes: &[u8]) -> Result<(), VerifyError> {
    Btf::parse(bytes).map(drop).map_err(VerifyError::NotBtf)
}

/// A cheap look at a BTF header (its first 24 bytes) and the file's size:
/// magic, version, and sections inside the file. For what was verified
/// before (the cache), not for new bytes.
pub fn header_fits(head: &[u8], size: u64) -> bool {
    let Some(head) = head.get(..24) else {
        return false;
    };
    let swap = match u16::from_le_bytes([head[0], head[1]]) {
        0xeb9f => false,
        0x9feb => true,
        _ => return false,
    };
    let word = |i: usize| {
        let b = [head[i], head[i + 1], head[i + 2], head[i + 3]];
        u64::from(if swap {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let (hdr_len, type_off, type_len, str_off, str_len) =
        (word(4), word(8), word(12), word(16), word(20));
    head[2] == 1
        && hdr_len >= 24
        && hdr_len + type_off + type_len <= size
        && hdr_len + str_off + str_len <= size
}

/// The members of the struct called `name`, if there is one.
fn find_struct<'b>(btf: &'b Btf, name: &str) -> Option<&'b [unibpf_object::btf::Member]> {
    btf.types().find_map(|(_, t)| match &t.kind {
        Kind::Struct { members, .. } if t.name == name => Some(members.as_slice()),
        _ => None,
    })
}

/// The architecture `struct pt_regs` is laid out for, when it says.
fn pt_regs_arch(btf: &Btf) -> Option<BtfArch> {
    find_struct(btf, "pt_regs")?
        .iter()
        .find_map(|member| match member.name.as_str() {
            "r15" => Some(BtfArch::X86_64),
            "orig_x0" => Some(BtfArch::Arm64),
            "epc" => Some(BtfArch::Riscv64),
            _ => None,
        })
}

fn compare(
    funcs: &[String],
    symbols: &KernelSymbols,
    release: &str,
) -> Result<KernelCheck, VerifyError> {
    if funcs.len() < MIN_FUNCS {
        return Ok(KernelCheck::Skipped {
            reason: format!(
                "the BTF has {} functions, too few to tell which kernel it describes",
                funcs.len()
            ),
        });
    }
    let missing: Vec<&String> = funcs
        .iter()
        .filter(|f| !symbols.names.contains(f.as_str()))
        .collect();
    let present = funcs.len() - missing.len();
    if present * 100 < funcs.len() * MIN_PRESENT_PERCENT {
        let examples: Vec<&str> = missing.iter().take(3).map(|s| s.as_str()).collect();
        return Err(VerifyError::OtherKernel {
            missing: missing.len(),
            total: funcs.len(),
            percent: missing.len() * 100 / funcs.len(),
            examples: examples.join(", "),
            release: release.to_string(),
        });
    }
    Ok(KernelCheck::Matched {
        checked: funcs.len(),
        present,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_wants_sections_inside_the_file() {
        let mut h = vec![0x9f, 0xeb, 1, 0];
        for w in [24u32, 0, 4, 4, 2] {
            h.extend_from_slice(&w.to_le_bytes());
        }
        h.extend_from_slice(&[0; 6]);
        assert!(header_fits(&h, h.len() as u64));
        assert!(!header_fits(&h, h.len() as u64 - 1));
        assert!(!header_fits(b"\x7fELF", 4));
    }

    #[test]
    fn kallsyms_lines_keep_vmlinux_text_and_base_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kallsyms");
        std::fs::write(
            &path,
            "0 T vfs_read\n0 t foo.isra.0\n0 D jiffies\n0 t mod_fn\t[ext4]\n",
        )
        .unwrap();
        let s = KernelSymbols::read(&path).unwrap();
        assert!(s.names.contains("vfs_read") && s.names.contains("foo"));
        assert!(!s.names.contains("jiffies") && !s.names.contains("mod_fn"));
    }
}
