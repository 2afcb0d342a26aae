// opensnoop: prints open()/openat() calls and their results.
//   opensnoop [-p PID]
//   OPEN pid=N tid=N comm=C ret=FD|-ERRNO flags=0xF path=P
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opensnoop.skel.h"
#include "opensnoop.types.h"

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	printf("OPEN pid=%d tid=%d comm=%.16s ret=%d flags=0x%x path=%.128s\n", e->pid, e->tid, e->comm, e->ret,
	       e->flags, e->path);
	return 0;
}

int main(int argc, char **argv)
{
	int pid = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-p") && i + 1 < argc) {
			pid = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: opensnoop [-p PID]\n");
			return 2;
		}
	}
	struct opensnoop_bpf *skel = opensnoop_bpf__open();
	if (!skel) {
		fprintf(stderr, "opensnoop: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->target_tgid = pid;
	int err = opensnoop_bpf__load(skel);
	if (!err)
		err = opensnoop_bpf__attach(skel);
	struct bpf_buffer *buf = err ? NULL : bpf_buffer__new(skel->maps.events, NULL);
	if (!buf || bpf_buffer__open(buf, on_event, NULL) < 0) {
		fprintf(stderr, "opensnoop: load/attach failed: %s\n", strerror(err ? -err : errno));
		opensnoop_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "opensnoop: tracing opens%s\n", pid ? " of one process" : "");
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	bpf_buffer__free(buf);
	opensnoop_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
