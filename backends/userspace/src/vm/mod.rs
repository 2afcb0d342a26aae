//! An eBPF interpreter for the Linux instruction set of RFC 9669, cpu v4
//! included.
//!
//! - [`Program::new`] verifies and decodes a program once: unknown
//!   opcodes, bad registers, writes to r10, jumps or calls out of range
//!   or into the middle of a 64-bit immediate load, and a last
//!   instruction that could fall off the end are refused up front, naming
//!   the first bad instruction. 64-bit immediate loads of maps and
//!   functions are resolved there through a [`Resolver`].
//! - [`Program::run`] interprets it against a [`Memory`] with a
//!   [`Helpers`] implementation and [`Limits`] (an instruction budget).
//!
//! Memory model: a virtual address space (see [`memory`]). Each region
//! (stack, context, the embedder's) sits at the start of its own 4 GiB
//! slot and is a Rust slice (packet data may sit low in slot 0 instead,
//! for 32-bit pointers: [`Memory::map_low`]); a load or store is checked against the
//! region its address falls in and refused with an [`AccessError`] if it
//! leaves it, hits an unmapped slot, writes a read-only region, or goes
//! below the current stack frame. There is no `unsafe` code. Unaligned
//! plain loads and stores are allowed (as the kernel allows on x86_64);
//! atomics must be aligned to their size. Memory is little endian
//! whatever the host.
//!
//! `bpf_loop` (helper 181) is run by the VM, not the embedder's
//! [`Helpers`]: its callback is a function of the program, entered like a
//! bpf-to-bpf call for each iteration, sharing the run's budget.
//!
//! Calls: a bpf-to-bpf call gets a fresh 512-byte frame (r10 moves down
//! 512 bytes), r6-r9 are restored on return, and at most [`MAX_FRAMES`]
//! frames (the main program's included) exist at once. A callee may use
//! its callers' frames (pointers passed down), never a frame below its own.
//!
//! Not supported (refused by verification): legacy packet loads
//! (`LD_ABS`/`LD_IND`), kfunc calls (call with src 2), BTF-id immediate
//! loads (src 3), load-acquire/store-release, tail calls (a helper
//! for those will need the embedder's prog arrays).

mod alu;
mod decode;
mod env;
mod error;
mod exec;
pub mod memory;
pub mod opcode;
mod program;

pub use env::{Helpers, NoHelpers, NoMaps, Resolver};
pub use error::{Access, AccessError, HelperError, Reason, VerifyError, VmError};
pub use exec::Limits;
pub use memory::{Memory, Region, FRAME_SIZE, MAX_FRAMES};
pub use program::{Program, MAX_INSNS};
