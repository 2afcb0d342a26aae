//! Every way a module can end, through the library on the real kernel, with
//! the kernel looked at while the owner (this test process) keeps running:
//! whatever a stop path failed to detach or close would still be there.
//! What the module holds is read from this process's /proc/self/fdinfo, so
//! other BPF users on the machine do not matter. Root only.

use std::sync::Mutex;
use std::time::Duration;

use unibpf::{Config, Exit, ModuleHandle, ModuleSpec, OutputBuffer, Runtime};
use unibpf_test_guests::{exec_true, guest, held_bpf, HeldBpf};

/// Tests here compare what this one process holds before and after.
static SERIAL: Mutex<()> = Mutex::new(());

const WAIT: Duration = Duration::from_secs(10);

fn spec(file: &str, args: &[&str]) -> ModuleSpec {
    let wasm = std::fs::read(guest(file)).expect("reading the guest");
    ModuleSpec::new(file, wasm).args(args.iter().copied())
}

/// BPF objects this process holds now and did not hold in `before`.
fn new_since(before: &HeldBpf) -> HeldBpf {
    let now = held_bpf(std::process::id());
    HeldBpf {
        programs: fresh(&now.programs, &before.programs),
        maps: fresh(&now.maps, &before.maps),
        links: fresh(&now.links, &before.links),
    }
}

/// What is in `now` and not in `before`.
fn fresh<T: Clone + PartialEq>(now: &[T], before: &[T]) -> Vec<T> {
    now.iter()
        .filter(|x| !before.contains(x))
        .cloned()
        .collect()
}

/// Waits until the module holds at least one link; returns what it holds.
fn wait_attached(before: &HeldBpf) -> HeldBpf {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let held = new_since(before);
        if !held.links.is_empty() {
            return held;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the module never attached; it holds {held:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawns `file`, waits until it is attached; the handle, what it holds,
/// and its stdout.
fn attached(runtime: &Runtime, file: &str, args: &[&str]) -> (ModuleHandle, HeldBpf, OutputBuffer) {
    let before = held_bpf(std::process::id());
    let out = OutputBuffer::new();
    let handle = runtime
        .spawn(spec(file, args).stdout(out.sink()))
        .expect("spawning");
    let held = wait_attached(&before);
    (handle, held, out)
}

#[test]
fn request_stop_ends_the_guest_and_releases_everything_while_the_owner_runs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::new(Config::default()).unwrap();
    let (handle, held, _) = attached(&runtime, "execsnoop.wasm", &[]);
    assert!(
        !held.programs.is_empty() && !held.maps.is_empty(),
        "{held:?}"
    );
    handle.request_stop();
    assert_eq!(handle.join().unwrap(), Exit::Stopped { forced: false });
    held.assert_gone_within(WAIT, "after request_stop");
}

#[test]
fn kill_in_a_blocking_poll_releases_everything() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::new(Config::default()).unwrap();
    let (handle, held, _) = attached(&runtime, "execsnoop.wasm", &["--ignore-eintr"]);
    handle.kill();
    assert_eq!(handle.join().unwrap(), Exit::Stopped { forced: true });
    held.assert_gone_within(WAIT, "after kill");
}

#[test]
fn a_forced_stop_inside_a_callback_releases_everything() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::new(Config::default()).unwrap();
    let (handle, held, _) = attached(&runtime, "execsnoop.wasm", &["--spin-in-callback"]);
    exec_true();
    // terminate: graceful first; the spinning callback ignores it; forced
    // after the grace period.
    let exit = handle.terminate(Duration::from_millis(300)).unwrap();
    assert_eq!(exit, Exit::Stopped { forced: true });
    held.assert_gone_within(WAIT, "after a forced stop in a callback");
}

#[test]
fn killing_a_paused_guest_releases_everything() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::new(Config::default()).unwrap();
    let (handle, held, _) = attached(&runtime, "execsnoop.wasm", &[]);
    handle.pause();
    handle.kill();
    assert_eq!(handle.join().unwrap(), Exit::Stopped { forced: true });
    held.assert_gone_within(WAIT, "after killing a paused guest");
}

#[test]
fn a_guest_that_returns_with_objects_open_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::new(Config::default()).unwrap();
    // Three objects attached; on the stop request its sleep ends and it
    // returns without closing them.
    let (handle, held, _) = attached(&runtime, "nasty.wasm", &["leave", "3"]);
    let held = wait_links(held, 3);
    handle.request_stop();
    assert_eq!(handle.join().unwrap(), Exit::Stopped { forced: false });
    held.assert_gone_within(WAIT, "objects the guest left open");
}

#[test]
fn a_guest_that_traps_with_objects_open_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = Runtime::new(Config::default()).unwrap();
    let (handle, held, _) = attached(&runtime, "nasty.wasm", &["leave", "2", "trap"]);
    let held = wait_links(held, 2);
    handle.request_stop();
    match handle.join() {
        Err(unibpf::RunError::Trap(_)) => {}
        other => panic!("expected a trap, got {other:?}"),
    }
    held.assert_gone_within(WAIT, "objects of a guest that trapped");
}

/// `held` once it has `n` links (objects attach one after another).
fn wait_links(held: HeldBpf, n: usize) -> HeldBpf {
    let deadline = std::time::Instant::now() + WAIT;
    let mut held = held;
    while held.links.len() < n {
        assert!(std::time::Instant::now() < deadline, "{held:?}");
        std::thread::sleep(Duration::from_millis(20));
        let now = held_bpf(std::process::id());
        held.programs.extend(fresh(&now.programs, &held.programs));
        held.maps.extend(fresh(&now.maps, &held.maps));
        held.links.extend(fresh(&now.links, &held.links));
    }
    held
}
