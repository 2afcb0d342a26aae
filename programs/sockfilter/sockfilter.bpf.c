// sockfilter: a socket filter on a raw packet socket that counts the IPv4
// packets it sees, in both directions, per IP protocol. It returns 0, so the
// observing socket queues nothing.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800

/* IP protocol number -> packets */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, u32);
	__type(value, u64);
} by_proto SEC(".maps");

SEC("socket")
int count_by_protocol(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	u8 proto = 0;
	/* Socket filters read packet bytes with a helper, from the MAC header. */
	if (bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + offsetof(struct iphdr, protocol), &proto, 1) < 0)
		return 0;
	u32 key = proto;
	u64 *count = bpf_map_lookup_elem(&by_proto, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}
