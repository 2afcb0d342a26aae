// A program whose section climbs out of tracefs: libbpf would read the
// tracepoint id from /tmp/unibpf-escape/x/id. The runtime must refuse it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp/../../../../../../../tmp/unibpf-escape/x")
int unibpf_t_escape(void *ctx)
{
	return 0;
}
