// When a process whose comm starts with "unibpf-burst" execs, write BURST
// records (seq 0..BURST-1) into the ring buffer at once.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define BURST 512

struct burst_record {
	unsigned int seq;
	unsigned int pid;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} burst_rb SEC(".maps");

SEC("tp/sched/sched_process_exec")
int unibpf_t_burst(void *ctx)
{
	char comm[16];
	const char want[] = "unibpf-burst";
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < sizeof(want) - 1; i++)
		if (comm[i] != want[i])
			return 0;
	unsigned int pid = bpf_get_current_pid_tgid() >> 32;
	for (unsigned int i = 0; i < BURST; i++) {
		struct burst_record *r = bpf_ringbuf_reserve(&burst_rb, sizeof(*r), 0);
		if (!r)
			return 0;
		r->seq = i;
		r->pid = pid;
		bpf_ringbuf_submit(r, 0);
	}
	return 0;
}
