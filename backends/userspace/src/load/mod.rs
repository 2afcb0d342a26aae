//! Loading in userspace: a BPF ELF object becomes programs the VM can
//! build ([`crate::vm::Program::new`]) and the maps they use, with no
//! system call.
//!
//! Written on `unibpf-object` rather than on aya-obj: the ELF reader, BTF
//! parser and CO-RE matcher are already ours (the kernel path uses them),
//! while aya-obj 0.3 refuses whole objects for section prefixes it does
//! not know, zeroes `__kconfig` externs, fails every program of an object
//! over one kfunc call, and cannot parse `TYPE_MATCHES` relocations.
//!
//! Steps: copy each code section; apply CO-RE against the target BTF
//! (poisoning what does not resolve, as libbpf does); turn map, global
//! data and `.kconfig` references into map-index loads; then link each
//! program with the subprogram sections it reaches.

mod code;
pub mod core;
mod link;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use goblin::elf::Elf;
use unibpf_object::{BpfObject, Btf};

pub use self::core::{Poisoned, POISON_HELPER};

/// Why an object cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Object(String),
    #[error("map {map}: {why}")]
    Map { map: String, why: String },
}

/// A map the object declares, or one of its data sections, or its
/// `.kconfig` values: everything a program addresses by map index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// The value of a data section's single entry, as the file has it
    /// (`.bss`: zeros).
    pub initial: Option<Vec<u8>>,
    /// `.rodata` and `.kconfig`: programs may not write them.
    pub read_only: bool,
    /// A prog array's slots the object fills statically
    /// (`.values = { [SLOT] = &program }`): slot and program name.
    pub prog_slots: Vec<(u32, String)>,
}

/// A program ready for the VM: its code with subprograms appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedProgram {
    pub name: String,
    pub section: unibpf_object::ProgramSection,
    pub code: Vec<u8>,
}

/// What loading gives.
#[derive(Debug, Clone)]
pub struct Image {
    pub programs: Vec<LinkedProgram>,
    /// Programs that cannot run in userspace, and why.
    pub refused: Vec<(String, String)>,
    pub maps: Vec<MapSpec>,
    /// CO-RE relocations that did not resolve against the target BTF.
    pub poisoned: Vec<Poisoned>,
}

/// Values of `.kconfig` externs (`LINUX_KERNEL_VERSION`, `CONFIG_*`): the
/// loader asks for each extern the object declares.
pub trait Kconfig {
    fn value(&self, name: &str) -> Option<u64>;
}

const MAP_TYPE_ARRAY: u32 = 2;
const MAP_TYPE_PROG_ARRAY: u32 = 3;
const MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
const MAP_TYPE_HASH_OF_MAPS: u32 = 13;

/// Loads `elf` (described by `object`), resolving CO-RE against `target`.
pub fn load(
    elf: &[u8],
    object: &BpfObject,
    target: &Btf,
    kconfig: &dyn Kconfig,
) -> Result<Image, LoadError> {
    let parsed = Elf::parse(elf).map_err(|e| LoadError::Object(e.to_string()))?;
    let mut maps = declared_maps(object)?;
    let by_name: HashMap<String, usize> = maps
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.clone(), i))
        .collect();
    let data = data_maps(&parsed, elf, object, &mut maps)?;
    let externs = kconfig_map(&parsed, kconfig, &mut maps);
    let maps_section = parsed
        .section_headers
        .iter()
        .position(|s| parsed.shdr_strtab.get_at(s.sh_name) == Some(".maps"));
    if let Some(section) = maps_section {
        prog_slots(&parsed, section, object, &by_name, &mut maps)?;
    }
    let mut code = link::code_sections(&parsed, elf)?;
    let poisoned = core::apply(elf, target, &mut code)?;
    let indexes = link::MapIndexes {
        maps_section,
        by_name: &by_name,
        data: &data,
        externs: &externs,
    };
    let relocated = link::relocate(&parsed, &mut code, &indexes)?;
    let mut programs = Vec::new();
    let mut refused = Vec::new();
    for p in &object.programs {
        let linked = entry(&parsed, &p.name).and_then(|e| link::link(&code, &relocated, &e));
        match linked {
            Ok(code) => programs.push(LinkedProgram {
                name: p.name.clone(),
                section: p.section.clone(),
                code,
            }),
            Err(why) => refused.push((p.name.clone(), why)),
        }
    }
    Ok(Image {
        programs,
        refused,
        maps,
        poisoned,
    })
}

fn declared_maps(object: &BpfObject) -> Result<Vec<MapSpec>, LoadError> {
    object
        .maps
        .iter()
        .map(|m| {
            let missing = |what: &str| LoadError::Map {
                map: m.name.clone(),
                why: format!("its definition has no {what}"),
            };
            let map_type = m.map_type.ok_or_else(|| missing("type"))?;
            // Prog arrays and maps of maps hold 4-byte ids; libbpf sets
            // the size when the definition only lists `values`.
            let holds_ids = matches!(
                map_type,
                MAP_TYPE_PROG_ARRAY | MAP_TYPE_ARRAY_OF_MAPS | MAP_TYPE_HASH_OF_MAPS
            );
            let id_size = |size: Option<u32>| size.or(holds_ids.then_some(4)).unwrap_or(0);
            Ok(MapSpec {
                name: m.name.clone(),
                map_type,
                key_size: id_size(m.key_size),
                value_size: id_size(m.value_size),
                max_entries: m.max_entries.unwrap_or(0),
                initial: None,
                read_only: false,
                prog_slots: Vec::new(),
            })
        })
        .collect()
}

/// One single-entry array per data section, as libbpf makes them; returns
/// ELF section index -> map index.
fn data_maps(
    elf: &Elf<'_>,
    bytes: &[u8],
    object: &BpfObject,
    maps: &mut Vec<MapSpec>,
) -> Result<HashMap<usize, usize>, LoadError> {
    let mut out = HashMap::new();
    for d in &object.data_sections {
        let Some(index) = elf
            .section_headers
            .iter()
            .position(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(d.name.as_str()))
        else {
            continue;
        };
        let size = usize::try_from(d.size).map_err(|_| LoadError::Map {
            map: d.name.clone(),
            why: "is too large".into(),
        })?;
        let initial = match d.file_offset {
            Some(off) => {
                let start = usize::try_from(off).unwrap_or(usize::MAX);
                bytes
                    .get(start..start.saturating_add(size))
                    .ok_or_else(|| LoadError::Map {
                        map: d.name.clone(),
                        why: "lies past the end of the file".into(),
                    })?
                    .to_vec()
            }
            None => vec![0; size],
        };
        out.insert(index, maps.len());
        maps.push(MapSpec {
            name: d.name.clone(),
            map_type: MAP_TYPE_ARRAY,
            key_size: 4,
            value_size: size.max(1) as u32,
            max_entries: 1,
            initial: Some(initial),
            read_only: d.name.starts_with(".rodata"),
            prog_slots: Vec::new(),
        });
    }
    Ok(out)
}

/// The `.kconfig` map: 8 bytes per extern the object declares whose value
/// `kconfig` knows. Others stay unresolved, so code using them is refused.
fn kconfig_map(
    elf: &Elf<'_>,
    kconfig: &dyn Kconfig,
    maps: &mut Vec<MapSpec>,
) -> HashMap<String, (usize, u32)> {
    let mut values = Vec::new();
    let mut out = HashMap::new();
    for sym in elf
        .syms
        .iter()
        .filter(|s| s.st_shndx == 0 && s.st_name != 0)
    {
        let Some(name) = elf.strtab.get_at(sym.st_name) else {
            continue;
        };
        if out.contains_key(name) {
            continue;
        }
        if let Some(v) = kconfig.value(name) {
            out.insert(name.to_string(), (maps.len(), values.len() as u32));
            values.extend_from_slice(&v.to_le_bytes());
        }
    }
    if !values.is_empty() {
        maps.push(MapSpec {
            name: ".kconfig".into(),
            map_type: MAP_TYPE_ARRAY,
            key_size: 4,
            value_size: values.len() as u32,
            max_entries: 1,
            initial: Some(values),
            read_only: true,
            prog_slots: Vec::new(),
        });
    }
    out
}

/// The slots of prog arrays the object initializes: each relocation of
/// `.maps` names a program (a function symbol) at an offset inside a map
/// variable's `values` member; libbpf fills those slots at load.
fn prog_slots(
    elf: &Elf<'_>,
    maps_section: usize,
    object: &BpfObject,
    by_name: &HashMap<String, usize>,
    maps: &mut [MapSpec],
) -> Result<(), LoadError> {
    let relocs = elf.shdr_relocs.iter().filter(|(rel, _)| {
        elf.section_headers
            .get(*rel)
            .is_some_and(|s| s.sh_info as usize == maps_section)
    });
    let variables: Vec<(&str, u64, u64)> = elf
        .syms
        .iter()
        .filter(|s| s.st_shndx == maps_section && s.st_type() == goblin::elf::sym::STT_OBJECT)
        .filter_map(|s| Some((elf.strtab.get_at(s.st_name)?, s.st_value, s.st_size)))
        .collect();
    for r in relocs.flat_map(|(_, rs)| rs.iter()) {
        let bad = |map: &str, why: String| LoadError::Map {
            map: map.to_string(),
            why,
        };
        let (name, start, _) = variables
            .iter()
            .find(|(_, start, size)| (*start..start.saturating_add(*size)).contains(&r.r_offset))
            .ok_or_else(|| {
                bad(
                    ".maps",
                    format!("a relocation at {:#x} is in no map", r.r_offset),
                )
            })?;
        let program = elf
            .syms
            .get(r.r_sym)
            .filter(|s| s.is_function())
            .and_then(|s| elf.strtab.get_at(s.st_name))
            .ok_or_else(|| bad(name, "its initial values name something other than a program (maps of maps are not supported)".into()))?;
        let def = object.maps.iter().find(|m| m.name == *name);
        let values = def
            .and_then(|m| m.values_offset)
            .ok_or_else(|| bad(name, "has initial values but no `values` member".into()))?;
        let slot = (r.r_offset - start)
            .checked_sub(u64::from(values))
            .map(|off| off / 8)
            .and_then(|slot| u32::try_from(slot).ok())
            .ok_or_else(|| bad(name, "has a relocation before its values".into()))?;
        let spec = by_name
            .get(*name)
            .and_then(|&i| maps.get_mut(i))
            .ok_or_else(|| bad(name, "is not a map the object declares".into()))?;
        if slot >= spec.max_entries {
            return Err(bad(
                name,
                format!("slot {slot} is past its {} entries", spec.max_entries),
            ));
        }
        spec.prog_slots.push((slot, program.to_string()));
    }
    Ok(())
}

/// Where the program's function symbol is.
fn entry(elf: &Elf<'_>, name: &str) -> Result<link::Entry, String> {
    let sym = elf
        .syms
        .iter()
        .find(|s| s.is_function() && elf.strtab.get_at(s.st_name) == Some(name))
        .ok_or("no function symbol of that name")?;
    Ok(link::Entry {
        section: sym.st_shndx,
        start: (sym.st_value / 8) as usize,
        len: (sym.st_size / 8) as usize,
    })
}
