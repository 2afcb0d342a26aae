// tc: counts ingress packets and bytes per IP protocol on IFNAME and prints
// the table at exit (and every -i seconds).
//   tc IFNAME [-i SECONDS]
//   PROTO ipproto=N packets=N bytes=N
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tc.skel.h"
#include "tc.types.h"

static void print_counts(int fd)
{
	uint32_t key, next;
	int err = bpf_map_get_next_key(fd, NULL, &next);
	while (err == 0) {
		struct counts c;
		if (bpf_map_lookup_elem(fd, &next, &c) == 0)
			printf("PROTO ipproto=%u packets=%llu bytes=%llu\n", next, (unsigned long long)c.packets,
			       (unsigned long long)c.bytes);
		key = next;
		err = bpf_map_get_next_key(fd, &key, &next);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: tc IFNAME [-i SECONDS]\n");
		return 2;
	}
	int interval = argc > 3 && !strcmp(argv[2], "-i") ? atoi(argv[3]) : 0;
	static char target[64];
	snprintf(target, sizeof(target), "%s:ingress", argv[1]);

	struct tc_bpf *skel = tc_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "tc: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	bpf_set_prog_attach_target(skel->progs.count_ingress, target);
	int err = tc_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "tc: attach to %s failed: %s\n", target, strerror(-err));
		tc_bpf__destroy(skel);
		return 1;
	}
	int fd = bpf_map__fd(skel->maps.by_proto);
	fprintf(stderr, "tc: counting ingress on %s\n", argv[1]);
	for (;;) {
		struct timespec ts = {interval ? interval : 3600, 0};
		if (nanosleep(&ts, NULL) != 0)
			break;
		if (interval)
			print_counts(fd);
	}
	print_counts(fd);
	tc_bpf__destroy(skel);
	return 0;
}
