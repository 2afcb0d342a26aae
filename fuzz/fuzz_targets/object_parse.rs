//! `BpfObject::parse` on arbitrary bytes, then every query it offers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unibpf_object::BpfObject;

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = BpfObject::parse(data) {
        unibpf_fuzz::walk_object(data, &obj);
    }
});
