/* The six host functions of the `wasm_bpf` import module, as a guest sees them.
 *
 * Compiled for wasm32 they are imports served by `unibpf run` (or upstream
 * wasm-bpf). Compiled for anything else they are ordinary functions, which
 * sdk/c/native/wasm_bpf_libbpf.c implements on libbpf: the same control plane
 * then builds as a native libbpf program (the matrix's and the benchmarks'
 * baseline). Callbacks and their context are table indexes and 32-bit
 * addresses in wasm, plain pointers natively; the typedefs below hold either.
 */
#ifndef UNIBPF_WASM_BPF_H
#define UNIBPF_WASM_BPF_H

#include <stdint.h>

typedef uint64_t bpf_object_skel;

#if defined(__wasm__)
typedef int32_t wasm_bpf_callback_t; /* index into the exported table */
typedef uint32_t wasm_bpf_ctx_t;
/* Modules built before February 2023 import from "env"; define this to build
 * one (the runtime serves both). */
#ifndef UNIBPF_IMPORT_MODULE
#define UNIBPF_IMPORT_MODULE "wasm_bpf"
#endif
#define UNIBPF_IMPORT(name) __attribute__((import_module(UNIBPF_IMPORT_MODULE), import_name(#name)))
#else
typedef intptr_t wasm_bpf_callback_t; /* int (*)(void *ctx, void *data, size_t size) */
typedef uintptr_t wasm_bpf_ctx_t;
#define UNIBPF_IMPORT(name)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Returns a handle, or 0 when the object does not load (errno-style details
 * go to the runtime's log). */
UNIBPF_IMPORT(wasm_load_bpf_object)
bpf_object_skel wasm_load_bpf_object(const void *obj_buf, int obj_buf_sz);
UNIBPF_IMPORT(wasm_close_bpf_object)
int wasm_close_bpf_object(bpf_object_skel obj);
UNIBPF_IMPORT(wasm_attach_bpf_program)
int wasm_attach_bpf_program(bpf_object_skel obj, const char *name, const char *attach_target);
UNIBPF_IMPORT(wasm_bpf_buffer_poll)
int wasm_bpf_buffer_poll(bpf_object_skel program, int fd, wasm_bpf_callback_t sample_func, wasm_bpf_ctx_t ctx,
			 char *data, int max_size, int timeout_ms);
UNIBPF_IMPORT(wasm_bpf_map_fd_by_name)
int wasm_bpf_map_fd_by_name(bpf_object_skel obj, const char *name);
UNIBPF_IMPORT(wasm_bpf_map_operate)
int wasm_bpf_map_operate(int fd, int cmd, void *key, void *value, void *next_key, uint64_t flags);

#ifdef __cplusplus
}
#endif

#endif /* UNIBPF_WASM_BPF_H */
