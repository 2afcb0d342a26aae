//! Reading an object for the pass: its `.BTF` and `.BTF.ext`, which of
//! its CO-RE relocations go into a register struct of which architecture,
//! and which register each one reads.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use goblin::elf::Elf;

use super::arch::{RegsArch, Usage};
use crate::btf::{Btf, Kind, TypeId};
use crate::btf_ext::{parse_core_relos_at, CoreRelo, CoreReloSection};
use crate::min_core::names::essential;
use crate::section::{Hook, ProgramSection};
use crate::ObjectError;

/// The names (without a `___flavor`) of the structs libbpf's `PT_REGS_*`
/// macros read: the kernel's, arm64's uapi one, riscv64's uapi one.
const REGS_STRUCTS: [&str; 3] = ["pt_regs", "user_pt_regs", "user_regs_struct"];

/// An object with CO-RE relocations, read.
pub(crate) struct Loaded<'a> {
    pub bytes: &'a [u8],
    pub elf: Elf<'a>,
    /// The `.BTF` libbpf loads (the last of the name), and its bytes.
    pub btf_index: usize,
    pub raw_btf: &'a [u8],
    pub btf: Btf,
    /// Where `.BTF.ext` is in the file, and its section.
    pub ext: Range<usize>,
    pub ext_index: usize,
    /// Its relocations by section, each with where its record starts in
    /// `.BTF.ext`.
    pub sections: Vec<(CoreReloSection, Vec<usize>)>,
}

/// A relocation into a register struct of a known architecture.
pub(crate) struct RegsRelo<'a> {
    pub section: &'a str,
    /// Where its record starts in `.BTF.ext`.
    pub record: usize,
    pub relo: &'a CoreRelo,
    pub arch: RegsArch,
}

impl<'a> Loaded<'a> {
    /// None for an object without `.BTF` or `.BTF.ext`: nothing to
    /// relocate.
    pub(crate) fn read(bytes: &'a [u8]) -> Result<Option<Self>, ObjectError> {
        let elf = crate::parse::read_elf(bytes)?;
        let (Some(btf_index), Some(ext_index)) = (last(&elf, ".BTF"), last(&elf, ".BTF.ext"))
        else {
            return Ok(None);
        };
        let raw_btf = &bytes[file_range(&elf, bytes, btf_index)?];
        let ext = file_range(&elf, bytes, ext_index)?;
        let sections = parse_core_relos_at(&bytes[ext.clone()], raw_btf)?;
        let btf = Btf::parse(raw_btf)?;
        Ok(Some(Self {
            bytes,
            elf,
            btf_index,
            raw_btf,
            btf,
            ext,
            ext_index,
            sections,
        }))
    }

    /// The field relocations whose root is a register struct, with its
    /// architecture. A root with only names every architecture has (a
    /// flavor with just `sp`) takes the architecture of the object's
    /// other roots, if they agree.
    pub(crate) fn regs_relos(&self) -> Vec<RegsRelo<'_>> {
        let mut classes: HashMap<TypeId, Option<Class>> = HashMap::new();
        let mut found = Vec::new();
        for (section, records) in &self.sections {
            for (relo, &record) in section.relos.iter().zip(records) {
                if !relo.kind.is_field() {
                    continue;
                }
                let class = *classes
                    .entry(relo.type_id)
                    .or_insert_with(|| classify(&self.btf, relo.type_id));
                if let Some(class) = class {
                    found.push((section.section.as_str(), record, relo, class));
                }
            }
        }
        let known: HashSet<RegsArch> = found
            .iter()
            .filter_map(|f| match f.3 {
                Class::Known(arch) => Some(arch),
                Class::Shared => None,
            })
            .collect();
        let object_arch = (known.len() == 1)
            .then(|| known.into_iter().next())
            .flatten();
        found
            .into_iter()
            .filter_map(|(section, record, relo, class)| {
                let arch = match class {
                    Class::Known(arch) => arch,
                    Class::Shared => object_arch?,
                };
                Some(RegsRelo {
                    section,
                    record,
                    relo,
                    arch,
                })
            })
            .collect()
    }

    /// The program a relocation is in: the function symbol of its
    /// section that covers the instruction, if any.
    pub(crate) fn program(&self, section: &str, insn_off: u32) -> Option<&'a str> {
        let index = self.exec_section(section)?;
        let at = u64::from(insn_off);
        self.elf.syms.iter().find_map(|sym| {
            let covers = sym.st_type() == goblin::elf::sym::STT_FUNC
                && sym.st_shndx == index
                && sym.st_value <= at
                && at < sym.st_value.saturating_add(sym.st_size);
            covers
                .then(|| self.elf.strtab.get_at(sym.st_name))
                .flatten()
        })
    }

    /// The section a `.BTF.ext` section name means: as libbpf, the first
    /// executable section of that name.
    pub(crate) fn exec_section(&self, name: &str) -> Option<usize> {
        let exec = u64::from(goblin::elf::section_header::SHF_EXECINSTR);
        self.elf.section_headers.iter().position(|sh| {
            sh.sh_flags & exec != 0 && self.elf.shdr_strtab.get_at(sh.sh_name) == Some(name)
        })
    }

    /// Where section `index` is in the file.
    pub(crate) fn range(&self, index: usize) -> Result<Range<usize>, ObjectError> {
        file_range(&self.elf, self.bytes, index)
    }
}

/// The last section called `name`, the one libbpf takes.
fn last(elf: &Elf<'_>, name: &str) -> Option<usize> {
    (0..elf.section_headers.len())
        .rev()
        .find(|&i| elf.shdr_strtab.get_at(elf.section_headers[i].sh_name) == Some(name))
}

fn file_range(elf: &Elf<'_>, bytes: &[u8], index: usize) -> Result<Range<usize>, ObjectError> {
    let sh = elf
        .section_headers
        .get(index)
        .ok_or_else(|| ObjectError::Elf(format!("no section {index}")))?;
    usize::try_from(sh.sh_offset)
        .ok()
        .zip(usize::try_from(sh.sh_size).ok())
        .and_then(|(start, len)| Some(start..start.checked_add(len)?))
        .filter(|r| r.end <= bytes.len())
        .ok_or_else(|| {
            let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("?");
            ObjectError::Elf(format!("section {name} runs past the end of the file"))
        })
}

/// What a root type's member names say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Names only this architecture's register structs have.
    Known(RegsArch),
    /// Only names several architectures have (`sp`, `pc`).
    Shared,
}

/// Whether a struct of this name (flavors aside) holds registers.
pub(crate) fn is_regs_struct(name: &str) -> bool {
    REGS_STRUCTS.contains(&essential(name))
}

/// Whether `root` is a register struct, and of which architecture: by its
/// name, then by its members' names, anonymous members' included. None
/// for other types and for names of several architectures at once.
pub(crate) fn classify(btf: &Btf, root: TypeId) -> Option<Class> {
    if !is_regs_struct(&btf.get(root)?.name) {
        return None;
    }
    let mut marks = HashSet::new();
    let mut shared = false;
    let mut seen = HashSet::new();
    let mut todo = vec![btf.resolve(root)];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(Kind::Struct { members, .. } | Kind::Union { members, .. }) =
            btf.get(id).map(|t| &t.kind)
        else {
            continue;
        };
        for m in members {
            if m.name.is_empty() {
                todo.push(btf.resolve(m.ty));
                continue;
            }
            let mut knowers = RegsArch::ALL.into_iter().filter(|a| a.knows(&m.name));
            match (knowers.next(), knowers.next()) {
                (Some(arch), None) => {
                    marks.insert(arch);
                }
                (Some(_), Some(_)) => shared = true,
                _ => {}
            }
        }
    }
    let mut marks = marks.into_iter();
    match (marks.next(), marks.next()) {
        (Some(arch), None) => Some(Class::Known(arch)),
        (None, _) if shared => Some(Class::Shared),
        _ => None,
    }
}

/// The register a relocation's access string ends at in the local types:
/// the last named member on the way, and the element if an array index
/// follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accessed {
    pub member: String,
    pub index: Option<u32>,
    /// The type read there, typedefs and qualifiers resolved.
    pub leaf: TypeId,
    /// Its byte offset in the local struct: what the compiler put in the
    /// instruction.
    pub offset: u64,
}

/// Reads `relo`'s access string against the local BTF. Errors: it does
/// not fit the types (libbpf refuses such an object). None: it reads no
/// single register (another element than the first of the root, a whole
/// array, an element of an element, a bitfield, nothing named).
pub(crate) fn accessed(btf: &Btf, relo: &CoreRelo) -> Result<Option<Accessed>, String> {
    let (&first, rest) = relo.access.split_first().ok_or("an empty access string")?;
    if btf.get(relo.type_id).is_none() || relo.type_id == 0 {
        return Err(format!("type {} does not exist", relo.type_id));
    }
    if first != 0 {
        return Ok(None);
    }
    let mut id = relo.type_id;
    let mut offset = 0u64;
    let mut named: Option<(String, Option<u32>)> = None;
    for &idx in rest {
        let bad = || format!("{:?} does not fit the local types", relo.access_str);
        match &btf.ty(btf.resolve(id)).kind {
            Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                let m = members.get(idx as usize).ok_or_else(bad)?;
                if m.bitfield_size.is_some() || m.bit_offset % 8 != 0 {
                    return Ok(None);
                }
                offset += u64::from(m.bit_offset / 8);
                if !m.name.is_empty() {
                    named = Some((m.name.clone(), None));
                }
                id = m.ty;
            }
            Kind::Array { elem, len, .. } => {
                if idx >= *len {
                    return Err(bad());
                }
                let Some((_, index @ None)) = &mut named else {
                    return Ok(None);
                };
                *index = Some(idx);
                let size = btf.size_of(*elem).ok_or_else(bad)?;
                offset = size
                    .checked_mul(u64::from(idx))
                    .and_then(|o| o.checked_add(offset))
                    .ok_or_else(bad)?;
                id = *elem;
            }
            _ => return Err(bad()),
        }
    }
    Ok(named.map(|(member, index)| Accessed {
        member,
        index,
        leaf: btf.resolve(id),
        offset,
    }))
}

/// How the program of `section` reads registers, from the section name.
pub(crate) fn usage(section: &str) -> Usage {
    let Ok(parsed) = ProgramSection::parse(section) else {
        return Usage::default();
    };
    match parsed.hook {
        Hook::Kprobe { ret, .. } => Usage {
            ret,
            syscall: parsed.target.as_deref().is_some_and(is_syscall_wrapper),
        },
        Hook::Uprobe { ret, .. } => Usage {
            ret,
            syscall: false,
        },
        Hook::Ksyscall { ret } => Usage { ret, syscall: true },
        _ => Usage::default(),
    }
}

/// The kernel's syscall entry points that take the caller's registers
/// (`__x64_sys_openat`, ...), which hard-coded kprobe sections name.
fn is_syscall_wrapper(function: &str) -> bool {
    ["__x64_sys_", "__arm64_sys_", "__riscv_sys_"]
        .iter()
        .any(|p| function.starts_with(p))
}
