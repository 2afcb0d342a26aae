// Counts the frames XDP sees in an array map and drops them (a verdict
// the userspace backend observes, not enforces). No libbpf headers: the
// map definition and the helper are spelled out.
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

struct xdp_md {
	unsigned int data, data_end, data_meta;
	unsigned int ingress_ifindex, rx_queue_index, egress_ifindex;
};

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, 1);
	__type(key, unsigned int);
	__type(value, unsigned long long);
} frames SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("xdp") int count(struct xdp_md *ctx)
{
	unsigned int key = 0;
	unsigned long long *n = bpf_map_lookup_elem(&frames, &key);
	if (n && ctx->data_end > ctx->data)
		__sync_fetch_and_add(n, 1);
	return 1; /* XDP_DROP */
}
