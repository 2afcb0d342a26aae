//! The classic-BPF seccomp filter a spawned command installs on itself so
//! that only the syscalls we care about stop it (SECCOMP_RET_TRACE); every
//! other syscall runs at full speed.

use crate::sys::NATIVE_AUDIT_ARCH;

// Offsets in `struct seccomp_data { int nr; __u32 arch; __u64 ip; __u64 args[6]; }`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
/// The low 32 bits of args[2] (little-endian: both architectures we know).
const ARG2_LOW_OFFSET: u32 = 16 + 2 * 8;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_eq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// A filter returning SECCOMP_RET_TRACE for `numbers` of the native
/// architecture and SECCOMP_RET_ALLOW for everything else (including other
/// ABIs, such as 32-bit syscalls, whose numbers differ). `None` when we do
/// not know this architecture's AUDIT_ARCH: the caller then traces every
/// syscall with PTRACE_SYSCALL instead. With `exec_mmaps`, mmap calls whose
/// protection has PROT_EXEC are traced too (a library being mapped).
pub(crate) fn trace_filter(numbers: &[i64], exec_mmaps: bool) -> Option<Vec<libc::sock_filter>> {
    let arch = NATIVE_AUDIT_ARCH?;
    let load = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let allow = stmt(ret, libc::SECCOMP_RET_ALLOW);
    let trace = stmt(ret, libc::SECCOMP_RET_TRACE);
    let mut prog = vec![stmt(load, ARCH_OFFSET), jump_eq(arch, 1, 0), allow];
    prog.push(stmt(load, NR_OFFSET));
    // Two instructions per number keep every jump short, however many
    // numbers there are (BPF jump offsets are 8 bits).
    for &nr in numbers {
        let Ok(nr) = u32::try_from(nr) else { continue };
        prog.push(jump_eq(nr, 0, 1));
        prog.push(trace);
    }
    if exec_mmaps {
        // Last, as it loads another word: not mmap, or no PROT_EXEC: allow.
        prog.push(jump_eq(libc::SYS_mmap as u32, 0, 3));
        prog.push(stmt(load, ARG2_LOW_OFFSET));
        prog.push(libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::PROT_EXEC as u32,
        });
        prog.push(trace);
    }
    prog.push(allow);
    Some(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_has_two_instructions_per_number() {
        if let Some(prog) = trace_filter(&[1, 2, 3], false) {
            assert_eq!(prog.len(), 4 + 3 * 2 + 1);
            assert_eq!(prog[prog.len() - 1].k, libc::SECCOMP_RET_ALLOW);
        }
    }

    #[test]
    fn exec_mmaps_jump_to_the_final_allow() {
        if let Some(prog) = trace_filter(&[1], true) {
            let n = prog.len();
            assert_eq!(n, 4 + 2 + 4 + 1);
            // jeq mmap: false skips the load, the jset and the trace.
            assert_eq!(n - 5 + 1 + 3, n - 1);
            assert_eq!(prog[n - 5].jf, 3);
            assert_eq!(prog[n - 2].k, libc::SECCOMP_RET_TRACE);
            assert_eq!(prog[n - 1].k, libc::SECCOMP_RET_ALLOW);
        }
    }
}
