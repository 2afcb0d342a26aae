// xdp: prints each packet arriving on IFNAME and, at exit, the totals summed
// over the per-CPU counters.
//   xdp IFNAME
//   PACKET size=N eth=0xPPPP ipproto=N dport=N
//   TOTAL packets=N bytes=N
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xdp.skel.h"
#include "xdp.types.h"

static int on_packet(void *ctx, void *data, size_t size)
{
	const struct packet *p = data;
	(void)ctx;
	if (size < sizeof(*p))
		return 0;
	printf("PACKET size=%u eth=0x%04x ipproto=%u dport=%u\n", p->size, p->eth_proto, p->ip_proto, p->dport);
	return 0;
}

/* A per-CPU value is one 8-byte slot per possible CPU. The host fills as
 * many as the machine has; the rest of a zeroed buffer this large stays 0. */
#define MAX_CPUS 4096

static uint64_t sum_slot(int fd, uint32_t key)
{
	static uint64_t values[MAX_CPUS];
	uint64_t sum = 0;
	memset(values, 0, sizeof(values));
	if (bpf_map_lookup_elem(fd, &key, values) == 0)
		for (int i = 0; i < MAX_CPUS; i++)
			sum += values[i];
	return sum;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: xdp IFNAME\n");
		return 2;
	}
	struct xdp_bpf *skel = xdp_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "xdp: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	bpf_set_prog_attach_target(skel->progs.count_packets, argv[1]);
	int err = xdp_bpf__attach(skel);
	struct bpf_buffer *buf = err ? NULL : bpf_buffer__new(skel->maps.packets, NULL);
	if (!buf || bpf_buffer__open(buf, on_packet, NULL) < 0) {
		fprintf(stderr, "xdp: attach to %s failed: %s\n", argv[1], strerror(err ? -err : errno));
		xdp_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "xdp: counting packets on %s\n", argv[1]);
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	int fd = bpf_map__fd(skel->maps.totals);
	if (fd >= 0)
		printf("TOTAL packets=%llu bytes=%llu\n", (unsigned long long)sum_slot(fd, 0),
		       (unsigned long long)sum_slot(fd, 1));
	bpf_buffer__free(buf);
	xdp_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
