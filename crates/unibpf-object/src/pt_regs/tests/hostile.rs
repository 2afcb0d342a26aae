//! Corrupt and hostile objects: errors, never panics.

use super::*;
use crate::pt_regs::write::patch;
use crate::ObjectError;

fn good() -> Vec<u8> {
    object(&[
        Relo::new("kprobe/f", USER_PT_REGS, "0:0:1", ldx(8)),
        Relo::new("kretprobe/f", ARM64_PT_REGS, "0:0:1:0:0", mov(0)),
    ])
}

/// Where `.BTF.ext` is in `elf`.
fn ext_range(elf: &[u8]) -> std::ops::Range<usize> {
    let parsed = goblin::elf::Elf::parse(elf).expect("ELF");
    let sh = parsed
        .section_headers
        .iter()
        .find(|sh| parsed.shdr_strtab.get_at(sh.sh_name) == Some(".BTF.ext"))
        .expect(".BTF.ext");
    sh.sh_offset as usize..(sh.sh_offset + sh.sh_size) as usize
}

/// The file offset of the first CO-RE record (see `build::object`).
fn first_record(elf: &[u8]) -> usize {
    ext_range(elf).start + 32 + 20 + 4 + 8
}

fn retarget_err(elf: &[u8]) -> String {
    match retarget(elf, RegsArch::X86_64) {
        Err(e @ (ObjectError::PtRegs(_) | ObjectError::BtfExt(_) | ObjectError::Elf(_))) => {
            e.to_string()
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn every_byte_of_a_corrupt_object_gives_an_answer_not_a_panic() {
    let good = good();
    assert_eq!(
        retarget(&good, RegsArch::X86_64).expect("good").rewritten,
        2
    );
    for at in 0..good.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff, good[at].wrapping_add(1)] {
            let mut bad = good.clone();
            bad[at] = v;
            let _ = retarget(&bad, RegsArch::X86_64);
            let _ = source_arches(&bad);
        }
    }
    let ext = ext_range(&good);
    for at in (ext.start..ext.end).step_by(4) {
        for v in [u32::MAX, 0x7fff_ffff, 0x8000, 1 << 16] {
            let mut bad = good.clone();
            bad[at..at + 4].copy_from_slice(&v.to_le_bytes());
            let _ = retarget(&bad, RegsArch::Riscv64);
        }
    }
}

#[test]
fn records_with_other_roots_are_not_the_passs_business() {
    let good = good();
    let record = first_record(&good);
    for root in [TASK_STRUCT, 9999, 0] {
        let mut other = good.clone();
        other[record + 4..record + 8].copy_from_slice(&root.to_le_bytes());
        let out = retarget(&other, RegsArch::X86_64).expect("retarget");
        assert_eq!(out.rewritten, 1, "root {root}: only the arm64 pt_regs one");
    }
}

#[test]
fn an_access_past_the_members_is_refused() {
    let obj = object(&[Relo::new("kprobe/f", USER_PT_REGS, "0:9", ldx(8))]);
    let err = retarget_err(&obj);
    assert!(err.contains("does not fit"), "{err}");
    let obj = object(&[Relo::new("kprobe/f", USER_PT_REGS, "0:0:31", ldx(8))]);
    assert!(retarget_err(&obj).contains("does not fit"));
}

#[test]
fn an_instruction_that_disagrees_with_its_relocation_is_refused() {
    // regs[1] is at 8, the instruction says 16: libbpf refuses it too.
    let obj = object(&[Relo::new("kprobe/f", USER_PT_REGS, "0:0:1", ldx(16))]);
    let err = retarget_err(&obj);
    assert!(err.contains("holds 16"), "{err}");
    // An exit is not an instruction CO-RE relocates.
    let exit = [0x95, 0, 0, 0, 0, 0, 0, 0];
    let obj = object(&[Relo::new("kprobe/f", USER_PT_REGS, "0:0:1", exit)]);
    assert!(retarget_err(&obj).contains("0x95"));
    // A relocation past the end of its section.
    let obj = good();
    let mut past = obj.clone();
    let record = first_record(&obj);
    past[record..record + 4].copy_from_slice(&800u32.to_le_bytes());
    assert!(retarget_err(&past).contains("past the end"));
    let mut odd = obj;
    odd[record..record + 4].copy_from_slice(&4u32.to_le_bytes());
    assert!(retarget_err(&odd).contains("not at an instruction"));
}

#[test]
fn registers_not_declared_as_64_bit_integers_are_refused() {
    // task_struct's pid is an int; a flavor of pt_regs calling it `di`
    // would make the host's flavor 4-byte registers.
    let mut types = local_types();
    types.push(st("pt_regs___small", 4, members(&["di"], 2, 0)));
    let obj = object_with(&types, &[Relo::new("kprobe/f", 14, "0:0", ldx(0))]);
    let err = retarget(&obj, RegsArch::Arm64).expect_err("a 4-byte register");
    assert!(err.to_string().contains("64-bit integer"), "{err}");
}

#[test]
fn patching_checks_the_instruction_it_patches() {
    let mut code = [ldx(8), mov(8)].concat();
    code.extend_from_slice(&[0x18, 1, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    patch(&mut code, 0, 8, 104).expect("ldx");
    patch(&mut code, 8, 8, 104).expect("mov");
    patch(&mut code, 16, 8, 104).expect("ld_imm64");
    let mut want = [ldx(104), mov(104)].concat();
    want.extend_from_slice(&[0x18, 1, 0, 0, 104, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(code, want);
    assert!(patch(&mut code, 0, 8, 112).is_err(), "holds 104 now");
    let mut alu_x = [0x0f, 0x21, 0, 0, 8, 0, 0, 0];
    assert!(patch(&mut alu_x, 0, 8, 104).is_err(), "register operand");
    let mut cut = [0x18, 1, 0, 0, 8, 0, 0, 0];
    assert!(patch(&mut cut, 0, 8, 104).is_err(), "half a 64-bit load");
    let mut far = ldx(8);
    assert!(patch(&mut far, 0, 8, 1 << 16).is_err(), "offset too large");
    assert!(patch(&mut far, 8, 8, 104).is_err(), "past the end");
    assert!(
        patch(&mut far, u32::MAX - 7, 8, 104).is_err(),
        "far past the end"
    );
}
