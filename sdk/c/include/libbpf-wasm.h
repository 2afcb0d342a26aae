/* unibpf C guest SDK: a libbpf-like API for wasm32-wasi control planes.
 *
 * Header-only. It keeps the upstream wasm-bpf / libbpf names, so guest sources
 * written for them compile unchanged:
 *   - skeletons from `unibpf gen skeleton X.bpf.o > X.skel.h`
 *     (bpf_object__{open,load,attach,destroy}_skeleton);
 *   - maps: bpf_map__fd, bpf_map_{lookup,update,delete}_elem[_flags],
 *     bpf_map_get_next_key, bpf_map__{lookup,update,delete}_elem;
 *   - events: bpf_buffer__{new,open,poll,free} over a ring buffer or a perf
 *     event array, whichever the object ends up with;
 *   - bpf_program__set_autoload (really leaves the program out of the object
 *     handed to the kernel), bpf_program__set_autoattach,
 *     bpf_set_prog_attach_target (interface for xdp/tc, cgroup path for
 *     cgroup/sockops, BINARY:FUNC for uprobes).
 *
 * Errors are negative errnos in the guest's own numbering (compare with
 * -EINTR, -ENOENT from <errno.h>); errno is set too.
 *
 * Build: clang --target=wasm32-wasi -O2 -I sdk/c/include -Wl,--export-table
 * Native build of the same source against libbpf (see unibpf/wasm_bpf.h):
 *   cc -O2 -I sdk/c/include prog.c sdk/c/native/wasm_bpf_libbpf.c -lbpf
 */
#ifndef UNIBPF_LIBBPF_WASM_H
#define UNIBPF_LIBBPF_WASM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- The host ABI (module "wasm_bpf") ---------------------------------- */

#include "unibpf/wasm_bpf.h"

/* ---- Constants ---------------------------------------------------------- */

enum bpf_map_cmd {
	BPF_MAP_LOOKUP_ELEM = 1,
	BPF_MAP_UPDATE_ELEM = 2,
	BPF_MAP_DELETE_ELEM = 3,
	BPF_MAP_GET_NEXT_KEY = 4,
};

#ifndef BPF_ANY
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_EXIST 2
#define BPF_F_LOCK 4
#endif

/* ---- Objects, maps, programs, links ------------------------------------- */

struct bpf_object {
	const char *name;
	unsigned char *elf; /* our copy: global data is patched here before load */
	size_t elf_sz;
	bpf_object_skel handle; /* 0 until loaded */
};

struct bpf_map {
	struct bpf_object *obj;
	const char *name;
	int fd; /* -1 until first asked for */
};

struct bpf_program {
	struct bpf_object *obj;
	const char *name;
	const char *section;
	uint32_t sym_info_offset; /* st_info of the program's ELF symbol */
	bool autoload;
	bool autoattach;
	bool needs_target; /* xdp, tc, cgroup, sockops...: no attach without a target */
	const char *attach_target;
};

/* Links belong to their object: they are detached when the object is destroyed.
 * bpf_link__destroy only frees this handle. */
struct bpf_link {
	struct bpf_program *prog;
};

static inline int unibpf__err(int err)
{
	if (err < 0)
		errno = -err;
	return err;
}

static inline const char *bpf_map__name(const struct bpf_map *map) { return map->name; }
static inline const char *bpf_program__name(const struct bpf_program *prog) { return prog->name; }
static inline const char *bpf_program__section_name(const struct bpf_program *prog) { return prog->section; }

static inline int bpf_map__fd(struct bpf_map *map)
{
	if (!map || !map->obj || !map->obj->handle)
		return unibpf__err(-EINVAL);
	if (map->fd < 0) {
		int fd = wasm_bpf_map_fd_by_name(map->obj->handle, map->name);
		if (fd < 0)
			return unibpf__err(fd);
		map->fd = fd;
	}
	return map->fd;
}

/* Before load: false leaves the program out of the object the kernel sees,
 * so a program this host cannot run does not fail the whole load. */
static inline int bpf_program__set_autoload(struct bpf_program *prog, bool autoload)
{
	if (prog->obj && prog->obj->handle)
		return unibpf__err(-EBUSY);
	prog->autoload = autoload;
	return 0;
}

static inline bool bpf_program__autoload(const struct bpf_program *prog) { return prog->autoload; }

static inline int bpf_program__set_autoattach(struct bpf_program *prog, bool autoattach)
{
	prog->autoattach = autoattach;
	return 0;
}

/* Interface name for xdp and tc (`eth0`, `eth0:egress`), cgroup path for
 * cgroup and sockops programs, `BINARY:FUNCTION` for uprobes, a kernel
 * function for kprobes. */
static inline int bpf_set_prog_attach_target(struct bpf_program *prog, const char *target)
{
	prog->attach_target = target;
	return 0;
}

static inline struct bpf_link *bpf_program__attach(struct bpf_program *prog)
{
	if (!prog->obj || !prog->obj->handle) {
		errno = EINVAL;
		return NULL;
	}
	int err = wasm_attach_bpf_program(prog->obj->handle, prog->name, prog->attach_target);
	if (err < 0) {
		errno = -err;
		return NULL;
	}
	struct bpf_link *link = calloc(1, sizeof(*link));
	if (link)
		link->prog = prog;
	return link;
}

static inline int bpf_link__destroy(struct bpf_link *link)
{
	free(link);
	return 0;
}

/* ---- Map operations (fd based, as in libbpf's bpf.h) ---------------------- */

static inline int bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	return unibpf__err(wasm_bpf_map_operate(fd, BPF_MAP_LOOKUP_ELEM, (void *)key, value, NULL, 0));
}

static inline int bpf_map_lookup_elem_flags(int fd, const void *key, void *value, uint64_t flags)
{
	return unibpf__err(wasm_bpf_map_operate(fd, BPF_MAP_LOOKUP_ELEM, (void *)key, value, NULL, flags));
}

static inline int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)
{
	return unibpf__err(wasm_bpf_map_operate(fd, BPF_MAP_UPDATE_ELEM, (void *)key, (void *)value, NULL, flags));
}

static inline int bpf_map_delete_elem(int fd, const void *key)
{
	return unibpf__err(wasm_bpf_map_operate(fd, BPF_MAP_DELETE_ELEM, (void *)key, NULL, NULL, 0));
}

static inline int bpf_map_delete_elem_flags(int fd, const void *key, uint64_t flags)
{
	return unibpf__err(wasm_bpf_map_operate(fd, BPF_MAP_DELETE_ELEM, (void *)key, NULL, NULL, flags));
}

/* key NULL gives the first key; -ENOENT after the last. */
static inline int bpf_map_get_next_key(int fd, const void *key, void *next_key)
{
	return unibpf__err(wasm_bpf_map_operate(fd, BPF_MAP_GET_NEXT_KEY, (void *)key, NULL, next_key, 0));
}

/* libbpf 1.x map-object API; sizes are checked by the host against the map. */
static inline int bpf_map__lookup_elem(struct bpf_map *map, const void *key, size_t key_sz, void *value,
				       size_t value_sz, uint64_t flags)
{
	(void)key_sz, (void)value_sz;
	int fd = bpf_map__fd(map);
	return fd < 0 ? fd : bpf_map_lookup_elem_flags(fd, key, value, flags);
}

static inline int bpf_map__update_elem(struct bpf_map *map, const void *key, size_t key_sz, const void *value,
				       size_t value_sz, uint64_t flags)
{
	(void)key_sz, (void)value_sz;
	int fd = bpf_map__fd(map);
	return fd < 0 ? fd : bpf_map_update_elem(fd, key, value, flags);
}

static inline int bpf_map__delete_elem(struct bpf_map *map, const void *key, size_t key_sz, uint64_t flags)
{
	(void)key_sz;
	int fd = bpf_map__fd(map);
	return fd < 0 ? fd : bpf_map_delete_elem_flags(fd, key, flags);
}

static inline int bpf_map__get_next_key(struct bpf_map *map, const void *key, void *next_key, size_t key_sz)
{
	(void)key_sz;
	int fd = bpf_map__fd(map);
	return fd < 0 ? fd : bpf_map_get_next_key(fd, key, next_key);
}

/* ---- Event buffers ---------------------------------------------------------
 * One API over ring buffers and perf event arrays: the host serves whichever
 * the map is once loaded. Every record of a poll reaches the callback, in
 * order; a record longer than the buffer (64 KiB unless set) is truncated. */

typedef int (*bpf_buffer_sample_fn)(void *ctx, void *data, size_t size);
typedef void (*bpf_buffer_lost_fn)(void *ctx, int cpu, uint64_t count);

struct bpf_buffer {
	struct bpf_map *events;
	bpf_buffer_sample_fn sample_fn;
	void *ctx;
	char *data;
	size_t data_sz;
};

#define UNIBPF_BUFFER_DEFAULT_SIZE (64 * 1024)

/* bpf_buffer__new(events) or, as in libbpf-tools, bpf_buffer__new(events, heap):
 * the heap map is the BPF side's business (see unibpf/compat.bpf.h). */
static inline struct bpf_buffer *unibpf__buffer_new(struct bpf_map *events, struct bpf_map *heap)
{
	(void)heap;
	if (!events) {
		errno = EINVAL;
		return NULL;
	}
	struct bpf_buffer *b = calloc(1, sizeof(*b));
	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	b->events = events;
	return b;
}

#define UNIBPF__ARG3(a, b, c, ...) c
#define UNIBPF__ARG4(a, b, c, d, ...) d
#define bpf_buffer__new(...) \
	UNIBPF__ARG3(__VA_ARGS__, unibpf__buffer_new(__VA_ARGS__), unibpf__buffer_new(__VA_ARGS__, NULL), _)

static inline int unibpf__buffer_open(struct bpf_buffer *b, bpf_buffer_sample_fn sample_fn,
				      bpf_buffer_lost_fn lost_fn, void *ctx)
{
	(void)lost_fn; /* the host logs lost perf samples */
	if (!b || !sample_fn)
		return unibpf__err(-EINVAL);
	int fd = bpf_map__fd(b->events);
	if (fd < 0)
		return fd;
	if (!b->data) {
		b->data_sz = b->data_sz ? b->data_sz : UNIBPF_BUFFER_DEFAULT_SIZE;
		b->data = malloc(b->data_sz);
		if (!b->data)
			return unibpf__err(-ENOMEM);
	}
	b->sample_fn = sample_fn;
	b->ctx = ctx;
	/* A zero-timeout poll makes the host set up its reader now: a perf event
	 * array drops records written before a reader exists. */
	int err = wasm_bpf_buffer_poll(b->events->obj->handle, fd, (wasm_bpf_callback_t)(intptr_t)sample_fn,
				       (wasm_bpf_ctx_t)(uintptr_t)ctx, b->data, (int)b->data_sz, 0);
	return err < 0 && err != -EINTR ? unibpf__err(err) : 0;
}

/* bpf_buffer__open(buf, sample_fn, ctx) (upstream wasm-bpf) or
 * bpf_buffer__open(buf, sample_fn, lost_fn, ctx) (libbpf-tools). */
#define bpf_buffer__open(buf, sample_fn, ...) \
	UNIBPF__ARG3(__VA_ARGS__, unibpf__buffer_open(buf, sample_fn, __VA_ARGS__), \
		     unibpf__buffer_open(buf, sample_fn, NULL, __VA_ARGS__), _)

/* Largest record delivered whole; call before bpf_buffer__open. */
static inline int bpf_buffer__set_record_size(struct bpf_buffer *b, size_t size)
{
	if (!b || b->data || size == 0 || size > INT32_MAX)
		return unibpf__err(-EINVAL);
	b->data_sz = size;
	return 0;
}

/* Waits up to timeout_ms for records and hands each to the callback.
 * Returns the number delivered, or a negative errno (-EINTR when the runtime
 * asks the module to stop: end your loop then). */
static inline int bpf_buffer__poll(struct bpf_buffer *b, int timeout_ms)
{
	if (!b || !b->data)
		return unibpf__err(-EINVAL);
	return unibpf__err(wasm_bpf_buffer_poll(b->events->obj->handle, bpf_map__fd(b->events),
						(wasm_bpf_callback_t)(intptr_t)b->sample_fn, (wasm_bpf_ctx_t)(uintptr_t)b->ctx,
						b->data, (int)b->data_sz, timeout_ms));
}

static inline void bpf_buffer__free(struct bpf_buffer *b)
{
	if (!b)
		return;
	free(b->data);
	free(b);
}

/* ---- Skeletons ------------------------------------------------------------ */

struct bpf_map_skeleton {
	const char *name;
	struct bpf_map **map;
	void **mmaped;
};

struct bpf_prog_skeleton {
	const char *name;
	struct bpf_program **prog;
	struct bpf_link **link;
	const char *section;
	uint32_t sym_info_offset;
	bool needs_target;
};

/* A global data section: .rodata and .data are patched in the ELF copy before
 * load; .bss (no bytes in the file) is written to its map right after load. */
struct bpf_data_skeleton {
	const char *name;
	long file_offset; /* -1 for .bss */
	size_t size;
	void **mmaped;
};

struct bpf_object_skeleton {
	size_t sz;
	const char *name;
	const void *data;
	size_t data_sz;
	struct bpf_object **obj;
	int map_cnt;
	int map_skel_sz;
	struct bpf_map_skeleton *maps;
	int prog_cnt;
	int prog_skel_sz;
	struct bpf_prog_skeleton *progs;
	int data_cnt;
	struct bpf_data_skeleton *datas;
};

static inline void bpf_object__destroy_skeleton(struct bpf_object_skeleton *s);

static inline int bpf_object__open_skeleton(struct bpf_object_skeleton *s, const void *opts)
{
	(void)opts;
	struct bpf_object *obj = calloc(1, sizeof(*obj));
	if (!obj)
		return unibpf__err(-ENOMEM);
	*s->obj = obj;
	obj->name = s->name;
	obj->elf_sz = s->data_sz;
	obj->elf = malloc(s->data_sz);
	if (!obj->elf)
		return unibpf__err(-ENOMEM);
	memcpy(obj->elf, s->data, s->data_sz);
	for (int i = 0; i < s->map_cnt; i++) {
		struct bpf_map *m = calloc(1, sizeof(*m));
		if (!m)
			return unibpf__err(-ENOMEM);
		m->obj = obj;
		m->name = s->maps[i].name;
		m->fd = -1;
		*s->maps[i].map = m;
	}
	for (int i = 0; i < s->prog_cnt; i++) {
		struct bpf_program *p = calloc(1, sizeof(*p));
		if (!p)
			return unibpf__err(-ENOMEM);
		p->obj = obj;
		p->name = s->progs[i].name;
		p->section = s->progs[i].section;
		p->sym_info_offset = s->progs[i].sym_info_offset;
		p->needs_target = s->progs[i].needs_target;
		p->autoload = true;
		p->autoattach = true;
		*s->progs[i].prog = p;
	}
	for (int i = 0; i < s->data_cnt; i++) {
		struct bpf_data_skeleton *d = &s->datas[i];
		if (d->file_offset >= 0) {
			if ((size_t)d->file_offset + d->size > obj->elf_sz)
				return unibpf__err(-EINVAL);
			*d->mmaped = obj->elf + d->file_offset;
		} else {
			*d->mmaped = calloc(1, d->size ? d->size : 1);
			if (!*d->mmaped)
				return unibpf__err(-ENOMEM);
		}
	}
	return 0;
}

static inline bool unibpf__all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Copies a data section between the guest's struct and its map (key 0). */
static inline int unibpf__sync_data(struct bpf_object_skeleton *s, const char *section, bool to_kernel)
{
	struct bpf_object *obj = *s->obj;
	for (int i = 0; i < s->data_cnt; i++) {
		struct bpf_data_skeleton *d = &s->datas[i];
		if (strcmp(d->name, section))
			continue;
		int fd = wasm_bpf_map_fd_by_name(obj->handle, d->name);
		if (fd < 0)
			return unibpf__err(fd);
		uint32_t key = 0;
		return to_kernel ? bpf_map_update_elem(fd, &key, *d->mmaped, BPF_ANY)
				 : bpf_map_lookup_elem(fd, &key, *d->mmaped);
	}
	return unibpf__err(-ENOENT);
}

static inline int bpf_object__load_skeleton(struct bpf_object_skeleton *s)
{
	struct bpf_object *obj = *s->obj;
	if (!obj || obj->handle)
		return unibpf__err(-EINVAL);
	/* A program not to load becomes a plain symbol: libbpf then skips it and
	 * its relocations. st_info is (binding << 4) | type; STT_NOTYPE is 0. */
	for (int i = 0; i < s->prog_cnt; i++) {
		struct bpf_program *p = *s->progs[i].prog;
		if (!p->autoload && p->sym_info_offset < obj->elf_sz)
			obj->elf[p->sym_info_offset] &= 0xf0;
	}
	obj->handle = wasm_load_bpf_object(obj->elf, (int)obj->elf_sz);
	if (!obj->handle)
		return unibpf__err(-EINVAL);
	for (int i = 0; i < s->data_cnt; i++) {
		struct bpf_data_skeleton *d = &s->datas[i];
		if (d->file_offset < 0 && !unibpf__all_zero(*d->mmaped, d->size)) {
			int err = unibpf__sync_data(s, d->name, true);
			if (err < 0)
				return err;
		}
	}
	return 0;
}

/* Attaches every loaded program that can attach without being told where;
 * programs needing a target attach only once one is set. */
static inline int bpf_object__attach_skeleton(struct bpf_object_skeleton *s)
{
	for (int i = 0; i < s->prog_cnt; i++) {
		struct bpf_program *p = *s->progs[i].prog;
		if (!p->autoload || !p->autoattach)
			continue;
		if (p->needs_target && !p->attach_target)
			continue;
		struct bpf_link *link = bpf_program__attach(p);
		if (!link)
			return -errno;
		if (s->progs[i].link)
			*s->progs[i].link = link;
		else
			bpf_link__destroy(link);
	}
	return 0;
}

/* Links cannot be detached one by one; they go with the object. */
static inline void bpf_object__detach_skeleton(struct bpf_object_skeleton *s) { (void)s; }

static inline void bpf_object__destroy_skeleton(struct bpf_object_skeleton *s)
{
	if (!s)
		return;
	struct bpf_object *obj = s->obj ? *s->obj : NULL;
	if (obj && obj->handle)
		wasm_close_bpf_object(obj->handle);
	for (int i = 0; i < s->map_cnt; i++)
		free(*s->maps[i].map);
	for (int i = 0; i < s->prog_cnt; i++) {
		free(*s->progs[i].prog);
		if (s->progs[i].link)
			free(*s->progs[i].link);
	}
	for (int i = 0; i < s->data_cnt; i++)
		if (s->datas[i].file_offset < 0)
			free(*s->datas[i].mmaped);
	if (obj)
		free(obj->elf);
	free(obj);
	free(s->maps);
	free(s->progs);
	free(s->datas);
	free(s);
}

/* No-ops kept so libbpf-style sources compile. */
typedef int (*libbpf_print_fn_t)(int level, const char *fmt, ...);
static inline libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn) { (void)fn; return NULL; }
static inline int libbpf_set_strict_mode(int mode) { (void)mode; return 0; }

#endif /* UNIBPF_LIBBPF_WASM_H */
