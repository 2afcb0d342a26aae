// exitsnoop: prints every process exit with its status and age, and at the
// end how many the BPF side reported.
//   exitsnoop [-n MAX_REPORTS]
//   EXIT pid=N ppid=N comm=C code=N signal=N age_ms=N
//   REPORTED total=N
// -n goes into a .data variable before load; the total comes back from the
// .bss map.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv)
{
	long max = -1;
	if (argc == 3 && !strcmp(argv[1], "-n")) {
		max = atol(argv[2]);
	} else if (argc != 1) {
		fprintf(stderr, "usage: exitsnoop [-n MAX_REPORTS]\n");
		return 2;
	}
	struct exitsnoop_bpf *skel = exitsnoop_bpf__open();
	if (!skel) {
		fprintf(stderr, "exitsnoop: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	if (max >= 0)
		skel->data->max_reports = (uint32_t)max;
	int err = exitsnoop_bpf__load(skel);
	if (err) {
		fprintf(stderr, "exitsnoop: load failed: %s\n", strerror(-err));
		exitsnoop_bpf__destroy(skel);
		return 1;
	}
	err = exitsnoop_bpf__attach(skel);
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
	/* The last poll before -EINTR drained what had arrived. */
	if (exitsnoop_bpf__bss_read(skel) == 0)
		printf("REPORTED total=%llu\n", (unsigned long long)skel->bss->reported);
	bpf_buffer__free(buf);
	exitsnoop_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
