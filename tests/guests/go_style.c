// The TinyGo calling convention: poll through callback-wrapper (no callback
// argument) and receive records in the exported "go-callback".
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "wasm_bpf_abi.h"
#include "exec.bpf.h"

__attribute__((import_module("callback-wrapper"), import_name("wasm_bpf_buffer_poll")))
int wrapper_poll(bpf_object_handle obj, int fd, uint32_t ctx, char *data, int max_size, int timeout_ms);

struct exec_event {
	unsigned int pid;
	unsigned int tgid;
	char comm[16];
	char filename[128];
};

__attribute__((export_name("go-callback")))
int go_callback(uint32_t ctx, uint32_t data, uint32_t size)
{
	const struct exec_event *e = (const void *)(uintptr_t)data;
	if (size >= sizeof(*e))
		printf("go-callback ctx=%u pid=%u comm=%.16s\n", ctx, e->tgid, e->comm);
	return 0;
}

int main(void)
{
	bpf_object_handle obj = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	if (!obj || wasm_attach_bpf_program(obj, "unibpf_t_exec", NULL) < 0)
		return 1;
	int fd = wasm_bpf_map_fd_by_name(obj, "unibpf_t_rb");
	fprintf(stderr, "go_style: ready\n");
	static char buf[sizeof(struct exec_event)];
	for (;;) {
		int n = wrapper_poll(obj, fd, 77, buf, sizeof(buf), 100);
		if (n == -EINTR)
			break;
		if (n < 0)
			return 1;
	}
	return 0;
}
