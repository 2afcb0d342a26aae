// Two programs: one on a real tracepoint, counting execs, and one on a
// tracepoint no kernel has, marked optional (unless built as required.bpf.c).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <unibpf/compat.bpf.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unibpf_t_counts SEC(".maps");

SEC("tp/sched/sched_process_exec")
int unibpf_t_counted(void *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&unibpf_t_counts, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("tp/unibpf_no_such_category/no_such_event")
int unibpf_t_nowhere(void *ctx)
{
	return 0;
}

#ifndef UNIBPF_TEST_REQUIRED
UNIBPF_OPTIONAL(unibpf_t_nowhere);
#endif
