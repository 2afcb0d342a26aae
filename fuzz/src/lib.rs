//! What the fuzz targets share: walks that call every query of a parsed
//! object or BTF and check the facts they promise about each other.

use unibpf_object::btf::Btf;
use unibpf_object::{BpfObject, Kind, TypeId};

/// `st_info` of a global function symbol: `STB_GLOBAL << 4 | STT_FUNC`.
const GLOBAL_FUNC_INFO: u8 = 0x12;

/// Every query of `btf` on every type id, and on ids it does not have.
pub fn walk_btf(btf: &Btf) {
    let count = btf.types().count() as u32 + 1;
    for (expected, (id, _)) in (1..).zip(btf.types()) {
        assert_eq!(id, expected, "types() skips or repeats an id");
    }
    let bogus = [count, count.saturating_add(1), u32::MAX];
    for id in (0..count).chain(bogus) {
        assert_eq!(btf.get(id).is_some(), id < count, "get({id})");
        let resolved = btf.resolve(id);
        let _ = btf.size_of(id);
        let _ = btf.align_of(id);
        if id < count {
            assert!(btf.get(resolved).is_some(), "resolve({id}) left the BTF");
            let _ = btf.ty(id);
        }
    }
    for (id, t) in btf.types() {
        match &t.kind {
            Kind::Struct { .. } | Kind::Union { .. } | Kind::Enum { .. } => {
                let found = btf
                    .find_composite(&t.name)
                    .expect("find_composite misses a named composite");
                assert!(found <= id, "find_composite skipped the first match");
                assert_eq!(btf.ty(found).name, t.name);
            }
            Kind::Datasec { vars, .. } => {
                let found = btf.datasec(&t.name).expect("datasec misses a section");
                assert!(found <= id);
                for v in vars {
                    let _ = btf.ty(v.var);
                }
            }
            _ => {}
        }
    }
    // BTF names end at a NUL, so none can contain one.
    assert!(btf.find_composite("no\0such").is_none());
    assert!(btf.datasec("no\0such").is_none());
    round_trip(btf);
}

/// What parses writes back to the same types. The one refusal allowed is
/// a name that became too long when its bytes that are not UTF-8 were
/// replaced (each by three bytes) on the way in.
fn round_trip(btf: &Btf) {
    match btf.to_bytes() {
        Ok(bytes) => {
            let back = Btf::parse(&bytes).expect("written BTF parses");
            assert!(
                back.types().eq(btf.types()),
                "written BTF reads back different"
            );
        }
        Err(e) => assert!(e.to_string().contains("name"), "write refused: {e}"),
    }
}

/// Everything a parsed object exposes, checked against the bytes it came from.
pub fn walk_object(bytes: &[u8], obj: &BpfObject) {
    for p in &obj.programs {
        // The guest SDK turns a program off by clearing the type bits of this
        // byte; any other byte would corrupt the object instead.
        let at = usize::try_from(p.sym_info_offset).expect("offset fits usize");
        assert_eq!(
            bytes.get(at).copied(),
            Some(GLOBAL_FUNC_INFO),
            "sym_info_offset of {} does not point at its st_info",
            p.name
        );
    }
    for m in &obj.maps {
        assert!(obj.map(&m.name).is_some());
    }
    let _ = obj.compat_heaps().count();
    let _ = obj.checks_for_ringbuf();
    for d in &obj.data_sections {
        assert!(obj.data_section(&d.name).is_some());
        if let Some(off) = d.file_offset {
            let end = off.checked_add(d.size).expect("section end overflows");
            assert!(end <= bytes.len() as u64, "{} runs past the file", d.name);
        }
        if let Some(id) = d.btf {
            let btf = obj.btf.as_ref().expect("a DATASEC id without BTF");
            assert!(matches!(btf.ty(id).kind, Kind::Datasec { .. }));
        }
    }
    if let Some(btf) = &obj.btf {
        walk_btf(btf);
    }
}

/// Up to `max` names of named structs and unions in `btf`, spread over it.
pub fn composite_names(btf: &Btf, max: usize) -> Vec<String> {
    let all: Vec<(TypeId, &str)> = btf
        .types()
        .filter(|(_, t)| {
            !t.name.is_empty() && matches!(t.kind, Kind::Struct { .. } | Kind::Union { .. })
        })
        .map(|(id, t)| (id, t.name.as_str()))
        .collect();
    let step = all.len().div_ceil(max.max(1)).max(1);
    all.iter()
        .step_by(step)
        .take(max)
        .map(|(_, n)| n.to_string())
        .collect()
}
