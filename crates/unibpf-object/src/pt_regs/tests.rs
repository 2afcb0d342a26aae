//! The pass on hand-built objects: every register role from every
//! architecture to every other, read back through the rewritten local
//! types, the patched instruction, and a libbpf-style match against the
//! host kernel's types.

mod build;
mod hostile;
mod kinds;

use build::*;

use super::{retarget, source_arches, RegsArch};
use crate::btf::{write_btf, Btf, Kind};
use crate::btf_ext::{CoreObject, CoreRelo};
use crate::min_core::{resolve, CandidateResult};

/// Register roles, as the tests name them (apart from the pass's `Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum R {
    Parm(u32),
    Rc,
    Sp,
    Ip,
    Fp,
    Ret,
    SysParm4,
    SysArg0,
}

const ROLES: [R; 15] = [
    R::Parm(1),
    R::Parm(2),
    R::Parm(3),
    R::Parm(4),
    R::Parm(5),
    R::Parm(6),
    R::Parm(7),
    R::Parm(8),
    R::Rc,
    R::Sp,
    R::Ip,
    R::Fp,
    R::Ret,
    R::SysParm4,
    R::SysArg0,
];

/// libbpf's macro name for a role, which errors quote.
fn macro_name(role: R) -> String {
    match role {
        R::Parm(n) => format!("PARM{n}"),
        R::Rc => "RC".into(),
        R::Sp => "SP".into(),
        R::Ip => "IP".into(),
        R::Fp => "FP".into(),
        R::Ret => "RET".into(),
        R::SysParm4 => "PARM4_SYSCALL".into(),
        R::SysArg0 => "PARM1_SYSCALL".into(),
    }
}

fn x86_name(role: R) -> Option<&'static str> {
    Some(match role {
        R::Parm(n @ 1..=6) => ["di", "si", "dx", "cx", "r8", "r9"][n as usize - 1],
        R::Rc => "ax",
        R::Sp => "sp",
        R::Ip => "ip",
        R::Fp => "bp",
        R::SysParm4 => "r10",
        R::SysArg0 => "di",
        _ => return None,
    })
}

fn riscv_name(role: R) -> String {
    match role {
        R::Parm(n) => format!("a{}", n - 1),
        R::Rc => "a0".into(),
        R::Sp => "sp".into(),
        R::Ip => "pc".into(),
        R::Fp => "s0".into(),
        R::Ret => "ra".into(),
        R::SysParm4 => "a3".into(),
        R::SysArg0 => "orig_a0".into(),
    }
}

fn position(names: &[&str], name: &str) -> u32 {
    names.iter().position(|n| *n == name).expect("a register") as u32
}

/// The register of `arch`'s kernel `struct pt_regs` for `role`, and its
/// offset there; None where it has none.
fn host_register(arch: RegsArch, role: R) -> Option<(String, u32)> {
    Some(match arch {
        RegsArch::X86_64 => {
            let name = x86_name(role)?;
            (name.into(), 8 * position(&X86, name))
        }
        RegsArch::Arm64 => match role {
            R::Parm(n) => (format!("regs[{}]", n - 1), 8 * (n - 1)),
            R::Rc => ("regs[0]".into(), 0),
            R::Sp => ("sp".into(), 248),
            R::Ip => ("pc".into(), 256),
            R::Fp => ("regs[29]".into(), 232),
            R::Ret => ("regs[30]".into(), 240),
            R::SysParm4 => ("regs[3]".into(), 24),
            R::SysArg0 => ("orig_x0".into(), 272),
        },
        RegsArch::Riscv64 => match riscv_name(role).as_str() {
            "pc" => ("epc".into(), 0),
            "orig_a0" => ("orig_a0".into(), 280),
            name => (name.into(), 8 * position(&RISCV, name)),
        },
    })
}

/// How a program built for `arch` reads `role` (with libbpf's macros):
/// its section, the root type, the access string, the offset clang puts
/// in the instruction.
fn source_read(arch: RegsArch, role: R) -> Option<(&'static str, u32, String, u32)> {
    let section = match role {
        R::Rc => "kretprobe/f",
        R::SysParm4 | R::SysArg0 => "ksyscall/f",
        _ => "kprobe/f",
    };
    let (root, access, off) = match arch {
        RegsArch::X86_64 => {
            let i = position(&X86, x86_name(role)?);
            (X86_PT_REGS, format!("0:{i}"), 8 * i)
        }
        RegsArch::Arm64 => match host_register(arch, role)? {
            (_, 248) => (USER_PT_REGS, "0:1".into(), 248),
            (_, 256) => (USER_PT_REGS, "0:2".into(), 256),
            (_, 272) => (PT_REGS_ARM64, "0:0".into(), 0),
            (_, off) => (USER_PT_REGS, format!("0:0:{}", off / 8), off),
        },
        RegsArch::Riscv64 => match riscv_name(role).as_str() {
            "orig_a0" => (PT_REGS_RISCV, "0:0".into(), 0),
            name => {
                let i = position(&RISCV, name);
                (USER_REGS_STRUCT, format!("0:{i}"), 8 * i)
            }
        },
    };
    Some((section, root, access, off))
}

/// What `role` read on `from` becomes on `host`: x86_64 has no syscall
/// "orig" register, so its first syscall argument is its first argument.
fn want(from: RegsArch, role: R, host: RegsArch) -> Option<(String, u32)> {
    if from == RegsArch::X86_64 && role == R::SysArg0 {
        return host_register(host, R::Parm(1));
    }
    host_register(host, role)
}

/// The field a rewritten relocation names in its local root, and its
/// offset there (what libbpf expects in the instruction).
fn local_field(btf: &Btf, relo: &CoreRelo) -> (String, u32) {
    let Kind::Struct { members, .. } = &btf.ty(relo.type_id).kind else {
        panic!("the new root is not a struct");
    };
    let (m, index) = match relo.access[..] {
        [0, m] => (&members[m as usize], None),
        [0, m, i] => (&members[m as usize], Some(i)),
        _ => panic!("access {:?} into the flavor", relo.access_str),
    };
    let off = m.bit_offset / 8;
    match index {
        None => (m.name.clone(), off),
        Some(i) => {
            let Kind::Array { len, .. } = btf.ty(m.ty).kind else {
                panic!("{} is not an array", m.name);
            };
            assert!(i < len);
            (format!("{}[{i}]", m.name), off + 8 * i)
        }
    }
}

/// The instruction a relocation is on, in `elf`.
pub(super) fn insn_at(elf: &[u8], section: &str, insn_off: u32) -> [u8; 8] {
    let parsed = goblin::elf::Elf::parse(elf).expect("an ELF object");
    let sh = parsed
        .section_headers
        .iter()
        .find(|sh| parsed.shdr_strtab.get_at(sh.sh_name) == Some(section))
        .expect("the section");
    let at = (sh.sh_offset + u64::from(insn_off)) as usize;
    elf[at..at + 8].try_into().expect("8 bytes")
}

/// Checks that the only relocation of `out`, retargeted to `host`, names
/// `want` in the host's flavor, that its instruction holds `want`'s
/// offset if `patched`, and that it matches the host kernel's field.
pub(super) fn check_rewritten(out: &[u8], host: RegsArch, want: &(String, u32), patched: bool) {
    let obj = CoreObject::parse(out).expect("the output parses");
    let (section, relo) = obj.relos().next().expect("a relocation");
    let root = &obj.btf.ty(relo.type_id).name;
    assert_eq!(root, &format!("pt_regs___unibpf_{host}"));
    assert_eq!(&local_field(&obj.btf, relo), want, "{host}");
    if patched {
        let insn = insn_at(out, section, relo.insn_off);
        let value = match insn[0] & 0x07 {
            0x01..=0x03 => u32::from(u16::from_le_bytes([insn[2], insn[3]])),
            _ => u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]),
        };
        assert_eq!(value, want.1, "the instruction");
    }
    let kernel = Btf::parse(&write_btf(&kernel_types(host)).expect("write")).expect("parse");
    let resolved = resolve(std::slice::from_ref(&obj), &kernel).expect("resolve");
    match &resolved[0].results[..] {
        [CandidateResult::Field {
            bit_offset, size, ..
        }] => assert_eq!((*bit_offset, *size), (u64::from(want.1) * 8, Some(8))),
        other => panic!("against {host}'s kernel: {other:?}"),
    }
}

#[test]
fn every_role_reaches_the_hosts_register_from_every_other_architecture() {
    let mut checked = 0;
    for from in RegsArch::ALL {
        for role in ROLES {
            let Some((section, root, access, off)) = source_read(from, role) else {
                continue;
            };
            let obj = object(&[Relo::new(section, root, &access, ldx(off))]);
            assert_eq!(source_arches(&obj).expect("source arches"), [from]);
            for host in RegsArch::ALL {
                let got = retarget(&obj, host);
                let what = format!("{} from {from} to {host}", macro_name(role));
                if host == from {
                    let got = got.expect("retarget to itself");
                    assert_eq!((got.elf, got.rewritten), (obj.clone(), 0), "{what}");
                    continue;
                }
                match want(from, role, host) {
                    Some(want) => {
                        let got = got.unwrap_or_else(|e| panic!("{what}: {e}"));
                        assert_eq!((got.rewritten, &got.from[..]), (1, &[from][..]), "{what}");
                        check_rewritten(&got.elf, host, &want, true);
                    }
                    None => {
                        let err = got.expect_err(&what).to_string();
                        let parts = ["prog0", &macro_name(role), from.name(), host.name()];
                        for part in parts {
                            assert!(err.contains(part), "{what}: {part:?} not in {err}");
                        }
                    }
                }
                checked += 1;
            }
        }
    }
    // x86_64 reads 12 roles, arm64 and riscv64 all 15; each to 2 hosts.
    assert_eq!(checked, (12 + 15 + 15) * 2);
}

#[test]
fn arm64_kernel_pt_regs_is_read_through_its_anonymous_members() {
    // vmlinux.h's arm64 pt_regs: union { user_regs; struct { regs... } }.
    for (section, access, off, want) in [
        ("kprobe/f", "0:0:1:0:3", 24, ("cx", 88)),
        ("kprobe/f", "0:0:0:0:3", 24, ("cx", 88)),
        ("kprobe/f", "0:0:1:1", 248, ("sp", 152)),
        ("ksyscall/f", "0:0:1:0:3", 24, ("r10", 56)),
        ("ksyscall/f", "0:1", 272, ("di", 112)),
    ] {
        let obj = object(&[Relo::new(section, ARM64_PT_REGS, access, ldx(off))]);
        let out = retarget(&obj, RegsArch::X86_64).expect("retarget");
        check_rewritten(&out.elf, RegsArch::X86_64, &(want.0.into(), want.1), true);
    }
}

#[test]
fn address_computations_get_the_hosts_offset_too() {
    // BPF_CORE_READ(regs, regs[1]): the relocation is on `r1 = 8`.
    let obj = object(&[Relo::new("kprobe/f", USER_PT_REGS, "0:0:1", mov(8))]);
    let out = retarget(&obj, RegsArch::X86_64).expect("retarget");
    check_rewritten(&out.elf, RegsArch::X86_64, &("si".into(), 104), true);
    assert_eq!(insn_at(&out.elf, "kprobe/f", 0), mov(104));
}

#[test]
fn only_the_records_the_instructions_and_the_btf_header_change() {
    let relos = [
        Relo::new("kprobe/f", X86_PT_REGS, "0:14", ldx(112)),
        Relo::new("kprobe/f", TASK_STRUCT, "0:0", ldx(0)),
        Relo::new("kretprobe/g", X86_PT_REGS, "0:10", ldx(80)),
    ];
    let obj = object(&relos);
    let out = retarget(&obj, RegsArch::Arm64).expect("retarget");
    assert_eq!(out.rewritten, 2);
    let parsed = goblin::elf::Elf::parse(&obj).expect("ELF");
    let sec = |name: &str| {
        let sh = parsed
            .section_headers
            .iter()
            .find(|sh| parsed.shdr_strtab.get_at(sh.sh_name) == Some(name))
            .expect("section");
        sh.sh_offset as usize
    };
    let ext = sec(".BTF.ext");
    let btf_header = parsed.header.e_shoff as usize
        + 64 * parsed
            .section_headers
            .iter()
            .position(|sh| parsed.shdr_strtab.get_at(sh.sh_name) == Some(".BTF"))
            .expect(".BTF");
    // After the header, func_info (20 bytes) and the record size: the
    // kprobe/f section head, its records, the kretprobe/g head, its record.
    let first = ext + 32 + 20 + 4 + 8;
    let changed: Vec<std::ops::Range<usize>> = vec![
        sec("kprobe/f") + 2..sec("kprobe/f") + 4,
        sec("kretprobe/g") + 2..sec("kretprobe/g") + 4,
        first + 4..first + 12,
        first + 16 + 16 + 8 + 4..first + 16 + 16 + 8 + 12,
        btf_header + 24..btf_header + 40,
    ];
    let differ: Vec<usize> = (0..obj.len()).filter(|&i| obj[i] != out.elf[i]).collect();
    assert!(!differ.is_empty());
    for i in differ {
        assert!(
            changed.iter().any(|r| r.contains(&i)),
            "byte {i} changed outside the records, instructions and .BTF header"
        );
    }
    // The untouched relocation still reads task_struct.
    let back = CoreObject::parse(&out.elf).expect("parse");
    let kept: Vec<_> = back.relos().map(|(_, r)| r.type_id).collect();
    assert_eq!(kept[1], TASK_STRUCT);
}
