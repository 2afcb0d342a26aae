// sockfilter: counts IPv4 packets on IFNAME per IP protocol, both
// directions, and prints the non-zero counts at exit.
//   sockfilter IFNAME
//   PROTO ipproto=N name=NAME packets=N
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sockfilter.skel.h"

static const char *proto_name(unsigned p)
{
	switch (p) {
	case 1: return "icmp";
	case 6: return "tcp";
	case 17: return "udp";
	default: return "other";
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sockfilter IFNAME\n");
		return 2;
	}
	struct sockfilter_bpf *skel = sockfilter_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "sockfilter: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	/* The host opens a raw packet socket on the interface for the filter. */
	bpf_set_prog_attach_target(skel->progs.count_by_protocol, argv[1]);
	int err = sockfilter_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "sockfilter: attach to %s failed: %s\n", argv[1], strerror(-err));
		sockfilter_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "sockfilter: counting packets on %s\n", argv[1]);
	struct timespec ts = {3600, 0};
	while (nanosleep(&ts, NULL) == 0)
		;
	int fd = bpf_map__fd(skel->maps.by_proto);
	for (uint32_t p = 0; p < 256; p++) {
		uint64_t n = 0;
		if (bpf_map_lookup_elem(fd, &p, &n) == 0 && n)
			printf("PROTO ipproto=%u name=%s packets=%llu\n", p, proto_name(p), (unsigned long long)n);
	}
	sockfilter_bpf__destroy(skel);
	return 0;
}
