// execve: every execve() call with its program path and arguments, read from
// the caller's memory at syscall entry.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "execve.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static const struct event *event_type __attribute__((used));

SEC("tracepoint/syscalls/sys_enter_execve")
int trace_execve(struct trace_event_raw_sys_enter *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[0]);

	const char *const *argv = (const char *const *)ctx->args[1];
	e->argc = 0;
	e->truncated = false;
	for (int i = 0; i < EXECVE_MAX_ARGS; i++) {
		const char *arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			goto done;
		if (bpf_probe_read_user_str(e->args[i], EXECVE_ARG_LEN, arg) < 0)
			goto done;
		e->argc++;
	}
	{
		const char *more = NULL;
		bpf_probe_read_user(&more, sizeof(more), &argv[EXECVE_MAX_ARGS]);
		e->truncated = more != NULL;
	}
done:
	bpf_ringbuf_submit(e, 0);
	return 0;
}
