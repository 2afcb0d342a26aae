/* A recording stand-in for eBPF for Windows' ebpfapi.dll, for unibpf's
 * tests under wine: a test double of a kernel driver we cannot run here.
 * It is our own C, written from the signatures eBPF for Windows publishes
 * (include/bpf/libbpf.h, bpf.h, ebpf_api.h), and loads nothing into any
 * kernel. It exports the calls unibpf's Windows backend uses and:
 *
 * - appends one line per call, with its arguments, to the file named by
 *   UNIBPF_EBPFAPI_RECORD (nothing is recorded without it);
 * - keeps real state: the object's programs (FUNC symbols in executable
 *   sections other than .text, named by their section) and maps (symbols
 *   in .maps, typed and sized from the object's BTF map definitions, as
 *   efW's loader reads them), fds that are handed out and must be closed,
 *   map storage that stores and returns values;
 * - delivers ring buffer records from the file named by
 *   UNIBPF_EBPFAPI_RING_RECORDS (one record per line in hex; blank lines
 *   and lines starting with # are skipped) through the callback given to
 *   ring_buffer__new, in order, at most two per ring_buffer__poll: this is
 *   how a test drives events;
 * - records what was left open (fds, links, attachments, ring buffers) as
 *   `leak ...` lines when its object is closed and when the DLL is
 *   unloaded or the process exits;
 * - refuses loads of the execution types UNIBPF_EBPFAPI_REFUSE names, with
 *   the errno it gives ("1:131,2:129": JIT blocked by policy as under
 *   HVCI, no interpreter as in a release build), as the driver would;
 * - carries a version resource of ours (version.rc, 0.99.2.7).
 *
 * Errors follow efW: -errno returned (Windows CRT numbers), NULL from
 * calls returning pointers, with libbpf_get_error(NULL) giving -errno.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "ebpfapi.h"

/* An fd: what it names (a program or a map), or nothing when free. */
static struct {
	int open;
	struct bpf_program *prog;
	struct bpf_map *map;
} fds[MAX_FDS];
static int last_error;
static int open_objects;

static void record(const char *fmt, ...)
{
	const char *path = getenv("UNIBPF_EBPFAPI_RECORD");
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "a");
	if (!f)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

/* Bytes as lower-case hex, into a static buffer (one use per line). */
static const char *hex(const void *p, size_t n, int which)
{
	static char buf[2][1024];
	const unsigned char *b = p;
	char *out = buf[which & 1];
	size_t i;
	if (!p)
		return "null";
	for (i = 0; i < n && i < 500; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * i] = 0;
	return out;
}

/* FNV-1a, 64 bits: the digest the tests compute of what they expect. */
static uint64_t fnv1a64(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int fail(int err)
{
	last_error = err;
	return -err;
}

static int new_fd(struct bpf_program *prog, struct bpf_map *map)
{
	for (int fd = 3; fd < MAX_FDS; fd++) {
		if (!fds[fd].open) {
			fds[fd].open = 1;
			fds[fd].prog = prog;
			fds[fd].map = map;
			return fd;
		}
	}
	return -1;
}

static struct bpf_map *map_of(int fd)
{
	return fd > 0 && fd < MAX_FDS ? fds[fd].map : NULL;
}

/* Arrays (plain and per-CPU) exist whole from the start, keyed by index. */
static int is_array(const struct bpf_map *m)
{
	return m->type == MAP_ARRAY || m->type == MAP_PERCPU_ARRAY;
}

/* Bytes of a value as user space reads and writes it: per-CPU maps hold
 * one 8-byte-aligned slot per possible CPU (libbpf_num_possible_cpus). */
static uint32_t value_bytes(const struct bpf_map *m)
{
	int percpu = m->type == MAP_PERCPU_HASH || m->type == MAP_PERCPU_ARRAY || m->type == MAP_LRU_PERCPU_HASH;
	return percpu ? (m->value_size + 7) / 8 * 8 * POSSIBLE_CPUS : m->value_size;
}

/* ---- Objects ---- */

static struct bpf_object *new_object(const void *bytes, size_t size)
{
	struct bpf_object *o = calloc(1, sizeof(*o));
	if (!o || !(o->elf = malloc(size ? size : 1))) {
		free(o);
		last_error = X_ENOMEM;
		return NULL;
	}
	memcpy(o->elf, bytes, size);
	o->size = size;
	o->native = size >= 2 && !memcmp(bytes, "MZ", 2);
	if (!o->native && stand_in_parse(o) != 0) {
		free(o->elf);
		free(o);
		last_error = X_EINVAL;
		return NULL;
	}
	open_objects++;
	return o;
}

API struct bpf_object *bpf_object__open_mem(const void *buf, size_t size, const void *opts)
{
	record("bpf_object__open_mem size=%zu fnv1a64=%016llx opts=%s", size,
	       buf ? (unsigned long long)fnv1a64(buf, size) : 0ULL, opts ? "set" : "null");
	if (!buf) {
		last_error = X_EINVAL;
		return NULL;
	}
	return new_object(buf, size);
}

API struct bpf_object *bpf_object__open(const char *path)
{
	record("bpf_object__open path=%s", path ? path : "null");
	FILE *f = path ? fopen(path, "rb") : NULL;
	if (!f) {
		last_error = X_ENOENT;
		return NULL;
	}
	static unsigned char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return new_object(buf, n);
}

API int ebpf_object_set_execution_type(struct bpf_object *o, int type)
{
	record("ebpf_object_set_execution_type type=%d", type);
	if (!o || type < 0 || type > 3)
		return 6; /* EBPF_INVALID_ARGUMENT */
	o->execution_type = type;
	return EBPF_OK;
}

/* The CRT errno a load of execution type `type` fails with, as
 * UNIBPF_EBPFAPI_REFUSE ("TYPE:ERRNO,...", e.g. "1:131,2:129" for a host
 * with HVCI on and a release build) says; 0 when it is not refused. */
static int refused(int type)
{
	const char *spec = getenv("UNIBPF_EBPFAPI_REFUSE");
	int t, e, n;
	while (spec && sscanf(spec, "%d:%d%n", &t, &e, &n) == 2) {
		if (t == type)
			return e;
		spec += n;
		spec = *spec == ',' ? spec + 1 : NULL;
	}
	return 0;
}

API int bpf_object__load(struct bpf_object *o)
{
	char progs[512] = "", maps[512] = "";
	if (!o || o->loaded)
		return fail(X_EINVAL);
	int refuse = refused(o->execution_type);
	if (refuse) {
		record("bpf_object__load refused type=%d errno=%d", o->execution_type, refuse);
		return fail(refuse);
	}
	for (int i = 0; i < o->nprogs; i++) {
		o->progs[i].fd = new_fd(&o->progs[i], NULL);
		snprintf(progs + strlen(progs), sizeof(progs) - strlen(progs), "%s%s:%s", i ? "," : "",
			 o->progs[i].name, o->progs[i].section);
	}
	for (int i = 0; i < o->nmaps; i++) {
		struct bpf_map *m = &o->maps[i];
		m->fd = new_fd(NULL, m);
		snprintf(maps + strlen(maps), sizeof(maps) - strlen(maps), "%s%s:type=%u,key=%u,value=%u,max=%u",
			 i ? "," : "", m->name, m->type, m->key_size, m->value_size, m->max_entries);
		if (m->type != MAP_RINGBUF && m->max_entries && m->max_entries <= 65536) {
			m->keys = calloc(m->max_entries, m->key_size ? m->key_size : 1);
			m->values = calloc(m->max_entries, value_bytes(m) ? value_bytes(m) : 1);
			m->used = calloc(m->max_entries, 1);
			if (is_array(m) && m->used)
				memset(m->used, 1, m->max_entries);
		}
	}
	o->loaded = 1;
	record("bpf_object__load programs=%s maps=%s", progs, maps);
	return 0;
}

API struct bpf_program *bpf_object__next_program(const struct bpf_object *o, struct bpf_program *p)
{
	if (!o)
		return NULL;
	int next = p ? (int)(p - o->progs) + 1 : 0;
	return next < o->nprogs ? (struct bpf_program *)&o->progs[next] : NULL;
}

API struct bpf_map *bpf_object__next_map(const struct bpf_object *o, const struct bpf_map *m)
{
	if (!o)
		return NULL;
	int next = m ? (int)(m - o->maps) + 1 : 0;
	return next < o->nmaps ? (struct bpf_map *)&o->maps[next] : NULL;
}

API const char *bpf_program__name(const struct bpf_program *p) { return p ? p->name : NULL; }
API const char *bpf_program__section_name(const struct bpf_program *p) { return p ? p->section : NULL; }
API int bpf_program__fd(const struct bpf_program *p) { return p ? p->fd : fail(X_EINVAL); }
API const char *bpf_map__name(const struct bpf_map *m) { return m ? m->name : NULL; }
API int bpf_map__type(const struct bpf_map *m) { return m ? (int)m->type : 0; }
API int bpf_map__fd(const struct bpf_map *m) { return m ? m->fd : fail(X_EINVAL); }
API uint32_t bpf_map__key_size(const struct bpf_map *m) { return m ? m->key_size : 0; }
API uint32_t bpf_map__value_size(const struct bpf_map *m) { return m ? m->value_size : 0; }
API uint32_t bpf_map__max_entries(const struct bpf_map *m) { return m ? m->max_entries : 0; }
API int libbpf_num_possible_cpus(void) { return POSSIBLE_CPUS; }

API long libbpf_get_error(const void *ptr)
{
	return ptr ? 0 : -last_error;
}

/* Leaks of one object: what is still attached or polled. */
static void record_leaks(struct bpf_object *o)
{
	if (o->links)
		record("leak links=%d", o->links);
	if (o->attachments)
		record("leak attachments=%d", o->attachments);
	if (o->ring_buffers)
		record("leak ring_buffers=%d", o->ring_buffers);
}

API void bpf_object__close(struct bpf_object *o)
{
	if (!o)
		return;
	record_leaks(o);
	for (int fd = 0; fd < MAX_FDS; fd++) {
		int ours = (fds[fd].prog && fds[fd].prog->obj == o) || (fds[fd].map && fds[fd].map->obj == o);
		if (!ours)
			continue;
		/* Programs' and maps' own fds go with the object. A duplicate
		 * stays open (as a real one would keep its map) but names
		 * nothing any more: operations on it fail, closing it works. */
		int own = (fds[fd].prog && fds[fd].prog->fd == fd) || (fds[fd].map && fds[fd].map->fd == fd);
		if (own)
			fds[fd].open = 0;
		fds[fd].prog = NULL, fds[fd].map = NULL;
	}
	record("bpf_object__close programs=%d maps=%d", o->nprogs, o->nmaps);
	for (int i = 0; i < o->nmaps; i++) {
		free(o->maps[i].keys);
		free(o->maps[i].values);
		free(o->maps[i].used);
	}
	free(o->elf);
	free(o);
	open_objects--;
}

/* ---- Attach ---- */

API struct bpf_link *bpf_program__attach(const struct bpf_program *p)
{
	record("bpf_program__attach program=%s section=%s", p ? p->name : "null", p ? p->section : "");
	struct bpf_link *l = p ? calloc(1, sizeof(*l)) : NULL;
	if (!l) {
		last_error = p ? X_ENOMEM : X_EINVAL;
		return NULL;
	}
	l->prog = (struct bpf_program *)p;
	p->obj->links++;
	return l;
}

API int bpf_link__destroy(struct bpf_link *l)
{
	record("bpf_link__destroy program=%s", l ? l->prog->name : "null");
	if (!l)
		return fail(X_EINVAL);
	l->prog->obj->links--;
	free(l);
	return 0;
}

API int bpf_prog_attach(int prog_fd, int target, int type, unsigned int flags)
{
	record("bpf_prog_attach fd=%d target=%d type=%d flags=%u", prog_fd, target, type, flags);
	if (prog_fd <= 0 || prog_fd >= MAX_FDS || !fds[prog_fd].prog)
		return fail(X_EBADF);
	fds[prog_fd].prog->obj->attachments++;
	return 0;
}

API int bpf_prog_detach2(int prog_fd, int target, int type)
{
	record("bpf_prog_detach2 fd=%d target=%d type=%d", prog_fd, target, type);
	if (prog_fd <= 0 || prog_fd >= MAX_FDS || !fds[prog_fd].prog)
		return fail(X_EBADF);
	fds[prog_fd].prog->obj->attachments--;
	return 0;
}

/* ---- fds ---- */

API int ebpf_duplicate_fd(int fd, int *dup)
{
	struct bpf_map *m = map_of(fd);
	struct bpf_program *p = fd > 0 && fd < MAX_FDS ? fds[fd].prog : NULL;
	int d = (m || p) && dup ? new_fd(p, m) : -1;
	record("ebpf_duplicate_fd fd=%d dup=%d", fd, d);
	if (d < 0)
		return EBPF_BAD_FD;
	*dup = d;
	return EBPF_OK;
}

API int ebpf_close_fd(int fd)
{
	record("ebpf_close_fd fd=%d", fd);
	if (fd <= 0 || fd >= MAX_FDS || !fds[fd].open)
		return EBPF_BAD_FD;
	fds[fd].open = 0, fds[fd].prog = NULL, fds[fd].map = NULL;
	return EBPF_OK;
}

/* ---- Map elements ---- */

/* The slot holding `key`, or -1. */
static int slot_of(const struct bpf_map *m, const void *key)
{
	if (is_array(m)) {
		uint32_t i;
		memcpy(&i, key, 4);
		return i < m->max_entries ? (int)i : -1;
	}
	for (uint32_t i = 0; i < m->max_entries; i++)
		if (m->used[i] && !memcmp(m->keys + (size_t)i * m->key_size, key, m->key_size))
			return (int)i;
	return -1;
}

static struct bpf_map *storage(int fd)
{
	struct bpf_map *m = map_of(fd);
	return m && m->used ? m : NULL;
}

API int bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	struct bpf_map *m = storage(fd);
	int s = m && key && value ? slot_of(m, key) : -2;
	int r = s == -2 ? fail(m ? X_EINVAL : X_EBADF) : s < 0 ? fail(X_ENOENT) : 0;
	if (r == 0)
		memcpy(value, m->values + (size_t)s * value_bytes(m), value_bytes(m));
	record("bpf_map_lookup_elem fd=%d map=%s key=%s value=%s -> %d", fd, m ? m->name : "?",
	       m ? hex(key, m->key_size, 0) : "?", r == 0 ? hex(value, value_bytes(m), 1) : "none", r);
	return r;
}

API int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)
{
	struct bpf_map *m = storage(fd);
	int r = 0, s = -1;
	if (!m || !key || !value || flags > 2)
		r = fail(m ? X_EINVAL : X_EBADF);
	else if ((s = slot_of(m, key)) >= 0 && flags == 1)
		r = fail(X_EEXIST);
	else if (s < 0 && (flags == 2 || is_array(m)))
		r = fail(is_array(m) ? X_E2BIG : X_ENOENT);
	else if (s < 0) {
		for (uint32_t i = 0; i < m->max_entries && s < 0; i++)
			if (!m->used[i])
				s = (int)i;
		if (s < 0)
			r = fail(X_E2BIG);
	}
	if (r == 0) {
		m->used[s] = 1;
		memcpy(m->keys + (size_t)s * m->key_size, key, m->key_size);
		memcpy(m->values + (size_t)s * value_bytes(m), value, value_bytes(m));
	}
	record("bpf_map_update_elem fd=%d map=%s key=%s value=%s flags=%llu -> %d", fd, m ? m->name : "?",
	       m ? hex(key, m->key_size, 0) : "?", m ? hex(value, value_bytes(m), 1) : "?",
	       (unsigned long long)flags, r);
	return r;
}

API int bpf_map_delete_elem(int fd, const void *key)
{
	struct bpf_map *m = storage(fd);
	int s = m && key ? slot_of(m, key) : -2;
	int r = s == -2 ? fail(m ? X_EINVAL : X_EBADF)
		: is_array(m) ? fail(X_EINVAL) : s < 0 ? fail(X_ENOENT) : 0;
	if (r == 0)
		m->used[s] = 0;
	record("bpf_map_delete_elem fd=%d map=%s key=%s -> %d", fd, m ? m->name : "?",
	       m ? hex(key, m->key_size, 0) : "?", r);
	return r;
}

API int bpf_map_get_next_key(int fd, const void *key, void *next)
{
	struct bpf_map *m = storage(fd);
	int r = -X_ENOENT;
	if (!m || !next) {
		r = fail(m ? X_EINVAL : X_EBADF);
	} else {
		int from = key ? slot_of(m, key) + 1 : 0;
		for (uint32_t i = (uint32_t)(from < 0 ? 0 : from); i < m->max_entries; i++) {
			if (m->used[i]) {
				if (is_array(m))
					memcpy(next, &i, 4);
				else
					memcpy(next, m->keys + (size_t)i * m->key_size, m->key_size);
				r = 0;
				break;
			}
		}
		if (r)
			last_error = X_ENOENT;
	}
	record("bpf_map_get_next_key fd=%d key=%s -> %d", fd, m && key ? hex(key, m->key_size, 0) : "null", r);
	return r;
}

/* ---- Ring buffers ---- */

static unsigned char *ring_records[MAX_RECORDS];
static size_t ring_sizes[MAX_RECORDS];
static int ring_count = -1, ring_next;

static int unhex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void load_ring_records(void)
{
	const char *path = getenv("UNIBPF_EBPFAPI_RING_RECORDS");
	FILE *f = path && *path ? fopen(path, "r") : NULL;
	char line[8192];
	ring_count = 0;
	while (f && ring_count < MAX_RECORDS && fgets(line, sizeof(line), f)) {
		size_t n = 0, len = strcspn(line, "\r\n");
		if (!len || line[0] == '#')
			continue;
		unsigned char *rec = malloc(len / 2 + 1);
		for (size_t i = 0; rec && i + 1 < len + 1 && unhex(line[i]) >= 0 && unhex(line[i + 1]) >= 0; i += 2)
			rec[n++] = (unsigned char)(unhex(line[i]) << 4 | unhex(line[i + 1]));
		ring_records[ring_count] = rec;
		ring_sizes[ring_count++] = n;
	}
	if (f)
		fclose(f);
}

API struct ring_buffer *ring_buffer__new(int fd, ring_buffer_sample_fn cb, void *ctx, const void *opts)
{
	struct bpf_map *m = map_of(fd);
	record("ring_buffer__new fd=%d map=%s opts=%s", fd, m ? m->name : "?", opts ? "set" : "null");
	if (!m || m->type != MAP_RINGBUF || !cb) {
		last_error = m ? X_EINVAL : X_EBADF;
		return NULL;
	}
	struct ring_buffer *rb = calloc(1, sizeof(*rb));
	if (!rb) {
		last_error = X_ENOMEM;
		return NULL;
	}
	rb->map = m, rb->cb = cb, rb->ctx = ctx;
	m->obj->ring_buffers++;
	return rb;
}

API int ring_buffer__poll(struct ring_buffer *rb, int timeout_ms)
{
	if (!rb)
		return fail(X_EINVAL);
	if (ring_count < 0)
		load_ring_records();
	int delivered = 0;
	while (delivered < 2 && ring_next < ring_count) {
		int i = ring_next++;
		int r = rb->cb(rb->ctx, ring_records[i], ring_sizes[i]);
		delivered++;
		if (r < 0) {
			record("ring_buffer__poll record=%d size=%zu callback=%d (stopped)", i, ring_sizes[i], r);
			return r;
		}
		record("ring_buffer__poll record=%d size=%zu callback=%d", i, ring_sizes[i], r);
	}
	if (!delivered && timeout_ms > 0)
		Sleep(timeout_ms < 100 ? (DWORD)timeout_ms : 100);
	return delivered;
}

API void ring_buffer__free(struct ring_buffer *rb)
{
	record("ring_buffer__free map=%s", rb ? rb->map->name : "null");
	if (!rb)
		return;
	rb->map->obj->ring_buffers--;
	free(rb);
}

/* ---- Unload ---- */

BOOL WINAPI DllMain(HINSTANCE dll, DWORD reason, LPVOID reserved)
{
	(void)dll;
	if (reason != DLL_PROCESS_DETACH)
		return TRUE;
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (fds[fd].open)
			record("leak fd=%d (%s)", fd,
			       fds[fd].map ? fds[fd].map->name : fds[fd].prog ? fds[fd].prog->name : "its object closed");
	if (open_objects)
		record("leak objects=%d", open_objects);
	record("unload (%s)", reserved ? "process exit" : "FreeLibrary");
	return TRUE;
}
