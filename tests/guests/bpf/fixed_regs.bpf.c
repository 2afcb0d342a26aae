/* A uprobe built for arm64 without CO-RE: its register struct lacks
 * preserve_access_index, so it reads the first argument at the offset
 * arm64 keeps it in (regs[0]) and nothing in the object says which
 * register that was. On any other architecture unibpf refuses it rather
 * than let it read whatever register sits there. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct pt_regs {
	unsigned long regs[31];
	unsigned long sp, pc, pstate;
};

__u64 unibpf_t_seen;

SEC("uprobe")
int unibpf_t_fixed(struct pt_regs *ctx)
{
	unibpf_t_seen = ctx->regs[0];
	return 0;
}
