//! BPF object files, read without loading them: ELF sections and symbols, the
//! programs and maps they define, their global data sections, and their BTF.
//!
//! Pure: bytes in, facts out. The generator (`unibpf gen`) and the selector
//! build on this; nothing here touches the kernel.

pub mod btf;
pub mod btf_ext;
mod embedded;
pub mod min_core;
mod parse;
pub mod pt_regs;
pub mod section;

pub use btf::{Btf, Kind, Type, TypeId};
pub use embedded::embedded_objects;
pub use section::{Direction, Hook, ProgramSection, TargetError, Trampoline};

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("not a BPF ELF object: {0}")]
    Elf(String),
    #[error("corrupt BTF: {0}")]
    Btf(String),
    #[error("corrupt .BTF.ext: {0}")]
    BtfExt(String),
    #[error("CO-RE relocation libbpf would refuse: {0}")]
    CoreRelo(String),
    #[error("cannot point pt_regs reads at the host's registers: {0}")]
    PtRegs(String),
    #[error("the object has no BTF (.BTF section); compile it with clang -g")]
    NoBtf,
    #[error("program {program}: {error}")]
    Section { program: String, error: TargetError },
}

/// A BPF program: a global function in an executable section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub name: String,
    /// The ELF section (`tp/sched/x`), read into the hook it names.
    pub section: ProgramSection,
    /// File offset of the symbol's `st_info` byte: turning `STT_FUNC` into
    /// `STT_NOTYPE` there makes libbpf skip the program entirely.
    pub sym_info_offset: u64,
}

/// A map declared in the `.maps` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    pub name: String,
    /// `BPF_MAP_TYPE_*`, from the map's BTF definition (`__uint(type, ...)`).
    pub map_type: Option<u32>,
    pub max_entries: Option<u32>,
    /// Key and value sizes: `__uint(key_size, N)` or the size of `__type(key, T)`.
    pub key_size: Option<u32>,
    pub value_size: Option<u32>,
    /// An explicit `pinning` member (the compat header marks its heap map
    /// with `LIBBPF_PIN_NONE`).
    pub pinning: Option<u32>,
    /// Byte offset of the `values` member (`__array(values, ...)`): where
    /// a prog array's or map-in-map's initial slots start in the variable.
    pub values_offset: Option<u32>,
}

/// `BPF_MAP_TYPE_RINGBUF`.
pub const MAP_TYPE_RINGBUF: u32 = 27;
/// `BPF_MAP_TYPE_PERCPU_ARRAY`.
pub const MAP_TYPE_PERCPU_ARRAY: u32 = 6;
/// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
pub const MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;

/// A global data section (`.rodata`, `.data`, `.bss`, `.rodata.str1.1`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSection {
    pub name: String,
    /// Where the initial bytes start in the file; None for `.bss` (no bytes).
    pub file_offset: Option<u64>,
    pub size: u64,
    /// The BTF `DATASEC` describing its variables, if the compiler emitted one.
    pub btf: Option<TypeId>,
}

/// Two programs for the same event through different mechanisms (an
/// fentry program and a kprobe one): `fallback` runs where `program`
/// cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    pub program: String,
    pub fallback: String,
}

/// What a BPF object holds.
#[derive(Debug, Clone)]
pub struct BpfObject {
    pub programs: Vec<Program>,
    /// Programs marked optional with the compat header's `UNIBPF_OPTIONAL`.
    pub optional_programs: Vec<String>,
    /// The compat header's `UNIBPF_ALTERNATIVE` marks, in symbol order.
    pub alternatives: Vec<Alternative>,
    pub maps: Vec<Map>,
    pub data_sections: Vec<DataSection>,
    pub btf: Option<Btf>,
    /// The architectures whose `struct pt_regs` the programs read through
    /// CO-RE (empty: none, or relocations the pass cannot read, which it
    /// then reports itself if it runs).
    pub regs_arches: Vec<pt_regs::RegsArch>,
    /// Probe programs that read a register struct of a known architecture
    /// at fixed offsets, without CO-RE.
    pub fixed_regs_reads: Vec<pt_regs::FixedRegsRead>,
    /// What each kprobe program reads of its registers, for running it as
    /// an fentry program where the host has no kprobes.
    pub kprobe_reads: Vec<pt_regs::KprobeReads>,
}

impl BpfObject {
    /// The compat header's per-CPU heap maps: one-entry per-CPU arrays that
    /// it marks with an explicit `pinning` of `LIBBPF_PIN_NONE`.
    pub fn compat_heaps(&self) -> impl Iterator<Item = &Map> {
        self.maps.iter().filter(|m| {
            m.map_type == Some(MAP_TYPE_PERCPU_ARRAY)
                && m.max_entries == Some(1)
                && m.pinning == Some(0)
        })
    }

    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// Whether the BPF code asks CO-RE whether the kernel has
    /// `struct bpf_ringbuf` (the compat header's ring buffer / perf buffer
    /// switch); only then does the type appear in the object's BTF.
    pub fn checks_for_ringbuf(&self) -> bool {
        self.btf.as_ref().is_some_and(|b| {
            b.types().any(|(_, t)| {
                t.name == "bpf_ringbuf"
                    && matches!(t.kind, Kind::Struct { .. } | Kind::Fwd { union: false })
            })
        })
    }

    pub fn data_section(&self, name: &str) -> Option<&DataSection> {
        self.data_sections.iter().find(|d| d.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use goblin::elf::section_header::{
        SHF_ALLOC, SHF_EXECINSTR, SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB,
    };

    /// A section of a test object: name, type, flags, contents.
    type Sec<'a> = (&'a str, u32, u64, Vec<u8>);

    /// A 64-bit little-endian BPF ELF with `sections` (indices from 1), then
    /// `.strtab` (section and symbol names) and `.symtab` holding `symbols`
    /// as (name, st_info, section index, value).
    pub(crate) fn elf(sections: &[Sec<'_>], symbols: &[(&str, u8, u16, u64)]) -> Vec<u8> {
        let mut strtab = vec![0u8];
        let mut name = |n: &str| {
            let off = strtab.len() as u32;
            strtab.extend_from_slice(n.as_bytes());
            strtab.push(0);
            off
        };
        let mut symtab = vec![0u8; 24];
        for (n, info, shndx, value) in symbols {
            symtab.extend_from_slice(&name(n).to_le_bytes());
            symtab.extend_from_slice(&[*info, 0]);
            symtab.extend_from_slice(&shndx.to_le_bytes());
            symtab.extend_from_slice(&value.to_le_bytes());
            symtab.extend_from_slice(&0u64.to_le_bytes());
        }
        let n = sections.len() as u32;
        let mut all: Vec<(u32, u32, u64, Vec<u8>, u32, u64)> = sections
            .iter()
            .map(|(sname, ty, flags, data)| {
                let entsize = if *ty == SHT_SYMTAB { 24 } else { 0 };
                (name(sname), *ty, *flags, data.clone(), n + 1, entsize)
            })
            .collect();
        let strtab_name = name(".strtab");
        let symtab_name = name(".symtab");
        all.push((strtab_name, SHT_STRTAB, 0, Vec::new(), 0, 0));
        all.push((symtab_name, SHT_SYMTAB, 0, symtab, n + 1, 24));
        let strtab_idx = all.len() - 2;
        all[strtab_idx].3 = strtab;

        let mut out = vec![0u8; 64];
        let mut headers = vec![0u8; 64];
        for (sname, ty, flags, data, link, entsize) in &all {
            while out.len() % 8 != 0 {
                out.push(0);
            }
            let offset = out.len() as u64;
            out.extend_from_slice(data);
            for (field, width) in [
                (u64::from(*sname), 4),
                (u64::from(*ty), 4),
                (*flags, 8),
                (0, 8),
                (offset, 8),
                (data.len() as u64, 8),
                (u64::from(*link), 4),
                (0, 4),
                (8, 8),
                (*entsize, 8),
            ] {
                headers.extend_from_slice(&field.to_le_bytes()[..width]);
            }
        }
        while out.len() % 8 != 0 {
            out.push(0);
        }
        let shoff = out.len() as u64;
        out.extend_from_slice(&headers);
        out[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        out[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
        out[18..20].copy_from_slice(&goblin::elf::header::EM_BPF.to_le_bytes());
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[40..48].copy_from_slice(&shoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[58..60].copy_from_slice(&64u16.to_le_bytes());
        out[60..62].copy_from_slice(&(all.len() as u16 + 1).to_le_bytes());
        out[62..64].copy_from_slice(&(n as u16 + 1).to_le_bytes());
        out
    }

    fn prog_section() -> Sec<'static> {
        (
            "tp/sched/x",
            SHT_PROGBITS,
            u64::from(SHF_ALLOC | SHF_EXECINSTR),
            vec![0x95, 0, 0, 0, 0, 0, 0, 0],
        )
    }

    #[test]
    fn sym_info_offset_points_at_the_programs_st_info() {
        let bytes = elf(&[prog_section()], &[("handle", 0x12, 1, 0)]);
        let obj = BpfObject::parse(&bytes).expect("parse");
        assert_eq!(obj.programs.len(), 1);
        assert_eq!(bytes[obj.programs[0].sym_info_offset as usize], 0x12);
    }

    #[test]
    fn parse_time_grows_linearly_with_maps_and_variables() {
        // Found by reading the parser after fuzzing: each map looked up its
        // BTF definition by scanning every type and variable, and each data
        // section variable scanned every symbol, so 20 000 maps and 20 000
        // globals took seconds (a 256 MiB object, hours).
        const N: usize = 20_000;
        let names: Vec<String> = (0..N).map(|i| format!("v{i}")).collect();
        let mut strings = vec![0u8];
        let mut name_off = |n: &str| {
            let off = strings.len() as u32;
            strings.extend_from_slice(n.as_bytes());
            strings.push(0);
            off
        };
        // 1: int; then per name a map var (type 1) and a .data var; then
        // the two DATASECs.
        let mut types: Vec<u32> = vec![name_off("int"), 1 << 24, 4, 32];
        for n in &names {
            let off = name_off(n);
            types.extend_from_slice(&[off, 14 << 24, 1, 1]);
            let off = name_off(&format!("d{n}"));
            types.extend_from_slice(&[off, 14 << 24, 1, 1]);
        }
        for (sec, first) in [(".maps", 2u32), (".data", 3u32)] {
            types.extend_from_slice(&[name_off(sec), 15 << 24 | N as u32, 0]);
            for i in 0..N as u32 {
                types.extend_from_slice(&[first + 2 * i, 0, 4]);
            }
        }
        let tsec: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut btf = vec![0x9f, 0xeb, 1, 0];
        for w in [
            24,
            0,
            tsec.len() as u32,
            tsec.len() as u32,
            strings.len() as u32,
        ] {
            btf.extend_from_slice(&w.to_le_bytes());
        }
        btf.extend_from_slice(&tsec);
        btf.extend_from_slice(&strings);
        let data_names: Vec<String> = names.iter().map(|n| format!("d{n}")).collect();
        let mut symbols: Vec<(&str, u8, u16, u64)> = Vec::new();
        for (i, n) in names.iter().enumerate() {
            symbols.push((n, 0x11, 1, i as u64 * 4));
        }
        for (i, n) in data_names.iter().enumerate() {
            symbols.push((n, 0x11, 2, i as u64 * 4));
        }
        let bytes = elf(
            &[
                (".maps", SHT_PROGBITS, u64::from(SHF_ALLOC), vec![0; N * 4]),
                (".data", SHT_PROGBITS, u64::from(SHF_ALLOC), vec![0; N * 4]),
                (".BTF", SHT_PROGBITS, 0, btf),
            ],
            &symbols,
        );
        let start = std::time::Instant::now();
        let obj = BpfObject::parse(&bytes).expect("parse");
        let took = start.elapsed();
        assert_eq!(obj.maps.len(), N);
        let data = obj.data_section(".data").expect(".data");
        let btf = obj.btf.as_ref().expect("BTF");
        let Kind::Datasec { vars, size } = &btf.ty(data.btf.expect("DATASEC")).kind else {
            panic!("not a DATASEC");
        };
        assert_eq!(
            (*size as usize, vars[N - 1].offset as usize),
            (N * 4, (N - 1) * 4)
        );
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    }

    #[test]
    fn two_symbol_tables_are_refused() {
        // Found by fuzz/fuzz_targets/object_parse.rs: a section turned into a
        // second SHT_SYMTAB made every sym_info_offset point into the wrong
        // table, so the guest SDK's autoload switch patched another byte.
        let other_symtab = vec![0u8; 48];
        let bytes = elf(
            &[
                prog_section(),
                (".symtab.extra", SHT_SYMTAB, 0, other_symtab),
            ],
            &[("handle", 0x12, 1, 0)],
        );
        let err = BpfObject::parse(&bytes).expect_err("two symbol tables");
        assert!(
            err.to_string().contains("more than one symbol table"),
            "{err}"
        );
    }
}
