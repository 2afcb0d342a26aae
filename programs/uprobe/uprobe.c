// uprobe: traces calls of uprobe_add and uprobe_scale in a binary.
//   uprobe BINARY
//   ENTER func=uprobe_add pid=N args=A,B
//   EXIT func=uprobe_add pid=N ret=R
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "uprobe.skel.h"
#include "uprobe.types.h"

static const char *func_name(int f)
{
	return f == 1 ? "uprobe_add" : f == 2 ? "uprobe_scale" : "?";
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	if (e->kind == 1)
		printf("ENTER func=%s pid=%d args=%lld,%lld\n", func_name(e->func), e->pid, (long long)e->args[0],
		       (long long)e->args[1]);
	else
		printf("EXIT func=%s pid=%d ret=%lld\n", func_name(e->func), e->pid, (long long)e->ret);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: uprobe BINARY\n");
		return 2;
	}
	static char add[4096], scale[4096];
	snprintf(add, sizeof(add), "%s:uprobe_add", argv[1]);
	snprintf(scale, sizeof(scale), "%s:uprobe_scale", argv[1]);

	struct uprobe_bpf *skel = uprobe_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "uprobe: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	bpf_set_prog_attach_target(skel->progs.enter_add, add);
	bpf_set_prog_attach_target(skel->progs.exit_add, add);
	bpf_set_prog_attach_target(skel->progs.enter_scale, scale);
	bpf_set_prog_attach_target(skel->progs.exit_scale, scale);
	int err = uprobe_bpf__attach(skel);
	struct bpf_buffer *buf = err ? NULL : bpf_buffer__new(skel->maps.events, NULL);
	if (!buf || bpf_buffer__open(buf, on_event, NULL) < 0) {
		fprintf(stderr, "uprobe: attach failed: %s\n", strerror(err ? -err : errno));
		uprobe_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "uprobe: probing %s\n", argv[1]);
	while ((err = bpf_buffer__poll(buf, 100)) >= 0)
		;
	bpf_buffer__free(buf);
	uprobe_bpf__destroy(skel);
	return err == -EINTR ? 0 : 1;
}
