/* One program per register role, each storing what it reads, for the
 * pt_regs retargeting tests: compiled once per architecture. The section
 * decides what arm64's regs[0] and regs[3] stand for (argument or return
 * value; function or syscall argument). */
#include "regs.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define REGS(ctx) (__PT_REGS_CAST(ctx))
#if defined(__TARGET_ARCH_x86)
#define PARM6(ctx) (REGS(ctx)->r9)
#define SYSCALL_ARG0(ctx) PT_REGS_PARM1_CORE_SYSCALL(ctx)
#elif defined(__TARGET_ARCH_arm64)
#define PARM6(ctx) (REGS(ctx)->regs[5])
#define PARM7(ctx) (REGS(ctx)->regs[6])
#define PARM8(ctx) (REGS(ctx)->regs[7])
#define SYSCALL_ARG0(ctx) PT_REGS_PARM1_CORE_SYSCALL(ctx)
#else
#define PARM6(ctx) (REGS(ctx)->a5)
#define PARM7(ctx) (REGS(ctx)->a6)
#define PARM8(ctx) (REGS(ctx)->a7)
#ifdef __PT_PARM1_SYSCALL_REG
#define SYSCALL_ARG0(ctx) PT_REGS_PARM1_CORE_SYSCALL(ctx)
#else
/* What newer libbpf declares and reads for the syscall's first argument. */
struct pt_regs___riscv {
	unsigned long orig_a0;
} CORE;
#define SYSCALL_ARG0(ctx) BPF_CORE_READ((struct pt_regs___riscv *)(ctx), orig_a0)
#endif
#endif

__u64 out[16];

#define PROBE(sec, name, slot, expr)            \
	SEC(sec) int name(struct pt_regs *ctx)  \
	{                                       \
		out[slot] = (expr);             \
		return 0;                       \
	}

#ifndef ONLY_NOT_ON_X86
PROBE("kprobe/do_nanosleep", parm1, 0, PT_REGS_PARM1(ctx))
PROBE("kprobe/do_nanosleep", parm2, 1, PT_REGS_PARM2(ctx))
PROBE("kprobe/do_nanosleep", parm3, 2, PT_REGS_PARM3(ctx))
PROBE("kprobe/do_nanosleep", parm4, 3, PT_REGS_PARM4(ctx))
PROBE("kprobe/do_nanosleep", parm5, 4, PT_REGS_PARM5(ctx))
PROBE("kprobe/do_nanosleep", parm6, 5, PARM6(ctx))
PROBE("kretprobe/do_nanosleep", rc, 6, PT_REGS_RC(ctx))
PROBE("kprobe/do_nanosleep", sp, 7, PT_REGS_SP(ctx))
PROBE("kprobe/do_nanosleep", ip, 8, PT_REGS_IP(ctx))
PROBE("kprobe/do_nanosleep", fp, 9, PT_REGS_FP(ctx))
PROBE("kprobe/do_nanosleep", parm2_core, 10, PT_REGS_PARM2_CORE(ctx))
PROBE("ksyscall/nanosleep", sys_arg0, 11, SYSCALL_ARG0(ctx))
PROBE("ksyscall/nanosleep", sys_parm4, 12, PT_REGS_PARM4_CORE_SYSCALL(ctx))
#else
PROBE("kprobe/do_nanosleep", parm7, 0, PARM7(ctx))
PROBE("kprobe/do_nanosleep", parm8, 1, PARM8(ctx))
PROBE("kprobe/do_nanosleep", ret, 2, PT_REGS_RET(ctx))
#endif

char LICENSE[] SEC("license") = "GPL";
