/* The stand-in ebpfapi.dll's state, shared by its two files: ebpfapi.c
 * (the exported calls) and object.c (reading programs and maps from an
 * object's ELF symbols and BTF map definitions). See ebpfapi.c. */
#ifndef UNIBPF_STAND_IN_EBPFAPI_H
#define UNIBPF_STAND_IN_EBPFAPI_H

#include <stddef.h>
#include <stdint.h>

#define API __declspec(dllexport)
#define MAX_PROGS 16
#define MAX_MAPS 16
#define MAX_FDS 256
#define MAX_RECORDS 4096
/* What libbpf_num_possible_cpus answers: two, so per-CPU sizes differ
 * from plain ones. */
#define POSSIBLE_CPUS 2

/* Windows CRT errno values (errno.h). */
#define X_ENOENT 2
#define X_EBADF 9
#define X_ENOMEM 12
#define X_EEXIST 17
#define X_EINVAL 22
#define X_E2BIG 7
/* ebpf_result_t: EBPF_SUCCESS, EBPF_INVALID_FD. */
#define EBPF_OK 0
#define EBPF_BAD_FD 4
/* efW map types (include/ebpf_structs.h). */
#define MAP_HASH 1
#define MAP_ARRAY 2
#define MAP_PERCPU_HASH 4
#define MAP_PERCPU_ARRAY 5
#define MAP_LRU_PERCPU_HASH 11
#define MAP_RINGBUF 13

struct bpf_object;

struct bpf_program {
	struct bpf_object *obj;
	char name[64];
	char section[64];
	int fd;
};

struct bpf_map {
	struct bpf_object *obj;
	char name[64];
	uint32_t type, key_size, value_size, max_entries;
	int fd;
	unsigned char *keys, *values, *used; /* max_entries slots */
};

struct bpf_object {
	unsigned char *elf;
	size_t size;
	int native, loaded;
	int execution_type;
	int nprogs, nmaps;
	struct bpf_program progs[MAX_PROGS];
	struct bpf_map maps[MAX_MAPS];
	int links, attachments, ring_buffers;
};

struct bpf_link {
	struct bpf_program *prog;
};

typedef int (*ring_buffer_sample_fn)(void *ctx, void *data, size_t size);

struct ring_buffer {
	struct bpf_map *map;
	ring_buffer_sample_fn cb;
	void *ctx;
};


/* Reads o->elf: its programs and maps, typed and sized from its BTF.
 * 0, or -1 for bytes that are not a readable BPF ELF. */
int stand_in_parse(struct bpf_object *o);

#endif
