//! libbpf's log reaches us through our own C callback: names from a guest's
//! ELF that are not UTF-8 once aborted the host inside libbpf-rs's log
//! formatting. The runtime's pipeline now refuses such objects before any
//! backend sees them, so this drives the kernel backend directly. Root.

use unibpf_backend::{Backend, BpfObject, LoadPlan, LoadRequest};
use unibpf_backend_kernel::KernelBackend;

/// The test guests' exec object with the byte after every "unibpf_t_"
/// replaced by 0xff: program, map and BTF names that are not UTF-8.
fn object_with_bad_names() -> Vec<u8> {
    let mut elf = std::fs::read(unibpf_test_guests::guest("exec.bpf.o")).expect("exec.bpf.o");
    let prefix = b"unibpf_t_";
    let mut i = 0;
    while i + prefix.len() < elf.len() {
        if &elf[i..i + prefix.len()] == prefix {
            elf[i + prefix.len()] = 0xff;
        }
        i += 1;
    }
    elf
}

#[test]
fn names_that_are_not_utf8_reach_the_log_without_aborting() {
    let elf = object_with_bad_names();
    // What the pipeline would have read; the backend uses it for sections
    // only, and this object has none it could read.
    let object = BpfObject {
        programs: vec![],
        optional_programs: vec![],
        alternatives: vec![],
        maps: vec![],
        data_sections: vec![],
        btf: None,
        regs_arches: Vec::new(),
        fixed_regs_reads: Vec::new(),
        kprobe_reads: Vec::new(),
    };
    let plan = LoadPlan::default();
    let mut backend = KernelBackend::new();
    // libbpf logs the program names while it opens the object (debug
    // level, which we capture); loading it is allowed to succeed or fail,
    // but the process must be here to see which.
    let loaded = backend.load_object(&LoadRequest {
        elf: &elf,
        object: &object,
        plan: &plan,
    });
    if let Ok(object) = loaded {
        assert_eq!(object.programs().len(), 1);
    }
}
