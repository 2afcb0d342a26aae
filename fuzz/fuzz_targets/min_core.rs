//! Min-core BTF of fuzzed objects against a fixed target: it must not
//! panic, what it emits must parse again and write back to the same bytes,
//! and every relocation must resolve against it exactly as against the
//! target it came from (min_core::resolve, ids left out).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use unibpf_object::btf::Btf;
use unibpf_object::btf_ext::{CoreObject, CoreRelo, CoreReloKind, CoreReloSection};
use unibpf_object::min_core::{min_core_of, resolve};
use unibpf_object::ObjectError;

/// The structs the suite's programs relocate against: the seeds' roots.
const ROOTS: &[&str] = &[
    "task_struct",
    "trace_event_raw_sched_process_exec",
    "trace_event_raw_sys_enter",
    "trace_event_raw_sys_exit",
    "pt_regs",
    "filename",
    "dentry",
    "sock",
    "__sk_buff",
    "xdp_md",
    "ethhdr",
    "iphdr",
    "udphdr",
    "bpf_sock_ops",
    "bpf_ringbuf",
];

/// The fixed target: of the running kernel's BTF (UNIBPF_FUZZ_KERNEL_BTF
/// to read another), the ROOTS kept whole with every type they embed
/// (min-core's own type_matches rule), so that mutated access strings
/// find members, anonymous unions, arrays and bitfields to walk. Built
/// once per process.
fn target() -> &'static Btf {
    static TARGET: OnceLock<Btf> = OnceLock::new();
    TARGET.get_or_init(|| {
        let path = std::env::var_os("UNIBPF_FUZZ_KERNEL_BTF")
            .map_or_else(|| PathBuf::from("/sys/kernel/btf/vmlinux"), PathBuf::from);
        let raw = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("min_core needs a kernel BTF at {}: {e}", path.display()));
        let kernel = Btf::parse(&raw).expect("the kernel BTF parses");
        let relos: Vec<CoreRelo> = ROOTS
            .iter()
            .filter_map(|name| kernel.find_composite(name))
            .map(|id| CoreRelo {
                insn_off: 0,
                type_id: id,
                access_str: "0".into(),
                access: vec![0],
                kind: CoreReloKind::TypeMatches,
            })
            .collect();
        assert!(
            !relos.is_empty(),
            "none of the suite's types is in {}",
            path.display()
        );
        let whole = CoreObject {
            btf: kernel.clone(),
            sections: vec![CoreReloSection {
                section: "roots".into(),
                relos,
            }],
        };
        let min = min_core_of(&[whole], &kernel).expect("the fixed target");
        Btf::parse(&min.btf).expect("the fixed target parses")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(object) = CoreObject::parse(data) else {
        return;
    };
    let objects = [object];
    let target = target();
    let min = match min_core_of(&objects, target) {
        Ok(min) => min,
        // Relocations libbpf would refuse too.
        Err(ObjectError::CoreRelo(_)) => return,
        Err(e) => panic!("min-core failed on an object it read: {e}"),
    };
    let out = match Btf::parse(&min.btf) {
        Ok(b) => b,
        Err(e) => panic!("min-core emitted BTF that does not parse: {e}"),
    };
    assert_eq!(
        out.to_bytes().expect("writes back"),
        min.btf,
        "not canonical"
    );
    assert!(out.types().count() <= target.types().count());
    assert_eq!(out.types().count(), min.stats.types_kept);
    let want = resolve(&objects, target).expect("resolved against the target");
    let got = resolve(&objects, &out).expect("resolved against min-core");
    assert_eq!(
        got, want,
        "relocations resolve differently against min-core"
    );
    unibpf_fuzz::walk_btf(&out);
});
