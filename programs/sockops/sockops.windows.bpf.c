// sockops for eBPF for Windows: the variant `unibpf bundle` stores in
// sockops.wasm for the Linux object sockops.bpf.o, built against our own
// header of efW's facts (sdk/windows/unibpf_efw.h), never Linux's.
//
// What it does: efW's sock_ops hook fires when a flow is established or
// deleted (no per-segment callbacks). For each TCP connection established,
// it writes the record the guest already reads from `connections`
// (struct established: active 1 when we connected, 0 when we accepted;
// both ports in host byte order), so the guest's
//   ESTABLISHED side=active|passive lport=N rport=N
// lines are the same on both platforms.
//
// What it does not do: efW has no TCP header option callbacks and no
// bpf_{reserve,store,load}_hdr_opt, so no option is written or checked.
// `counters` is kept (same name, three u64 slots, as the guest looks it up
// by name and prints it) but stays zero: the guest's final
//   OPTIONS written=0 seen=0 intact=0
// says truthfully that no option crossed the wire. The program keeps the
// Linux program's name, tcp_option, because the guest finds it by name.
//
// Also unlike Linux: efW fires sock_ops for UDP flows too (so TCP is
// checked here), ports arrive in network order in the low 16 bits of their
// field, and a non-zero return blocks the flow (0 here, always).
#include "unibpf_efw.h"
#include "sockops.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} connections SEC(".maps");

SEC(EFW_SEC_SOCK_OPS)
int tcp_option(bpf_sock_ops_t *ctx)
{
	struct established e = {};

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	switch (ctx->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		e.active = 1;
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		e.active = 0;
		break;
	default:
		return 0;
	}
	e.local_port = efw_ntohs((__u16)ctx->local_port);
	e.remote_port = efw_ntohs((__u16)ctx->remote_port);
	bpf_ringbuf_output(&connections, &e, sizeof(e), 0);
	return 0;
}
