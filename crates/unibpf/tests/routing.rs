//! The runtime holds every backend it was given and the selector routes
//! each object to the first that can run all of it, or to a forced one, and
//! says why. Two fake backends stand in, one of the userspace kind and one
//! of the kernel kind (not the Windows kind: objects bound for eBPF for
//! Windows are swapped for their Windows variants first). No kernel is
//! touched; the pipeline's privilege check for the kernel kind wants root,
//! as the suite runs.

use std::sync::{Arc, Mutex};

use unibpf::{BackendChoice, BackendKind, Config, Exit, ModuleSpec, OutputBuffer, Runtime};
use unibpf_backend_fake::{FakeBackend, FakeWorld};
use unibpf_object::Hook;
use unibpf_test_guests::{field, guest};

/// A runtime whose backends are, in order: an XDP-only one on `xdp_world`,
/// then one that runs everything on `any_world`.
fn runtime(
    xdp_world: &Arc<FakeWorld>,
    any_world: &Arc<FakeWorld>,
    choice: BackendChoice,
) -> (Runtime, Arc<Mutex<Vec<String>>>) {
    let explained = Arc::new(Mutex::new(Vec::new()));
    let sink = explained.clone();
    let (xdp, any) = (xdp_world.clone(), any_world.clone());
    let config = Config::default()
        .backend(Arc::new(move || {
            Ok(Box::new(
                FakeBackend::new(xdp.clone(), BackendKind::Userspace)
                    .running(|h| matches!(h, Hook::Xdp { .. })),
            ) as Box<dyn unibpf::Backend>)
        }))
        .add_backend(Arc::new(move || {
            Ok(Box::new(FakeBackend::new(any.clone(), BackendKind::Kernel))
                as Box<dyn unibpf::Backend>)
        }))
        .backend_choice(choice)
        .explain(move |line| sink.lock().unwrap().push(line.to_string()));
    (Runtime::new(config).unwrap(), explained)
}

/// maps.wasm loads an object with one tracepoint program and uses its maps
/// (it exits 1 if the load fails).
fn run_maps(runtime: &Runtime) -> (Exit, String) {
    let out = OutputBuffer::new();
    let wasm = std::fs::read(guest("maps.wasm")).unwrap();
    let exit = runtime
        .run(ModuleSpec::new("maps", wasm).arg("2").stdout(out.sink()))
        .expect("ran");
    (exit, out.text())
}

#[test]
fn auto_routes_each_object_to_the_first_backend_that_runs_it() {
    let (xdp_world, any_world) = (FakeWorld::new(), FakeWorld::new());
    let (rt, explained) = runtime(&xdp_world, &any_world, BackendChoice::Auto);
    let (exit, out) = run_maps(&rt);
    assert_eq!(exit, Exit::Code(0), "{out}");
    assert_eq!(field(&out, "lookup_3"), "0,300", "{out}");
    assert_eq!(xdp_world.loads(), 0);
    assert_eq!(any_world.loads(), 2, "maps.wasm loads its object twice");
    let explained = explained.lock().unwrap().clone();
    assert_eq!(
        explained[..2],
        [
            "not the userspace backend: program unibpf_t_noop: the userspace backend does not run tracepoint syscalls/sys_enter_getpid".to_string(),
            "unibpf_t_noop: kernel, tracepoint syscalls/sys_enter_getpid; events: none".to_string(),
        ],
        "{explained:?}"
    );
}

#[test]
fn a_forced_backend_is_used_or_the_object_is_refused_naming_why() {
    let (xdp_world, any_world) = (FakeWorld::new(), FakeWorld::new());
    let (rt, _) = runtime(
        &xdp_world,
        &any_world,
        BackendChoice::Forced(BackendKind::Kernel),
    );
    assert_eq!(run_maps(&rt).0, Exit::Code(0));
    assert_eq!(any_world.loads(), 2, "maps.wasm loads its object twice");

    // Forced onto the XDP-only backend, the tracepoint object cannot load.
    let (rt, explained) = runtime(
        &xdp_world,
        &any_world,
        BackendChoice::Forced(BackendKind::Userspace),
    );
    let (exit, out) = run_maps(&rt);
    assert_eq!(exit, Exit::Code(1), "the guest's load failed: {out}");
    assert_eq!(xdp_world.loads(), 0);
    assert!(explained.lock().unwrap().is_empty());
}
