// exitsnoop: process exits with status and age, sent through the compat
// header (sdk/c/include/unibpf/compat.bpf.h), so the same object reports over
// a ring buffer where the kernel has one and a perf buffer where it does not.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <unibpf/compat.bpf.h>
#include "exitsnoop.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

UNIBPF_EVENT_MAPS(events, heap, struct event, 256 * 1024);

/* .data: how many exits to report; the guest may lower it before load. */
unsigned int max_reports = 0xffffffff;
/* .bss: exits reported so far; the guest reads it back from its map. */
unsigned long long reported;

SEC("tp/sched/sched_process_exit")
int on_exit(struct trace_event_raw_sched_process_template *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	if ((id >> 32) != (u32)id)
		return 0; /* a thread */
	if (reported >= max_reports)
		return 0;
	struct event *e = unibpf_event_reserve(&events, &heap, sizeof(*e));
	if (!e)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->pid = id >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->age_ns = bpf_ktime_get_ns() - BPF_CORE_READ(task, start_time);
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	unibpf_event_submit(ctx, &events, e, sizeof(*e));
	__sync_fetch_and_add(&reported, 1);
	return 0;
}
