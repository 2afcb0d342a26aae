// exitsnoop: prints every process exit with its status and age.
//   EXIT pid=N ppid=N comm=C code=N signal=N age_ms=N
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "exitsnoop.skel.h"
#include "exitsnoop.types.h"

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	printf("EXIT pid=%d ppid=%d comm=%.16s code=%d signal=%d age_ms=%llu\n", e->pid, e->ppid, e->comm,
	       (e->exit_code >> 8) & 0xff, e->exit_code & 0x7f, (unsigned long long)(e->age_ns / 1000000));
	return 0;
}

int main(void)
{
	struct exitsnoop_bpf *skel = exitsnoop_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "exitsnoop: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	int err = exitsnoop_bpf__attach(skel);
	/* libbpf-tools arity: the heap map is passed along, whichever transport
	 * the host ends up using. */
	struct bpf_buffer *buf = err ? NULL : bpf_buffer__new(skel->maps.events, skel->maps.heap);
	if (!buf || bpf_buffer__open(buf, on_event, NULL, NULL) < 0) {
		fprintf(stderr, "exitsnoop: attach failed: %s\n", strerror(err ? -err : errno));
		exitsnoop_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "exitsnoop: tracing process exits\n");
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	bpf_buffer__free(buf);
	exitsnoop_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
