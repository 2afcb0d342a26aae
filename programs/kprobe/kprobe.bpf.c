// kprobe: entry and return probes on the kernel's do_unlinkat, reporting
// who removes which file and the result.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct event {
	int pid;
	int ret;
	bool exit;
	char comm[16];
	char name[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static const struct event *event_type __attribute__((used));

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(unlink_enter, int dfd, struct filename *name)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->exit = false;
	e->ret = 0;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	const char *path = BPF_CORE_READ(name, name);
	bpf_probe_read_kernel_str(e->name, sizeof(e->name), path);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(unlink_exit, long ret)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->exit = true;
	e->ret = ret;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	e->name[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
