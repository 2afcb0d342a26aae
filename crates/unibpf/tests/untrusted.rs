//! Hostile modules against the runtime, without a kernel: the fake backend
//! stands in for it (objects parsed for real, maps in memory, events pushed by
//! the test), so these run as any user. What they check is the runtime's own
//! defence: limits, nesting, truncation, start functions, escapes.

use std::sync::Arc;
use std::time::Duration;

use unibpf::{
    BackendKind, Config, Exit, Limit, Limits, ModuleSpec, OutputBuffer, RunError, Runtime,
};
use unibpf_backend_fake::{FakeBackend, FakeWorld};
use unibpf_test_guests::{field, guest};

// WASI errnos, as guests see them.
const EINVAL: i32 = -28;
const EILSEQ: i32 = -25;
const ELOOP: i32 = -32;
const EMFILE: i32 = -33;
const ENOENT: i32 = -44;

fn runtime(world: &Arc<FakeWorld>, limits: Limits) -> Runtime {
    let world = world.clone();
    let config = Config::default().limits(limits).backend(Arc::new(move || {
        Ok(
            Box::new(FakeBackend::new(world.clone(), BackendKind::Userspace))
                as Box<dyn unibpf::Backend>,
        )
    }));
    Runtime::new(config).expect("runtime")
}

/// Runs the nasty guest in `mode` to the end; its exit and stdout.
fn nasty(runtime: &Runtime, args: &[&str]) -> (Result<Exit, RunError>, String) {
    let wasm = std::fs::read(guest("nasty.wasm")).expect("reading nasty.wasm");
    let out = OutputBuffer::new();
    let exit = runtime.run(
        ModuleSpec::new("nasty", wasm)
            .args(args.iter().copied())
            .stdout(out.sink()),
    );
    (exit, out.text())
}

/// One exec event as the BPF side writes it (pid, tgid, comm, filename).
fn exec_record(pid: u32) -> Vec<u8> {
    let mut r = vec![0u8; 152];
    r[0..4].copy_from_slice(&pid.to_le_bytes());
    r[4..8].copy_from_slice(&pid.to_le_bytes());
    r[8..12].copy_from_slice(b"true");
    r
}

#[test]
fn nested_polls_stop_at_the_call_depth_and_never_overrun_the_inner_buffer() {
    // Before the depth limit, a guest recursing here overflowed the host
    // thread's stack and aborted the process.
    let world = FakeWorld::new();
    for pid in 0..40 {
        world.push_event("unibpf_t_rb", &exec_record(pid));
    }
    let rt = runtime(&world, Limits::default());
    let (exit, out) = nasty(&rt, &["nested"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    let depth = Limits::default().call_depth;
    assert_eq!(field(&out, "deepest"), depth.to_string(), "{out}");
    assert_eq!(field(&out, "loop_ret"), ELOOP.to_string(), "{out}");
    // Every record reaches exactly one callback, nested or not.
    assert_eq!(field(&out, "callbacks"), "40", "{out}");
    // Inner calls passed 16-byte buffers: records are cut to the buffer of
    // the call that delivers them (before: to the outer call's 4096).
    assert_eq!(field(&out, "oversized"), "0", "{out}");
    assert_eq!(field(&out, "canary_ok"), "1", "{out}");
    assert_eq!(world.pending_events("unibpf_t_rb"), 0);
}

#[test]
fn the_call_depth_is_a_setting() {
    let world = FakeWorld::new();
    for pid in 0..10 {
        world.push_event("unibpf_t_rb", &exec_record(pid));
    }
    let mut limits = Limits::default();
    limits.set(Limit::CallDepth, 3).unwrap();
    let (exit, out) = nasty(&runtime(&world, limits), &["nested"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    assert_eq!(field(&out, "deepest"), "3", "{out}");
    assert_eq!(field(&out, "loop_ret"), ELOOP.to_string());
    assert_eq!(field(&out, "callbacks"), "10");
}

#[test]
fn objects_maps_and_links_are_capped_and_given_back_on_close() {
    let world = FakeWorld::new();
    let mut limits = Limits::default();
    limits.set(Limit::Objects, 2).unwrap();
    limits.set(Limit::Maps, 2).unwrap();
    limits.set(Limit::Links, 2).unwrap();
    let (exit, out) = nasty(&runtime(&world, limits), &["limits"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    assert_eq!(field(&out, "objects"), "1,1,0,0");
    assert_eq!(field(&out, "maps"), format!("1,1,{EMFILE}"));
    assert_eq!(field(&out, "map_again"), "1");
    assert_eq!(field(&out, "links"), format!("0,0,{EMFILE}"));
    assert_eq!(field(&out, "after_close"), "0,1");
    // The module ended: everything it had is released.
    assert_eq!(world.open_objects(), 0);
    assert!(world.attachments().is_empty());
}

#[test]
fn names_that_are_not_utf8_get_eilseq() {
    let world = FakeWorld::new();
    let (exit, out) = nasty(&runtime(&world, Limits::default()), &["nonutf8"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    assert_eq!(field(&out, "attach_nonutf8"), EILSEQ.to_string());
    assert_eq!(field(&out, "map_nonutf8"), EILSEQ.to_string());
}

#[test]
fn attach_targets_cannot_climb_out_of_tracefs() {
    let world = FakeWorld::new();
    let (exit, out) = nasty(&runtime(&world, Limits::default()), &["escape"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    assert_eq!(field(&out, "attach_dotdot"), EINVAL.to_string());
    assert_eq!(field(&out, "attach_dotdot_colon"), EINVAL.to_string());
    assert_eq!(field(&out, "attach_legit"), "0");
    let attached: Vec<String> = world.attachments().into_iter().map(|a| a.target).collect();
    assert!(
        attached.is_empty(),
        "closed objects keep nothing: {attached:?}"
    );
}

#[test]
fn log_forging_names_get_plain_errnos() {
    let world = FakeWorld::new();
    let (exit, out) = nasty(&runtime(&world, Limits::default()), &["forge"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    assert_eq!(field(&out, "forge_name"), ENOENT.to_string());
    assert_eq!(field(&out, "forge_target"), EINVAL.to_string());
    assert_eq!(field(&out, "forge_map"), ENOENT.to_string());
}

#[test]
fn memory_grows_past_the_limit_fail_and_the_guest_goes_on() {
    let world = FakeWorld::new();
    let mut limits = Limits::default();
    limits.set(Limit::Memory, 8 << 20).unwrap();
    let (exit, out) = nasty(&runtime(&world, limits), &["grow", "1000"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    assert_eq!(field(&out, "grow"), "-1");
    assert_eq!(field(&out, "size_unchanged"), "1");
    // Within the limit the same grow works.
    let (_, out) = nasty(&runtime(&world, Limits::default()), &["grow", "1000"]);
    assert_ne!(field(&out, "grow"), "-1", "{out}");
}

/// A module from WebAssembly text.
fn wat_module(text: &str) -> ModuleSpec {
    let wasm = wat::parse_str(text).expect("valid wat");
    ModuleSpec::new("wat", wasm)
}

const WASI_SHELL: &str = r#"(memory (export "memory") 1) (func (export "_start"))"#;

#[test]
fn a_huge_declared_table_is_refused_before_it_is_allocated() {
    // 60 bytes that used to take the host to 11.8 GB.
    let world = FakeWorld::new();
    let rt = runtime(&world, Limits::default());
    let module = format!("(module {WASI_SHELL} (table 4000000000 funcref))");
    match rt.run(wat_module(&module)) {
        Err(RunError::Limit(e)) => {
            assert_eq!(e.limit, Limit::TableElements);
            assert_eq!(
                e.to_string(),
                "a table of the module needs 4000000000, above the table-elements limit of 65536 (raise it with --limit table-elements=...)"
            );
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn huge_declared_memory_is_refused_with_the_limit_named() {
    let world = FakeWorld::new();
    let rt = runtime(&world, Limits::default());
    let module = r#"(module (memory (export "memory") 60000) (func (export "_start")))"#;
    match rt.run(wat_module(module)) {
        Err(RunError::Limit(e)) => {
            assert_eq!(e.limit, Limit::Memory);
            assert!(e.to_string().contains("--limit memory="), "{e}");
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn a_trap_in_the_start_function_is_a_trap_not_a_link_error() {
    let world = FakeWorld::new();
    let rt = runtime(&world, Limits::default());
    let module = format!("(module {WASI_SHELL} (func $s unreachable) (start $s))");
    match rt.run(wat_module(&module)) {
        Err(RunError::Trap(msg)) => assert!(msg.starts_with("in the start function"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_runaway_start_function_traps_when_its_fuel_is_spent() {
    let world = FakeWorld::new();
    let mut limits = Limits::default();
    limits.set(Limit::StartFuel, 1_000_000).unwrap();
    let rt = runtime(&world, limits);
    let module = format!("(module {WASI_SHELL} (func $s (loop br 0)) (start $s))");
    match rt.run(wat_module(&module)) {
        Err(RunError::Trap(msg)) => {
            assert!(msg.contains("--limit start-fuel="), "{msg}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn proc_exit_in_the_start_function_is_the_exit_status() {
    let world = FakeWorld::new();
    let rt = runtime(&world, Limits::default());
    let module = r#"(module
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func $s (call $exit (i32.const 7)))
        (start $s)
        (func (export "_start")))"#;
    assert_eq!(rt.run(wat_module(module)).expect("ran"), Exit::Code(7));
}

#[test]
fn non_wasm_input_gets_one_line() {
    let world = FakeWorld::new();
    let rt = runtime(&world, Limits::default());
    let err = rt
        .run(ModuleSpec::new("text", b"hello, this is text\n".to_vec()))
        .unwrap_err();
    assert!(matches!(err, RunError::NotWasm), "{err:?}");
    let garbage = rt
        .run(ModuleSpec::new(
            "junk",
            b"\0asm\x01\0\0\0\x05\xff\xff".to_vec(),
        ))
        .unwrap_err()
        .to_string();
    assert!(!garbage.contains('\n'), "{garbage}");
}

#[test]
fn the_runtime_caps_modules_running_at_once() {
    let world = FakeWorld::new();
    let mut limits = Limits::default();
    limits.set(Limit::Modules, 1).unwrap();
    let rt = runtime(&world, limits);
    // A module that waits for events until stopped.
    let wasm = std::fs::read(guest("execsnoop.wasm")).expect("execsnoop.wasm");
    let first = rt
        .spawn(ModuleSpec::new("first", wasm.clone()))
        .expect("the first module starts");
    match rt.spawn(ModuleSpec::new("second", wasm.clone())) {
        Err(RunError::Limit(e)) => assert_eq!(e.limit, Limit::Modules),
        Err(e) => panic!("expected a limit error, got {e}"),
        Ok(_) => panic!("expected a limit error, got a second module"),
    }
    let exit = first.terminate(Duration::from_secs(5)).expect("stopped");
    assert!(matches!(exit, Exit::Stopped { .. }), "{exit:?}");
    // Its slot is free again once it has ended.
    let again = rt
        .spawn(ModuleSpec::new("third", wasm))
        .expect("a slot is free after the first ended");
    again.terminate(Duration::from_secs(5)).expect("stopped");
}

#[test]
fn the_largest_call_depth_fits_the_module_threads_stack() {
    // Each level keeps native frames; Limits::thread_stack sizes the thread
    // for the deepest nesting the limit allows.
    let world = FakeWorld::new();
    let depth = unibpf::limits::MAX_CALL_DEPTH;
    for pid in 0..(depth as u32 + 10) {
        world.push_event("unibpf_t_rb", &exec_record(pid));
    }
    let mut limits = Limits::default();
    limits.set(Limit::CallDepth, depth).unwrap();
    let (exit, out) = nasty(&runtime(&world, limits), &["nested"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    assert_eq!(field(&out, "deepest"), depth.to_string(), "{out}");
    assert_eq!(field(&out, "canary_ok"), "1", "{out}");
}

#[test]
fn records_left_when_a_callback_returns_negative_come_first_next_time() {
    // README's promise: the poll returns the callback's negative value, and
    // the records it did not deliver are delivered by the next poll, in order.
    let world = FakeWorld::new();
    for pid in 0..5 {
        world.push_event("unibpf_t_rb", &exec_record(pid));
    }
    let (exit, out) = nasty(&runtime(&world, Limits::default()), &["redeliver"]);
    assert_eq!(exit.expect("ran"), Exit::Code(0), "{out}");
    assert_eq!(field(&out, "first"), "-1");
    assert_eq!(field(&out, "second"), "3");
    assert_eq!(field(&out, "order"), "0,1,2,3,4");
}
