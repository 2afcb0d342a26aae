/* The `wasm_bpf` host functions implemented natively on libbpf (1.x).
 *
 * Linked into a native build of a guest control plane, this makes the same C
 * source a plain libbpf program: libbpf opens, loads and attaches the object
 * exactly as given (no probing, no adaptation), and events go straight from
 * libbpf's ring buffer or perf buffer to the callback, without a copy. That is
 * the baseline `unibpf matrix` and `unibpf bench` compare against.
 *
 * Attach targets mean what they mean under `unibpf run`: NULL for the
 * section's own target, an interface for xdp/tc (`eth0`, `eth0:egress`) and
 * socket filters, a cgroup directory for cgroup and sockops programs,
 * BINARY:FUNCTION for uprobes, a function for kprobes, CATEGORY/NAME for
 * tracepoints. SIGINT and SIGTERM ask the program to stop: the next buffer
 * poll drains what is there once, then returns -EINTR, as under unibpf.
 *
 *   cc -O2 -I sdk/c/include prog.c sdk/c/native/wasm_bpf_libbpf.c -lbpf
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unibpf/wasm_bpf.h"

typedef int (*sample_fn)(void *ctx, void *data, size_t size);

/* Something attached for the object; released when the object closes. */
struct attachment {
	struct bpf_link *link;
	struct bpf_tc_hook tc_hook;
	struct bpf_tc_opts tc_opts;
	bool tc, tc_created_qdisc;
	int socket_fd; /* socket filters: closing the socket detaches */
	struct attachment *next;
};

/* A reader for one event map, set up by its first poll. */
struct reader {
	int map_fd;
	struct ring_buffer *ring;
	struct perf_buffer *perf;
	sample_fn fn;
	void *ctx;
	int delivered;
	int stop_code; /* a callback's negative return ends the poll with it */
	bool drained_for_stop;
	struct reader *next;
};

struct native_object {
	struct bpf_object *obj;
	struct attachment *attachments;
	struct reader *readers;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* No SA_RESTART: a blocked epoll_wait returns EINTR at once. */
static void install_stop_handlers(void)
{
	static bool installed;
	if (installed)
		return;
	installed = true;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* libbpf's first warning of a failed load or attach says what went wrong;
 * kept so the one-line error can quote it. Everything is still printed. */
static char first_warning[256];

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	va_list copy;
	va_copy(copy, args);
	if (level == LIBBPF_WARN && !first_warning[0]) {
		vsnprintf(first_warning, sizeof(first_warning), fmt, copy);
		first_warning[strcspn(first_warning, "\n")] = '\0';
	}
	va_end(copy);
	return vfprintf(stderr, fmt, args);
}

static const char *libbpf_said(void)
{
	return first_warning[0] ? first_warning : "no details from libbpf";
}

static struct native_object *handle_object(bpf_object_skel handle)
{
	return (struct native_object *)(uintptr_t)handle;
}

bpf_object_skel wasm_load_bpf_object(const void *obj_buf, int obj_buf_sz)
{
	if (!obj_buf || obj_buf_sz <= 0)
		return 0;
	install_stop_handlers();
	libbpf_set_print(print_libbpf);
	first_warning[0] = '\0';
	struct native_object *no = calloc(1, sizeof(*no));
	if (!no)
		return 0;
	no->obj = bpf_object__open_mem(obj_buf, (size_t)obj_buf_sz, NULL);
	if (!no->obj) {
		fprintf(stderr, "native: libbpf cannot open the BPF object: %s (%s)\n", strerror(errno), libbpf_said());
		free(no);
		return 0;
	}
	int err = bpf_object__load(no->obj);
	if (err) {
		fprintf(stderr, "native: libbpf cannot load the BPF object: %s (%s)\n", strerror(-err), libbpf_said());
		bpf_object__close(no->obj);
		free(no);
		return 0;
	}
	return (bpf_object_skel)(uintptr_t)no;
}

static void release(struct attachment *a)
{
	if (a->link)
		bpf_link__destroy(a->link);
	if (a->tc) {
		a->tc_opts.prog_fd = 0;
		a->tc_opts.prog_id = 0;
		a->tc_opts.flags = 0;
		bpf_tc_detach(&a->tc_hook, &a->tc_opts);
		if (a->tc_created_qdisc) {
			a->tc_hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&a->tc_hook);
		}
	}
	if (a->socket_fd >= 0)
		close(a->socket_fd);
	free(a);
}

int wasm_close_bpf_object(bpf_object_skel handle)
{
	struct native_object *no = handle_object(handle);
	if (!no)
		return -EINVAL;
	for (struct reader *r = no->readers, *next; r; r = next) {
		next = r->next;
		ring_buffer__free(r->ring);
		perf_buffer__free(r->perf);
		free(r);
	}
	for (struct attachment *a = no->attachments, *next; a; a = next) {
		next = a->next;
		release(a);
	}
	bpf_object__close(no->obj);
	free(no);
	return 0;
}

static int interface_index(const char *name)
{
	unsigned int index = if_nametoindex(name);
	return index ? (int)index : -ENODEV;
}

/* `IFNAME[:ingress|:egress]`; without a suffix the section decides. */
static int attach_tc(struct bpf_program *prog, const char *target, struct attachment *a)
{
	char ifname[IF_NAMESIZE + 16];
	snprintf(ifname, sizeof(ifname), "%s", target);
	bool egress = strstr(bpf_program__section_name(prog), "egress") != NULL;
	char *colon = strrchr(ifname, ':');
	if (colon && (!strcmp(colon, ":egress") || !strcmp(colon, ":ingress"))) {
		egress = !strcmp(colon, ":egress");
		*colon = '\0';
	}
	int ifindex = interface_index(ifname);
	if (ifindex < 0)
		return ifindex;
	a->tc_hook.sz = sizeof(a->tc_hook);
	a->tc_hook.ifindex = ifindex;
	a->tc_hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
	int created = bpf_tc_hook_create(&a->tc_hook);
	if (created < 0 && created != -EEXIST)
		return created;
	a->tc_opts.sz = sizeof(a->tc_opts);
	a->tc_opts.prog_fd = bpf_program__fd(prog);
	int err = bpf_tc_attach(&a->tc_hook, &a->tc_opts);
	if (err < 0) {
		if (created == 0) {
			a->tc_hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&a->tc_hook);
		}
		return err;
	}
	a->tc = true;
	a->tc_created_qdisc = created == 0;
	return 0;
}

/* A raw packet socket on the interface carrying the filter. */
static int attach_socket_filter(struct bpf_program *prog, const char *ifname, struct attachment *a)
{
	int ifindex = interface_index(ifname);
	if (ifindex < 0)
		return ifindex;
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	int prog_fd = bpf_program__fd(prog);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof(prog_fd)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	a->socket_fd = fd;
	return 0;
}

static int attach_to(struct bpf_program *prog, const char *target, struct attachment *a)
{
	const char *section = bpf_program__section_name(prog);
	if (!target || !*target) {
		a->link = bpf_program__attach(prog);
		return a->link ? 0 : -errno;
	}
	switch (bpf_program__type(prog)) {
	case BPF_PROG_TYPE_SOCK_OPS:
	case BPF_PROG_TYPE_CGROUP_SKB:
	case BPF_PROG_TYPE_CGROUP_SOCK:
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
	case BPF_PROG_TYPE_CGROUP_SOCKOPT:
	case BPF_PROG_TYPE_CGROUP_SYSCTL:
	case BPF_PROG_TYPE_CGROUP_DEVICE: {
		int cgroup = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cgroup < 0)
			return -errno;
		a->link = bpf_program__attach_cgroup(prog, cgroup);
		int err = a->link ? 0 : -errno;
		close(cgroup);
		return err;
	}
	case BPF_PROG_TYPE_XDP: {
		int ifindex = interface_index(target);
		if (ifindex < 0)
			return ifindex;
		a->link = bpf_program__attach_xdp(prog, ifindex);
		return a->link ? 0 : -errno;
	}
	case BPF_PROG_TYPE_SCHED_CLS:
		return attach_tc(prog, target, a);
	case BPF_PROG_TYPE_SOCKET_FILTER:
		return attach_socket_filter(prog, target, a);
	case BPF_PROG_TYPE_KPROBE:
		if (!strncmp(section, "uprobe", 6) || !strncmp(section, "uretprobe", 9)) {
			char binary[4096];
			snprintf(binary, sizeof(binary), "%s", target);
			char *colon = strrchr(binary, ':');
			if (!colon)
				return -EINVAL;
			*colon = '\0';
			LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = colon + 1,
				    .retprobe = !strncmp(section, "uretprobe", 9));
			a->link = bpf_program__attach_uprobe_opts(prog, -1, binary, 0, &opts);
		} else {
			a->link = bpf_program__attach_kprobe(prog, !strncmp(section, "kretprobe", 9), target);
		}
		return a->link ? 0 : -errno;
	case BPF_PROG_TYPE_TRACEPOINT: {
		char category[256];
		snprintf(category, sizeof(category), "%s", target);
		char *sep = strpbrk(category, "/:");
		if (!sep)
			return -EINVAL;
		*sep = '\0';
		a->link = bpf_program__attach_tracepoint(prog, category, sep + 1);
		return a->link ? 0 : -errno;
	}
	case BPF_PROG_TYPE_RAW_TRACEPOINT:
		a->link = bpf_program__attach_raw_tracepoint(prog, target);
		return a->link ? 0 : -errno;
	default:
		a->link = bpf_program__attach(prog);
		return a->link ? 0 : -errno;
	}
}

int wasm_attach_bpf_program(bpf_object_skel handle, const char *name, const char *attach_target)
{
	struct native_object *no = handle_object(handle);
	if (!no || !name)
		return -EINVAL;
	struct bpf_program *prog = bpf_object__find_program_by_name(no->obj, name);
	if (!prog)
		return -ENOENT;
	struct attachment *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->socket_fd = -1;
	first_warning[0] = '\0';
	int err = attach_to(prog, attach_target, a);
	if (err < 0) {
		fprintf(stderr, "native: attaching %s failed: %s (%s)\n", name, strerror(-err), libbpf_said());
		free(a);
		return err;
	}
	a->next = no->attachments;
	no->attachments = a;
	return 0;
}

int wasm_bpf_map_fd_by_name(bpf_object_skel handle, const char *name)
{
	struct native_object *no = handle_object(handle);
	if (!no || !name)
		return -EINVAL;
	/* libbpf finds internal maps (.bss, .rodata) by section name too. */
	struct bpf_map *map = bpf_object__find_map_by_name(no->obj, name);
	return map ? bpf_map__fd(map) : -ENOENT;
}

int wasm_bpf_map_operate(int fd, int cmd, void *key, void *value, void *next_key, uint64_t flags)
{
	/* The ABI's command numbers are the kernel's bpf(2) commands. */
	int err;
	switch (cmd) {
	case BPF_MAP_LOOKUP_ELEM:
		err = bpf_map_lookup_elem_flags(fd, key, value, flags);
		break;
	case BPF_MAP_UPDATE_ELEM:
		err = bpf_map_update_elem(fd, key, value, flags);
		break;
	case BPF_MAP_DELETE_ELEM:
		err = flags ? bpf_map_delete_elem_flags(fd, key, flags) : bpf_map_delete_elem(fd, key);
		break;
	case BPF_MAP_GET_NEXT_KEY:
		err = bpf_map_get_next_key(fd, key, next_key);
		break;
	default:
		return -EINVAL;
	}
	/* libbpf 1.x returns -errno directly. */
	return err < 0 ? err : 0;
}

static int on_ring_record(void *ctx, void *data, size_t size)
{
	struct reader *r = ctx;
	int ret = r->fn(r->ctx, data, size);
	r->delivered++;
	if (ret < 0) {
		r->stop_code = ret;
		return ret; /* stops ring_buffer__poll */
	}
	return 0;
}

static void on_perf_record(void *ctx, int cpu, void *data, __u32 size)
{
	(void)cpu;
	struct reader *r = ctx;
	if (r->stop_code)
		return; /* perf buffers cannot stop mid-batch; later records are dropped */
	int ret = r->fn(r->ctx, data, size);
	r->delivered++;
	if (ret < 0)
		r->stop_code = ret;
}

static void on_perf_lost(void *ctx, int cpu, __u64 count)
{
	(void)ctx;
	fprintf(stderr, "native: cpu %d lost %llu perf samples\n", cpu, (unsigned long long)count);
}

static struct reader *reader_for(struct native_object *no, int fd, sample_fn fn, void *ctx, int *err)
{
	for (struct reader *r = no->readers; r; r = r->next) {
		if (r->map_fd == fd) {
			r->fn = fn;
			r->ctx = ctx;
			return r;
		}
	}
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	*err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (*err)
		return NULL;
	struct reader *r = calloc(1, sizeof(*r));
	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	r->map_fd = fd;
	r->fn = fn;
	r->ctx = ctx;
	if (info.type == BPF_MAP_TYPE_RINGBUF) {
		r->ring = ring_buffer__new(fd, on_ring_record, r, NULL);
	} else if (info.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
		r->perf = perf_buffer__new(fd, 64, on_perf_record, on_perf_lost, r, NULL);
	} else {
		free(r);
		*err = -EINVAL;
		return NULL;
	}
	if (!r->ring && !r->perf) {
		*err = -errno;
		free(r);
		return NULL;
	}
	r->next = no->readers;
	no->readers = r;
	return r;
}

int wasm_bpf_buffer_poll(bpf_object_skel handle, int fd, wasm_bpf_callback_t sample_func, wasm_bpf_ctx_t ctx,
			 char *data, int max_size, int timeout_ms)
{
	(void)data, (void)max_size; /* records are handed over in place */
	struct native_object *no = handle_object(handle);
	if (!no || !sample_func)
		return -EINVAL;
	int err = 0;
	struct reader *r = reader_for(no, fd, (sample_fn)sample_func, (void *)ctx, &err);
	if (!r)
		return err;
	if (stop_requested) {
		if (r->drained_for_stop)
			return -EINTR;
		r->drained_for_stop = true;
		timeout_ms = 0;
	}
	r->delivered = 0;
	r->stop_code = 0;
	err = r->ring ? ring_buffer__poll(r->ring, timeout_ms) : perf_buffer__poll(r->perf, timeout_ms);
	if (r->stop_code)
		return r->stop_code;
	if (err == -EINTR && stop_requested && !r->drained_for_stop) {
		/* Interrupted by the stop signal itself: one last drain. */
		r->drained_for_stop = true;
		err = r->ring ? ring_buffer__poll(r->ring, 0) : perf_buffer__poll(r->perf, 0);
		if (r->stop_code)
			return r->stop_code;
	}
	if (err < 0)
		return err;
	return r->delivered;
}
