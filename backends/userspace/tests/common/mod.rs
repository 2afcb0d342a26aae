//! A tiny assembler and runners shared by the VM tests.
#![allow(dead_code)]

use unibpf_backend_userspace::vm::{
    HelperError, Helpers, Limits, Memory, NoHelpers, NoMaps, Program, Region, VmError,
};

// Classes and operations come from the VM's own table; the short names
// below are the assembler's.
pub use unibpf_backend_userspace::vm::opcode::*;
pub const K: u8 = 0x00;
pub const X: u8 = 0x08;
pub const W: u8 = 0x00;
pub const H: u8 = 0x08;
pub const B: u8 = 0x10;
pub const DW: u8 = 0x18;
pub const MEM: u8 = 0x60;
pub const MEMSX: u8 = 0x80;
pub const ATOMIC: u8 = 0xc0;

/// Program bytes built instruction by instruction.
#[derive(Default, Clone)]
pub struct Asm(pub Vec<u8>);

impl Asm {
    pub fn new() -> Self {
        Asm(Vec::new())
    }
    /// One raw instruction.
    pub fn i(mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        self.0.push(code);
        self.0.push(src << 4 | (dst & 0x0f));
        self.0.extend_from_slice(&off.to_le_bytes());
        self.0.extend_from_slice(&imm.to_le_bytes());
        self
    }
    /// dst = imm64 (src 0), or a pseudo load with `src`.
    pub fn lddw_src(self, dst: u8, src: u8, imm: i32, high: i32) -> Self {
        self.i(LD | DW, dst, src, 0, imm).i(0, 0, 0, 0, high)
    }
    pub fn lddw(self, dst: u8, v: u64) -> Self {
        self.lddw_src(dst, 0, v as u32 as i32, (v >> 32) as u32 as i32)
    }
    pub fn mov(self, dst: u8, imm: i32) -> Self {
        self.i(ALU64 | MOV | K, dst, 0, 0, imm)
    }
    pub fn movr(self, dst: u8, src: u8) -> Self {
        self.i(ALU64 | MOV | X, dst, src, 0, 0)
    }
    pub fn exit(self) -> Self {
        self.i(JMP | EXIT, 0, 0, 0, 0)
    }
    pub fn call_local(self, rel: i32) -> Self {
        self.i(JMP | CALL, 0, 1, 0, rel)
    }
    pub fn call_helper(self, id: i32) -> Self {
        self.i(JMP | CALL, 0, 0, 0, id)
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

pub fn program(asm: &Asm) -> Program {
    Program::new(asm.bytes(), &NoMaps).expect("the test program verifies")
}

/// Runs `asm` with no context and no helpers.
pub fn run(asm: &Asm) -> Result<u64, VmError> {
    program(asm).run(&mut Memory::default(), &mut NoHelpers, Limits::default())
}

/// r0 after running `asm`, which must succeed.
pub fn r0(asm: &Asm) -> u64 {
    run(asm).expect("the test program runs")
}

/// Runs `asm` with `ctx` as a writable context.
pub fn run_ctx(asm: &Asm, ctx: &mut [u8]) -> Result<u64, VmError> {
    let mut mem = Memory::new(Region::ReadWrite(ctx));
    program(asm).run(&mut mem, &mut NoHelpers, Limits::default())
}

/// Helpers for tests: 1 adds its five arguments, 2 copies r3 bytes from
/// r2 to r1 (checked by the memory accessor), 3 fails.
pub struct TestHelpers {
    pub calls: Vec<(u32, [u64; 5])>,
}

impl Helpers for TestHelpers {
    fn call(&mut self, id: u32, a: [u64; 5], mem: &mut Memory<'_>) -> Result<u64, HelperError> {
        self.calls.push((id, a));
        match id {
            1 => Ok(a.iter().fold(0u64, |s, v| s.wrapping_add(*v))),
            2 => {
                let data = mem.read(a[1], a[2] as usize)?.to_vec();
                mem.write(a[0], &data)?;
                Ok(0)
            }
            3 => Err(HelperError::Failed("the test helper fails".into())),
            _ => Err(HelperError::Unknown(id)),
        }
    }
}
