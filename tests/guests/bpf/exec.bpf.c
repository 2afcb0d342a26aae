// One event per exec: pid, comm and file name, through a ring buffer.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct exec_event {
	unsigned int pid;
	unsigned int tgid;
	char comm[16];
	char filename[128];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} unibpf_t_rb SEC(".maps");

SEC("tp/sched/sched_process_exec")
int unibpf_t_exec(void *ctx)
{
	struct exec_event *e = bpf_ringbuf_reserve(&unibpf_t_rb, sizeof(*e), 0);
	if (!e)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	e->tgid = id >> 32;
	e->pid = (unsigned int)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* sched_process_exec's first field is a __data_loc filename at offset 8:
	 * the low 16 bits are its offset from the start of the record. */
	unsigned int loc = *(unsigned int *)((char *)ctx + 8);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (char *)ctx + (loc & 0xffff));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
