// Prints every exec on the host: the demo module, and the lifecycle tests' guest.
//
//   execsnoop [--ignore-eintr] [--spin-in-callback]
//
// --ignore-eintr and --spin-in-callback make a badly behaved guest, to show that
// the runtime still stops it.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wasm_bpf_abi.h"
#include "exec.bpf.h"

struct exec_event {
	unsigned int pid;
	unsigned int tgid;
	char comm[16];
	char filename[128];
};

static int spin_in_callback;

static int on_event(void *ctx, void *data, unsigned long size)
{
	const struct exec_event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	printf("exec pid=%u comm=%.16s file=%.128s\n", e->tgid, e->comm, e->filename);
	if (spin_in_callback) {
		fprintf(stderr, "execsnoop: spinning in the callback\n");
		for (volatile unsigned long i = 0;; i++)
			;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int ignore_eintr = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ignore-eintr"))
			ignore_eintr = 1;
		else if (!strcmp(argv[i], "--spin-in-callback"))
			spin_in_callback = 1;
	}
	bpf_object_handle obj = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	if (!obj) {
		fprintf(stderr, "execsnoop: failed to load the BPF object\n");
		return 1;
	}
	int err = wasm_attach_bpf_program(obj, "unibpf_t_exec", NULL);
	if (err < 0) {
		fprintf(stderr, "execsnoop: attach failed: %d\n", err);
		return 1;
	}
	int fd = wasm_bpf_map_fd_by_name(obj, "unibpf_t_rb");
	if (fd < 0) {
		fprintf(stderr, "execsnoop: no ring buffer: %d\n", fd);
		return 1;
	}
	fprintf(stderr, "execsnoop: attached, waiting for exec events\n");
	static char buf[sizeof(struct exec_event)];
	for (;;) {
		err = wasm_bpf_buffer_poll(obj, fd, (int32_t)on_event, 0, buf, sizeof(buf), 100);
		if (err == -EINTR) {
			if (ignore_eintr)
				continue;
			break;
		}
		if (err < 0) {
			fprintf(stderr, "execsnoop: poll failed: %d\n", err);
			break;
		}
	}
	wasm_close_bpf_object(obj);
	fprintf(stderr, "execsnoop: stopped\n");
	return err < 0 && err != -EINTR ? 1 : 0;
}
