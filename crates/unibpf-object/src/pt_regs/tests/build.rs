//! Objects built by hand for the pass's tests: each architecture's
//! register structs as its programs declare them, programs of one load
//! each, and their CO-RE relocations. Register names and offsets are
//! written out here from the kernel headers, apart from the pass's tables.

use goblin::elf::section_header::{SHF_ALLOC, SHF_EXECINSTR, SHT_PROGBITS};

use crate::btf::{write_btf, Appender, IntEncoding, Kind, Member, Type, TypeId};
use crate::btf_ext::CoreReloKind;
use crate::pt_regs::RegsArch;

/// x86_64's `struct pt_regs`, in order, 8 bytes each.
pub(super) const X86: [&str; 21] = [
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    "orig_ax", "ip", "cs", "flags", "sp", "ss",
];
/// riscv64's uapi `struct user_regs_struct`, in order, 8 bytes each; the
/// kernel's `struct pt_regs` calls `pc` `epc` and goes on with
/// `status, badaddr, cause, orig_a0`.
pub(super) const RISCV: [&str; 32] = [
    "pc", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
    "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5",
    "t6",
];

/// Ids of the local types [`local_types`] declares.
pub(super) const U64: TypeId = 1;
pub(super) const X86_PT_REGS: TypeId = 4;
pub(super) const USER_PT_REGS: TypeId = 5;
pub(super) const PT_REGS_ARM64: TypeId = 6;
pub(super) const USER_REGS_STRUCT: TypeId = 7;
pub(super) const PT_REGS_RISCV: TypeId = 8;
/// arm64's kernel `struct pt_regs`, as vmlinux.h declares it.
pub(super) const ARM64_PT_REGS: TypeId = 11;
pub(super) const TASK_STRUCT: TypeId = 12;
/// A flavor with only `sp`, a name every architecture has.
pub(super) const SP_ONLY: TypeId = 13;

pub(super) fn ty(name: &str, kind: Kind) -> Type {
    Type {
        name: name.into(),
        kind,
    }
}

/// Members called `names`, of type `ty`, 8 bytes apart from byte `from`.
pub(super) fn members(names: &[&str], ty: TypeId, from: u32) -> Vec<Member> {
    (0..)
        .zip(names)
        .map(|(i, n)| Member {
            name: n.to_string(),
            ty,
            bit_offset: (from + 8 * i) * 8,
            bitfield_size: None,
        })
        .collect()
}

pub(super) fn st(name: &str, size: u32, members: Vec<Member>) -> Type {
    ty(name, Kind::Struct { size, members })
}

pub(super) fn u64_type() -> Type {
    let encoding = IntEncoding::Unsigned;
    ty(
        "long unsigned int",
        Kind::Int {
            size: 8,
            encoding,
            bits: 64,
        },
    )
}

fn regs_array(len: u32) -> Type {
    ty(
        "",
        Kind::Array {
            elem: U64,
            index: 2,
            len,
        },
    )
}

/// arm64's `regs, sp, pc, pstate`, `regs` being type 3.
fn arm64_user_members() -> Vec<Member> {
    [
        members(&["regs"], 3, 0),
        members(&["sp", "pc", "pstate"], U64, 248),
    ]
    .concat()
}

fn int_kind() -> Kind {
    Kind::Int {
        size: 4,
        encoding: IntEncoding::Signed,
        bits: 32,
    }
}

/// arm64's `union { struct user_pt_regs user_regs; struct { regs, sp, pc,
/// pstate }; }` at the start of its `struct pt_regs`.
fn arm64_union(user_pt_regs: TypeId, anon: TypeId) -> Type {
    let members = [
        members(&["user_regs"], user_pt_regs, 0),
        members(&[""], anon, 0),
    ]
    .concat();
    ty("", Kind::Union { size: 272, members })
}

/// The register structs of every architecture, as programs built for it
/// declare them, and a `task_struct`.
pub(super) fn local_types() -> Vec<Type> {
    vec![
        u64_type(),
        ty("int", int_kind()),
        regs_array(31),
        st("pt_regs", 168, members(&X86, U64, 0)),
        st("user_pt_regs", 272, arm64_user_members()),
        st("pt_regs___arm64", 8, members(&["orig_x0"], U64, 0)),
        st("user_regs_struct", 256, members(&RISCV, U64, 0)),
        st("pt_regs___riscv", 8, members(&["orig_a0"], U64, 0)),
        st("", 272, arm64_user_members()),
        arm64_union(USER_PT_REGS, 9),
        st(
            "pt_regs",
            288,
            [members(&[""], 10, 0), members(&["orig_x0"], U64, 272)].concat(),
        ),
        st("task_struct", 8, members(&["pid"], 2, 0)),
        st("pt_regs___sp", 8, members(&["sp"], U64, 0)),
    ]
}

/// The kernel BTF of `arch`: its `struct pt_regs` as the kernel declares
/// it (arm64's `regs` inside an anonymous struct in an anonymous union)
/// and its uapi register struct.
pub(super) fn kernel_types(arch: RegsArch) -> Vec<Type> {
    match arch {
        RegsArch::X86_64 => vec![u64_type(), st("pt_regs", 168, members(&X86, U64, 0))],
        RegsArch::Arm64 => vec![
            u64_type(),
            ty("int", int_kind()),
            regs_array(31),
            st("user_pt_regs", 272, arm64_user_members()),
            st("", 272, arm64_user_members()),
            arm64_union(4, 5),
            st(
                "pt_regs",
                336,
                [
                    members(&[""], 6, 0),
                    members(&["orig_x0", "syscallno"], U64, 272),
                ]
                .concat(),
            ),
        ],
        RegsArch::Riscv64 => {
            let kernel = [
                members(&["epc"], U64, 0),
                members(&RISCV[1..], U64, 8),
                members(&["status", "badaddr", "cause", "orig_a0"], U64, 256),
            ]
            .concat();
            vec![
                u64_type(),
                st("pt_regs", 288, kernel),
                st("user_regs_struct", 256, members(&RISCV, U64, 0)),
            ]
        }
    }
}

/// `r1 = *(u64 *)(r1 + off)`: a direct context read.
pub(super) fn ldx(off: u32) -> [u8; 8] {
    let off = (off as i16).to_le_bytes();
    [0x79, 0x11, off[0], off[1], 0, 0, 0, 0]
}

/// `r1 = imm`: the address computation `BPF_CORE_READ` relocates.
pub(super) fn mov(imm: u32) -> [u8; 8] {
    let mut insn = [0xb7, 0x01, 0, 0, 0, 0, 0, 0];
    insn[4..].copy_from_slice(&imm.to_le_bytes());
    insn
}

/// One relocated instruction of a program.
#[derive(Debug, Clone)]
pub(super) struct Relo {
    pub section: &'static str,
    pub root: TypeId,
    pub access: String,
    pub kind: CoreReloKind,
    pub insn: [u8; 8],
}

impl Relo {
    pub(super) fn new(section: &'static str, root: TypeId, access: &str, insn: [u8; 8]) -> Self {
        Self {
            section,
            root,
            access: access.into(),
            kind: CoreReloKind::FieldByteOffset,
            insn,
        }
    }
}

/// A BPF object with [`local_types`] and, per section of `relos` (in
/// order of first appearance), a program of their instructions, each
/// with its relocation, after a func_info part (kept as it is).
pub(super) fn object(relos: &[Relo]) -> Vec<u8> {
    object_with(&local_types(), relos)
}

/// [`object`] with other local types.
pub(super) fn object_with(types: &[Type], relos: &[Relo]) -> Vec<u8> {
    let local = write_btf(types).expect("write the local types");
    let mut btf = Appender::new(&local).expect("appender");
    let programs = programs(&mut btf, relos);
    let btf = btf.finish().expect("grown local BTF");
    let exec = u64::from(SHF_ALLOC | SHF_EXECINSTR);
    let mut sections: Vec<(&str, u32, u64, Vec<u8>)> = programs
        .iter()
        .map(|p| (p.section, SHT_PROGBITS, exec, p.code.clone()))
        .collect();
    sections.push((".BTF", SHT_PROGBITS, 0, btf));
    sections.push((".BTF.ext", SHT_PROGBITS, 0, btf_ext(&programs)));
    let names: Vec<String> = (0..programs.len()).map(|i| format!("prog{i}")).collect();
    let symbols: Vec<(&str, u8, u16, u64)> = (0..programs.len())
        .map(|i| (names[i].as_str(), 0x12, i as u16 + 1, 0))
        .collect();
    let mut bytes = crate::tests::elf(&sections, &symbols);
    size_programs(&mut bytes);
    bytes
}

/// A program section: its name (and where `.BTF` has it), its CO-RE
/// records and its instructions.
struct Program<'a> {
    section: &'a str,
    name_off: u32,
    records: Vec<[u32; 4]>,
    code: Vec<u8>,
}

/// The programs of `relos`, one per section; names and access strings go
/// into `btf`.
fn programs<'a>(btf: &mut Appender<'_>, relos: &'a [Relo]) -> Vec<Program<'a>> {
    let mut programs: Vec<Program<'a>> = Vec::new();
    for r in relos {
        let access = btf.string(&r.access).expect("access string");
        let i = match programs.iter().position(|p| p.section == r.section) {
            Some(i) => i,
            None => {
                programs.push(Program {
                    section: r.section,
                    name_off: btf.string(r.section).expect("section name"),
                    records: Vec::new(),
                    code: Vec::new(),
                });
                programs.len() - 1
            }
        };
        let p = &mut programs[i];
        p.records
            .push([p.code.len() as u32, r.root, access, r.kind.raw()]);
        p.code.extend_from_slice(&r.insn);
    }
    programs
}

/// `.BTF.ext`: a func_info part (record size 8, then the first program
/// with one record) and the CO-RE part.
fn btf_ext(programs: &[Program<'_>]) -> Vec<u8> {
    let mut core = vec![16u32];
    for p in programs {
        core.extend([p.name_off, p.records.len() as u32]);
        core.extend(p.records.iter().flatten());
    }
    let func_info = [8u32, programs.first().map_or(0, |p| p.name_off), 1, 0, 1];
    let mut ext = vec![0x9f, 0xeb, 1, 0];
    let (fi_len, core_len) = (func_info.len() as u32 * 4, core.len() as u32 * 4);
    for w in [32u32, 0, fi_len, fi_len, 0, fi_len, core_len] {
        ext.extend_from_slice(&w.to_le_bytes());
    }
    ext.extend(func_info.iter().chain(&core).flat_map(|w| w.to_le_bytes()));
    ext
}

/// Each function symbol's size: all of its section (the builder leaves 0).
fn size_programs(bytes: &mut [u8]) {
    let elf = goblin::elf::Elf::parse(bytes).expect("an ELF object");
    let symtab = elf
        .section_headers
        .iter()
        .find(|sh| sh.sh_type == goblin::elf::section_header::SHT_SYMTAB)
        .expect("a symbol table")
        .sh_offset as usize;
    let sizes: Vec<(usize, u64)> = elf
        .syms
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_function())
        .map(|(i, s)| {
            (
                symtab + i * 24 + 16,
                elf.section_headers[s.st_shndx].sh_size,
            )
        })
        .collect();
    for (at, size) in sizes {
        bytes[at..at + 8].copy_from_slice(&size.to_le_bytes());
    }
}
