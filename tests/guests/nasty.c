// Hostile calls the first hostile guest does not make, one mode per run,
// each printing "name=value" lines for the tests to check:
//   nasty nonutf8          names in the object that are not UTF-8
//   nasty nested           a callback that polls again, as deep as it can
//   nasty escape           tracepoint targets and sections that climb out of tracefs
//   nasty forge            names and targets with newlines (log forging)
//   nasty limits           more objects, maps and links than allowed
//   nasty grow PAGES       memory.grow by PAGES 64 KiB pages
//   nasty many N           load the exec object N times, keeping each open
//   nasty close-midrun     attach, wait for a line on stdin, close that object,
//                          then poll another until stopped
//   nasty redeliver        a callback that returns -1 on the second record
//   nasty leave N [trap]   load and attach N objects, sleep until stopped, then
//                          return (or trap) without closing them
//   nasty churn            load, attach, use and close an object in a loop
//                          until stopped (the soak test's leak finder)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wasm_bpf_abi.h"
#include "exec.bpf.h"
#include "maps.bpf.h"
#include "escape.bpf.h"

/* Replaces the byte after every "unibpf_t_" in a copy of the object. */
static unsigned char *with_bad_names(const unsigned char *obj, unsigned len)
{
	unsigned char *copy = malloc(len);
	memcpy(copy, obj, len);
	static const char prefix[] = "unibpf_t_";
	for (unsigned i = 0; i + sizeof(prefix) < len; i++)
		if (!memcmp(copy + i, prefix, sizeof(prefix) - 1))
			copy[i + sizeof(prefix) - 1] = 0xff;
	return copy;
}

static int nonutf8(void)
{
	unsigned char *copy = with_bad_names(exec_bpf_o, exec_bpf_o_len);
	bpf_object_handle obj = wasm_load_bpf_object(copy, (int)exec_bpf_o_len);
	printf("load_nonutf8=%d\n", obj != 0);
	printf("attach_nonutf8=%d\n", wasm_attach_bpf_program(obj, "unibpf_t_\xff" "xec", NULL));
	printf("map_nonutf8=%d\n", wasm_bpf_map_fd_by_name(obj, "unibpf_t_\xff" "b"));
	printf("map_old_name=%d\n", wasm_bpf_map_fd_by_name(obj, "unibpf_t_rb"));
	printf("close=%d\n", wasm_close_bpf_object(obj));
	return 0;
}

/* ---- nested polls ---- */
#define SMALL 16
#define BLOCK 64
#define CANARY 0xab

static bpf_object_handle nested_obj;
static int nested_fd;
static int level, deepest, callbacks, loop_ret, stop_recursing, oversized;
static unsigned char outer_buf[4096];
static unsigned char small_bufs[70][BLOCK];

static int on_nested(void *ctx, void *data, unsigned long size)
{
	(void)ctx, (void)data;
	level++;
	callbacks++;
	if (level > deepest)
		deepest = level;
	/* Level 1 is called with the outer buffer; deeper levels with 16 bytes. */
	if (level > 1 && size > SMALL)
		oversized++;
	if (!stop_recursing) {
		int r = wasm_bpf_buffer_poll(nested_obj, nested_fd, (int32_t)on_nested, 0,
					     (char *)small_bufs[level], SMALL, 0);
		if (r < 0) {
			loop_ret = r;
			stop_recursing = 1;
		}
	}
	level--;
	return 0;
}

static int nested(void)
{
	memset(small_bufs, CANARY, sizeof(small_bufs));
	nested_obj = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	nested_fd = wasm_bpf_map_fd_by_name(nested_obj, "unibpf_t_rb");
	int total = 0;
	for (;;) {
		int r = wasm_bpf_buffer_poll(nested_obj, nested_fd, (int32_t)on_nested, 0, (char *)outer_buf,
					     sizeof(outer_buf), 100);
		if (r <= 0)
			break;
		total += r;
	}
	int canary_ok = 1;
	for (unsigned l = 0; l < sizeof(small_bufs) / BLOCK; l++)
		for (unsigned i = SMALL; i < BLOCK; i++)
			if (small_bufs[l][i] != CANARY)
				canary_ok = 0;
	printf("deepest=%d\nloop_ret=%d\ncallbacks=%d\noversized=%d\ncanary_ok=%d\n", deepest, loop_ret,
	       callbacks, oversized, canary_ok);
	(void)total;
	return 0;
}

/* ---- escapes ---- */
static int escape(void)
{
	bpf_object_handle obj = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	printf("attach_dotdot=%d\n",
	       wasm_attach_bpf_program(obj, "unibpf_t_exec", "../../../../../../../tmp/unibpf-escape/x"));
	printf("attach_dotdot_colon=%d\n",
	       wasm_attach_bpf_program(obj, "unibpf_t_exec", "..:../../../../../../tmp/unibpf-escape/x"));
	printf("attach_legit=%d\n", wasm_attach_bpf_program(obj, "unibpf_t_exec", "sched/sched_process_exec"));
	wasm_close_bpf_object(obj);
	bpf_object_handle bad = wasm_load_bpf_object(escape_bpf_o, (int)escape_bpf_o_len);
	printf("load_escape_section=%d\n", bad != 0);
	if (bad)
		printf("attach_escape_section=%d\n", wasm_attach_bpf_program(bad, "unibpf_t_escape", NULL));
	return 0;
}

/* ---- log forging ---- */
static int forge(void)
{
	bpf_object_handle obj = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	printf("forge_name=%d\n", wasm_attach_bpf_program(obj, "nope\nunibpf: error: forged by the guest", NULL));
	printf("forge_target=%d\n",
	       wasm_attach_bpf_program(obj, "unibpf_t_exec", "sched/x\nunibpf: error: forged by the guest"));
	printf("forge_map=%d\n", wasm_bpf_map_fd_by_name(obj, "x\r\nunibpf: error: forged by the guest"));
	return 0;
}

/* ---- limits ---- */
static int limits(void)
{
	bpf_object_handle objs[4];
	for (int i = 0; i < 4; i++)
		objs[i] = wasm_load_bpf_object(maps_bpf_o, (int)maps_bpf_o_len);
	printf("objects=%d,%d,%d,%d\n", objs[0] != 0, objs[1] != 0, objs[2] != 0, objs[3] != 0);
	printf("maps=%d,%d,%d\n", wasm_bpf_map_fd_by_name(objs[0], "t_hash") > 0,
	       wasm_bpf_map_fd_by_name(objs[0], "t_pcpu") > 0, wasm_bpf_map_fd_by_name(objs[1], "t_hash"));
	/* The handle a guest already holds is given again without counting. */
	printf("map_again=%d\n", wasm_bpf_map_fd_by_name(objs[0], "t_hash") > 0);
	int a = wasm_attach_bpf_program(objs[0], "unibpf_t_noop", NULL);
	int b = wasm_attach_bpf_program(objs[1], "unibpf_t_noop", NULL);
	int c = wasm_attach_bpf_program(objs[1], "unibpf_t_noop", NULL);
	printf("links=%d,%d,%d\n", a, b, c);
	/* Closing an object gives its links and slot back. */
	wasm_close_bpf_object(objs[0]);
	printf("after_close=%d,%d\n", wasm_attach_bpf_program(objs[1], "unibpf_t_noop", NULL),
	       wasm_load_bpf_object(maps_bpf_o, (int)maps_bpf_o_len) != 0);
	return 0;
}

static int grow(int pages)
{
	long before = (long)__builtin_wasm_memory_size(0);
	long r = (long)__builtin_wasm_memory_grow(0, (unsigned long)pages);
	printf("grow=%ld\nsize_unchanged=%d\n", r, r < 0 && (long)__builtin_wasm_memory_size(0) == before);
	return 0;
}

static int many(int n)
{
	int loaded = 0;
	for (int i = 0; i < n; i++)
		if (wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len))
			loaded++;
	printf("loaded=%d\n", loaded);
	return 0;
}

static int on_nothing(void *ctx, void *data, unsigned long size)
{
	(void)ctx, (void)data, (void)size;
	return 0;
}

static int close_midrun(void)
{
	bpf_object_handle a = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	bpf_object_handle b = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	int attached = wasm_attach_bpf_program(a, "unibpf_t_exec", NULL);
	int fd = wasm_bpf_map_fd_by_name(b, "unibpf_t_rb");
	if (!a || !b || attached < 0 || fd < 0) {
		fprintf(stderr, "nasty: setup failed\n");
		return 1;
	}
	fprintf(stderr, "nasty: attached\n");
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	printf("close=%d\n", wasm_close_bpf_object(a));
	fflush(stdout);
	fprintf(stderr, "nasty: closed\n");
	static char buf[256];
	int r;
	while ((r = wasm_bpf_buffer_poll(b, fd, (int32_t)on_nothing, 0, buf, sizeof(buf), 1000)) >= 0)
		;
	printf("poll_end=%d\n", r);
	return 0;
}

static unsigned seen_pids[64];
static int nseen;

static int on_redeliver(void *ctx, void *data, unsigned long size)
{
	(void)ctx;
	if (size >= 4 && nseen < 64)
		memcpy(&seen_pids[nseen++], data, 4);
	return nseen == 2 ? -1 : 0;
}

static int redeliver(void)
{
	bpf_object_handle obj = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
	int fd = wasm_bpf_map_fd_by_name(obj, "unibpf_t_rb");
	static char buf[256];
	int first = wasm_bpf_buffer_poll(obj, fd, (int32_t)on_redeliver, 0, buf, sizeof(buf), 1000);
	int second = wasm_bpf_buffer_poll(obj, fd, (int32_t)on_redeliver, 0, buf, sizeof(buf), 1000);
	printf("first=%d\nsecond=%d\norder=", first, second);
	for (int i = 0; i < nseen; i++)
		printf(i ? ",%u" : "%u", seen_pids[i]);
	printf("\n");
	return 0;
}

static int leave(int n, int trap)
{
	for (int i = 0; i < n; i++) {
		bpf_object_handle obj = wasm_load_bpf_object(exec_bpf_o, (int)exec_bpf_o_len);
		if (!obj || wasm_attach_bpf_program(obj, "unibpf_t_exec", NULL) < 0)
			return 1;
	}
	fprintf(stderr, "nasty: holding\n");
	/* The runtime's sleeps end early when a stop is requested. */
	sleep(60);
	if (trap)
		__builtin_trap();
	return 0;
}

static int churn(void)
{
	unsigned long iterations = 0, failures = 0;
	for (;;) {
		bpf_object_handle obj = wasm_load_bpf_object(maps_bpf_o, (int)maps_bpf_o_len);
		int fd = obj ? wasm_bpf_map_fd_by_name(obj, "t_hash") : -1;
		uint32_t key = (uint32_t)iterations;
		uint64_t value = iterations, back = 0;
		int ok = fd >= 0 && wasm_attach_bpf_program(obj, "unibpf_t_noop", NULL) == 0 &&
			 wasm_bpf_map_operate(fd, WASM_BPF_MAP_UPDATE_ELEM, &key, &value, 0, 0) == 0 &&
			 wasm_bpf_map_operate(fd, WASM_BPF_MAP_LOOKUP_ELEM, &key, &back, 0, 0) == 0 &&
			 back == value && wasm_bpf_map_operate(fd, WASM_BPF_MAP_DELETE_ELEM, &key, 0, 0, 0) == 0;
		if (obj)
			wasm_close_bpf_object(obj);
		iterations++;
		if (!ok)
			failures++;
		struct timespec ts = {0, 1000 * 1000};
		if (nanosleep(&ts, NULL) != 0)
			break; /* EINTR: a stop was requested */
	}
	printf("churn iterations=%lu failures=%lu\n", iterations, failures);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "nonutf8"))
		return nonutf8();
	if (!strcmp(mode, "nested"))
		return nested();
	if (!strcmp(mode, "escape"))
		return escape();
	if (!strcmp(mode, "forge"))
		return forge();
	if (!strcmp(mode, "limits"))
		return limits();
	if (!strcmp(mode, "close-midrun"))
		return close_midrun();
	if (!strcmp(mode, "redeliver"))
		return redeliver();
	if (!strcmp(mode, "churn"))
		return churn();
	if (!strcmp(mode, "leave"))
		return leave(argc > 2 ? atoi(argv[2]) : 1, argc > 3 && !strcmp(argv[3], "trap"));
	if (!strcmp(mode, "many"))
		return many(argc > 2 ? atoi(argv[2]) : 1);
	if (!strcmp(mode, "grow"))
		return grow(argc > 2 ? atoi(argv[2]) : 1);
	fprintf(stderr, "nasty: unknown mode %s\n", mode);
	return 2;
}
