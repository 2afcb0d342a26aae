//! `unibpf gen skeleton` on arbitrary objects, named from the file or not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unibpf_gen::skeleton;

fuzz_target!(|data: &[u8]| {
    let _ = skeleton(data, "fuzz/x.bpf.o", None);
    let _ = skeleton(data, "fuzz/x.bpf.o", Some("9 odd-name"));
});
