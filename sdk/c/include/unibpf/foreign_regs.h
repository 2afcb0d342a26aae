/* Building a kprobe or uprobe object for another architecture than the
 * build machine's (clang -target bpf -D__TARGET_ARCH_arm64 on x86_64, say).
 *
 * libbpf's <bpf/bpf_tracing.h> reads arguments through the target
 * architecture's register struct: arm64's struct user_pt_regs, riscv64's
 * struct user_regs_struct. A vmlinux.h dumped on the build machine does not
 * declare them. This header does, as the uapi headers lay them out, with
 * CO-RE relocations, so the object says which registers it reads; unibpf
 * points those reads at the registers of whatever machine runs it. Pass it
 * with -include, with the build machine's vmlinux.h on the include path; do
 * not use it with the target's own vmlinux.h, which declares these structs
 * already. */
#ifndef UNIBPF_FOREIGN_REGS_H
#define UNIBPF_FOREIGN_REGS_H

#if defined(__TARGET_ARCH_arm64)
/* arch/arm64/include/uapi/asm/ptrace.h */
struct user_pt_regs {
	unsigned long long regs[31];
	unsigned long long sp;
	unsigned long long pc;
	unsigned long long pstate;
} __attribute__((preserve_access_index));
#elif defined(__TARGET_ARCH_riscv)
/* x86_64's vmlinux.h has a struct user_regs_struct of its own (ptrace's):
 * take it in first (its include guard makes the program's own include a
 * no-op), then have bpf_tracing.h's casts name a riscv64 flavor instead.
 * CO-RE ignores the ___riscv suffix when it matches types. */
#include "vmlinux.h"
#define user_regs_struct user_regs_struct___riscv
/* arch/riscv/include/uapi/asm/ptrace.h */
struct user_regs_struct {
	unsigned long pc, ra, sp, gp, tp, t0, t1, t2, s0, s1;
	unsigned long a0, a1, a2, a3, a4, a5, a6, a7;
	unsigned long s2, s3, s4, s5, s6, s7, s8, s9, s10, s11;
	unsigned long t3, t4, t5, t6;
} __attribute__((preserve_access_index));
#endif

#endif
