//! Byte layouts of the kernel structs the backend builds for programs:
//! tracepoint contexts and `task_struct`. The same tables make the BTF
//! that CO-RE resolves against ([`super::btf`]) and place the bytes the
//! hooks fill in ([`super::task`], [`super::context`]), so the two cannot
//! disagree. Tracepoint layouts are the kernel's (`format` files under
//! tracefs); `task_struct` is ours, holding only what helpers can know.

/// A member's type.
#[derive(Debug, Clone, Copy)]
pub enum FieldType {
    Int {
        size: u32,
        signed: bool,
    },
    /// `char[len]`.
    Chars(u32),
    /// An array of integers.
    Ints {
        size: u32,
        signed: bool,
        len: u32,
    },
    /// A bitfield of `bits` bits in an unsigned integer of `size` bytes;
    /// the field's offset is then in bits.
    Bits {
        size: u32,
        bits: u32,
    },
    /// A pointer to another emulated struct.
    PtrTo(&'static str),
    /// An emulated struct, embedded.
    Struct(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// In bytes; in bits for a [`FieldType::Bits`].
    pub offset: u32,
    pub ty: FieldType,
}

#[derive(Debug, Clone, Copy)]
pub struct Struct {
    pub name: &'static str,
    pub size: u32,
    pub fields: &'static [Field],
}

pub(super) const fn field(name: &'static str, offset: u32, ty: FieldType) -> Field {
    Field { name, offset, ty }
}

pub(super) const U8: FieldType = FieldType::Int {
    size: 1,
    signed: false,
};
pub(super) const U16: FieldType = FieldType::Int {
    size: 2,
    signed: false,
};
pub(super) const I32: FieldType = FieldType::Int {
    size: 4,
    signed: true,
};
pub(super) const U32: FieldType = FieldType::Int {
    size: 4,
    signed: false,
};
pub(super) const I64: FieldType = FieldType::Int {
    size: 8,
    signed: true,
};
pub(super) const U64: FieldType = FieldType::Int {
    size: 8,
    signed: false,
};
const COMM: FieldType = FieldType::Chars(TASK_COMM_LEN);
const NO_DATA: FieldType = FieldType::Chars(0);

/// Bytes of a task's name, NUL included.
pub const TASK_COMM_LEN: u32 = 16;

/// `struct trace_entry`: the header of every tracepoint record.
pub mod entry {
    pub const TYPE: u32 = 0;
    pub const PID: u32 = 4;
    pub const SIZE: u32 = 8;
}

/// `sys_enter` records (raw_syscalls/sys_enter and syscalls/sys_enter_*:
/// the per-syscall ones keep `__syscall_nr` as an int where `id` starts,
/// and their arguments 8 bytes apart from offset 16, so one layout serves).
pub mod sys_enter {
    pub const ID: u32 = 8;
    pub const ARGS: u32 = 16;
    pub const SIZE: u32 = 64;
}

/// `sys_exit` records.
pub mod sys_exit {
    pub const ID: u32 = 8;
    pub const RET: u32 = 16;
    pub const SIZE: u32 = 24;
}

/// `sched_process_exec`: the filename follows the fixed part, and
/// `__data_loc_filename` says where (offset | length << 16).
pub mod sched_exec {
    pub const FILENAME_LOC: u32 = 8;
    pub const PID: u32 = 12;
    pub const OLD_PID: u32 = 16;
    pub const SIZE: u32 = 20;
}

/// `sched_process_exit` and the other `sched_process_template` events.
pub mod sched_template {
    pub const COMM: u32 = 8;
    pub const PID: u32 = 24;
    pub const PRIO: u32 = 28;
    pub const SIZE: u32 = 32;
}

/// `sched_process_fork`.
pub mod sched_fork {
    pub const PARENT_COMM: u32 = 8;
    pub const PARENT_PID: u32 = 24;
    pub const CHILD_COMM: u32 = 28;
    pub const CHILD_PID: u32 = 44;
    pub const SIZE: u32 = 48;
}

/// The emulated `task_struct`: what a tracer knows of a task.
pub mod task {
    pub const PID: u32 = 0;
    pub const TGID: u32 = 4;
    pub const REAL_PARENT: u32 = 8;
    pub const PARENT: u32 = 16;
    pub const GROUP_LEADER: u32 = 24;
    pub const COMM: u32 = 32;
    /// Monotonic ns at start, as the kernel keeps it.
    pub const START_TIME: u32 = 48;
    /// Boot-time ns at start.
    pub const START_BOOTTIME: u32 = 56;
    /// The wait status (`code << 8 | signal`), set as the task exits.
    pub const EXIT_CODE: u32 = 64;
    pub const EXIT_SIGNAL: u32 = 68;
    pub const FLAGS: u32 = 72;
    pub const SIZE: u32 = 80;
}

const TRACE_ENTRY: FieldType = FieldType::Struct("trace_entry");

/// Every emulated struct: processes' and tracepoints', the network ones,
/// then this architecture's registers.
pub fn all() -> impl Iterator<Item = &'static Struct> {
    STRUCTS
        .iter()
        .chain(super::net::STRUCTS)
        .chain(regs::STRUCTS)
}

/// The emulated structs of processes and tracepoints.
pub const STRUCTS: &[Struct] = &[
    Struct {
        name: "trace_entry",
        size: entry::SIZE,
        fields: &[
            field("type", entry::TYPE, U16),
            field("flags", 2, U8),
            field("preempt_count", 3, U8),
            field("pid", entry::PID, I32),
        ],
    },
    Struct {
        name: "trace_event_raw_sys_enter",
        size: sys_enter::SIZE,
        fields: &[
            field("ent", 0, TRACE_ENTRY),
            field("id", sys_enter::ID, I64),
            field(
                "args",
                sys_enter::ARGS,
                FieldType::Ints {
                    size: 8,
                    signed: false,
                    len: 6,
                },
            ),
            field("__data", sys_enter::SIZE, NO_DATA),
        ],
    },
    Struct {
        name: "trace_event_raw_sys_exit",
        size: sys_exit::SIZE,
        fields: &[
            field("ent", 0, TRACE_ENTRY),
            field("id", sys_exit::ID, I64),
            field("ret", sys_exit::RET, I64),
            field("__data", sys_exit::SIZE, NO_DATA),
        ],
    },
    Struct {
        name: "trace_event_raw_sched_process_exec",
        size: sched_exec::SIZE,
        fields: &[
            field("ent", 0, TRACE_ENTRY),
            field("__data_loc_filename", sched_exec::FILENAME_LOC, U32),
            field("pid", sched_exec::PID, I32),
            field("old_pid", sched_exec::OLD_PID, I32),
            field("__data", sched_exec::SIZE, NO_DATA),
        ],
    },
    Struct {
        name: "trace_event_raw_sched_process_template",
        size: sched_template::SIZE,
        fields: &[
            field("ent", 0, TRACE_ENTRY),
            field("comm", sched_template::COMM, COMM),
            field("pid", sched_template::PID, I32),
            field("prio", sched_template::PRIO, I32),
            field("__data", sched_template::SIZE, NO_DATA),
        ],
    },
    Struct {
        name: "trace_event_raw_sched_process_fork",
        size: sched_fork::SIZE,
        fields: &[
            field("ent", 0, TRACE_ENTRY),
            field("parent_comm", sched_fork::PARENT_COMM, COMM),
            field("parent_pid", sched_fork::PARENT_PID, I32),
            field("child_comm", sched_fork::CHILD_COMM, COMM),
            field("child_pid", sched_fork::CHILD_PID, I32),
            field("__data", sched_fork::SIZE, NO_DATA),
        ],
    },
    Struct {
        name: "task_struct",
        size: task::SIZE,
        fields: &[
            field("pid", task::PID, I32),
            field("tgid", task::TGID, I32),
            field(
                "real_parent",
                task::REAL_PARENT,
                FieldType::PtrTo("task_struct"),
            ),
            field("parent", task::PARENT, FieldType::PtrTo("task_struct")),
            field(
                "group_leader",
                task::GROUP_LEADER,
                FieldType::PtrTo("task_struct"),
            ),
            field("comm", task::COMM, COMM),
            field("start_time", task::START_TIME, U64),
            field("start_boottime", task::START_BOOTTIME, U64),
            field("exit_code", task::EXIT_CODE, I32),
            field("exit_signal", task::EXIT_SIGNAL, I32),
            field("flags", task::FLAGS, U32),
        ],
    },
    // The compat header asks whether this type exists to choose ring
    // buffers over perf buffers; the backend has ring buffers.
    Struct {
        name: "bpf_ringbuf",
        size: 0,
        fields: &[],
    },
];

/// `count` consecutive u64 members named `names`, from offset 0 (x86_64's
/// pt_regs; arm64's is built from an array member).
#[cfg(target_arch = "x86_64")]
const fn u64_members<const N: usize>(names: [&'static str; N]) -> [Field; N] {
    let mut out = [field("", 0, U64); N];
    let mut i = 0;
    while i < N {
        out[i] = field(names[i], 8 * i as u32, U64);
        i += 1;
    }
    out
}

/// The registers a uprobe's program gets as its context, laid out as the
/// kernel's `struct pt_regs` of x86_64 (which is `user_regs_struct`'s
/// first 21 words, in the same order, under the kernel's names).
#[cfg(target_arch = "x86_64")]
pub mod regs {
    use super::{u64_members, Field, Struct};

    /// The kernel's member names, in `user_regs_struct` order.
    pub const NAMES: [&str; 21] = [
        "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si",
        "di", "orig_ax", "ip", "cs", "flags", "sp", "ss",
    ];
    pub const SIZE: u32 = 8 * NAMES.len() as u32;
    const MEMBERS: [Field; 21] = u64_members(NAMES);

    pub const STRUCTS: &[Struct] = &[Struct {
        name: "pt_regs",
        size: SIZE,
        fields: &MEMBERS,
    }];
}

/// The registers a uprobe's program gets as its context, laid out as
/// arm64's `struct user_pt_regs` (what libbpf's arm64 register macros
/// read), which also starts the kernel's `struct pt_regs`.
#[cfg(target_arch = "aarch64")]
pub mod regs {
    use super::{field, FieldType, Struct, U64};

    pub const SIZE: u32 = 8 * 34;
    const FIELDS: &[super::Field] = &[
        field(
            "regs",
            0,
            FieldType::Ints {
                size: 8,
                signed: false,
                len: 31,
            },
        ),
        field("sp", 8 * 31, U64),
        field("pc", 8 * 32, U64),
        field("pstate", 8 * 33, U64),
    ];

    pub const STRUCTS: &[Struct] = &[
        Struct {
            name: "user_pt_regs",
            size: SIZE,
            fields: FIELDS,
        },
        Struct {
            name: "pt_regs",
            size: SIZE,
            fields: FIELDS,
        },
    ];
}

/// Architectures whose registers the tracer cannot give: no uprobe
/// context to describe.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub mod regs {
    pub const SIZE: u32 = 0;
    pub const STRUCTS: &[super::Struct] = &[];
}
