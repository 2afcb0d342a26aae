//! The wasm_bpf ABI under any sequence of host calls the input describes,
//! against the fake backend: no call may fail the host, every result must
//! be one a guest can be given, and after everything is closed nothing may
//! be open or attached. The input drives a Scenario (unibpf_abi::testing),
//! which makes mostly sensible calls, so runs reach loads, attaches, map
//! operations, deliveries and nested callbacks, not just early refusals.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use unibpf_abi::testing::{drive, tight_limits, Choices, Harness, Scenario};
use unibpf_backend::BackendKind;
use unibpf_backend_fake::{FakeBackend, FakeWorld};
use unibpf_hostcall::Limits;

/// The test guests' BPF objects, built by scripts/fuzz.sh into
/// build/fuzz/objects/guests (or UNIBPF_FUZZ_OBJECTS).
fn objects() -> &'static [Vec<u8>] {
    static OBJECTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    OBJECTS.get_or_init(|| {
        let dir = std::env::var_os("UNIBPF_FUZZ_OBJECTS").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../build/fuzz/objects/guests"),
            PathBuf::from,
        );
        let objects: Vec<Vec<u8>> = ["exec.bpf.o", "maps.bpf.o", "escape.bpf.o"]
            .iter()
            .filter_map(|f| std::fs::read(dir.join(f)).ok())
            .collect();
        assert!(
            !objects.is_empty(),
            "no test objects in {} (scripts/fuzz.sh builds them)",
            dir.display()
        );
        objects
    })
}

struct Input<'a>(Unstructured<'a>);

impl Choices for Input<'_> {
    fn below(&mut self, n: u32) -> u32 {
        self.0.int_in_range(0..=n.max(1) - 1).unwrap_or(0)
    }

    fn any(&mut self) -> u64 {
        self.0.arbitrary().unwrap_or(0)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(Unstructured::new(data));
    // The first byte picks tight limits, so their edges get reached too.
    let limits = if input.below(2) == 1 {
        tight_limits()
    } else {
        Limits::default()
    };
    let world = FakeWorld::new();
    let backend = Box::new(FakeBackend::new(world.clone(), BackendKind::Userspace));
    let mut harness = Harness::new(backend, limits);
    let refs: Vec<&[u8]> = objects().iter().map(Vec::as_slice).collect();
    let mut scenario = Scenario::new(&refs);
    // Setup steps, then about one step per four input bytes.
    let steps = refs.len() + 2 + data.len() / 4;
    let push = |map: &str, record: &[u8]| world.push_event(map, record);
    if let Err(e) = drive(&mut harness, &mut scenario, &mut input, steps, push) {
        panic!("{e}");
    }
    assert_eq!(world.open_objects(), 0, "objects left open");
    assert!(world.attachments().is_empty(), "left attached");
});
