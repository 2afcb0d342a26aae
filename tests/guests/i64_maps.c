// Declares wasm_bpf_map_operate with 64-bit pointer parameters, as the upstream
// Rust and Go guest SDKs do, and round-trips a value through it.
#include <stdint.h>
#include <stdio.h>

#include "wasm_bpf_abi.h"
#include "maps.bpf.h"

__attribute__((import_module("wasm_bpf"), import_name("wasm_bpf_map_operate")))
int map_operate_i64(int fd, int cmd, uint64_t key, uint64_t value, uint64_t next_key, uint64_t flags);

int main(void)
{
	bpf_object_handle obj = wasm_load_bpf_object(maps_bpf_o, (int)maps_bpf_o_len);
	int fd = wasm_bpf_map_fd_by_name(obj, "t_hash");
	uint32_t key = 42;
	uint64_t value = 4242, out = 0;
	int u = map_operate_i64(fd, WASM_BPF_MAP_UPDATE_ELEM, (uintptr_t)&key, (uintptr_t)&value, 0, 0);
	int l = map_operate_i64(fd, WASM_BPF_MAP_LOOKUP_ELEM, (uintptr_t)&key, (uintptr_t)&out, 0, 0);
	uint32_t first = 0;
	int n = map_operate_i64(fd, WASM_BPF_MAP_GET_NEXT_KEY, 0, 0, (uintptr_t)&first, 0);
	int bad = map_operate_i64(fd, WASM_BPF_MAP_LOOKUP_ELEM, 0x100000000ull, (uintptr_t)&out, 0, 0);
	printf("i64: update=%d lookup=%d value=%llu first_key=%d,%u high_ptr=%d\n", u, l,
	       (unsigned long long)out, n, first, bad);
	wasm_close_bpf_object(obj);
	return 0;
}
