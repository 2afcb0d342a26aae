//! The ABI under long sequences of host calls, good and bad, against the
//! fake backend: no root, no kernel. Each seed makes a different sequence
//! (the fuzz target `abi_calls` explores the same space from its input).
//! Nothing may trap the host, every result must be one the guest can be
//! given, and once everything is closed nothing stays loaded or attached.

use unibpf_abi::testing::{drive, tight_limits, Harness, Prng, Reached, Scenario};
use unibpf_backend::BackendKind;
use unibpf_backend_fake::{FakeBackend, FakeWorld};
use unibpf_hostcall::Limits;
use unibpf_test_guests::guest;

fn objects() -> Vec<Vec<u8>> {
    ["exec.bpf.o", "maps.bpf.o", "escape.bpf.o"]
        .iter()
        .map(|f| std::fs::read(guest(f)).expect("test object"))
        .collect()
}

fn run(seed: u64, limits: Limits, steps: usize) -> Reached {
    let world = FakeWorld::new();
    let backend = Box::new(FakeBackend::new(world.clone(), BackendKind::Userspace));
    let mut harness = Harness::new(backend, limits);
    let objects = objects();
    let refs: Vec<&[u8]> = objects.iter().map(Vec::as_slice).collect();
    let mut scenario = Scenario::new(&refs);
    let push = |map: &str, record: &[u8]| world.push_event(map, record);
    let reached = drive(&mut harness, &mut scenario, &mut Prng(seed), steps, push)
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert_eq!(harness.object_count(), 0);
    assert_eq!(world.open_objects(), 0, "seed {seed}: objects left open");
    assert!(
        world.attachments().is_empty(),
        "seed {seed}: left attached: {:?}",
        world.attachments()
    );
    reached
}

/// The sequences must get somewhere, or the test checks nothing.
fn assert_reached_deep_states(all: &[Reached]) {
    let sum = |f: fn(&Reached) -> u32| all.iter().map(f).sum::<u32>();
    let totals = [
        ("loads", sum(|r| r.loads)),
        ("attaches", sum(|r| r.attaches)),
        ("map fds", sum(|r| r.map_fds)),
        ("map operations", sum(|r| r.operations)),
        ("polls that delivered", sum(|r| r.deliveries)),
        ("closes", sum(|r| r.closes)),
    ];
    eprintln!("reached: {totals:?}");
    for (what, n) in totals {
        assert!(n > 0, "no successful {what} in {totals:?}");
    }
}

#[test]
fn sequences_with_default_limits() {
    let reached: Vec<Reached> = (1..=40)
        .map(|seed| run(seed, Limits::default(), 400))
        .collect();
    assert_reached_deep_states(&reached);
}

#[test]
fn sequences_against_tight_limits() {
    let limits = tight_limits();
    let reached: Vec<Reached> = (100..=140).map(|seed| run(seed, limits, 400)).collect();
    assert_reached_deep_states(&reached);
}
