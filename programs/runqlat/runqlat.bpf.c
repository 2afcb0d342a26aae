// runqlat: how long woken tasks wait on the run queue before they run, as a
// log2 histogram in microseconds. BTF-typed tracepoints (tp_btf) read the
// task structs directly. target_tgid (.rodata) limits it to one process.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

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

static int record_wakeup(struct task_struct *p)
{
	if (target_tgid && p->tgid != target_tgid)
		return 0;
	u32 tid = p->pid;
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

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	u32 tid = next->pid;
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
