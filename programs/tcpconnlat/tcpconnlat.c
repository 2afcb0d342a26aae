// tcpconnlat: prints each outgoing IPv4 TCP connection's connect latency.
//   CONNECT pid=N comm=C daddr=A.B.C.D dport=N latency_us=N
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tcpconnlat.skel.h"
#include "tcpconnlat.types.h"

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	const unsigned char *a = (const unsigned char *)&e->daddr;
	printf("CONNECT pid=%d comm=%.16s daddr=%u.%u.%u.%u dport=%u latency_us=%llu\n", e->pid, e->comm, a[0], a[1],
	       a[2], a[3], e->dport, (unsigned long long)e->latency_us);
	return 0;
}

int main(void)
{
	struct tcpconnlat_bpf *skel = tcpconnlat_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "tcpconnlat: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	int err = tcpconnlat_bpf__attach(skel);
	struct bpf_buffer *buf = err ? NULL : bpf_buffer__new(skel->maps.events, NULL);
	if (!buf || bpf_buffer__open(buf, on_event, NULL) < 0) {
		fprintf(stderr, "tcpconnlat: attach failed: %s\n", strerror(err ? -err : errno));
		tcpconnlat_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "tcpconnlat: tracing TCP connects\n");
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	bpf_buffer__free(buf);
	tcpconnlat_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
