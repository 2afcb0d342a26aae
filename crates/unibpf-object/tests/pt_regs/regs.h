/* The register structs each architecture's BPF programs read, as the
 * kernel headers declare them (member names and order), without
 * vmlinux.h: enough for libbpf's bpf_tracing.h to emit the CO-RE
 * relocations a real build for that architecture emits. */
#ifndef UNIBPF_TEST_REGS_H
#define UNIBPF_TEST_REGS_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

/* -DCORE= builds the same programs reading registers at fixed offsets. */
#ifndef CORE
#define CORE __attribute__((preserve_access_index))
#endif

#if defined(__TARGET_ARCH_x86)
/* arch/x86/include/asm/ptrace.h (cs and ss are unions in newer kernels) */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
} CORE;
/* bpf_tracing.h picks the kernel's register names with vmlinux.h. */
#define __VMLINUX_H__
#elif defined(__TARGET_ARCH_arm64)
/* arch/arm64/include/uapi/asm/ptrace.h */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} CORE;
#elif defined(__TARGET_ARCH_riscv)
/* arch/riscv/include/uapi/asm/ptrace.h */
struct user_regs_struct {
	unsigned long pc, ra, sp, gp, tp, t0, t1, t2, s0, s1;
	unsigned long a0, a1, a2, a3, a4, a5, a6, a7;
	unsigned long s2, s3, s4, s5, s6, s7, s8, s9, s10, s11;
	unsigned long t3, t4, t5, t6;
} CORE;
#else
#error "set __TARGET_ARCH_x86, __TARGET_ARCH_arm64 or __TARGET_ARCH_riscv"
#endif

#endif
