//! The masked-BTF pass: whatever it emits must parse again and differ from
//! its input only in the names it was asked to hide.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unibpf_object::btf::{hide_types, Btf};
use unibpf_object::Kind;

fuzz_target!(|data: &[u8]| {
    let before = Btf::parse(data).ok();
    // The name the selector really hides, plus every other one of some of
    // the input's own composites: seeds exercise the renaming, and a rename
    // that leaks into a type left alone shows.
    let mut names = vec!["bpf_ringbuf".to_string()];
    if let Some(b) = &before {
        names.extend(unibpf_fuzz::composite_names(b, 16).into_iter().step_by(2));
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let Ok(out) = hide_types(data, &names) else {
        return;
    };
    let before = before.expect("hide_types accepted BTF that Btf::parse rejects");
    let after = match Btf::parse(&out) {
        Ok(b) => b,
        Err(e) => panic!("hide_types emitted BTF that does not parse: {e}"),
    };
    assert_eq!(before.types().count(), after.types().count());
    for ((id, old), (_, new)) in before.types().zip(after.types()) {
        assert_eq!(old.kind, new.kind, "type {id} changed kind");
        let hidden = matches!(
            old.kind,
            Kind::Struct { .. } | Kind::Union { .. } | Kind::Fwd { .. }
        ) && names.contains(&old.name.as_str());
        if hidden {
            assert_eq!(new.name, format!("unibpf_masked_{}", old.name));
        } else {
            assert_eq!(new.name, old.name, "type {id} was renamed");
        }
    }
    unibpf_fuzz::walk_btf(&after);
});
