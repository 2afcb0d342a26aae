// sockops: adds a TCP header option to every TCP connection of the processes
// in a cgroup and checks it arrives. Prints each connection as it is
// established and, at exit, the option counters.
//   sockops CGROUP_PATH
//   ESTABLISHED side=active|passive lport=N rport=N
//   OPTIONS written=N seen=N intact=N
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sockops.skel.h"
#include "sockops.types.h"

static int on_connection(void *ctx, void *data, size_t size)
{
	const struct established *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	printf("ESTABLISHED side=%s lport=%u rport=%u\n", e->active ? "active" : "passive", e->local_port,
	       e->remote_port);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sockops CGROUP_PATH\n");
		return 2;
	}
	struct sockops_bpf *skel = sockops_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "sockops: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	bpf_set_prog_attach_target(skel->progs.tcp_option, argv[1]);
	int err = sockops_bpf__attach(skel);
	struct bpf_buffer *buf = err ? NULL : bpf_buffer__new(skel->maps.connections, NULL);
	if (!buf || bpf_buffer__open(buf, on_connection, NULL) < 0) {
		fprintf(stderr, "sockops: attach to %s failed: %s\n", argv[1], strerror(err ? -err : errno));
		sockops_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "sockops: adding TCP options in %s\n", argv[1]);
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	int fd = bpf_map__fd(skel->maps.counters);
	uint64_t n[3] = {0};
	for (uint32_t k = 0; k < 3; k++)
		bpf_map_lookup_elem(fd, &k, &n[k]);
	printf("OPTIONS written=%llu seen=%llu intact=%llu\n", (unsigned long long)n[0], (unsigned long long)n[1],
	       (unsigned long long)n[2]);
	bpf_buffer__free(buf);
	sockops_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
