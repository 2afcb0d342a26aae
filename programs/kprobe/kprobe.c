// kprobe: prints every file removal (do_unlinkat) and its result.
//   UNLINK pid=N comm=C name=PATH
//   UNLINKED pid=N comm=C ret=R
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kprobe.skel.h"
#include "kprobe.types.h"

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	if (e->exit)
		printf("UNLINKED pid=%d comm=%.16s ret=%d\n", e->pid, e->comm, e->ret);
	else
		printf("UNLINK pid=%d comm=%.16s name=%.64s\n", e->pid, e->comm, e->name);
	return 0;
}

int main(void)
{
	struct kprobe_bpf *skel = kprobe_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "kprobe: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	int err = kprobe_bpf__attach(skel);
	struct bpf_buffer *buf = err ? NULL : bpf_buffer__new(skel->maps.events, NULL);
	if (!buf || bpf_buffer__open(buf, on_event, NULL) < 0) {
		fprintf(stderr, "kprobe: attach failed: %s\n", strerror(err ? -err : errno));
		kprobe_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "kprobe: tracing do_unlinkat\n");
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	bpf_buffer__free(buf);
	kprobe_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
