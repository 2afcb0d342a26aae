//! Each architecture's register struct as its kernel lays it out, and
//! what each register is for (the roles libbpf's `PT_REGS_*` macros name).
//!
//! Sources: the kernels' `struct pt_regs` (`arch/*/include/asm/ptrace.h`)
//! and libbpf's `bpf_tracing.h`; the offsets are in the table of
//! `shared/notes/backends-btfhub-ptregs.md` §5.2.

use std::fmt;

/// An architecture whose kprobe and uprobe registers the pass knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegsArch {
    X86_64,
    Arm64,
    Riscv64,
}

impl RegsArch {
    pub const ALL: [RegsArch; 3] = [Self::X86_64, Self::Arm64, Self::Riscv64];

    /// The name the kernel and libbpf's `__TARGET_ARCH_*` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
            Self::Riscv64 => "riscv64",
        }
    }

    /// From what `uname -m` (or Rust's `target_arch`) says: `x86_64`,
    /// `aarch64` or `arm64`, `riscv64`.
    pub fn from_machine(machine: &str) -> Option<Self> {
        match machine {
            "x86_64" => Some(Self::X86_64),
            "aarch64" | "arm64" => Some(Self::Arm64),
            "riscv64" => Some(Self::Riscv64),
            _ => None,
        }
    }

    /// The architecture this code runs on, if the pass knows it.
    pub fn host() -> Option<Self> {
        Self::from_machine(std::env::consts::ARCH)
    }

    /// The members of the kernel's `struct pt_regs` up to the last one a
    /// role needs, in order, each 8 bytes (arrays: 8 bytes an element),
    /// one after the other from offset 0.
    pub(crate) fn members(self) -> &'static [(&'static str, Option<u32>)] {
        match self {
            Self::X86_64 => X86_64,
            Self::Arm64 => ARM64,
            Self::Riscv64 => RISCV64,
        }
    }

    /// The byte offset of `reg` in the kernel's `struct pt_regs`, and the
    /// index of its member in [`RegsArch::members`].
    pub(crate) fn place(self, reg: Register) -> Option<(u32, usize)> {
        let mut offset = 0;
        for (i, &(name, len)) in self.members().iter().enumerate() {
            if name == reg.member {
                return match (len, reg.index) {
                    (None, None) => Some((offset, i)),
                    (Some(len), Some(at)) if at < len => Some((offset + 8 * at, i)),
                    _ => None,
                };
            }
            offset += 8 * len.unwrap_or(1);
        }
        None
    }

    /// Whether this architecture's register structs (the kernel's, the
    /// uapi one libbpf reads) have a member called `name`.
    pub(crate) fn knows(self, name: &str) -> bool {
        let uapi: &[&str] = match self {
            Self::X86_64 => X86_64_UAPI,
            Self::Arm64 => &["syscallno"],
            Self::Riscv64 => &["pc"],
        };
        self.members().iter().any(|(n, _)| *n == name) || uapi.contains(&name)
    }
}

impl fmt::Display for RegsArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `arch/x86/include/asm/ptrace.h`, 168 bytes.
const X86_64: &[(&str, Option<u32>)] = &[
    ("r15", None),
    ("r14", None),
    ("r13", None),
    ("r12", None),
    ("bp", None),
    ("bx", None),
    ("r11", None),
    ("r10", None),
    ("r9", None),
    ("r8", None),
    ("ax", None),
    ("cx", None),
    ("dx", None),
    ("si", None),
    ("di", None),
    ("orig_ax", None),
    ("ip", None),
    ("cs", None),
    ("flags", None),
    ("sp", None),
    ("ss", None),
];

/// The names of x86_64's uapi `struct pt_regs` (without vmlinux.h).
const X86_64_UAPI: &[&str] = &[
    "rbp", "rbx", "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "eflags", "rsp",
];

/// `arch/arm64/include/asm/ptrace.h`: `regs`, `sp`, `pc` and `pstate`
/// sit in an anonymous struct in an anonymous union (with `user_regs`);
/// libbpf finds them by name through both.
const ARM64: &[(&str, Option<u32>)] = &[
    ("regs", Some(31)),
    ("sp", None),
    ("pc", None),
    ("pstate", None),
    ("orig_x0", None),
];

/// `arch/riscv/include/asm/ptrace.h`; the uapi `user_regs_struct` is its
/// prefix and calls `epc` `pc`.
const RISCV64: &[(&str, Option<u32>)] = &[
    ("epc", None),
    ("ra", None),
    ("sp", None),
    ("gp", None),
    ("tp", None),
    ("t0", None),
    ("t1", None),
    ("t2", None),
    ("s0", None),
    ("s1", None),
    ("a0", None),
    ("a1", None),
    ("a2", None),
    ("a3", None),
    ("a4", None),
    ("a5", None),
    ("a6", None),
    ("a7", None),
    ("s2", None),
    ("s3", None),
    ("s4", None),
    ("s5", None),
    ("s6", None),
    ("s7", None),
    ("s8", None),
    ("s9", None),
    ("s10", None),
    ("s11", None),
    ("t3", None),
    ("t4", None),
    ("t5", None),
    ("t6", None),
    ("status", None),
    ("badaddr", None),
    ("cause", None),
    ("orig_a0", None),
];

/// A register as a field of a register struct: a member, and the element
/// for arm64's `regs` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Register {
    pub member: &'static str,
    pub index: Option<u32>,
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}[{i}]", self.member),
            None => f.write_str(self.member),
        }
    }
}

/// What a register holds, as libbpf's `PT_REGS_*` macros name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `PT_REGS_PARMn`: the n-th argument (from 1) of the probed function.
    Parm(u8),
    /// `PT_REGS_RC`: the return value.
    Rc,
    /// `PT_REGS_SP`: the stack pointer.
    Sp,
    /// `PT_REGS_IP`: the instruction pointer.
    Ip,
    /// `PT_REGS_FP`: the frame pointer.
    Fp,
    /// `PT_REGS_RET`: the return address, where it is a register.
    Ret,
    /// `PT_REGS_PARM4_SYSCALL`: a syscall's 4th argument (x86_64: r10).
    SyscallParm4,
    /// `PT_REGS_PARM1_SYSCALL`: a syscall's first argument as it came in
    /// (arm64 `orig_x0`, riscv64 `orig_a0`; x86_64 `di`).
    SyscallArg0,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parm(n) => write!(f, "PARM{n}"),
            Self::Rc => f.write_str("RC"),
            Self::Sp => f.write_str("SP"),
            Self::Ip => f.write_str("IP"),
            Self::Fp => f.write_str("FP"),
            Self::Ret => f.write_str("RET"),
            Self::SyscallParm4 => f.write_str("PARM4_SYSCALL"),
            Self::SyscallArg0 => f.write_str("PARM1_SYSCALL"),
        }
    }
}

/// How a program reads its registers, from its section: which role a
/// register with two stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// A return probe: arm64 `regs[0]` and riscv64 `a0` are the return
    /// value, not the first argument.
    pub ret: bool,
    /// A syscall probe: arm64 `regs[3]` and riscv64 `a3` are the 4th
    /// syscall argument, which x86_64 has in r10.
    pub syscall: bool,
}

/// The role of `member` (element `index`) of `arch`'s register structs,
/// if it has one.
pub(crate) fn role_of(
    arch: RegsArch,
    member: &str,
    index: Option<u32>,
    use_: Usage,
) -> Option<Role> {
    let argument = |i: u32| match i {
        0 if use_.ret => Some(Role::Rc),
        3 if use_.syscall => Some(Role::SyscallParm4),
        0..=7 => Some(Role::Parm(i as u8 + 1)),
        _ => None,
    };
    match (arch, member, index) {
        (_, "sp", None) => Some(Role::Sp),
        (RegsArch::X86_64, _, None) => x86_role(member),
        (RegsArch::Arm64, "regs", Some(i)) => match i {
            29 => Some(Role::Fp),
            30 => Some(Role::Ret),
            _ => argument(i),
        },
        (RegsArch::Arm64, "pc", None) => Some(Role::Ip),
        (RegsArch::Arm64, "orig_x0", None) => Some(Role::SyscallArg0),
        (RegsArch::Riscv64, "pc" | "epc", None) => Some(Role::Ip),
        (RegsArch::Riscv64, "s0", None) => Some(Role::Fp),
        (RegsArch::Riscv64, "ra", None) => Some(Role::Ret),
        (RegsArch::Riscv64, "orig_a0", None) => Some(Role::SyscallArg0),
        (RegsArch::Riscv64, _, None) => {
            let i = member.strip_prefix('a')?.parse::<u32>().ok()?;
            // "a00" is no register.
            (member.len() == 2).then(|| argument(i)).flatten()
        }
        _ => None,
    }
}

/// x86_64's roles, by the kernel's names and the uapi ones.
fn x86_role(member: &str) -> Option<Role> {
    Some(match member {
        "di" | "rdi" => Role::Parm(1),
        "si" | "rsi" => Role::Parm(2),
        "dx" | "rdx" => Role::Parm(3),
        "cx" | "rcx" => Role::Parm(4),
        "r8" => Role::Parm(5),
        "r9" => Role::Parm(6),
        "ax" | "rax" => Role::Rc,
        "rsp" => Role::Sp,
        "ip" | "rip" => Role::Ip,
        "bp" | "rbp" => Role::Fp,
        "r10" => Role::SyscallParm4,
        _ => return None,
    })
}

/// The register of the kernel's `struct pt_regs` of `arch` that holds
/// `role`; None where `arch` has none (x86_64 passes the 7th and 8th
/// arguments on the stack and keeps the return address there).
pub(crate) fn register(arch: RegsArch, role: Role) -> Option<Register> {
    let reg = |member| Register {
        member,
        index: None,
    };
    let arm = |i| Register {
        member: "regs",
        index: Some(i),
    };
    const X86_PARMS: [&str; 6] = ["di", "si", "dx", "cx", "r8", "r9"];
    const RISCV_PARMS: [&str; 8] = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"];
    Some(match (arch, role) {
        (RegsArch::X86_64, Role::Parm(n)) => reg(*X86_PARMS.get(usize::from(n).checked_sub(1)?)?),
        (RegsArch::X86_64, Role::Rc) => reg("ax"),
        (RegsArch::X86_64, Role::Ip) => reg("ip"),
        (RegsArch::X86_64, Role::Fp) => reg("bp"),
        (RegsArch::X86_64, Role::Ret) => return None,
        (RegsArch::X86_64, Role::SyscallParm4) => reg("r10"),
        (RegsArch::X86_64, Role::SyscallArg0) => reg("di"),
        (RegsArch::Arm64, Role::Parm(n @ 1..=8)) => arm(u32::from(n) - 1),
        (RegsArch::Arm64, Role::Rc) => arm(0),
        (RegsArch::Arm64, Role::Ip) => reg("pc"),
        (RegsArch::Arm64, Role::Fp) => arm(29),
        (RegsArch::Arm64, Role::Ret) => arm(30),
        (RegsArch::Arm64, Role::SyscallParm4) => arm(3),
        (RegsArch::Arm64, Role::SyscallArg0) => reg("orig_x0"),
        (RegsArch::Riscv64, Role::Parm(n)) => {
            reg(*RISCV_PARMS.get(usize::from(n).checked_sub(1)?)?)
        }
        (RegsArch::Riscv64, Role::Rc) => reg("a0"),
        (RegsArch::Riscv64, Role::Ip) => reg("epc"),
        (RegsArch::Riscv64, Role::Fp) => reg("s0"),
        (RegsArch::Riscv64, Role::Ret) => reg("ra"),
        (RegsArch::Riscv64, Role::SyscallParm4) => reg("a3"),
        (RegsArch::Riscv64, Role::SyscallArg0) => reg("orig_a0"),
        (_, Role::Sp) => reg("sp"),
        (RegsArch::Arm64, Role::Parm(_)) => return None,
    })
}
