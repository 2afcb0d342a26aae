/* Reading a BPF ELF for the stand-in ebpfapi.dll: programs are FUNC
 * symbols in executable sections other than .text, named by their section;
 * maps are the symbols in .maps, typed and sized from their BTF
 * definitions (`__uint(name, N)` is `int (*name)[N]`, `__type(name, T)`
 * is `T *name`), as efW's loader reads them. Every read is bounds-checked:
 * bytes that do not hold up are not an object. */
#include <stdio.h>
#include <string.h>

#include "ebpfapi.h"

static uint16_t u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const unsigned char *p) { return (uint32_t)u16(p) | (uint32_t)u16(p + 2) << 16; }
static uint64_t u64(const unsigned char *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

struct elf {
	const unsigned char *b;
	size_t size;
	uint64_t shoff;
	unsigned shnum, shstrndx;
};

static const unsigned char *shdr(const struct elf *e, unsigned i)
{
	uint64_t off = e->shoff + (uint64_t)i * 64;
	return i < e->shnum && off + 64 <= e->size ? e->b + off : NULL;
}

static const unsigned char *sect(const struct elf *e, unsigned i, uint64_t *size)
{
	const unsigned char *h = shdr(e, i);
	if (!h)
		return NULL;
	uint64_t off = u64(h + 24), sz = u64(h + 32);
	if (off > e->size || sz > e->size - off)
		return NULL;
	*size = sz;
	return e->b + off;
}

static const char *str_at(const unsigned char *tab, uint64_t size, uint32_t off)
{
	if (!tab || off >= size || !memchr(tab + off, 0, size - off))
		return "";
	return (const char *)tab + off;
}

static const char *sect_name(const struct elf *e, unsigned i)
{
	uint64_t n;
	const unsigned char *tab = sect(e, e->shstrndx, &n);
	const unsigned char *h = shdr(e, i);
	return h ? str_at(tab, n, u32(h)) : "";
}

struct btf {
	const unsigned char *types, *strs;
	uint32_t types_len, strs_len;
	const unsigned char *by_id[4096];
	unsigned count;
};

/* Bytes after the common 12-byte header for a type of `kind`. */
static uint32_t extra(uint32_t kind, uint32_t vlen)
{
	switch (kind) {
	case 1: case 14: case 17: return 4;
	case 3: return 12;
	case 4: case 5: case 15: case 19: return 12 * vlen;
	case 6: case 13: return 8 * vlen;
	default: return 0;
	}
}

static int btf_read(struct btf *t, const unsigned char *b, uint64_t size)
{
	if (size < 24 || u16(b) != 0xeb9f)
		return -1;
	uint32_t hdr = u32(b + 4), toff = u32(b + 8), tlen = u32(b + 12), soff = u32(b + 16), slen = u32(b + 20);
	if ((uint64_t)hdr + toff + tlen > size || (uint64_t)hdr + soff + slen > size)
		return -1;
	t->types = b + hdr + toff, t->types_len = tlen;
	t->strs = b + hdr + soff, t->strs_len = slen;
	t->count = 1;
	for (uint32_t off = 0; off + 12 <= tlen && t->count < 4096;) {
		uint32_t info = u32(t->types + off + 4);
		t->by_id[t->count++] = t->types + off;
		off += 12 + extra(info >> 24 & 0x1f, info & 0xffff);
	}
	return 0;
}

static const unsigned char *btf_type(const struct btf *t, uint32_t id)
{
	return id && id < t->count ? t->by_id[id] : NULL;
}

static uint32_t kind_of(const unsigned char *ty) { return u32(ty + 4) >> 24 & 0x1f; }

/* Through typedefs and qualifiers. */
static const unsigned char *resolve(const struct btf *t, uint32_t id)
{
	const unsigned char *ty = btf_type(t, id);
	for (int depth = 0; ty && depth < 32; depth++) {
		uint32_t k = kind_of(ty);
		if (k != 8 && k != 9 && k != 10 && k != 11 && k != 18)
			return ty;
		ty = btf_type(t, u32(ty + 8));
	}
	return NULL;
}

static uint32_t size_of(const struct btf *t, uint32_t id, int depth)
{
	const unsigned char *ty = resolve(t, id);
	if (!ty || depth > 16)
		return 0;
	switch (kind_of(ty)) {
	case 2: return 8;
	case 3: return u32(ty + 20) * size_of(t, u32(ty + 12), depth + 1);
	default: return u32(ty + 8);
	}
}

/* A map definition: `__uint(name, N)` is `int (*name)[N]`, `__type(name,
 * T)` is `T *name`. */
static void map_def(const struct btf *t, struct bpf_map *m)
{
	for (uint32_t id = 1; id < t->count; id++) {
		const unsigned char *var = t->by_id[id];
		if (kind_of(var) != 14 || strcmp(str_at(t->strs, t->strs_len, u32(var)), m->name))
			continue;
		const unsigned char *st = resolve(t, u32(var + 8));
		if (!st || kind_of(st) != 4)
			return;
		uint32_t vlen = u32(st + 4) & 0xffff;
		for (uint32_t i = 0; i < vlen; i++) {
			const unsigned char *mem = st + 12 + 12 * i;
			const char *name = str_at(t->strs, t->strs_len, u32(mem));
			const unsigned char *ptr = resolve(t, u32(mem + 4));
			if (!ptr || kind_of(ptr) != 2)
				continue;
			uint32_t target = u32(ptr + 8);
			const unsigned char *arr = resolve(t, target);
			uint32_t n = arr && kind_of(arr) == 3 ? u32(arr + 20) : 0;
			if (!strcmp(name, "type"))
				m->type = n;
			else if (!strcmp(name, "max_entries"))
				m->max_entries = n;
			else if (!strcmp(name, "key_size"))
				m->key_size = n;
			else if (!strcmp(name, "value_size"))
				m->value_size = n;
			else if (!strcmp(name, "key"))
				m->key_size = size_of(t, target, 0);
			else if (!strcmp(name, "value"))
				m->value_size = size_of(t, target, 0);
		}
		return;
	}
}

static void copy_name(char *dst, const char *src)
{
	snprintf(dst, 64, "%s", src);
}

int stand_in_parse(struct bpf_object *o)
{
	struct elf e = {o->elf, o->size, 0, 0, 0};
	if (o->size < 64 || memcmp(o->elf, "\177ELF", 4) || o->elf[4] != 2 || o->elf[5] != 1)
		return -1;
	e.shoff = u64(o->elf + 0x28), e.shnum = u16(o->elf + 0x3c), e.shstrndx = u16(o->elf + 0x3e);
	unsigned maps_idx = 0, btf_idx = 0, symtab = 0;
	for (unsigned i = 1; i < e.shnum; i++) {
		const unsigned char *h = shdr(&e, i);
		if (!h)
			return -1;
		if (!strcmp(sect_name(&e, i), ".maps"))
			maps_idx = i;
		if (!strcmp(sect_name(&e, i), ".BTF"))
			btf_idx = i;
		if (u32(h + 4) == 2)
			symtab = i;
	}
	uint64_t ssize, strsize;
	const unsigned char *syms = sect(&e, symtab, &ssize);
	const unsigned char *strs = syms ? sect(&e, u32(shdr(&e, symtab) + 40), &strsize) : NULL;
	if (!syms || !strs)
		return -1;
	for (uint64_t off = 24; off + 24 <= ssize; off += 24) {
		const unsigned char *s = syms + off;
		unsigned type = s[4] & 0xf, shndx = u16(s + 6);
		const unsigned char *h = shdr(&e, shndx);
		const char *name = str_at(strs, strsize, u32(s));
		if (!h || !*name)
			continue;
		int exec = (u64(h + 8) & 0x4) != 0;
		if (type == 2 && exec && strcmp(sect_name(&e, shndx), ".text") && o->nprogs < MAX_PROGS) {
			struct bpf_program *p = &o->progs[o->nprogs++];
			p->obj = o, p->fd = -1;
			copy_name(p->name, name);
			copy_name(p->section, sect_name(&e, shndx));
		} else if (shndx == maps_idx && maps_idx && o->nmaps < MAX_MAPS) {
			struct bpf_map *m = &o->maps[o->nmaps++];
			m->obj = o, m->fd = -1;
			copy_name(m->name, name);
		}
	}
	uint64_t bsize;
	const unsigned char *b = btf_idx ? sect(&e, btf_idx, &bsize) : NULL;
	static struct btf t;
	if (b && btf_read(&t, b, bsize) == 0)
		for (int i = 0; i < o->nmaps; i++)
			map_def(&t, &o->maps[i]);
	return 0;
}
