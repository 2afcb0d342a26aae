// Maps for the map_operate round-trip tests; the program is never attached.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} t_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} t_pcpu SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int unibpf_t_noop(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&t_hash, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}
