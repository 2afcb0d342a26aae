//! Interpreter speed beside rbpf's, on a loop of ALU instructions. Not a
//! pass/fail test (timings vary): run with
//! `cargo test --release -p unibpf-backend-userspace --test speed -- --ignored --nocapture`.

mod common;
use common::*;
use std::time::Instant;
use unibpf_backend_userspace::vm::{Limits, Memory, NoHelpers};

#[test]
#[ignore = "a measurement, not a check"]
fn ns_per_instruction_beside_rbpf() {
    const ROUNDS: i32 = 1_000_000;
    // r0 = 0; r1 = 0; loop: r2 = r1; r2 <<= 3; r0 += r2; r0 ^= r1;
    // r1 += 1; if r1 < ROUNDS goto loop; exit — 6 instructions a round.
    let asm = Asm::new()
        .mov(0, 0)
        .mov(1, 0)
        .movr(2, 1)
        .i(ALU64 | LSH | K, 2, 0, 0, 3)
        .i(ALU64 | ADD | X, 0, 2, 0, 0)
        .i(ALU64 | XOR | X, 0, 1, 0, 0)
        .i(ALU64 | ADD | K, 1, 0, 0, 1)
        .i(JMP | JLT | K, 1, 0, -6, ROUNDS)
        .exit();
    let insns = 2.0 + 6.0 * ROUNDS as f64 + 1.0;
    let prog = program(&asm);
    let mut mem = Memory::default();
    let limits = Limits {
        instructions: u64::MAX,
    };
    let start = Instant::now();
    let ours = prog.run(&mut mem, &mut NoHelpers, limits).unwrap();
    let ours_ns = start.elapsed().as_nanos() as f64 / insns;
    let vm = rbpf::EbpfVmNoData::new(Some(asm.bytes())).unwrap();
    let start = Instant::now();
    let theirs = vm.execute_program().unwrap();
    let theirs_ns = start.elapsed().as_nanos() as f64 / insns;
    assert_eq!(ours, theirs);
    eprintln!("ns per instruction: unibpf {ours_ns:.2}, rbpf {theirs_ns:.2}");
}
