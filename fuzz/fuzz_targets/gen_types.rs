//! `unibpf gen types` on arbitrary objects: C and Rust, every type or a few.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unibpf_gen::{types, Lang};
use unibpf_object::BpfObject;

fuzz_target!(|data: &[u8]| {
    let only: Vec<String> = BpfObject::parse(data)
        .ok()
        .and_then(|o| o.btf)
        .map(|b| unibpf_fuzz::composite_names(&b, 2))
        .unwrap_or_default();
    let missing = vec!["no_such_type".to_string()];
    for lang in [Lang::C, Lang::Rust] {
        let _ = types(data, "fuzz/x.bpf.o", lang, None);
        let _ = types(data, "fuzz/x.bpf.o", lang, Some(&only));
        let _ = types(data, "fuzz/x.bpf.o", lang, Some(&missing));
    }
});
