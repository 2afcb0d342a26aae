// Exercises wasm_bpf_map_operate and prints one "name=value" line per check.
//   maps POSSIBLE_CPUS [--hold]
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasm_bpf_abi.h"
#include "maps.bpf.h"

int main(int argc, char **argv)
{
	int ncpus = argc > 1 ? atoi(argv[1]) : 1;
	bpf_object_handle obj = wasm_load_bpf_object(maps_bpf_o, (int)maps_bpf_o_len);
	if (!obj) {
		fprintf(stderr, "maps: load failed\n");
		return 1;
	}
	/* The same object at an odd address must load too. */
	unsigned char *copy = malloc(maps_bpf_o_len + 1);
	memcpy(copy + 1, maps_bpf_o, maps_bpf_o_len);
	bpf_object_handle odd = wasm_load_bpf_object(copy + 1, (int)maps_bpf_o_len);
	printf("load_unaligned=%d\n", odd != 0 && wasm_close_bpf_object(odd) == 0);
	free(copy);

	int hash = wasm_bpf_map_fd_by_name(obj, "t_hash");
	int pcpu = wasm_bpf_map_fd_by_name(obj, "t_pcpu");
	printf("fd_ok=%d\n", hash >= 0 && pcpu >= 0);
	printf("fd_cached=%d\n", wasm_bpf_map_fd_by_name(obj, "t_hash") == hash);
	printf("missing_map=%d\n", wasm_bpf_map_fd_by_name(obj, "nope"));

	uint32_t key;
	uint64_t value;
	for (key = 1; key <= 5; key++) {
		value = key * 100;
		int r = wasm_bpf_map_operate(hash, WASM_BPF_MAP_UPDATE_ELEM, &key, &value, 0, 0);
		if (r)
			printf("update_%u=%d\n", key, r);
	}
	key = 3;
	value = 0;
	printf("lookup_3=%d,%llu\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_LOOKUP_ELEM, &key, &value, 0, 0),
	       (unsigned long long)value);
	/* BPF_NOEXIST on an existing key */
	printf("update_noexist=%d\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_UPDATE_ELEM, &key, &value, 0, 1));
	printf("delete_3=%d\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_DELETE_ELEM, &key, 0, 0, 0));
	printf("lookup_deleted=%d\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_LOOKUP_ELEM, &key, &value, 0, 0));
	printf("delete_missing=%d\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_DELETE_ELEM, &key, 0, 0, 0));

	/* Full iteration from a NULL key: the sum of keys and values tells us every
	 * remaining element was seen exactly once. */
	uint32_t cur, next;
	unsigned count = 0, key_sum = 0;
	uint64_t value_sum = 0;
	int r = wasm_bpf_map_operate(hash, WASM_BPF_MAP_GET_NEXT_KEY, NULL, 0, &next, 0);
	while (r == 0) {
		count++;
		key_sum += next;
		wasm_bpf_map_operate(hash, WASM_BPF_MAP_LOOKUP_ELEM, &next, &value, 0, 0);
		value_sum += value;
		cur = next;
		r = wasm_bpf_map_operate(hash, WASM_BPF_MAP_GET_NEXT_KEY, &cur, 0, &next, 0);
	}
	printf("iterate=%u,%u,%llu,end=%d\n", count, key_sum, (unsigned long long)value_sum, r);

	/* Per-CPU: one 8-byte slot per possible CPU. */
	uint64_t slots[256];
	if (ncpus > 256)
		ncpus = 256;
	for (int i = 0; i < ncpus; i++)
		slots[i] = 1000 + i;
	key = 2;
	printf("pcpu_update=%d\n", wasm_bpf_map_operate(pcpu, WASM_BPF_MAP_UPDATE_ELEM, &key, slots, 0, 0));
	for (int i = 0; i < ncpus; i++)
		slots[i] = 0;
	r = wasm_bpf_map_operate(pcpu, WASM_BPF_MAP_LOOKUP_ELEM, &key, slots, 0, 0);
	uint64_t pcpu_sum = 0;
	for (int i = 0; i < ncpus; i++)
		pcpu_sum += slots[i];
	printf("pcpu_lookup=%d,%llu\n", r, (unsigned long long)pcpu_sum);

	printf("bad_fd=%d\n", wasm_bpf_map_operate(12345, WASM_BPF_MAP_LOOKUP_ELEM, &key, &value, 0, 0));
	printf("close=%d\n", wasm_close_bpf_object(obj));
	printf("after_close=%d\n", wasm_bpf_map_operate(hash, WASM_BPF_MAP_LOOKUP_ELEM, &key, &value, 0, 0));

	/* --hold: keep a map open and say its fd, for the cross-module fd test. */
	if (argc > 2 && !strcmp(argv[2], "--hold")) {
		obj = wasm_load_bpf_object(maps_bpf_o, (int)maps_bpf_o_len);
		printf("hold_fd=%d\n", wasm_bpf_map_fd_by_name(obj, "t_hash"));
		fflush(stdout);
		struct timespec ts = {1, 0};
		while (nanosleep(&ts, NULL) == 0)
			;
		wasm_close_bpf_object(obj);
	}
	return 0;
}
