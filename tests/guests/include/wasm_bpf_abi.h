/* The wasm_bpf host ABI as a wasm32-wasi guest sees it (upstream-compatible).
 * Raw imports only; the libbpf-like C SDK builds on these. */
#ifndef UNIBPF_WASM_BPF_ABI_H
#define UNIBPF_WASM_BPF_ABI_H

#include <stdint.h>

#define WASM_BPF_IMPORT(name) \
	__attribute__((import_module("wasm_bpf"), import_name(#name)))

typedef uint64_t bpf_object_handle;

enum wasm_bpf_map_cmd {
	WASM_BPF_MAP_LOOKUP_ELEM = 1,
	WASM_BPF_MAP_UPDATE_ELEM = 2,
	WASM_BPF_MAP_DELETE_ELEM = 3,
	WASM_BPF_MAP_GET_NEXT_KEY = 4,
};

/* Opens and loads a BPF ELF object; 0 on failure. */
WASM_BPF_IMPORT(wasm_load_bpf_object)
bpf_object_handle wasm_load_bpf_object(const void *obj, int obj_len);

/* NULL or "" target: attach by section. */
WASM_BPF_IMPORT(wasm_attach_bpf_program)
int wasm_attach_bpf_program(bpf_object_handle obj, const char *name, const char *target);

/* Calls sample_func(ctx, data, size) for every record; returns how many. */
WASM_BPF_IMPORT(wasm_bpf_buffer_poll)
int wasm_bpf_buffer_poll(bpf_object_handle obj, int fd, int32_t sample_func, uint32_t ctx,
			 char *data, int max_size, int timeout_ms);

WASM_BPF_IMPORT(wasm_bpf_map_fd_by_name)
int wasm_bpf_map_fd_by_name(bpf_object_handle obj, const char *name);

WASM_BPF_IMPORT(wasm_bpf_map_operate)
int wasm_bpf_map_operate(int fd, int cmd, void *key, void *value, void *next_key, uint64_t flags);

WASM_BPF_IMPORT(wasm_close_bpf_object)
int wasm_close_bpf_object(bpf_object_handle obj);

typedef int (*wasm_bpf_sample_fn)(void *ctx, void *data, unsigned long size);

#endif
