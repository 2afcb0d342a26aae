// tcpconnlat: TCP connect latency (SYN sent to the socket becoming
// established) per connection, with fentry programs on tcp_v4_connect and
// tcp_rcv_state_process, and kprobe alternatives for kernels without BPF
// trampolines (arm64 before 6.0).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <unibpf/compat.bpf.h>

char LICENSE[] SEC("license") = "GPL";

#define TCP_SYN_SENT 2

struct event {
	unsigned long long latency_us;
	int pid;
	unsigned int daddr; /* network byte order */
	unsigned short dport; /* host byte order */
	char comm[16];
};

struct start {
	u64 ts;
	int pid;
	char comm[16];
};

/* Keyed by the socket's address as a number: passing &sk itself would spill
 * the BTF pointer to the stack, and some verifiers (6.1, 6.12) then lose its
 * type on reload. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, struct start);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static const struct event *event_type __attribute__((used));

/* Both mechanisms share the work; the socket is read through CO-RE, which
 * serves a kprobe's plain pointer and an fentry's typed one alike. */
static __always_inline int connect_started(struct sock *sk)
{
	struct start s = {};
	s.ts = bpf_ktime_get_ns();
	s.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&s.comm, sizeof(s.comm));
	u64 key = (u64)sk;
	bpf_map_update_elem(&connecting, &key, &s, BPF_ANY);
	return 0;
}

static __always_inline int state_changed(struct sock *sk)
{
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_SYN_SENT)
		return 0;
	u64 key = (u64)sk;
	struct start *s = bpf_map_lookup_elem(&connecting, &key);
	if (!s)
		return 0;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->latency_us = (bpf_ktime_get_ns() - s->ts) / 1000;
		e->pid = s->pid;
		__builtin_memcpy(e->comm, s->comm, sizeof(e->comm));
		e->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		bpf_ringbuf_submit(e, 0);
	}
	bpf_map_delete_elem(&connecting, &key);
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG(on_connect, struct sock *sk)
{
	return connect_started(sk);
}

SEC("fentry/tcp_rcv_state_process")
int BPF_PROG(on_state, struct sock *sk)
{
	return state_changed(sk);
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(on_connect_kprobe, struct sock *sk)
{
	return connect_started(sk);
}

SEC("kprobe/tcp_rcv_state_process")
int BPF_KPROBE(on_state_kprobe, struct sock *sk)
{
	return state_changed(sk);
}

UNIBPF_ALTERNATIVE(on_connect, on_connect_kprobe);
UNIBPF_ALTERNATIVE(on_state, on_state_kprobe);
