// sockops: injects an experimental TCP header option (kind 253, ExID 0x7562)
// into every TCP segment of sockets in a cgroup, carrying the sender's port,
// and checks the option on every segment received. Counters:
// [0] options written, [1] options seen, [2] options seen whose value is the
// peer's port (the option crossed the wire intact).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sockops.h"

char LICENSE[] SEC("license") = "GPL";

#define OPT_KIND 253
#define OPT_LEN 6
#define OPT_EXID 0x7562

struct tcp_opt {
	u8 kind;
	u8 len;
	u16 exid;
	u16 value;
} __attribute__((packed));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} connections SEC(".maps");

static const struct established *established_type __attribute__((used));

static void bump(u32 key)
{
	u64 *n = bpf_map_lookup_elem(&counters, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
}

static void want_options(struct bpf_sock_ops *skops)
{
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG |
						 BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG);
}

static void report(struct bpf_sock_ops *skops, unsigned int active)
{
	struct established *e = bpf_ringbuf_reserve(&connections, sizeof(*e), 0);
	if (!e)
		return;
	e->active = active;
	e->local_port = skops->local_port;
	e->remote_port = bpf_ntohl(skops->remote_port);
	bpf_ringbuf_submit(e, 0);
}

SEC("sockops")
int tcp_option(struct bpf_sock_ops *skops)
{
	struct tcp_opt opt = {};
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		want_options(skops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		want_options(skops);
		report(skops, 1);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		want_options(skops);
		report(skops, 0);
		break;
	case BPF_SOCK_OPS_HDR_OPT_LEN_CB:
		bpf_reserve_hdr_opt(skops, OPT_LEN, 0);
		break;
	case BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
		opt.kind = OPT_KIND;
		opt.len = OPT_LEN;
		opt.exid = bpf_htons(OPT_EXID);
		opt.value = bpf_htons((u16)skops->local_port);
		if (bpf_store_hdr_opt(skops, &opt, sizeof(opt), 0) == 0)
			bump(0);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		opt.kind = OPT_KIND;
		opt.len = 4; /* search by kind and ExID */
		opt.exid = bpf_htons(OPT_EXID);
		if (bpf_load_hdr_opt(skops, &opt, sizeof(opt), 0) == OPT_LEN) {
			bump(1);
			if (bpf_ntohs(opt.value) == bpf_ntohl(skops->remote_port))
				bump(2);
		}
		break;
	}
	return 1;
}
