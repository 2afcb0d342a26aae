// uprobe: entry and return probes on two functions of a user-space binary
// (uprobe.target), reporting their arguments and return values. The binary
// and functions are chosen by the guest at attach time.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "uprobe.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static const struct event *event_type __attribute__((used));

static int report(int kind, int func, long long a, long long b, long long ret)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->kind = kind;
	e->func = func;
	e->args[0] = a;
	e->args[1] = b;
	e->ret = ret;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(enter_add, int a, int b)
{
	return report(PROBE_ENTER, FUNC_ADD, a, b, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(exit_add, int ret)
{
	return report(PROBE_EXIT, FUNC_ADD, 0, 0, ret);
}

SEC("uprobe")
int BPF_KPROBE(enter_scale, long long value, int factor)
{
	return report(PROBE_ENTER, FUNC_SCALE, value, factor, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(exit_scale, long long ret)
{
	return report(PROBE_EXIT, FUNC_SCALE, 0, 0, ret);
}
