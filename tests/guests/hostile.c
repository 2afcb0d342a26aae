// Feeds the host bad pointers, strings, lengths, handles and fds, and prints
// what each call returned as "name=value". The runtime must answer every one
// with an error code and keep running.
//   hostile POSSIBLE_CPUS [FOREIGN_FD]
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm_bpf_abi.h"
#include "maps.bpf.h"
#include "exec.bpf.h"

static int on_event(void *ctx, void *data, unsigned long size)
{
	(void)ctx, (void)data, (void)size;
	return 0;
}

int main(int argc, char **argv)
{
	int ncpus = argc > 1 ? atoi(argv[1]) : 1;
	int foreign_fd = argc > 2 ? atoi(argv[2]) : -1;

	/* A fresh page at the very end of linear memory, so pointers can run off
	 * the end without touching anything malloc uses. */
	uintptr_t page = (uintptr_t)__builtin_wasm_memory_grow(0, 1) * 65536;
	uintptr_t mem_end = page + 65536;
	char *tail = (char *)page;
	memset(tail, 'A', 65536);

	printf("load_oob=%llu\n", (unsigned long long)wasm_load_bpf_object((void *)(mem_end - 16), 4096));
	printf("load_huge=%llu\n", (unsigned long long)wasm_load_bpf_object(maps_bpf_o, 0x7fffffff));
	printf("load_garbage=%llu\n", (unsigned long long)wasm_load_bpf_object("definitely not ELF", 18));
	printf("load_negative=%llu\n", (unsigned long long)wasm_load_bpf_object(maps_bpf_o, -1));

	bpf_object_handle obj = wasm_load_bpf_object(maps_bpf_o, (int)maps_bpf_o_len);
	bpf_object_handle events = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	printf("load_ok=%d\n", obj != 0 && events != 0);

	printf("attach_bad_handle=%d\n", wasm_attach_bpf_program(12345, "unibpf_t_noop", NULL));
	printf("attach_oob_name=%d\n", wasm_attach_bpf_program(obj, (const char *)0xfffffff0u, NULL));
	printf("attach_unterminated=%d\n", wasm_attach_bpf_program(obj, (const char *)(mem_end - 100), NULL));
	static char long_name[1000];
	memset(long_name, 'x', sizeof(long_name) - 1);
	printf("attach_long_name=%d\n", wasm_attach_bpf_program(obj, long_name, NULL));
	printf("attach_no_such_prog=%d\n", wasm_attach_bpf_program(obj, "nope", NULL));
	printf("attach_oob_target=%d\n", wasm_attach_bpf_program(obj, "unibpf_t_noop", (const char *)(mem_end - 4)));

	printf("fd_bad_handle=%d\n", wasm_bpf_map_fd_by_name(999, "t_hash"));
	printf("fd_oob_name=%d\n", wasm_bpf_map_fd_by_name(obj, (const char *)(mem_end + 100)));
	int hash = wasm_bpf_map_fd_by_name(obj, "t_hash");
	int pcpu = wasm_bpf_map_fd_by_name(obj, "t_pcpu");
	int rb = wasm_bpf_map_fd_by_name(events, "unibpf_t_rb");

	uint32_t key = 1;
	uint64_t value = 7;
	printf("op_cmd99=%d\n", wasm_bpf_map_operate(hash, 99, &key, &value, 0, 0));
	printf("op_key_oob=%d\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_LOOKUP_ELEM, (void *)(mem_end - 2), &value, 0, 0));
	printf("op_value_oob=%d\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_UPDATE_ELEM, &key, (void *)(mem_end - 4), 0, 0));
	printf("op_next_oob=%d\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_GET_NEXT_KEY, NULL, 0, (void *)0xffffffffu, 0));
	if (ncpus > 1)
		/* Room for one 8-byte slot, not one per CPU. */
		printf("op_pcpu_short=%d\n", wasm_bpf_map_operate(pcpu, WASM_BPF_MAP_LOOKUP_ELEM, &key, (void *)(mem_end - 8), 0, 0));
	else
		printf("op_pcpu_short=skipped\n");
	printf("op_stdout_fd=%d\n", wasm_bpf_map_operate(1, WASM_BPF_MAP_LOOKUP_ELEM, &key, &value, 0, 0));
	printf("op_negative_fd=%d\n", wasm_bpf_map_operate(-1, WASM_BPF_MAP_LOOKUP_ELEM, &key, &value, 0, 0));
	if (foreign_fd >= 0)
		printf("op_foreign_fd=%d\n", wasm_bpf_map_operate(foreign_fd, WASM_BPF_MAP_LOOKUP_ELEM, &key, &value, 0, 0));

	static char buf[256];
	printf("poll_not_event_map=%d\n", wasm_bpf_buffer_poll(obj, hash, (int32_t)on_event, 0, buf, sizeof(buf), 0));
	printf("poll_other_objects_map=%d\n", wasm_bpf_buffer_poll(obj, rb, (int32_t)on_event, 0, buf, sizeof(buf), 0));
	printf("poll_buf_oob=%d\n", wasm_bpf_buffer_poll(events, rb, (int32_t)on_event, 0, (char *)(mem_end - 10), 256, 0));
	printf("poll_bad_callback=%d\n", wasm_bpf_buffer_poll(events, rb, 9999, 0, buf, sizeof(buf), 0));
	printf("poll_ok=%d\n", wasm_bpf_buffer_poll(events, rb, (int32_t)on_event, 0, buf, sizeof(buf), 0));

	printf("close_bad=%d\n", wasm_close_bpf_object(4242));
	/* The runtime is still serving us. */
	value = 99;
	int u = wasm_bpf_map_operate(hash, WASM_BPF_MAP_UPDATE_ELEM, &key, &value, 0, 0);
	value = 0;
	int l = wasm_bpf_map_operate(hash, WASM_BPF_MAP_LOOKUP_ELEM, &key, &value, 0, 0);
	printf("still_works=%d,%d,%llu\n", u, l, (unsigned long long)value);
	printf("close=%d,%d\n", wasm_close_bpf_object(obj), wasm_close_bpf_object(events));
	return 0;
}
