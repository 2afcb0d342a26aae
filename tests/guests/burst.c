// Counts the burst records one exec produces and checks their order.
#include <errno.h>
#include <stdio.h>

#include "wasm_bpf_abi.h"
#include "burst.bpf.h"

#define BURST 512

struct burst_record {
	unsigned int seq;
	unsigned int pid;
};

static unsigned received, in_order = 1, expected_seq;

static int on_record(void *ctx, void *data, unsigned long size)
{
	const struct burst_record *r = data;
	(void)ctx;
	if (size != sizeof(*r) || r->seq != expected_seq)
		in_order = 0;
	expected_seq = r->seq + 1;
	received++;
	return 0;
}

int main(void)
{
	bpf_object_handle obj = wasm_load_bpf_object(burst_bpf_o, (int)burst_bpf_o_len);
	if (!obj || wasm_attach_bpf_program(obj, "unibpf_t_burst", "") < 0)
		return 1;
	int fd = wasm_bpf_map_fd_by_name(obj, "burst_rb");
	fprintf(stderr, "burst: ready\n");
	static char buf[64];
	int max_per_poll = 0, polls = 0;
	/* Up to ~20 s for the test to trigger the burst. */
	while (received < BURST && polls++ < 200) {
		int n = wasm_bpf_buffer_poll(obj, fd, (int32_t)on_record, 0, buf, sizeof(buf), 100);
		if (n < 0) {
			printf("burst: poll error %d\n", n);
			return 1;
		}
		if (n > max_per_poll)
			max_per_poll = n;
	}
	printf("burst: received=%u in_order=%u max_per_poll=%d\n", received, in_order, max_per_poll);
	wasm_close_bpf_object(obj);
	return 0;
}
