//! `Btf::parse` on arbitrary bytes, then every query on every type id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unibpf_object::btf::Btf;

fuzz_target!(|data: &[u8]| {
    if let Ok(btf) = Btf::parse(data) {
        unibpf_fuzz::walk_btf(&btf);
    }
});
