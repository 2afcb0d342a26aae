// lsm: refuses rmdir of any directory with the name set in .rodata, through
// the BPF LSM hook path_rmdir. A tracepoint counts rmdir() calls naming it,
// so the guest can leave the LSM program out (autoload off) on hosts without
// BPF LSM and still see the attempts.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <unibpf/compat.bpf.h>

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1
#define NAME_LEN 64

const volatile char protected_name[NAME_LEN] = {};

/* [0] rmdirs refused, [1] rmdir() calls naming the directory */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} refused SEC(".maps");

static bool is_protected(const char *name)
{
	for (int i = 0; i < NAME_LEN; i++) {
		if (name[i] != protected_name[i])
			return false;
		if (!name[i])
			return true;
	}
	return true;
}

static void bump(u32 key)
{
	u64 *n = bpf_map_lookup_elem(&refused, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("tracepoint/syscalls/sys_enter_rmdir")
int count_rmdir(struct trace_event_raw_sys_enter *ctx)
{
	char path[NAME_LEN] = {};
	if (bpf_probe_read_user_str(path, sizeof(path), (const char *)ctx->args[0]) > 0 && is_protected(path))
		bump(1);
	return 0;
}

/* arm64 has no rmdir(2), only unlinkat(2): count only where it exists. */
UNIBPF_OPTIONAL(count_rmdir);

SEC("lsm/path_rmdir")
int BPF_PROG(deny_rmdir, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	char name[NAME_LEN] = {};
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(dentry, d_name.name));
	if (!is_protected(name))
		return 0;
	bump(0);
	return -EPERM;
}
