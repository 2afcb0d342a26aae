//! bpf-to-bpf calls (frames, callee-saved registers, depth), helper
//! calls and the instruction budget.

mod common;
use common::*;
use unibpf_backend_userspace::vm::{
    memory::{function_address, STACK_TOP},
    HelperError, Limits, Memory, NoHelpers, Reason, Region, VmError, MAX_FRAMES,
};

#[test]
fn call_and_return_with_callee_saved_registers_restored() {
    // main: r6..r9 = 6..9, r1 = 5, call f, r0 += r6+r7+r8+r9; exit
    // f: r6..r9 = 100, r0 = r1 * 2, exit
    let asm = Asm::new()
        .mov(6, 6)
        .mov(7, 7)
        .mov(8, 8)
        .mov(9, 9)
        .mov(1, 5)
        .call_local(5)
        .i(ALU64 | ADD | X, 0, 6, 0, 0)
        .i(ALU64 | ADD | X, 0, 7, 0, 0)
        .i(ALU64 | ADD | X, 0, 8, 0, 0)
        .i(ALU64 | ADD | X, 0, 9, 0, 0)
        .exit()
        // f at pc 11
        .mov(6, 100)
        .mov(7, 100)
        .mov(8, 100)
        .mov(9, 100)
        .movr(0, 1)
        .i(ALU64 | MUL | K, 0, 0, 0, 2)
        .exit();
    assert_eq!(r0(&asm), 10 + 6 + 7 + 8 + 9);
}

#[test]
fn each_frame_has_its_own_stack_and_sees_its_callers() {
    // main: [r10-8] = 1; r1 = r10; call f; r0 = [r10-8] + r0; exit
    // f: [r10-8] = 50 (its own frame); [r1-8] += 1 (the caller's, through
    //    the pointer it was given); r0 = [r10-8]; exit
    let asm = Asm::new()
        .i(ST | MEM | DW, 10, 0, -8, 1)
        .movr(1, 10)
        .call_local(3)
        .i(LDX | MEM | DW, 2, 10, -8, 0)
        .i(ALU64 | ADD | X, 0, 2, 0, 0)
        .exit()
        // f at pc 6
        .i(ST | MEM | DW, 10, 0, -8, 50)
        .i(LDX | MEM | DW, 2, 1, -8, 0)
        .i(ALU64 | ADD | K, 2, 0, 0, 1)
        .i(STX | MEM | DW, 1, 2, -8, 0)
        .i(LDX | MEM | DW, 0, 10, -8, 0)
        .exit();
    assert_eq!(r0(&asm), 50 + 2);
}

#[test]
fn r10_moves_down_one_frame_per_call() {
    let asm = Asm::new().call_local(1).exit().movr(0, 10).exit();
    assert_eq!(r0(&asm), STACK_TOP - 512);
    // A callee cannot reach below its own frame.
    let asm = Asm::new()
        .call_local(1)
        .exit()
        .i(ST | MEM | B, 10, 0, -513, 0)
        .exit();
    match run(&asm) {
        Err(VmError::Access { pc: 2, source }) => assert_eq!(source.reason, Reason::BelowFrame),
        other => panic!("{other:?}"),
    }
    // After returning, the main frame is limited to its 512 bytes again.
    let asm = Asm::new()
        .call_local(2)
        .i(ST | MEM | B, 10, 0, -513, 0)
        .exit()
        .exit();
    assert!(matches!(run(&asm), Err(VmError::Access { pc: 1, .. })));
}

/// main calls f(n): f recurses while r1 > 0.
fn recursion(n: i32) -> Result<u64, VmError> {
    let asm = Asm::new()
        .mov(1, n)
        .call_local(1)
        .exit()
        // f at pc 3: if r1 == 0 { r0 = 0; exit } r1 -= 1; call f; r0 += 1; exit
        .i(JMP | JNE | K, 1, 0, 2, 0)
        .mov(0, 0)
        .exit()
        .i(ALU64 | SUB | K, 1, 0, 0, 1)
        .call_local(-5)
        .i(ALU64 | ADD | K, 0, 0, 0, 1)
        .exit();
    run(&asm)
}

#[test]
fn call_depth_is_limited_to_eight_frames() {
    // Depth n+1 frames for f(n), plus main's.
    let most = MAX_FRAMES as i32 - 2;
    assert_eq!(recursion(most).unwrap(), most as u64);
    match recursion(most + 1) {
        Err(e @ VmError::CallDepth { pc: 7 }) => {
            assert_eq!(e.to_string(), "pc 7: call depth exceeds 8 frames")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn helpers_get_r1_to_r5_and_set_r0() {
    let asm = Asm::new()
        .mov(1, 1)
        .mov(2, 2)
        .mov(3, 3)
        .mov(4, 4)
        .mov(5, 5)
        .mov(6, 60)
        .call_helper(1)
        .i(ALU64 | ADD | X, 0, 6, 0, 0)
        .exit();
    let mut helpers = TestHelpers { calls: vec![] };
    let got = program(&asm)
        .run(&mut Memory::default(), &mut helpers, Limits::default())
        .unwrap();
    assert_eq!(got, 15 + 60);
    assert_eq!(helpers.calls, vec![(1, [1, 2, 3, 4, 5])]);
    assert_eq!(program(&asm).helper_ids(), vec![1]);
}

#[test]
fn helpers_reach_memory_only_through_checked_accesses() {
    // copy 8 bytes from ctx to the stack with helper 2, then load them.
    let mut ctx = 0x1122_3344u64.to_le_bytes();
    let asm = Asm::new()
        .movr(2, 1)
        .movr(1, 10)
        .i(ALU64 | ADD | K, 1, 0, 0, -8)
        .mov(3, 8)
        .call_helper(2)
        .i(LDX | MEM | DW, 0, 10, -8, 0)
        .exit();
    let mut helpers = TestHelpers { calls: vec![] };
    let mut mem = Memory::new(Region::ReadWrite(&mut ctx));
    assert_eq!(
        program(&asm)
            .run(&mut mem, &mut helpers, Limits::default())
            .unwrap(),
        0x1122_3344
    );
    // Asking the helper to read past the context fails the run.
    let asm = Asm::new()
        .movr(2, 1)
        .movr(1, 10)
        .i(ALU64 | ADD | K, 1, 0, 0, -16)
        .mov(3, 16)
        .call_helper(2)
        .exit();
    match program(&asm).run(&mut mem, &mut helpers, Limits::default()) {
        Err(VmError::Helper {
            pc: 4,
            id: 2,
            source: HelperError::Access(e),
        }) => {
            assert_eq!(e.reason, Reason::PastEnd { len: 8 })
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failing_and_unknown_helpers_stop_the_run() {
    let asm = Asm::new().call_helper(3).exit();
    let mut helpers = TestHelpers { calls: vec![] };
    let e = program(&asm)
        .run(&mut Memory::default(), &mut helpers, Limits::default())
        .unwrap_err();
    assert_eq!(e.to_string(), "pc 0: helper 3: the test helper fails");
    let asm = Asm::new().call_helper(99).exit();
    let e = program(&asm)
        .run(&mut Memory::default(), &mut NoHelpers, Limits::default())
        .unwrap_err();
    assert_eq!(e.to_string(), "pc 0: helper 99: no helper with id 99");
}

#[test]
fn the_budget_stops_an_endless_loop() {
    let asm = Asm::new().mov(0, 0).i(JMP | JA, 0, 0, -1, 0).exit();
    let e = program(&asm)
        .run(
            &mut Memory::default(),
            &mut NoHelpers,
            Limits { instructions: 1000 },
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            VmError::Budget {
                pc: 1,
                budget: 1000
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "pc 1: instruction budget of 1000 exhausted");
    // A budget of exactly the instructions run is enough.
    let asm = Asm::new().lddw(0, 1).mov(1, 1).exit();
    let run = |n| {
        program(&asm).run(
            &mut Memory::default(),
            &mut NoHelpers,
            Limits { instructions: n },
        )
    };
    assert_eq!(run(3).unwrap(), 1);
    assert!(matches!(run(2), Err(VmError::Budget { pc: 3, .. })));
}

#[test]
fn memory_is_reusable_across_runs() {
    let asm = Asm::new()
        .i(LDX | MEM | DW, 0, 1, 0, 0)
        .i(ALU64 | ADD | K, 0, 0, 0, 1)
        .i(STX | MEM | DW, 1, 0, 0, 0)
        .exit();
    let prog = program(&asm);
    let mut ctx = [0u8; 8];
    let mut mem = Memory::new(Region::ReadWrite(&mut ctx));
    for want in 1..=3 {
        assert_eq!(
            prog.run(&mut mem, &mut NoHelpers, Limits::default())
                .unwrap(),
            want
        );
    }
}

/// main: `count = bpf_loop(5, cb, &sum, 0)` with r6 = 77 across the call;
/// cb(i, ctx) adds i to *ctx and clobbers r6. Then the callback ends the
/// loop at `stop` (returns 1) when given one.
fn loop_program(loops: i32, flags: i32, stop: Option<i32>) -> Asm {
    let main = Asm::new()
        .i(ST | MEM | DW, 10, 0, -8, 0)
        .mov(1, loops)
        .lddw_src(2, 4, 12, 0) // cb at pc 15 = 2 + 1 + 12
        .movr(3, 10)
        .i(ALU64 | ADD | K, 3, 0, 0, -8)
        .mov(4, flags)
        .mov(6, 77)
        .call_helper(181)
        .movr(7, 0)
        .i(LDX | MEM | DW, 0, 10, -8, 0)
        .i(ALU64 | MUL | K, 0, 0, 0, 100)
        .i(ALU64 | ADD | X, 0, 7, 0, 0)
        .i(ALU64 | ADD | X, 0, 6, 0, 0)
        .exit();
    // cb at pc 15: *r2 += r1; r6 = 999; r0 = (r1 == stop); exit
    main.i(LDX | MEM | DW, 3, 2, 0, 0)
        .i(ALU64 | ADD | X, 3, 1, 0, 0)
        .i(STX | MEM | DW, 2, 3, 0, 0)
        .mov(6, 999)
        .mov(0, 0)
        .i(JMP | JNE | K, 1, 0, 1, stop.unwrap_or(-1))
        .mov(0, 1)
        .exit()
}

#[test]
fn bpf_loop_calls_back_with_the_index_and_context_and_returns_the_count() {
    // sum 0..5 = 10, 5 calls, r6 kept: 10 * 100 + 5 + 77.
    assert_eq!(r0(&loop_program(5, 0, None)), 1082);
    // Zero loops: no call at all.
    assert_eq!(r0(&loop_program(0, 0, None)), 77);
}

#[test]
fn bpf_loop_stops_when_the_callback_returns_one_counting_that_call() {
    // Calls with i = 0, 1, 2; the third returns 1: sum 3, count 3.
    assert_eq!(r0(&loop_program(10, 0, Some(2))), 300 + 3 + 77);
}

#[test]
fn bpf_loop_refuses_flags_and_too_many_loops_as_the_kernel_does() {
    // r0 = -EINVAL: the callback never ran (sum 0).
    assert_eq!(
        r0(&loop_program(5, 1, None)),
        (-22i64 as u64).wrapping_add(77)
    );
    // 1 << 23 + 1 loops: -E2BIG.
    assert_eq!(
        r0(&loop_program((1 << 23) + 1, 0, None)),
        (-7i64 as u64).wrapping_add(77)
    );
}

#[test]
fn a_callback_that_never_returns_exhausts_the_runs_budget() {
    // cb: loop forever.
    let asm = Asm::new()
        .mov(1, 3)
        .lddw_src(2, 4, 5, 0) // cb at pc 7 = 1 + 1 + 5
        .mov(3, 0)
        .mov(4, 0)
        .call_helper(181)
        .exit()
        .i(JMP | JA, 0, 0, -1, 0);
    let err = program(&asm)
        .run(
            &mut Memory::default(),
            &mut NoHelpers,
            Limits { instructions: 1000 },
        )
        .unwrap_err();
    assert!(matches!(err, VmError::Budget { budget: 1000, .. }), "{err}");
}

#[test]
fn a_bpf_loop_callback_that_is_not_a_function_fails_the_run() {
    for callback in [0u64, 0x1234, u64::MAX] {
        let asm = Asm::new()
            .mov(1, 1)
            .lddw(2, callback)
            .mov(3, 0)
            .mov(4, 0)
            .call_helper(181)
            .exit();
        let err = run(&asm).unwrap_err();
        assert!(matches!(err, VmError::Callback { .. }), "{err}");
    }
    // The second half of a 64-bit load is not a function either.
    let asm = Asm::new()
        .mov(1, 1)
        .lddw(2, function_address(2))
        .mov(3, 0)
        .mov(4, 0)
        .call_helper(181)
        .exit();
    let err = run(&asm).unwrap_err();
    assert!(matches!(err, VmError::Callback { .. }), "{err}");
}
