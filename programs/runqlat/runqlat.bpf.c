// runqlat: how long woken tasks wait on the run queue before they run, as a
// log2 histogram in microseconds, from BTF-typed tracepoints (tp_btf) and,
// on kernels without BTF of their own, raw tracepoints as alternatives.
// target_tgid (.rodata) limits it to one process.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <unibpf/compat.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_SLOTS 32

const volatile int target_tgid = 0;

/* thread id -> wakeup time */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} woken SEC(".maps");

/* log2(usecs) slot -> samples */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SLOTS);
	__type(key, u32);
	__type(value, u64);
} hist SEC(".maps");

static u32 log2_slot(u64 v)
{
	u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

/* Tasks are read through CO-RE: tp_btf hands typed pointers, raw
 * tracepoints plain ones, and CO-RE reads serve both. */
static int record_wakeup(struct task_struct *p)
{
	if (target_tgid && BPF_CORE_READ(p, tgid) != target_tgid)
		return 0;
	u32 tid = BPF_CORE_READ(p, pid);
	u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&woken, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	return record_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *p)
{
	return record_wakeup(p);
}

static int record_switch(struct task_struct *next)
{
	u32 tid = BPF_CORE_READ(next, pid);
	u64 *since = bpf_map_lookup_elem(&woken, &tid);
	if (!since)
		return 0;
	u64 delta_us = (bpf_ktime_get_ns() - *since) / 1000;
	bpf_map_delete_elem(&woken, &tid);
	u32 slot = log2_slot(delta_us);
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	u64 one = 1;
	u64 *count = bpf_map_lookup_elem(&hist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&hist, &slot, &one, BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return record_switch(next);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(on_wakeup_raw, struct task_struct *p)
{
	return record_wakeup(p);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(on_wakeup_new_raw, struct task_struct *p)
{
	return record_wakeup(p);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(on_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return record_switch(next);
}

UNIBPF_ALTERNATIVE(on_wakeup, on_wakeup_raw);
UNIBPF_ALTERNATIVE(on_wakeup_new, on_wakeup_new_raw);
UNIBPF_ALTERNATIVE(on_switch, on_switch_raw);
