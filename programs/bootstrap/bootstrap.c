// bootstrap: prints process starts and ends with their durations.
//   bootstrap [-d MIN_DURATION_MS]
// With -d, only processes that ran at least that long are shown (exits only).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.skel.h"
#include "bootstrap.types.h"

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	if (e->exit_event)
		printf("EXIT pid=%d ppid=%d code=%u duration_ms=%llu comm=%.16s\n", e->pid, e->ppid, e->exit_code,
		       (unsigned long long)(e->duration_ns / 1000000), e->comm);
	else
		printf("EXEC pid=%d ppid=%d comm=%.16s file=%.127s\n", e->pid, e->ppid, e->comm, e->filename);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long min_ms = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-d") && i + 1 < argc) {
			min_ms = strtoull(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: bootstrap [-d MIN_DURATION_MS]\n");
			return 2;
		}
	}

	struct bootstrap_bpf *skel = bootstrap_bpf__open();
	if (!skel) {
		fprintf(stderr, "bootstrap: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	/* Patched into .rodata before load: the verifier sees a constant. */
	skel->rodata->min_duration_ns = min_ms * 1000000ULL;

	int err = bootstrap_bpf__load(skel);
	if (!err)
		err = bootstrap_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "bootstrap: load/attach failed: %s\n", strerror(-err));
		bootstrap_bpf__destroy(skel);
		return 1;
	}
	struct bpf_buffer *buf = bpf_buffer__new(skel->maps.rb, NULL);
	if (!buf || bpf_buffer__open(buf, on_event, NULL) < 0) {
		fprintf(stderr, "bootstrap: cannot open the event buffer\n");
		bootstrap_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "bootstrap: tracing process starts and ends (min duration %llu ms)\n", min_ms);
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	bpf_buffer__free(buf);
	bootstrap_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
