// Loads an object with a program on a tracepoint that does not exist, marked
// optional (or, with "required", not marked), attaches both programs, and
// counts execs for a second.
//   optional [required]
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wasm_bpf_abi.h"
#include "optional.bpf.h"
#include "required.bpf.h"

int main(int argc, char **argv)
{
	int required = argc > 1 && !strcmp(argv[1], "required");
	bpf_object_handle obj = required ? wasm_load_bpf_object(required_bpf_o, (int)required_bpf_o_len)
					 : wasm_load_bpf_object(optional_bpf_o, (int)optional_bpf_o_len);
	printf("load=%d\n", obj != 0);
	if (!obj)
		return 1;
	printf("attach_counted=%d\n", wasm_attach_bpf_program(obj, "unibpf_t_counted", NULL));
	printf("attach_nowhere=%d\n", wasm_attach_bpf_program(obj, "unibpf_t_nowhere", NULL));
	fflush(stdout);
	fprintf(stderr, "optional: counting execs\n");
	struct timespec ts = {1, 500000000};
	nanosleep(&ts, NULL);
	uint32_t key = 0;
	uint64_t n = 0;
	int fd = wasm_bpf_map_fd_by_name(obj, "unibpf_t_counts");
	wasm_bpf_map_operate(fd, WASM_BPF_MAP_LOOKUP_ELEM, &key, &n, 0, 0);
	printf("execs=%llu\n", (unsigned long long)n);
	return 0;
}
