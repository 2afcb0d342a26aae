// xdp: every packet arriving on an interface, with its size and protocols,
// plus per-CPU packet and byte counters. Packets always pass.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdp.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} packets SEC(".maps");

/* [0] packets, [1] bytes */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} totals SEC(".maps");

static const struct packet *packet_type __attribute__((used));

static void add(u32 slot, u64 n)
{
	u64 *v = bpf_map_lookup_elem(&totals, &slot);
	if (v)
		*v += n;
}

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	u32 size = data_end - data;
	add(0, 1);
	add(1, size);

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	struct packet *p = bpf_ringbuf_reserve(&packets, sizeof(*p), 0);
	if (!p)
		return XDP_PASS;
	p->size = size;
	p->eth_proto = bpf_ntohs(eth->h_proto);
	p->ip_proto = 0;
	p->dport = 0;
	struct iphdr *ip = (void *)(eth + 1);
	if (p->eth_proto == ETH_P_IP && (void *)(ip + 1) <= data_end) {
		p->ip_proto = ip->protocol;
		struct udphdr *l4 = (void *)ip + ip->ihl * 4;
		if ((ip->protocol == IPPROTO_UDP || ip->protocol == IPPROTO_TCP) && (void *)(l4 + 1) <= data_end)
			p->dport = bpf_ntohs(l4->dest);
	}
	bpf_ringbuf_submit(p, 0);
	return XDP_PASS;
}
