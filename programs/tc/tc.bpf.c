// tc: an ingress classifier counting packets and bytes per IP protocol.
// Packets always continue.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define TC_ACT_OK 0

struct counts {
	u64 packets;
	u64 bytes;
};

/* IP protocol number -> counts */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, u32);
	__type(value, struct counts);
} by_proto SEC(".maps");

SEC("tc")
int count_ingress(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	u32 proto = ip->protocol;
	struct counts *c = bpf_map_lookup_elem(&by_proto, &proto);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, skb->len);
	} else {
		struct counts first = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(&by_proto, &proto, &first, BPF_NOEXIST);
	}
	return TC_ACT_OK;
}
