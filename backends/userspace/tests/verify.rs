//! Verification: programs refused before running, naming the first bad
//! instruction; 64-bit immediate references through the resolver.

mod common;
use common::*;
use unibpf_backend_userspace::vm::{
    memory::function_address, Limits, Memory, NoHelpers, NoMaps, Program, Resolver, VerifyError,
};

fn verify(asm: &Asm) -> VerifyError {
    Program::new(asm.bytes(), &NoMaps).expect_err("verification refuses it")
}

#[test]
fn empty_and_truncated_programs() {
    assert_eq!(Program::new(&[], &NoMaps).unwrap_err(), VerifyError::Empty);
    let mut bytes = Asm::new().mov(0, 0).exit().0;
    bytes.pop();
    assert_eq!(
        Program::new(&bytes, &NoMaps).unwrap_err(),
        VerifyError::Truncated(15)
    );
}

#[test]
fn unknown_opcodes_are_named() {
    for code in [
        0x00,
        0xff,
        0x8f,
        0x20,
        0x28,
        0x30,
        0x40,
        0x98,
        0xe7,
        0xe6,
        0xf5,
        0x87 | 0x08,
    ] {
        let e = verify(&Asm::new().mov(0, 0).i(code, 0, 0, 0, 0).exit());
        assert!(
            matches!(e, VerifyError::BadOpcode { pc: 1, code: c, .. } if c == code),
            "{code:#x}: {e:?}"
        );
    }
    let e = verify(&Asm::new().i(0xff, 0, 0, 0, 0).exit());
    assert_eq!(
        e.to_string(),
        "pc 0: unknown or unsupported opcode 0xff (src 0, off 0, imm 0)"
    );
}

#[test]
fn invalid_field_combinations_are_refused() {
    let bad = [
        Asm::new().i(ALU64 | ADD | K, 0, 0, 1, 0), // offset 1 on add
        Asm::new().i(ALU64 | DIV | K, 0, 0, 2, 1), // offset 2 on div
        Asm::new().i(ALU64 | MOV | K, 0, 0, 8, 0), // movsx needs a register
        Asm::new().i(ALU | MOV | X, 0, 1, 32, 0),  // no movsx32 in ALU32
        Asm::new().i(ALU64 | NEG | X, 0, 1, 0, 0), // neg with a register
        Asm::new().i(ALU | END | K, 0, 0, 0, 8),   // bswap 8
        Asm::new().i(ALU64 | END | X, 0, 0, 0, 16), // ALU64 end with source bit
        Asm::new().i(JMP32 | CALL, 0, 0, 0, 1),    // call in JMP32
        Asm::new().i(JMP32 | EXIT, 0, 0, 0, 0),    // exit in JMP32
        Asm::new().i(JMP | CALL, 0, 2, 0, 1),      // kfunc call
        Asm::new().i(LDX | MEMSX | DW, 0, 1, 0, 0), // no 8-byte sign extension
        Asm::new().i(STX | ATOMIC | B, 1, 2, 0, 0), // 1-byte atomic
        Asm::new().i(STX | ATOMIC | DW, 1, 2, 0, 0x10), // unknown atomic op
        Asm::new().i(ST | MEMSX | W, 1, 0, 0, 0),  // ST with a sign mode
        Asm::new().lddw_src(0, 3, 1, 0),           // BTF id
    ];
    for asm in bad {
        let e = verify(&asm.exit());
        assert!(matches!(e, VerifyError::BadOpcode { pc: 0, .. }), "{e:?}");
    }
}

#[test]
fn bad_registers_and_writes_to_r10() {
    assert_eq!(
        verify(&Asm::new().mov(11, 0).exit()),
        VerifyError::BadRegister { pc: 0, reg: 11 }
    );
    assert_eq!(
        verify(&Asm::new().movr(0, 12).exit()),
        VerifyError::BadRegister { pc: 0, reg: 12 }
    );
    for asm in [
        Asm::new().mov(10, 0),
        Asm::new().i(ALU | ADD | K, 10, 0, 0, 1),
        Asm::new().lddw(10, 1),
        Asm::new().i(LDX | MEM | DW, 10, 1, 0, 0),
        Asm::new().i(ALU64 | NEG, 10, 0, 0, 0),
        Asm::new().i(STX | ATOMIC | DW, 1, 10, 0, 0x01),
    ] {
        assert_eq!(
            verify(&asm.exit()),
            VerifyError::WritesFramePointer { pc: 0 }
        );
    }
    // Reading r10 and storing through it are fine.
    assert!(Program::new(
        Asm::new()
            .movr(0, 10)
            .i(ST | MEM | DW, 10, 0, -8, 0)
            .exit()
            .bytes(),
        &NoMaps
    )
    .is_ok());
}

#[test]
fn jumps_and_calls_out_of_range() {
    assert_eq!(
        verify(&Asm::new().i(JMP | JA, 0, 0, 5, 0).exit()),
        VerifyError::JumpOutOfRange {
            pc: 0,
            target: 6,
            len: 2
        }
    );
    assert_eq!(
        verify(&Asm::new().i(JMP | JEQ | K, 0, 0, -2, 0).exit()),
        VerifyError::JumpOutOfRange {
            pc: 0,
            target: -1,
            len: 2
        }
    );
    assert_eq!(
        verify(&Asm::new().i(JMP32 | JA, 0, 0, 0, 1).exit()),
        VerifyError::JumpOutOfRange {
            pc: 0,
            target: 2,
            len: 2
        }
    );
    assert_eq!(
        verify(&Asm::new().call_local(-2).exit()),
        VerifyError::CallOutOfRange {
            pc: 0,
            target: -1,
            len: 2
        }
    );
    assert_eq!(
        verify(&Asm::new().i(JMP | JA, 0, 0, 1, 0).lddw(0, 1).exit()),
        VerifyError::JumpIntoLddw { pc: 0, target: 2 }
    );
    assert_eq!(
        verify(&Asm::new().call_local(1).lddw(0, 1).exit()),
        VerifyError::JumpIntoLddw { pc: 0, target: 2 }
    );
}

#[test]
fn lddw_cut_off_or_malformed() {
    let e = verify(&Asm::new().mov(0, 0).exit().i(LD | DW, 0, 0, 0, 1));
    assert_eq!(e, VerifyError::LddwTruncated { pc: 2 });
    let e = verify(&Asm::new().i(LD | DW, 0, 0, 0, 1).i(0, 1, 0, 0, 0).exit());
    assert_eq!(e, VerifyError::LddwMalformed { pc: 1 });
    let e = verify(&Asm::new().i(LD | DW, 0, 0, 0, 1).exit().exit());
    assert_eq!(e, VerifyError::LddwMalformed { pc: 1 });
}

#[test]
fn programs_that_could_fall_off_the_end() {
    assert_eq!(
        verify(&Asm::new().mov(0, 0)),
        VerifyError::FallsOffEnd { pc: 0 }
    );
    assert_eq!(
        verify(&Asm::new().mov(0, 0).i(JMP | JEQ | K, 0, 0, -2, 0)),
        VerifyError::FallsOffEnd { pc: 1 }
    );
    assert_eq!(
        verify(&Asm::new().exit().lddw(0, 1)),
        VerifyError::FallsOffEnd { pc: 2 }
    );
    // Ending with an unconditional jump is fine.
    assert!(Program::new(
        Asm::new().mov(0, 0).exit().i(JMP | JA, 0, 0, -3, 0).bytes(),
        &NoMaps
    )
    .is_ok());
}

struct Maps;
impl Resolver for Maps {
    fn map_by_fd(&self, fd: i32) -> Option<u64> {
        (fd == 3).then_some(0xaaaa_0003)
    }
    fn map_value_by_fd(&self, fd: i32, offset: u32) -> Option<u64> {
        (fd == 3).then_some(0xbbbb_0000 + offset as u64)
    }
    fn map_by_index(&self, index: i32) -> Option<u64> {
        (index == 0).then_some(0xcccc)
    }
    fn map_value_by_index(&self, index: i32, offset: u32) -> Option<u64> {
        (index == 0).then_some(0xdddd_0000 + offset as u64)
    }
}

fn lddw_with(resolver: &dyn Resolver, src: u8, imm: i32, high: i32) -> Result<u64, VerifyError> {
    let asm = Asm::new().lddw_src(0, src, imm, high).exit().exit();
    let prog = Program::new(asm.bytes(), resolver)?;
    Ok(prog
        .run(&mut Memory::default(), &mut NoHelpers, Limits::default())
        .unwrap())
}

#[test]
fn lddw_pseudo_sources_go_through_the_resolver() {
    assert_eq!(lddw_with(&Maps, 1, 3, 0), Ok(0xaaaa_0003));
    assert_eq!(lddw_with(&Maps, 2, 3, 16), Ok(0xbbbb_0010));
    assert_eq!(lddw_with(&Maps, 5, 0, 0), Ok(0xcccc));
    assert_eq!(lddw_with(&Maps, 6, 0, 4), Ok(0xdddd_0004));
    // src 4: a function reference, pc-relative: pc 0 + 1 + 2 = 3.
    assert_eq!(lddw_with(&Maps, 4, 2, 0), Ok(function_address(3)));
    let e = lddw_with(&Maps, 1, 4, 0).unwrap_err();
    assert_eq!(
        e,
        VerifyError::Unresolved {
            pc: 0,
            kind: "map fd",
            imm: 4
        }
    );
    assert_eq!(
        e.to_string(),
        "pc 0: 64-bit immediate load of map fd 4 could not be resolved"
    );
    assert!(matches!(
        lddw_with(&NoMaps, 2, 3, 0),
        Err(VerifyError::Unresolved { .. })
    ));
    assert!(matches!(
        lddw_with(&NoMaps, 4, 9, 0),
        Err(VerifyError::CallOutOfRange { .. })
    ));
}

#[test]
fn function_references_map_back_to_their_pc() {
    let asm = Asm::new()
        .lddw_src(1, 4, 2, 0)
        .mov(0, 0)
        .exit()
        .mov(0, 1)
        .exit();
    let prog = Program::new(asm.bytes(), &NoMaps).unwrap();
    assert_eq!(prog.function_at(function_address(4)), Some(4));
    assert_eq!(
        prog.function_at(function_address(1)),
        None,
        "second half of lddw"
    );
    assert_eq!(prog.function_at(function_address(99)), None);
    assert_eq!(prog.function_at(4), None);
}

#[test]
fn first_bad_instruction_wins() {
    let e = verify(&Asm::new().mov(0, 0).i(0xff, 0, 0, 0, 0).mov(10, 0).exit());
    assert!(matches!(e, VerifyError::BadOpcode { pc: 1, .. }));
}
