//! Errors of the VM: a program rejected before it runs ([`VerifyError`]),
//! a bad memory access ([`AccessError`]), a helper's failure
//! ([`HelperError`]) and a run that stopped ([`VmError`]).

use std::fmt;

/// A program refused before it runs; `pc` is the first bad instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the program is empty")]
    Empty,
    #[error("the program's length {0} is not a multiple of 8 bytes")]
    Truncated(usize),
    #[error("the program has {0} instructions, more than the {max} allowed", max = super::MAX_INSNS)]
    TooLong(usize),
    #[error(
        "pc {pc}: unknown or unsupported opcode {code:#04x} (src {src}, off {off}, imm {imm})"
    )]
    BadOpcode {
        pc: usize,
        code: u8,
        src: u8,
        off: i16,
        imm: i32,
    },
    #[error("pc {pc}: register r{reg} does not exist")]
    BadRegister { pc: usize, reg: u8 },
    #[error("pc {pc}: writes r10, the read-only frame pointer")]
    WritesFramePointer { pc: usize },
    #[error("pc {pc}: jump to {target}, outside the program's {len} instructions")]
    JumpOutOfRange { pc: usize, target: i64, len: usize },
    #[error("pc {pc}: jump to {target}, the second half of a 64-bit immediate load")]
    JumpIntoLddw { pc: usize, target: usize },
    #[error("pc {pc}: call to {target}, outside the program's {len} instructions")]
    CallOutOfRange { pc: usize, target: i64, len: usize },
    #[error("pc {pc}: 64-bit immediate load cut off by the end of the program")]
    LddwTruncated { pc: usize },
    #[error("pc {pc}: second half of a 64-bit immediate load is malformed")]
    LddwMalformed { pc: usize },
    #[error("pc {pc}: 64-bit immediate load of {kind} {imm} could not be resolved")]
    Unresolved {
        pc: usize,
        kind: &'static str,
        imm: i32,
    },
    #[error("pc {pc}: the last instruction is neither exit nor an unconditional jump, so execution could run off the end")]
    FallsOffEnd { pc: usize },
}

/// Whether a memory access reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Load,
    Store,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Load => "load",
            Access::Store => "store",
        })
    }
}

/// Why an access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No region is mapped at the address.
    Unmapped,
    /// The access runs past the end of a region of `len` bytes.
    PastEnd { len: usize },
    /// The region may only be read.
    ReadOnly,
    /// The address is on the stack below the current frame.
    BelowFrame,
    /// An atomic operation on an address not aligned to its size.
    Misaligned,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unmapped => f.write_str("no region is mapped there"),
            Reason::PastEnd { len } => write!(f, "past the end of a region of {len} bytes"),
            Reason::ReadOnly => f.write_str("the region is read-only"),
            Reason::BelowFrame => f.write_str("below the current stack frame"),
            Reason::Misaligned => f.write_str("an atomic access must be aligned to its size"),
        }
    }
}

/// A load or store outside what the program may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{access} of {size} bytes at {addr:#x}: {reason}")]
pub struct AccessError {
    pub access: Access,
    pub addr: u64,
    pub size: usize,
    pub reason: Reason,
}

/// A helper call that failed.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("no helper with id {0}")]
    Unknown(u32),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0}")]
    Failed(Box<dyn std::error::Error + Send + Sync>),
    /// Not a failure: `bpf_tail_call` found `program` (the embedder's
    /// number) and the run must go on there.
    #[error("tail call to program {0}")]
    TailCall(u32),
}

/// Why a run stopped without a result.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("pc {pc}: {source}")]
    Access {
        pc: usize,
        #[source]
        source: AccessError,
    },
    #[error("pc {pc}: helper {id}: {source}")]
    Helper {
        pc: usize,
        id: u32,
        #[source]
        source: HelperError,
    },
    #[error("pc {pc}: call depth exceeds {max} frames", max = super::MAX_FRAMES)]
    CallDepth { pc: usize },
    #[error("pc {pc}: instruction budget of {budget} exhausted")]
    Budget { pc: usize, budget: u64 },
    /// Not a failure: the program tail-called `program` (the embedder's
    /// number), which runs next on the same context and gives the result.
    #[error("pc {pc}: tail call to program {program}")]
    TailCall { pc: usize, program: u32 },
    #[error("pc {pc}: a tail call from a subprogram or callback is not supported in userspace")]
    TailCallFromSubprogram { pc: usize },
    #[error("pc {pc}: bpf_loop's callback {value:#x} is not a function of the program")]
    Callback { pc: usize, value: u64 },
}
