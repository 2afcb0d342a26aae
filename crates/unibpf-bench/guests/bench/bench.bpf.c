// bench: the BPF side of `cargo bench`. Against native libbpf nothing here
// is attached: the harness runs bench_ring and bench_perf with
// BPF_PROG_TEST_RUN (repeat N), so the kernel produces exactly N records at
// a rate the harness controls, with no other work. Between unibpf's two
// backends (the userspace one has no test run), bench_ring is attached to
// a veth interface's egress and the harness sends it frames instead.
// kv is the hash map the guest's map loop uses.
// They are tc programs, not XDP: an XDP test run swaps the XDP dispatcher
// twice per call, each time waiting for an RCU grace period, which makes
// a paced producer crawl.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bench.h"

#define TC_ACT_OK 0

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} kv SEC(".maps");

/* Large enough for the harness's biggest burst (records are 24 bytes with
 * their header). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf SEC(".maps");

/* Taken per record produced, stored or not: a gap is a drop. */
u64 ring_seq, perf_seq;

static const struct bench_event *event_type __attribute__((used));

SEC("tc")
int bench_ring(struct __sk_buff *ctx)
{
	/* The number is taken even when the record is dropped: the guest
	 * sees the gap. */
	u64 seq = __sync_fetch_and_add(&ring_seq, 1);
	struct bench_event *e = bpf_ringbuf_reserve(&ring, sizeof(*e), 0);
	if (!e)
		return TC_ACT_OK;
	e->seq = seq;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return TC_ACT_OK;
}

SEC("tc")
int bench_perf(struct __sk_buff *ctx)
{
	struct bench_event e = {
		.seq = __sync_fetch_and_add(&perf_seq, 1),
		.ts_ns = bpf_ktime_get_ns(),
	};
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return TC_ACT_OK;
}
