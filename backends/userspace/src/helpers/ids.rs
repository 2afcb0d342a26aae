//! Helper ids (the kernel's `enum bpf_func_id`) and names, for the ones
//! the backend runs and the ones programs commonly call, so an
//! unsupported helper is named, not numbered.

use crate::load::POISON_HELPER;

macro_rules! helpers {
    ($($constant:ident = $id:literal => $name:literal,)*) => {
        $(pub const $constant: u32 = $id;)*
        /// The name of helper `id`, if it is one we know.
        pub fn name(id: u32) -> Option<&'static str> {
            match id {
                $($id => Some($name),)*
                _ => None,
            }
        }
    };
}

helpers! {
    MAP_LOOKUP_ELEM = 1 => "bpf_map_lookup_elem",
    MAP_UPDATE_ELEM = 2 => "bpf_map_update_elem",
    MAP_DELETE_ELEM = 3 => "bpf_map_delete_elem",
    PROBE_READ = 4 => "bpf_probe_read",
    KTIME_GET_NS = 5 => "bpf_ktime_get_ns",
    TRACE_PRINTK = 6 => "bpf_trace_printk",
    GET_PRANDOM_U32 = 7 => "bpf_get_prandom_u32",
    GET_SMP_PROCESSOR_ID = 8 => "bpf_get_smp_processor_id",
    TAIL_CALL = 12 => "bpf_tail_call",
    GET_CURRENT_PID_TGID = 14 => "bpf_get_current_pid_tgid",
    GET_CURRENT_UID_GID = 15 => "bpf_get_current_uid_gid",
    GET_CURRENT_COMM = 16 => "bpf_get_current_comm",
    PERF_EVENT_OUTPUT = 25 => "bpf_perf_event_output",
    SKB_LOAD_BYTES = 26 => "bpf_skb_load_bytes",
    GET_STACKID = 27 => "bpf_get_stackid",
    GET_CURRENT_TASK = 35 => "bpf_get_current_task",
    PROBE_READ_STR = 45 => "bpf_probe_read_str",
    SKB_LOAD_BYTES_RELATIVE = 68 => "bpf_skb_load_bytes_relative",
    GET_NUMA_NODE_ID = 42 => "bpf_get_numa_node_id",
    SEND_SIGNAL = 109 => "bpf_send_signal",
    PROBE_READ_USER = 112 => "bpf_probe_read_user",
    PROBE_READ_KERNEL = 113 => "bpf_probe_read_kernel",
    PROBE_READ_USER_STR = 114 => "bpf_probe_read_user_str",
    PROBE_READ_KERNEL_STR = 115 => "bpf_probe_read_kernel_str",
    KTIME_GET_BOOT_NS = 125 => "bpf_ktime_get_boot_ns",
    RINGBUF_OUTPUT = 130 => "bpf_ringbuf_output",
    RINGBUF_RESERVE = 131 => "bpf_ringbuf_reserve",
    RINGBUF_SUBMIT = 132 => "bpf_ringbuf_submit",
    RINGBUF_DISCARD = 133 => "bpf_ringbuf_discard",
    RINGBUF_QUERY = 134 => "bpf_ringbuf_query",
    GET_CURRENT_TASK_BTF = 158 => "bpf_get_current_task_btf",
    TRACE_VPRINTK = 177 => "bpf_trace_vprintk",
    LOOP = 181 => "bpf_loop",
    KTIME_GET_TAI_NS = 208 => "bpf_ktime_get_tai_ns",
}

/// The helpers this backend runs.
pub const SUPPORTED: &[u32] = &[
    MAP_LOOKUP_ELEM,
    MAP_UPDATE_ELEM,
    MAP_DELETE_ELEM,
    PROBE_READ,
    KTIME_GET_NS,
    TRACE_PRINTK,
    GET_PRANDOM_U32,
    GET_SMP_PROCESSOR_ID,
    GET_CURRENT_PID_TGID,
    GET_CURRENT_UID_GID,
    GET_CURRENT_COMM,
    PERF_EVENT_OUTPUT,
    SKB_LOAD_BYTES,
    SKB_LOAD_BYTES_RELATIVE,
    GET_CURRENT_TASK,
    PROBE_READ_STR,
    GET_NUMA_NODE_ID,
    PROBE_READ_USER,
    PROBE_READ_KERNEL,
    PROBE_READ_USER_STR,
    PROBE_READ_KERNEL_STR,
    KTIME_GET_BOOT_NS,
    RINGBUF_OUTPUT,
    RINGBUF_RESERVE,
    RINGBUF_SUBMIT,
    RINGBUF_DISCARD,
    RINGBUF_QUERY,
    GET_CURRENT_TASK_BTF,
    KTIME_GET_TAI_NS,
    TAIL_CALL,
    // Run by the VM itself (it calls back into the program).
    LOOP,
];

/// A helper's name for messages: `bpf_loop (181)`, or `helper 999`.
pub fn describe(id: u32) -> String {
    if id == POISON_HELPER as u32 {
        return "an unresolved CO-RE relocation".into();
    }
    match name(id) {
        Some(n) => format!("{n} ({id})"),
        None => format!("helper {id}"),
    }
}
