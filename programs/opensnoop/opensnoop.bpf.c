// opensnoop: open() and openat() calls with their result, through syscall
// tracepoints, delivered over a perf event array (not a ring buffer).
// target_tgid (set through .rodata) limits it to one process.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <unibpf/compat.bpf.h>
#include "opensnoop.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile int target_tgid = 0;

struct args {
	const char *path;
	int flags;
};

/* thread id -> arguments seen at entry, completed at exit */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct args);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} events SEC(".maps");

static const struct event *event_type __attribute__((used));

static int enter(const char *path, int flags)
{
	u64 id = bpf_get_current_pid_tgid();
	if (target_tgid && (id >> 32) != target_tgid)
		return 0;
	u32 tid = (u32)id;
	struct args a = { .path = path, .flags = flags };
	bpf_map_update_elem(&inflight, &tid, &a, BPF_ANY);
	return 0;
}

static int leave(void *ctx, long ret)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct args *a = bpf_map_lookup_elem(&inflight, &tid);
	if (!a)
		return 0;
	struct event e = {};
	e.ts_ns = bpf_ktime_get_ns();
	e.pid = id >> 32;
	e.tid = tid;
	e.ret = ret;
	e.flags = a->flags;
	bpf_get_current_comm(&e.comm, sizeof(e.comm));
	bpf_probe_read_user_str(e.path, sizeof(e.path), a->path);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[0], (int)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[1], (int)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx, ctx->ret);
}

/* open(2) has no tracepoints on arm64 (only openat): leave those out there. */
UNIBPF_OPTIONAL(enter_open);
UNIBPF_OPTIONAL(exit_open);

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx, ctx->ret);
}
