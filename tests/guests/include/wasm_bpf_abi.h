/* The wasm_bpf host ABI as a wasm32-wasi guest sees it (upstream-compatible):
 * the raw imports of the SDK's unibpf/wasm_bpf.h, under the names the test
 * guests use, without the libbpf-like layer. */
#ifndef UNIBPF_WASM_BPF_ABI_H
#define UNIBPF_WASM_BPF_ABI_H

#include "unibpf/wasm_bpf.h"

typedef bpf_object_skel bpf_object_handle;

enum wasm_bpf_map_cmd {
	WASM_BPF_MAP_LOOKUP_ELEM = 1,
	WASM_BPF_MAP_UPDATE_ELEM = 2,
	WASM_BPF_MAP_DELETE_ELEM = 3,
	WASM_BPF_MAP_GET_NEXT_KEY = 4,
};

typedef int (*wasm_bpf_sample_fn)(void *ctx, void *data, unsigned long size);

#endif
