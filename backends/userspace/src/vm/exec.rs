//! The interpreter: one loop over decoded instructions, one match.

use super::alu::{alu32, alu64, cond, swap};
use super::decode::{AtomicOp, Insn, Op, Src};
use super::env::Helpers;
use super::error::{Access, AccessError, HelperError, Reason, VmError};
use super::memory::{function_pc, Memory, CONTEXT_BASE, FRAME_SIZE, MAX_FRAMES, STACK_TOP};
use super::program::Program;

/// `bpf_loop`: the one helper that calls back into the program, so the VM
/// runs it itself (only it can re-enter the program).
pub const LOOP_HELPER: u32 = 181;
/// The kernel's cap on `bpf_loop`'s iterations (`BPF_MAX_LOOPS`).
const MAX_LOOPS: u64 = 1 << 23;
/// The return pc of a callback's frame: leaving it ends the callback.
const CALLBACK_RETURN: usize = usize::MAX;
const EINVAL: u64 = (-22i64) as u64;
const E2BIG: u64 = (-7i64) as u64;

/// Resource caps of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Instructions a run may execute (a 64-bit immediate load counts once).
    pub instructions: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            instructions: 10_000_000,
        }
    }
}

/// A caller's state saved by a bpf-to-bpf call.
#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    return_pc: usize,
    saved: [u64; 4],
}

impl Program {
    /// Runs the program with r1 pointing at the context region; returns r0.
    pub fn run(
        &self,
        memory: &mut Memory<'_>,
        helpers: &mut dyn Helpers,
        limits: Limits,
    ) -> Result<u64, VmError> {
        self.run_with_args(memory, helpers, limits, &[CONTEXT_BASE])
    }

    /// Runs the program with r1, r2... set from `args` (at most five);
    /// returns r0.
    pub fn run_with_args(
        &self,
        memory: &mut Memory<'_>,
        helpers: &mut dyn Helpers,
        limits: Limits,
        args: &[u64],
    ) -> Result<u64, VmError> {
        self.run_counted(memory, helpers, limits, args).0
    }

    /// [`Program::run_with_args`], also giving how many instructions ran
    /// (bpf_loop callbacks included): what benchmarks divide by.
    pub fn run_counted(
        &self,
        memory: &mut Memory<'_>,
        helpers: &mut dyn Helpers,
        limits: Limits,
        args: &[u64],
    ) -> (Result<u64, VmError>, u64) {
        let mut regs = [0u64; 11];
        regs[1..1 + args.len().min(5)].copy_from_slice(&args[..args.len().min(5)]);
        regs[10] = STACK_TOP;
        memory.set_frame(0);
        let mut run = Run {
            insns: &self.insns,
            regs,
            frames: [Frame::default(); MAX_FRAMES],
            depth: 0,
            memory,
            helpers,
            budget: limits.instructions,
            left: limits.instructions,
        };
        let result = run.go(0);
        // `left` is stored when a run ends normally; after an error the
        // count stops at the last helper call or callback.
        let executed = run.budget - run.left;
        run.memory.set_frame(0);
        (result, executed)
    }
}

struct Run<'p, 'm, 'a> {
    insns: &'p [Insn],
    regs: [u64; 11],
    frames: [Frame; MAX_FRAMES],
    depth: usize,
    memory: &'m mut Memory<'a>,
    helpers: &'m mut dyn Helpers,
    /// The run's instruction budget, and what is left of it outside
    /// [`Run::go`] (which counts in a local while it runs).
    budget: u64,
    left: u64,
}

impl Run<'_, '_, '_> {
    /// Runs from `pc` until the main program exits, or the callback frame
    /// it was entered in returns.
    fn go(&mut self, mut pc: usize) -> Result<u64, VmError> {
        let mut left = self.left;
        loop {
            if left == 0 {
                return Err(VmError::Budget {
                    pc,
                    budget: self.budget,
                });
            }
            left -= 1;
            // In bounds: verification guarantees every target is, and
            // that the last instruction cannot fall through.
            let insn = self.insns[pc];
            let (d, s) = (insn.dst as usize, insn.src as usize);
            let here = pc;
            pc += 1;
            match insn.op {
                Op::Alu64(op, Src::Reg) => self.regs[d] = alu64(op, self.regs[d], self.regs[s]),
                Op::Alu64(op, Src::Imm) => self.regs[d] = alu64(op, self.regs[d], insn.imm as u64),
                Op::Alu32(op, Src::Reg) => self.regs[d] = alu32(op, self.regs[d], self.regs[s]),
                Op::Alu32(op, Src::Imm) => self.regs[d] = alu32(op, self.regs[d], insn.imm as u64),
                Op::Neg64 => self.regs[d] = self.regs[d].wrapping_neg(),
                Op::Neg32 => self.regs[d] = (self.regs[d] as u32).wrapping_neg() as u64,
                Op::Swap(kind, bits) => self.regs[d] = swap(kind, bits, self.regs[d]),
                Op::Lddw => {
                    self.regs[d] = insn.imm as u64;
                    pc += 1;
                }
                Op::Ldx { size, signed } => self.regs[d] = self.load(&insn, here, size, signed)?,
                Op::St { size } => self.store(&insn, here, size, insn.imm as u64)?,
                Op::Stx { size } => self.store(&insn, here, size, self.regs[s])?,
                Op::Atomic { op, wide, fetch } => self.atomic(&insn, here, op, wide, fetch)?,
                Op::Ja => pc = insn.target as usize,
                Op::Jmp { cond: c, src, wide } => {
                    let b = match src {
                        Src::Reg => self.regs[s],
                        Src::Imm => insn.imm as u64,
                    };
                    if cond(c, wide, self.regs[d], b) {
                        pc = insn.target as usize;
                    }
                }
                Op::Call if insn.imm as u32 == LOOP_HELPER => {
                    self.left = left;
                    self.regs[0] = self.bpf_loop(here)?;
                    left = self.left;
                }
                Op::Call => self.regs[0] = self.helper(here, insn.imm as u32)?,
                Op::CallLocal => pc = self.call(here, pc, insn.target as usize)?,
                Op::Exit => match self.ret() {
                    Some(CALLBACK_RETURN) | None => {
                        self.left = left;
                        return Ok(self.regs[0]);
                    }
                    Some(back) => pc = back,
                },
                Op::LddwHigh => {
                    unreachable!("verification keeps jumps off an immediate's high half")
                }
            }
        }
    }

    fn addr(&self, insn: &Insn, base: usize) -> u64 {
        self.regs[base].wrapping_add(insn.off as i64 as u64)
    }

    fn load(&self, insn: &Insn, pc: usize, size: u8, signed: bool) -> Result<u64, VmError> {
        let addr = self.addr(insn, insn.src as usize);
        let v = self
            .memory
            .load(addr, size as usize)
            .map_err(|source| VmError::Access { pc, source })?;
        Ok(match (signed, size) {
            (true, 1) => v as i8 as i64 as u64,
            (true, 2) => v as i16 as i64 as u64,
            (true, 4) => v as i32 as i64 as u64,
            _ => v,
        })
    }

    fn store(&mut self, insn: &Insn, pc: usize, size: u8, value: u64) -> Result<(), VmError> {
        let addr = self.addr(insn, insn.dst as usize);
        self.memory
            .store(addr, size as usize, value)
            .map_err(|source| VmError::Access { pc, source })
    }

    fn atomic(
        &mut self,
        insn: &Insn,
        pc: usize,
        op: AtomicOp,
        wide: bool,
        fetch: bool,
    ) -> Result<(), VmError> {
        let size = if wide { 8 } else { 4 };
        let addr = self.addr(insn, insn.dst as usize);
        let fail = |source| VmError::Access { pc, source };
        if addr % size as u64 != 0 {
            return Err(fail(AccessError {
                access: Access::Store,
                addr,
                size,
                reason: Reason::Misaligned,
            }));
        }
        // Check writability before reading, so a read-only region is
        // refused as a store whatever the comparison would give.
        self.memory.write_slice(addr, size).map_err(fail)?;
        let old = self.memory.load(addr, size).map_err(fail)?;
        let src = self.regs[insn.src as usize];
        let new = match op {
            AtomicOp::Add => old.wrapping_add(src),
            AtomicOp::Or => old | src,
            AtomicOp::And => old & src,
            AtomicOp::Xor => old ^ src,
            AtomicOp::Xchg => src,
            AtomicOp::Cmpxchg => {
                let expected = if wide {
                    self.regs[0]
                } else {
                    self.regs[0] as u32 as u64
                };
                self.regs[0] = old;
                if old != expected {
                    return Ok(());
                }
                src
            }
        };
        self.memory.store(addr, size, new).map_err(fail)?;
        if fetch && op != AtomicOp::Cmpxchg {
            self.regs[insn.src as usize] = old;
        }
        Ok(())
    }

    fn helper(&mut self, pc: usize, id: u32) -> Result<u64, VmError> {
        let args = [
            self.regs[1],
            self.regs[2],
            self.regs[3],
            self.regs[4],
            self.regs[5],
        ];
        self.helpers
            .call(id, args, self.memory)
            .map_err(|source| match source {
                HelperError::TailCall(program) if self.depth == 0 => {
                    VmError::TailCall { pc, program }
                }
                HelperError::TailCall(_) => VmError::TailCallFromSubprogram { pc },
                source => VmError::Helper { pc, id, source },
            })
    }

    /// `bpf_loop(nr_loops, callback, callback_ctx, flags)`: calls
    /// `callback(i, callback_ctx)` for i from 0 until it returns non-zero
    /// or `nr_loops` calls were made; returns the calls made. Errors are
    /// the kernel's: -EINVAL for flags, -E2BIG past `BPF_MAX_LOOPS`.
    fn bpf_loop(&mut self, pc: usize) -> Result<u64, VmError> {
        let (loops, callback, ctx, flags) = (
            self.regs[1] as u32 as u64,
            self.regs[2],
            self.regs[3],
            self.regs[4],
        );
        if flags != 0 {
            return Ok(EINVAL);
        }
        if loops > MAX_LOOPS {
            return Ok(E2BIG);
        }
        // The kernel's verifier proves the callback is one of the
        // program's functions; here a bad value fails the run.
        let entry = function_pc(callback)
            .filter(|&e| self.insns.get(e).is_some_and(|i| i.op != Op::LddwHigh))
            .ok_or_else(|| VmError::Callback {
                pc,
                value: callback,
            })?;
        for i in 0..loops {
            self.regs[1] = i;
            self.regs[2] = ctx;
            self.call(pc, CALLBACK_RETURN, entry)?;
            if self.go(entry)? != 0 {
                return Ok(i + 1);
            }
        }
        Ok(loops)
    }

    /// Enters the subprogram at `target`; returns the pc to go on at.
    fn call(&mut self, pc: usize, return_pc: usize, target: usize) -> Result<usize, VmError> {
        if self.depth + 1 >= MAX_FRAMES {
            return Err(VmError::CallDepth { pc });
        }
        let mut saved = [0; 4];
        saved.copy_from_slice(&self.regs[6..10]);
        self.frames[self.depth] = Frame { return_pc, saved };
        self.depth += 1;
        self.regs[10] -= FRAME_SIZE as u64;
        self.memory.set_frame(self.depth);
        Ok(target)
    }

    /// Leaves a subprogram: the caller's pc, or None when the main
    /// program exits.
    fn ret(&mut self) -> Option<usize> {
        if self.depth == 0 {
            return None;
        }
        self.depth -= 1;
        let frame = self.frames[self.depth];
        self.regs[6..10].copy_from_slice(&frame.saved);
        self.regs[10] += FRAME_SIZE as u64;
        self.memory.set_frame(self.depth);
        Some(frame.return_pc)
    }
}
