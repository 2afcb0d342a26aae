// execve: prints each execve() with its arguments, one line per call:
//   EXECVE pid=N ppid=N comm=C file=PATH argc=N args=["a","b"] [truncated]
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "execve.skel.h"
#include "execve.types.h"

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	printf("EXECVE pid=%d ppid=%d comm=%.16s file=%.64s argc=%d args=[", e->pid, e->ppid, e->comm, e->filename,
	       e->argc);
	for (int i = 0; i < e->argc && i < 8; i++)
		printf("%s\"%.64s\"", i ? "," : "", e->args[i]);
	printf("]%s\n", e->truncated ? " truncated" : "");
	return 0;
}

int main(void)
{
	struct execve_bpf *skel = execve_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "execve: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	int err = execve_bpf__attach(skel);
	struct bpf_buffer *buf = bpf_buffer__new(skel->maps.events, NULL);
	if (err || !buf || bpf_buffer__open(buf, on_event, NULL) < 0) {
		fprintf(stderr, "execve: attach failed: %s\n", strerror(err ? -err : errno));
		execve_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "execve: tracing execve calls\n");
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	bpf_buffer__free(buf);
	execve_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
