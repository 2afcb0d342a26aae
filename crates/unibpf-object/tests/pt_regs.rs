//! pt_regs retargeting judged by libbpf: kprobe objects compiled by clang
//! for x86_64, arm64 and riscv64 (tests/pt_regs/probes.bpf.c, one
//! program per register role) are retargeted to each architecture, and
//! libbpf relocates every program against that architecture's kernel
//! BTF (this host's own for x86_64, a kernel-shaped one written here for
//! the others) with no poisoned instruction and the host's offset for
//! each role.
//!
//! Needs clang, libbpf's headers (libbpf-dev) and root (preparing an
//! object creates its maps); without clang or the headers it says so and
//! passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use goblin::elf::Elf;
use libbpf_rs::{AsRawLibbpf, ObjectBuilder};
use unibpf_object::btf::{write_btf, IntEncoding, Kind, Member, Type};
use unibpf_object::btf_ext::{CoreObject, CoreReloKind};
use unibpf_object::pt_regs::{
    fixed_reads, kprobe_reads, retarget, source_arches, to_fentry, RegsArch, Role,
};

/// The immediate libbpf writes where a relocation cannot be resolved.
const POISON_IMM: i32 = 0xbad2310;
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// One program's instructions: code, offset, immediate.
type Insn = (u8, i16, i32);

/// The test object for `arch` (with `rest`: the programs x86_64 cannot
/// run), or None when clang or libbpf's headers are missing.
fn object(arch: RegsArch, rest: bool) -> Option<Vec<u8>> {
    build(arch, rest, true)
}

/// The same, with `core` false: the register structs lose
/// `preserve_access_index`, so reads are at fixed offsets.
fn build(arch: RegsArch, rest: bool, core: bool) -> Option<Vec<u8>> {
    if !Path::new("/usr/include/bpf/bpf_tracing.h").exists() {
        eprintln!("skipped: libbpf's headers (libbpf-dev) are not installed");
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pt_regs");
    let target = match arch {
        RegsArch::X86_64 => "x86",
        RegsArch::Arm64 => "arm64",
        RegsArch::Riscv64 => "riscv",
    };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "pt_regs-{arch}{}{}.bpf.o",
        if rest { "-rest" } else { "" },
        if core { "" } else { "-fixed" }
    ));
    let mut clang = Command::new("clang");
    clang
        .args(["-g", "-O2", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-D__TARGET_ARCH_{target}"))
        .arg("-I")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("probes.bpf.c"))
        .arg("-o")
        .arg(&out);
    if rest {
        clang.arg("-DONLY_NOT_ON_X86");
    }
    if !core {
        clang.arg("-DCORE=");
    }
    let built = match clang.output() {
        Ok(built) => built,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: clang is not installed");
            return None;
        }
        Err(e) => panic!("running clang: {e}"),
    };
    assert!(
        built.status.success(),
        "clang failed for {arch}:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    Some(std::fs::read(&out).expect("clang's output"))
}

/// The offset of each program's register in `host`'s `struct pt_regs`
/// (the table of the notes, §5.2, written out independently of the
/// pass's own). `from` matters for one: x86_64 has no syscall "orig"
/// register, so its first syscall argument is `di`, the first argument.
fn expected(program: &str, from: RegsArch, host: RegsArch) -> i64 {
    let program = match program {
        "sys_arg0" if from == RegsArch::X86_64 => "parm1",
        "parm2_core" => "parm2",
        p => p,
    };
    let table: &[(&str, i64, i64, i64)] = &[
        // program, x86_64, arm64, riscv64
        ("parm1", 112, 0, 80),
        ("parm2", 104, 8, 88),
        ("parm3", 96, 16, 96),
        ("parm4", 88, 24, 104),
        ("parm5", 72, 32, 112),
        ("parm6", 64, 40, 120),
        ("parm7", -1, 48, 128),
        ("parm8", -1, 56, 136),
        ("rc", 80, 0, 80),
        ("sp", 152, 248, 16),
        ("ip", 128, 256, 0),
        ("fp", 32, 232, 64),
        ("ret", -1, 240, 8),
        ("sys_arg0", 112, 272, 280),
        ("sys_parm4", 56, 24, 104),
    ];
    let row = table
        .iter()
        .find(|r| r.0 == program)
        .unwrap_or_else(|| panic!("no expected offset for {program}"));
    match host {
        RegsArch::X86_64 => row.1,
        RegsArch::Arm64 => row.2,
        RegsArch::Riscv64 => row.3,
    }
}

fn u64_int() -> Type {
    Type {
        name: "long unsigned int".into(),
        kind: Kind::Int {
            size: 8,
            encoding: IntEncoding::Unsigned,
            bits: 64,
        },
    }
}

fn members(names: &[&str], ty: u32, from: u32) -> Vec<Member> {
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

fn st(name: &str, size: u32, members: Vec<Member>) -> Type {
    Type {
        name: name.into(),
        kind: Kind::Struct { size, members },
    }
}

/// Kernel BTF with `arch`'s register structs, shaped as the kernel's.
fn kernel_btf(arch: RegsArch) -> Vec<u8> {
    let types = match arch {
        RegsArch::X86_64 => {
            let names = [
                "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx",
                "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss",
            ];
            vec![u64_int(), st("pt_regs", 168, members(&names, 1, 0))]
        }
        RegsArch::Arm64 => {
            // 1 u64, 2 u64[31], 3 user_pt_regs, 4 the anonymous struct,
            // 5 the anonymous union, 6 pt_regs.
            let regs = Type {
                name: String::new(),
                kind: Kind::Array {
                    elem: 1,
                    index: 1,
                    len: 31,
                },
            };
            let mut user = members(&["regs"], 2, 0);
            user.extend(members(&["sp", "pc", "pstate"], 1, 248));
            let anon_union = Type {
                name: String::new(),
                kind: Kind::Union {
                    size: 272,
                    members: [members(&["user_regs"], 3, 0), members(&[""], 4, 0)].concat(),
                },
            };
            let pt_regs = [
                members(&[""], 5, 0),
                members(&["orig_x0", "syscallno"], 1, 272),
            ]
            .concat();
            vec![
                u64_int(),
                regs,
                st("user_pt_regs", 272, user.clone()),
                st("", 272, user),
                anon_union,
                st("pt_regs", 336, pt_regs),
            ]
        }
        RegsArch::Riscv64 => {
            let regs = [
                "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
                "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
                "t3", "t4", "t5", "t6",
            ];
            let kernel = [
                members(&["epc"], 1, 0),
                members(&regs, 1, 8),
                members(&["status", "badaddr", "cause", "orig_a0"], 1, 256),
            ]
            .concat();
            let user = [members(&["pc"], 1, 0), members(&regs, 1, 8)].concat();
            vec![
                u64_int(),
                st("pt_regs", 288, kernel),
                st("user_regs_struct", 256, user),
            ]
        }
    };
    write_btf(&types).expect("writing kernel BTF")
}

/// Each program's instructions once libbpf has relocated `object` against
/// the kernel BTF at `btf`, without loading it.
fn relocated(object: &[u8], btf: &Path) -> BTreeMap<String, Vec<Insn>> {
    let mut builder = ObjectBuilder::default();
    builder.btf_custom_path(btf).expect("btf_custom_path");
    let open = builder
        .open_memory(object)
        .expect("libbpf opens the object");
    // SAFETY: the pointer is the live bpf_object that `open` owns until it
    // is dropped at the end of this function; prepare is called once,
    // before any load, as libbpf requires.
    let err = unsafe { libbpf_sys::bpf_object__prepare(open.as_libbpf_object().as_ptr()) };
    assert_eq!(
        err, 0,
        "libbpf could not prepare the object (this test needs root)"
    );
    open.progs()
        .map(|p| {
            let insns = p.insns().iter().map(|i| (i.code, i.off, i.imm)).collect();
            (p.name().to_string_lossy().into_owned(), insns)
        })
        .collect()
}

/// For each program, the values libbpf put in its `byte_off` instructions:
/// the offset of a load, the immediate of an address computation.
fn offsets(object: &[u8], progs: &BTreeMap<String, Vec<Insn>>) -> BTreeMap<String, Vec<i64>> {
    let elf = Elf::parse(object).expect("an ELF object");
    let relos = CoreObject::parse(object).expect("our parser reads it");
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (section, relo) in relos.relos() {
        if relo.kind != CoreReloKind::FieldByteOffset {
            continue;
        }
        let at = u64::from(relo.insn_off);
        let (name, start) = elf
            .syms
            .iter()
            .find_map(|s| {
                let sec = elf.section_headers.get(s.st_shndx)?;
                let here = elf.shdr_strtab.get_at(sec.sh_name) == Some(section)
                    && s.is_function()
                    && s.st_value <= at
                    && at < s.st_value + s.st_size;
                here.then(|| (elf.strtab.get_at(s.st_name).expect("a name"), s.st_value))
            })
            .expect("a program holds the relocation");
        let (code, off, imm) = progs[name][((at - start) / 8) as usize];
        let value = match code & 0x07 {
            0x01..=0x03 => i64::from(off),
            _ => i64::from(imm),
        };
        out.entry(name.to_string()).or_default().push(value);
    }
    out
}

/// Retargets `object` (built for `from`) to `host`, has libbpf relocate
/// it against `btf`, and checks every program's offsets.
fn check(object: &[u8], from: RegsArch, host: RegsArch, btf: &Path) {
    let out = retarget(object, host).expect("retarget");
    if from == host {
        assert_eq!(out.elf, object, "{from} to itself changed the object");
        assert_eq!(out.rewritten, 0);
    } else {
        assert_eq!(out.from, [from]);
        assert!(out.rewritten > 0);
    }
    assert_eq!(out.left, [], "{from} to {host}: relocations left alone");
    let progs = relocated(&out.elf, btf);
    for (name, insns) in &progs {
        assert!(
            !insns.iter().any(|i| i.0 == 0x85 && i.2 == POISON_IMM),
            "{from} to {host}: program {name} has a poisoned instruction"
        );
    }
    let got = offsets(&out.elf, &progs);
    assert_eq!(got.len(), progs.len(), "every program reads a register");
    for (name, values) in &got {
        assert_eq!(
            values,
            &[expected(name, from, host)],
            "{from} to {host}: program {name}"
        );
    }
}

#[test]
fn every_role_relocates_to_the_hosts_register_on_every_architecture() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let Some(objects) = RegsArch::ALL
        .iter()
        .map(|&a| Some((a, object(a, false)?)))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    for (from, object) in &objects {
        assert_eq!(source_arches(object).expect("source arches"), [*from]);
    }
    for host in RegsArch::ALL {
        let btf = dir.path().join(format!("{host}.btf"));
        std::fs::write(&btf, kernel_btf(host)).expect("writing kernel BTF");
        for (from, object) in &objects {
            check(object, *from, host, &btf);
        }
    }
    if RegsArch::host() == Some(RegsArch::X86_64) && Path::new(VMLINUX).exists() {
        for (from, object) in &objects {
            check(object, *from, RegsArch::X86_64, Path::new(VMLINUX));
            // The kernel takes the grown BTF and the verifier the programs.
            let out = retarget(object, RegsArch::X86_64).expect("retarget");
            let loaded = ObjectBuilder::default()
                .open_memory(&out.elf)
                .expect("libbpf opens the object")
                .load()
                .unwrap_or_else(|e| panic!("{from} to x86_64: the kernel refuses it: {e}"));
            // libbpf goes on without BTF the kernel refuses; it must not.
            // SAFETY: the pointer is the live bpf_object `loaded` owns.
            let fd = unsafe { libbpf_sys::bpf_object__btf_fd(loaded.as_libbpf_object().as_ptr()) };
            assert!(fd >= 0, "{from} to x86_64: the kernel refused the BTF");
        }
    }
}

#[test]
fn arguments_past_the_sixth_and_the_return_address_move_between_arm64_and_riscv64() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (from, host) in [
        (RegsArch::Arm64, RegsArch::Riscv64),
        (RegsArch::Riscv64, RegsArch::Arm64),
    ] {
        let Some(object) = object(from, true) else {
            return;
        };
        let btf = dir.path().join(format!("{host}.btf"));
        std::fs::write(&btf, kernel_btf(host)).expect("writing kernel BTF");
        check(&object, from, host, &btf);
        let err = retarget(&object, RegsArch::X86_64)
            .expect_err("x86_64 has no register for them")
            .to_string();
        for part in ["program parm7", "PARM7", from.name(), "x86_64"] {
            assert!(err.contains(part), "{part:?} is not in: {err}");
        }
    }
}

#[test]
fn reads_at_fixed_offsets_are_found_with_their_architecture_and_co_re_reads_are_not() {
    for arch in RegsArch::ALL {
        let (Some(core), Some(fixed)) = (object(arch, false), build(arch, false, false)) else {
            return;
        };
        assert_eq!(fixed_reads(&core).expect("fixed reads"), []);
        let found = fixed_reads(&fixed).expect("fixed reads");
        // Every program reads one register; the syscall ones read it
        // through BPF_CORE_READ, which relocates whatever the struct says.
        let programs = relocated_programs(&fixed);
        assert!(
            found.len() + 3 >= programs && found.len() >= 8,
            "{arch}: {} of {programs} programs found: {found:?}",
            found.len()
        );
        for f in &found {
            assert_eq!(f.arch, arch, "{f:?}");
            assert!(f.offset >= 0 && f.offset % 8 == 0, "{f:?}");
        }
    }
}

/// How many programs an object has.
fn relocated_programs(object: &[u8]) -> usize {
    let elf = Elf::parse(object).expect("an ELF object");
    elf.syms
        .iter()
        .filter(|s| s.st_type() == goblin::elf::sym::STT_FUNC)
        .count()
}

/// The value the instruction at `insn_off` of `section` holds where CO-RE
/// would patch it: a load's offset, an address computation's immediate.
fn insn_value(object: &[u8], section: &str, insn_off: u32) -> i64 {
    let elf = Elf::parse(object).expect("an ELF object");
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(section))
        .expect("the section");
    let at = sh.sh_offset as usize + insn_off as usize;
    let insn = &object[at..at + 8];
    match insn[0] & 0x07 {
        0x01..=0x03 => i64::from(i16::from_le_bytes([insn[2], insn[3]])),
        _ => i64::from(i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]])),
    }
}

#[test]
fn kprobe_programs_become_fentry_programs_reading_the_same_arguments() {
    for arch in RegsArch::ALL {
        let Some(object) = object(arch, false) else {
            return;
        };
        let reads = kprobe_reads(&object).expect("kprobe reads");
        let verdict = |name: &str| {
            reads
                .iter()
                .find(|r| r.program == name)
                .unwrap_or_else(|| panic!("{arch}: no {name} in {reads:?}"))
        };
        for (name, role) in [
            ("parm1", Role::Parm(1)),
            ("parm2", Role::Parm(2)),
            ("parm3", Role::Parm(3)),
            ("parm4", Role::Parm(4)),
            ("parm5", Role::Parm(5)),
            ("parm6", Role::Parm(6)),
            ("parm2_core", Role::Parm(2)),
            ("rc", Role::Rc),
        ] {
            let v = verdict(name);
            assert_eq!(v.function, "do_nanosleep");
            assert_eq!(v.ret, name == "rc");
            assert_eq!(v.roles, Ok(vec![role]), "{arch} {name}");
        }
        for name in ["sp", "ip", "fp"] {
            let why = verdict(name).roles.clone().expect_err("refused");
            assert!(
                why.ends_with("which fentry programs do not get"),
                "{arch} {name}: {why}"
            );
        }
        // ksyscall programs probe a wrapper, not a function with its
        // arguments; they are not candidates.
        assert!(reads.iter().all(|r| !r.program.starts_with("sys_")));

        let relos = CoreObject::parse(&object).expect("relocations");
        let relo_of = |name: &str| {
            let elf = Elf::parse(&object).expect("ELF");
            let sym = elf
                .syms
                .iter()
                .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
                .expect("the program's symbol");
            let section = elf
                .shdr_strtab
                .get_at(elf.section_headers[sym.st_shndx].sh_name)
                .expect("its section")
                .to_string();
            let insn_off = relos
                .relos()
                .find(|(sec, r)| {
                    *sec == section
                        && u64::from(r.insn_off) >= sym.st_value
                        && u64::from(r.insn_off) < sym.st_value + sym.st_size
                })
                .map(|(_, r)| r.insn_off)
                .expect("its relocation");
            (section, insn_off)
        };
        for (name, params, want) in [
            ("parm1", 2, 0),
            ("parm4", 6, 24),
            ("parm2_core", 2, 8),
            ("rc", 2, 16),
        ] {
            let out =
                to_fentry(&object, name, params).unwrap_or_else(|e| panic!("{arch} {name}: {e}"));
            let (section, insn_off) = relo_of(name);
            assert_eq!(insn_value(&out, &section, insn_off), want, "{arch} {name}");
            // Its relocation is gone, every other one is still there, and
            // libbpf reads the rewritten .BTF.ext.
            let left = CoreObject::parse(&out).expect("relocations after");
            assert!(
                !left
                    .relos()
                    .any(|(sec, r)| sec == section && r.insn_off == insn_off),
                "{arch} {name}: the relocation stayed"
            );
            assert_eq!(
                left.relos().count() + 1,
                relos.relos().count(),
                "{arch} {name}"
            );
            ObjectBuilder::default()
                .open_memory(&out)
                .unwrap_or_else(|e| panic!("{arch} {name}: libbpf refuses the result: {e}"));
        }
        let err = to_fentry(&object, "parm5", 4).expect_err("past the parameters");
        assert!(
            err.to_string()
                .ends_with("reads argument 5, but do_nanosleep takes 4"),
            "{err}"
        );
        if let Some(fixed) = build(arch, false, false) {
            let reads = kprobe_reads(&fixed).expect("kprobe reads");
            let parm1 = reads.iter().find(|r| r.program == "parm1").expect("parm1");
            let why = parm1.roles.clone().expect_err("fixed reads are refused");
            assert!(
                why.starts_with("reads its registers at a fixed offset"),
                "{why}"
            );
        }
    }
}
