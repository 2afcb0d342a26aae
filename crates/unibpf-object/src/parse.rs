//! Reading a BPF ELF object into a [`BpfObject`], in the order the parts
//! depend on each other: the header, the BTF, the symbols, the data sections
//! (whose BTF the symbols fix up), then the maps' definitions from BTF.

use std::collections::HashMap;

use goblin::elf::section_header::{SHF_EXECINSTR, SHT_NOBITS};
use goblin::elf::sym::{STB_GLOBAL, STT_FUNC, STT_OBJECT};
use goblin::elf::Elf;

use crate::btf::Member;
use crate::{
    Alternative, BpfObject, Btf, DataSection, Kind, Map, ObjectError, Program, ProgramSection,
    TypeId,
};

/// Symbol prefix of the compat header's `UNIBPF_OPTIONAL(prog)` marks.
const OPTIONAL_MARK: &str = "unibpf_optional__";
/// Symbol prefix of its `UNIBPF_ALTERNATIVE(prog, fallback)` marks; the
/// symbol's bytes are the fallback's name.
const ALTERNATIVE_MARK: &str = "unibpf_alternative__";

/// Size of one `Elf64_Sym`.
const SYM_SIZE: u64 = 24;
/// Offset of `st_info` inside `Elf64_Sym`.
const SYM_INFO_OFFSET: u64 = 4;

impl BpfObject {
    /// Reads a BPF object from the bytes of its ELF file.
    pub fn parse(bytes: &[u8]) -> Result<Self, ObjectError> {
        let elf = read_elf(bytes)?;
        let sections = Sections { elf: &elf, bytes };
        let mut btf = sections.last_btf()?;
        let symtab_offset = only_symtab_offset(&elf)?;
        let Symbols {
            programs,
            mut maps,
            optional_programs,
            alternatives,
            data_symbols,
        } = sections.symbols(symtab_offset)?;
        let data_sections = sections.data_sections(&mut btf, &data_symbols)?;
        if let Some(b) = &btf {
            apply_map_defs(b, &mut maps);
        }
        Ok(Self {
            programs,
            optional_programs,
            alternatives,
            maps,
            data_sections,
            btf,
            regs_arches: crate::pt_regs::source_arches(bytes).unwrap_or_default(),
            fixed_regs_reads: crate::pt_regs::fixed_reads(bytes).unwrap_or_default(),
            kprobe_reads: crate::pt_regs::kprobe_reads(bytes).unwrap_or_default(),
        })
    }
}

/// The ELF file, checked to be what the rest of parsing assumes: a BPF
/// object, 64-bit and little-endian.
pub(crate) fn read_elf(bytes: &[u8]) -> Result<Elf<'_>, ObjectError> {
    let elf = Elf::parse(bytes).map_err(|e| ObjectError::Elf(e.to_string()))?;
    if elf.header.e_machine != goblin::elf::header::EM_BPF {
        return Err(ObjectError::Elf(format!(
            "machine type {} is not BPF (247)",
            elf.header.e_machine
        )));
    }
    if !elf.is_64 || !elf.little_endian {
        return Err(ObjectError::Elf(
            "only 64-bit little-endian BPF objects are supported".into(),
        ));
    }
    Ok(elf)
}

/// Where the only symbol table starts in the file, if there is one.
///
/// goblin reads `elf.syms` from the last symbol table and sym_info_offset
/// counts from the first: with two, a program's offset would patch another
/// symbol. libbpf refuses such objects too.
fn only_symtab_offset(elf: &Elf<'_>) -> Result<Option<u64>, ObjectError> {
    let mut symtabs = elf
        .section_headers
        .iter()
        .filter(|sh| sh.sh_type == goblin::elf::section_header::SHT_SYMTAB);
    let symtab_offset = symtabs.next().map(|sh| sh.sh_offset);
    if symtabs.next().is_some() {
        return Err(ObjectError::Elf("more than one symbol table".into()));
    }
    Ok(symtab_offset)
}

/// What the symbol table declares, sorted by kind.
struct Symbols<'a> {
    programs: Vec<Program>,
    /// Maps by name only; their definitions come from BTF afterwards.
    maps: Vec<Map>,
    optional_programs: Vec<String>,
    alternatives: Vec<Alternative>,
    /// Data symbols' values by section and name (the first of a name), for
    /// the BTF offset fix-up in [`Sections::data_sections`].
    data_symbols: HashMap<(usize, &'a str), u64>,
}

/// The parsed ELF file with the bytes it was read from, to reach sections
/// by index.
struct Sections<'e, 'a> {
    elf: &'e Elf<'a>,
    bytes: &'a [u8],
}

impl<'a> Sections<'_, 'a> {
    /// Section `idx`'s name; None if there is no such section or name.
    fn name(&self, idx: usize) -> Option<&'a str> {
        let sh = self.elf.section_headers.get(idx)?;
        self.elf.shdr_strtab.get_at(sh.sh_name)
    }

    /// The bytes of section `idx`, which must exist; an error if they run
    /// past the end of the file.
    fn bytes(&self, idx: usize) -> Result<&'a [u8], ObjectError> {
        let sh = &self.elf.section_headers[idx];
        let start = sh.sh_offset as usize;
        start
            .checked_add(sh.sh_size as usize)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| {
                ObjectError::Elf(format!(
                    "section {} runs past the end of the file",
                    self.name(idx).unwrap_or("?")
                ))
            })
    }

    /// The NUL-terminated string of `size` bytes at `value` in data
    /// section `idx` (a compat-header mark's value).
    fn c_string(&self, idx: usize, value: u64, size: u64) -> Result<String, ObjectError> {
        let bytes = usize::try_from(value)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(at, len)| self.bytes(idx).ok()?.get(at..at.checked_add(len)?))
            .ok_or_else(|| ObjectError::Elf("a unibpf mark runs past its section".into()))?;
        let text = bytes.split(|&b| b == 0).next().unwrap_or_default();
        String::from_utf8(text.to_vec())
            .map_err(|_| ObjectError::Elf("a unibpf mark's value is not UTF-8".into()))
    }

    /// The last .BTF section, which is the one libbpf loads. Parsing every
    /// one would let thousands of headers for the same bytes multiply the
    /// work.
    fn last_btf(&self) -> Result<Option<Btf>, ObjectError> {
        let btf_idx = (0..self.elf.section_headers.len())
            .rev()
            .find(|&idx| self.name(idx) == Some(".BTF"));
        Ok(match btf_idx {
            Some(idx) => Some(Btf::parse(self.bytes(idx)?)?),
            None => None,
        })
    }

    /// Sorts the symbols into programs (global functions in executable
    /// sections other than .text), maps (objects in .maps) and data.
    /// `symtab_offset` locates each program's `st_info` byte in the file.
    fn symbols(&self, symtab_offset: Option<u64>) -> Result<Symbols<'a>, ObjectError> {
        let elf = self.elf;
        let mut found = Symbols {
            programs: Vec::new(),
            maps: Vec::new(),
            optional_programs: Vec::new(),
            alternatives: Vec::new(),
            data_symbols: HashMap::new(),
        };
        for (i, sym) in elf.syms.iter().enumerate() {
            let Some(name) = elf.strtab.get_at(sym.st_name) else {
                continue;
            };
            let Some(section) = self.name(sym.st_shndx) else {
                continue;
            };
            let sh = &elf.section_headers[sym.st_shndx];
            if sym.st_type() == STT_FUNC
                && sym.st_bind() == STB_GLOBAL
                && sh.sh_flags & u64::from(SHF_EXECINSTR) != 0
                && section != ".text"
            {
                let section =
                    ProgramSection::parse(section).map_err(|error| ObjectError::Section {
                        program: name.to_string(),
                        error,
                    })?;
                found.programs.push(Program {
                    name: name.to_string(),
                    section,
                    sym_info_offset: symtab_offset.unwrap_or(0)
                        + i as u64 * SYM_SIZE
                        + SYM_INFO_OFFSET,
                });
            } else if section == ".maps" && sym.st_type() == STT_OBJECT {
                found.maps.push(Map {
                    name: name.to_string(),
                    map_type: None,
                    max_entries: None,
                    key_size: None,
                    value_size: None,
                    pinning: None,
                    values_offset: None,
                });
            } else if is_data_section(section) && sym.st_type() == STT_OBJECT {
                if let Some(prog) = name.strip_prefix(OPTIONAL_MARK) {
                    found.optional_programs.push(prog.to_string());
                }
                if let Some(prog) = name.strip_prefix(ALTERNATIVE_MARK) {
                    found.alternatives.push(Alternative {
                        program: prog.to_string(),
                        fallback: self.c_string(sym.st_shndx, sym.st_value, sym.st_size)?,
                    });
                }
                found
                    .data_symbols
                    .entry((sym.st_shndx, name))
                    .or_insert(sym.st_value);
            }
        }
        Ok(found)
    }

    /// The global data sections, each with the DATASEC of its name if the
    /// BTF has one, fixed up from `data_symbols`.
    fn data_sections(
        &self,
        btf: &mut Option<Btf>,
        data_symbols: &HashMap<(usize, &str), u64>,
    ) -> Result<Vec<DataSection>, ObjectError> {
        // Each name's first DATASEC, found once rather than per section.
        let mut datasecs: HashMap<String, TypeId> = HashMap::new();
        for (id, t) in btf.iter().flat_map(|b| b.types()) {
            if matches!(t.kind, Kind::Datasec { .. }) {
                datasecs.entry(t.name.clone()).or_insert(id);
            }
        }
        let mut data_sections = Vec::new();
        for (idx, sh) in self.elf.section_headers.iter().enumerate() {
            let Some(name) = self.name(idx) else { continue };
            if !is_data_section(name) || sh.sh_flags & u64::from(SHF_EXECINSTR) != 0 {
                continue;
            }
            let nobits = sh.sh_type == SHT_NOBITS;
            if !nobits {
                self.bytes(idx)?;
            }
            let btf_id = btf.as_mut().and_then(|b: &mut Btf| {
                let id = *datasecs.get(name)?;
                fix_up_datasec(b, id, sh.sh_size, idx, data_symbols);
                Some(id)
            });
            data_sections.push(DataSection {
                name: name.to_string(),
                file_offset: (!nobits).then_some(sh.sh_offset),
                size: sh.sh_size,
                btf: btf_id,
            });
        }
        Ok(data_sections)
    }
}

/// `.rodata`, `.data`, `.bss`, or one of them with a suffix (`.rodata.str1.1`).
fn is_data_section(name: &str) -> bool {
    [".rodata", ".data", ".bss"]
        .iter()
        .any(|p| name == *p || name.starts_with(&format!("{p}.")))
}

/// clang leaves a `DATASEC`'s size and its variables' offsets as zero in
/// object files; the ELF symbol table has the real values (libbpf fixes them
/// up the same way before loading).
fn fix_up_datasec(
    btf: &mut Btf,
    id: TypeId,
    size: u64,
    shndx: usize,
    symbols: &HashMap<(usize, &str), u64>,
) {
    let offsets: Vec<Option<u64>> = match &btf.ty(id).kind {
        Kind::Datasec { vars, .. } => vars
            .iter()
            .map(|v| symbols.get(&(shndx, btf.ty(v.var).name.as_str())).copied())
            .collect(),
        _ => return,
    };
    if let Kind::Datasec { size: sz, vars } = btf.kind_mut(id) {
        *sz = size as u32;
        for (v, off) in vars.iter_mut().zip(offsets) {
            if let Some(off) = off {
                v.offset = off as u32;
            }
        }
    }
}

/// Fills in each map's type, sizes and pinning from its BTF definition.
fn apply_map_defs(btf: &Btf, maps: &mut [Map]) {
    let defs = btf_map_defs(btf);
    for m in maps {
        if let Some(Some(def)) = defs.get(m.name.as_str()) {
            m.map_type = def.map_type;
            m.max_entries = def.max_entries;
            m.key_size = def.key_size;
            m.value_size = def.value_size;
            m.pinning = def.pinning;
            m.values_offset = def.values_offset;
        }
    }
}

/// A BTF-defined map's `type` and `max_entries`: `__uint(type, N)` is a member
/// `type` of pointer-to-array-of-N type.
#[derive(Clone, Copy)]
struct MapDef {
    map_type: Option<u32>,
    max_entries: Option<u32>,
    key_size: Option<u32>,
    value_size: Option<u32>,
    pinning: Option<u32>,
    values_offset: Option<u32>,
}

/// The definitions of the maps in `.maps`, by name (the first variable of a
/// name, as libbpf takes); each struct type's members are read once however
/// many maps share it.
fn btf_map_defs(btf: &Btf) -> HashMap<&str, Option<MapDef>> {
    let mut defs = HashMap::new();
    let Some(maps) = btf.datasec(".maps") else {
        return defs;
    };
    let Kind::Datasec { vars, .. } = &btf.ty(maps).kind else {
        return defs;
    };
    let mut by_struct: HashMap<TypeId, MapDef> = HashMap::new();
    for v in vars {
        let var = btf.ty(v.var);
        if defs.contains_key(var.name.as_str()) {
            continue;
        }
        let def = match var.kind {
            Kind::Var { ty, .. } => {
                let id = btf.resolve(ty);
                match &btf.ty(id).kind {
                    Kind::Struct { members, .. } => {
                        Some(*by_struct.entry(id).or_insert_with(|| map_def(btf, members)))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        defs.insert(var.name.as_str(), def);
    }
    defs
}

fn map_def(btf: &Btf, members: &[Member]) -> MapDef {
    let uint = |field: &str| -> Option<u32> {
        let m = members.iter().find(|m| m.name == field)?;
        let Kind::Ptr(arr) = btf.ty(btf.resolve(m.ty)).kind else {
            return None;
        };
        match btf.ty(btf.resolve(arr)).kind {
            Kind::Array { len, .. } => Some(len),
            _ => None,
        }
    };
    // `__type(key, T)` is a member `key` of pointer-to-T type.
    let size_of_pointee = |field: &str| -> Option<u32> {
        let m = members.iter().find(|m| m.name == field)?;
        let Kind::Ptr(target) = btf.ty(btf.resolve(m.ty)).kind else {
            return None;
        };
        btf.size_of(target).and_then(|s| u32::try_from(s).ok())
    };
    MapDef {
        map_type: uint("type"),
        max_entries: uint("max_entries"),
        key_size: uint("key_size").or_else(|| size_of_pointee("key")),
        value_size: uint("value_size").or_else(|| size_of_pointee("value")),
        pinning: uint("pinning"),
        values_offset: members
            .iter()
            .find(|m| m.name == "values")
            .map(|m| m.bit_offset / 8),
    }
}
