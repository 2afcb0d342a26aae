use super::*;
use unibpf_variants::{bundle, Variant};

const EMPTY: &[u8] = b"\0asm\x01\0\0\0";

/// A BPF object built by clang from `source`.
fn bpf_object(source: &str) -> Vec<u8> {
    unibpf_test_clang::compile(source, &[])
}

fn linux() -> Vec<u8> {
    bpf_object(
        r#"__attribute__((section("kprobe/tcp_connect"), used)) int on_sock(void *ctx) { return 1; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";"#,
    )
}

fn windows(program: &str) -> Vec<u8> {
    bpf_object(&format!(
        r#"__attribute__((section("sockops"), used)) int {program}(void *ctx) {{ return 0; }}"#
    ))
}

fn with_variant(linux: &[u8], bytes: Vec<u8>) -> Vec<u8> {
    let v = Variant {
        platform: Platform::Windows,
        replaces: key_of(linux),
        name: "x.windows.bpf.o".into(),
        kind: VariantKind::Elf,
        bytes,
    };
    bundle(EMPTY, vec![v]).expect("bundle")
}

#[test]
fn the_variant_under_the_objects_key_is_picked_and_judged() {
    let (elf, win) = (linux(), windows("on_sock"));
    let wasm = with_variant(&elf, win.clone());
    let object = BpfObject::parse(&elf).unwrap();
    let swap = pick(&wasm, &elf, &object, Platform::Windows).expect("picked");
    assert_eq!(swap.bytes, win);
    // The selector gets the variant's programs: efW's sockops hook, not
    // the Linux object's kprobe.
    assert_eq!(swap.object.programs[0].section.name, "sockops");
    let key = key_of(&elf);
    assert_eq!(
        swap.explain,
        format!(
            "windows: the BPF object with programs on_sock swapped for its windows variant x.windows.bpf.o ({} bytes, BPF ELF, key {key})",
            win.len()
        )
    );
    assert_eq!(platform_of(BackendKind::Windows), Some(Platform::Windows));
    assert_eq!(platform_of(BackendKind::Kernel), None);
}

#[test]
fn no_variant_names_the_object_and_the_bundle_command() {
    let elf = linux();
    let object = BpfObject::parse(&elf).unwrap();
    let other = with_variant(b"another object", windows("on_sock"));
    for wasm in [EMPTY.to_vec(), other] {
        let e = pick(&wasm, &elf, &object, Platform::Windows).unwrap_err();
        assert_eq!(e.errno(), Errno::ENOENT);
        assert_eq!(
            e.message(),
            format!(
                "the BPF object with programs on_sock (key {}) has no windows variant, and eBPF for Windows cannot load a Linux object: build one for eBPF for Windows and add it with `unibpf bundle APP.wasm --platform windows LINUX.bpf.o=VARIANT.o -o OUT.wasm`",
                key_of(&elf)
            )
        );
    }
}

#[test]
fn a_corrupt_section_is_one_line() {
    let elf = linux();
    let object = BpfObject::parse(&elf).unwrap();
    let mut wasm = EMPTY.to_vec();
    wasm.extend(
        unibpf_wasm_sections::custom_section(unibpf_variants::SECTION, b"not zstd").unwrap(),
    );
    let e = pick(&wasm, &elf, &object, Platform::Windows).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    assert!(
        e.message()
            .starts_with("the module's unibpf.variants section is corrupt ("),
        "{}",
        e.message()
    );
    assert!(!e.message().contains('\n'));
}

#[test]
fn a_mismatched_variant_is_refused() {
    let elf = linux();
    let object = BpfObject::parse(&elf).unwrap();
    let e = pick(
        &with_variant(&elf, windows("other_name")),
        &elf,
        &object,
        Platform::Windows,
    )
    .unwrap_err();
    assert_eq!(
        e.message(),
        format!(
            "the windows variant x.windows.bpf.o of the BPF object with programs on_sock (key {}): it lacks program on_sock of the Linux object, which the guest names; bundle a matching one with `unibpf bundle`",
            key_of(&elf)
        )
    );
    let e = pick(
        &with_variant(&elf, elf.clone()),
        &elf,
        &object,
        Platform::Windows,
    )
    .unwrap_err();
    assert!(
        e.message().contains("it is the Linux object itself"),
        "{}",
        e.message()
    );
}

/// Through the pipeline: with eBPF for Windows preferred, the selector
/// judges the variant (a sockops program the backend runs), not the
/// Linux object's kprobe (which it does not), and the variant is loaded.
#[test]
fn the_pipeline_loads_the_variant_on_a_windows_backend() {
    use unibpf_backend::{Backend, Loader};
    use unibpf_backend_fake::{FakeBackend, FakeWorld};
    use unibpf_object::Hook;

    let (elf, win) = (linux(), windows("on_sock"));
    let wasm = with_variant(&elf, win);
    let world = FakeWorld::new();
    let efw = FakeBackend::new(world.clone(), BackendKind::Windows)
        .running(|h| matches!(h, Hook::SockOps));
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let config = crate::PipelineConfig {
        explain: Some(std::sync::Arc::new(move |l: &str| {
            sink.lock().unwrap().push(l.to_string())
        })),
        ..Default::default()
    };
    let mut pipeline = crate::Pipeline::new(
        vec![Box::new(efw) as Box<dyn Backend>],
        config,
        std::sync::Arc::default(),
        wasm.into(),
    );
    let loaded = pipeline.load(&elf).expect("the variant loads");
    assert_eq!(loaded.backend, BackendKind::Windows);
    let programs = loaded.object.programs();
    assert_eq!(programs.len(), 1);
    assert_eq!(programs[0].section, "sockops");
    let lines = lines.lock().unwrap();
    assert!(lines[0].starts_with("windows: the BPF object with programs on_sock swapped for its windows variant x.windows.bpf.o ("), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("on_sock: windows, ")),
        "{lines:?}"
    );
    drop(lines);

    // Without a variant it stops before any backend sees the object.
    let efw = FakeBackend::new(world.clone(), BackendKind::Windows);
    let mut pipeline = crate::Pipeline::new(
        vec![Box::new(efw) as Box<dyn Backend>],
        crate::PipelineConfig::default(),
        std::sync::Arc::default(),
        EMPTY.into(),
    );
    let loads = world.loads();
    let e = pipeline.load(&elf).err().expect("no variant");
    assert!(
        e.message().contains("has no windows variant"),
        "{}",
        e.message()
    );
    assert_eq!(world.loads(), loads);
}
