//! `unibpf bundle`: Windows variants stored in the suite's own modules,
//! keyed to the Linux objects they carry; bad inputs refused in one line.

mod common;

use common::*;

fn out_path(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bundle");
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir.join(name).display().to_string()
}

fn path(file: &str) -> String {
    program(file).display().to_string()
}

/// `unibpf ARGS` to the end: (status, stdout, stderr).
fn cli(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = unibpf().args(args).output().expect("running unibpf");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn error_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.contains("error:")).collect()
}

#[test]
fn a_variant_is_stored_for_the_one_object_a_module_carries() {
    let out = out_path("sockops-windows.wasm");
    let (status, _, err) = cli(&[
        "bundle",
        &path("sockops.wasm"),
        "--platform",
        "windows",
        &path("xdp.bpf.o"),
        "-o",
        &out,
    ]);
    assert!(status.success(), "{err}");
    let (status, listed, err) = cli(&["bundle", "--list", &out]);
    assert!(status.success(), "{err}");
    assert!(listed.contains("programs: tcp_option"), "{listed}");
    // One variant per platform and Linux object: this one replaced the
    // suite's own (sockops.windows.bpf.o).
    assert!(listed.contains("  windows: xdp.bpf.o (Elf, "), "{listed}");
    assert!(!listed.contains("sockops.windows.bpf.o"), "{listed}");
    // The module still runs where its Linux object is used: only the
    // variants' custom section changed.
    let original = std::fs::read(program("sockops.wasm")).expect("read");
    let bundled = std::fs::read(&out).expect("read");
    assert!(bundled.starts_with(&original[..8]));
    let keys = |wasm: &[u8]| -> Vec<String> {
        unibpf_variants::embedded_objects(wasm)
            .into_iter()
            .map(|e| e.key)
            .collect()
    };
    assert_eq!(keys(&bundled), keys(&original));
}

#[test]
fn a_variant_names_the_linux_object_it_replaces() {
    let out = out_path("sockops-named.wasm");
    let pair = format!("{}={}", path("sockops.bpf.o"), path("tc.bpf.o"));
    let (status, _, err) = cli(&[
        "bundle",
        &path("sockops.wasm"),
        "--platform",
        "windows",
        &pair,
        "-o",
        &out,
    ]);
    assert!(status.success(), "{err}");
    let (_, listed, _) = cli(&["bundle", "--list", &out]);
    assert!(listed.contains("  windows: tc.bpf.o"), "{listed}");
}

#[test]
fn bad_variants_are_refused_in_one_line() {
    let out = out_path("refused.wasm");
    let sockops = path("sockops.wasm");
    let wrong_pair = format!("{}={}", path("xdp.bpf.o"), path("tc.bpf.o"));
    for (object, says) in [
        (
            "/etc/passwd".to_string(),
            "passwd: not a BPF ELF object nor a native .sys image",
        ),
        (wrong_pair, "xdp.bpf.o is not one of the BPF objects"),
    ] {
        let (status, _, err) = cli(&[
            "bundle",
            &sockops,
            "--platform",
            "windows",
            &object,
            "-o",
            &out,
        ]);
        assert_eq!(status.code(), Some(1), "{err}");
        let lines = error_lines(&err);
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(says), "{err}");
    }
    assert!(
        !std::path::Path::new(&out).exists(),
        "nothing written on refusal"
    );
}

#[test]
fn a_corrupt_variants_section_is_one_clear_error() {
    // xdp.wasm: a module of the suite that carries no variants yet.
    let mut wasm = std::fs::read(program("xdp.wasm")).expect("read");
    // A custom section named unibpf.variants holding no zstd stream.
    let name = b"unibpf.variants";
    let payload = b"not a bundle";
    wasm.push(0);
    wasm.push((1 + name.len() + payload.len()) as u8);
    wasm.push(name.len() as u8);
    wasm.extend_from_slice(name);
    wasm.extend_from_slice(payload);
    let bad = out_path("corrupt.wasm");
    std::fs::write(&bad, &wasm).expect("write");
    let (status, _, err) = cli(&["bundle", "--list", &bad]);
    assert_eq!(status.code(), Some(1), "{err}");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("unibpf.variants section is corrupt")
            && lines[0].contains("unibpf bundle"),
        "{err}"
    );
}

// The suite's Windows variant of sockops (programs/sockops/
// sockops.windows.bpf.c). Nothing here loads it into eBPF for Windows:
// these tests check that it was built against our header of efW's
// numbers (sdk/windows/unibpf_efw.h) rather than Linux's, and bundled.

/// The facts our efW header states, read from the header itself so the
/// tests and the build cannot drift apart.
struct EfwHeader {
    /// Helper name to id: `static ... (*NAME)(...) = (void *)ID;`.
    helpers: std::collections::BTreeMap<String, i32>,
    /// `BPF_MAP_TYPE_NAME = N,`.
    map_types: std::collections::BTreeMap<String, u32>,
    /// `#define EFW_SEC_SOCK_OPS "..."`: the section prefix efW maps to
    /// its sock_ops program type.
    sock_ops_section: String,
}

fn efw_header() -> EfwHeader {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/windows/unibpf_efw.h");
    let text = std::fs::read_to_string(&path).expect("sdk/windows/unibpf_efw.h");
    let mut helpers = std::collections::BTreeMap::new();
    let mut map_types = std::collections::BTreeMap::new();
    let mut sock_ops_section = None;
    // A prototype may wrap: join each `static` declaration onto one line.
    let mut lines = Vec::new();
    let mut open: Option<String> = None;
    for line in text.lines().map(str::trim) {
        match open.take() {
            Some(head) if head.starts_with("static ") && !head.ends_with(';') => {
                open = Some(format!("{head} {line}"))
            }
            done => {
                lines.extend(done);
                open = Some(line.to_string());
            }
        }
    }
    lines.extend(open);
    for line in lines.iter().map(String::as_str) {
        if let (Some(name), Some(id)) = (
            line.split_once("(*")
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(n, _)| n),
            line.split_once("= (void *)")
                .and_then(|(_, r)| r.strip_suffix(';')),
        ) {
            let id = id
                .parse()
                .unwrap_or_else(|_| panic!("helper id in {line:?}"));
            helpers.insert(name.to_string(), id);
        } else if let Some((name, n)) = line
            .strip_prefix("BPF_MAP_TYPE_")
            .and_then(|r| r.strip_suffix(','))
            .and_then(|r| r.split_once(" = "))
        {
            map_types.insert(name.to_string(), n.parse().expect("map type number"));
        } else if let Some(s) = line.strip_prefix("#define EFW_SEC_SOCK_OPS ") {
            sock_ops_section = Some(s.trim_matches('"').to_string());
        }
    }
    assert!(
        helpers.len() > 30 && map_types.len() > 10,
        "header parsed: {helpers:?} {map_types:?}"
    );
    EfwHeader {
        helpers,
        map_types,
        sock_ops_section: sock_ops_section.expect("EFW_SEC_SOCK_OPS in the header"),
    }
}

/// The helper ids an object's programs call: `call` instructions
/// (BPF_JMP | BPF_CALL, 0x85) whose source register is 0 (a helper, not
/// a BPF-to-BPF call or a kfunc), in every executable section.
fn helper_calls(object: &[u8]) -> std::collections::BTreeSet<i32> {
    use goblin::elf::section_header::SHF_EXECINSTR;
    let elf = goblin::elf::Elf::parse(object).expect("an ELF");
    let mut ids = std::collections::BTreeSet::new();
    for sh in elf
        .section_headers
        .iter()
        .filter(|sh| sh.sh_flags & u64::from(SHF_EXECINSTR) != 0)
    {
        let code = &object[sh.file_range().expect("a section with bytes")];
        let mut insns = code.chunks_exact(8);
        while let Some(insn) = insns.next() {
            match insn[0] {
                0x85 if insn[1] >> 4 == 0 => {
                    ids.insert(i32::from_le_bytes(insn[4..8].try_into().expect("imm")));
                }
                // BPF_LD | BPF_IMM | BPF_DW takes two slots.
                0x18 => {
                    insns.next();
                }
                _ => {}
            }
        }
    }
    ids
}

fn windows_variant() -> Vec<u8> {
    std::fs::read(program("windows/sockops.windows.bpf.o")).expect("read")
}

#[test]
fn the_suites_sockops_carries_its_windows_variant() {
    let (status, listed, err) = cli(&["bundle", "--list", &path("sockops.wasm")]);
    assert!(status.success(), "{err}");
    assert!(listed.contains("programs: tcp_option"), "{listed}");
    assert!(
        listed.contains("  windows: sockops.windows.bpf.o (Elf, "),
        "{listed}"
    );
    // Stored under the Linux object the guest loads, byte for byte what
    // the build made.
    let wasm = std::fs::read(program("sockops.wasm")).expect("read");
    let linux = std::fs::read(program("sockops.bpf.o")).expect("read");
    let variant = unibpf_variants::variant_for(&wasm, unibpf_variants::Platform::Windows, &linux)
        .expect("the variants section reads")
        .expect("a windows variant for sockops.bpf.o");
    assert_eq!(variant.kind, unibpf_variants::VariantKind::Elf);
    assert_eq!(variant.bytes, windows_variant());
}

#[test]
fn the_windows_variant_calls_only_helpers_our_efw_header_defines() {
    let header = efw_header();
    let known: std::collections::BTreeSet<i32> = header.helpers.values().copied().collect();
    let calls = helper_calls(&windows_variant());
    assert!(
        calls.is_subset(&known),
        "calls {calls:?}; our header defines {known:?}"
    );
    // It writes connections with efW's bpf_ringbuf_output (11; Linux's is
    // 130, and Linux's reserve/submit do not exist there).
    assert!(
        calls.contains(&header.helpers["bpf_ringbuf_output"]),
        "{calls:?}"
    );
    // The check tells the numberings apart: the Linux object calls
    // helpers efW does not have under those ids.
    let linux = helper_calls(&std::fs::read(program("sockops.bpf.o")).expect("read"));
    assert!(!linux.is_subset(&known), "Linux object calls {linux:?}");
}

#[test]
fn the_windows_variant_has_efw_map_types_and_a_sock_ops_section() {
    use unibpf_object::BpfObject;
    let header = efw_header();
    let win = BpfObject::parse(&windows_variant()).expect("the variant parses");
    let linux = BpfObject::parse(&std::fs::read(program("sockops.bpf.o")).expect("read"))
        .expect("the Linux object parses");
    for (map, efw_type) in [("counters", "ARRAY"), ("connections", "RINGBUF")] {
        let w = win
            .map(map)
            .unwrap_or_else(|| panic!("{map} in the variant"));
        let l = linux
            .map(map)
            .unwrap_or_else(|| panic!("{map} in the Linux object"));
        assert_eq!(w.map_type, Some(header.map_types[efw_type]), "{map}");
        // The guest reads them by name with the Linux layout.
        assert_eq!(
            (w.key_size, w.value_size, w.max_entries),
            (l.key_size, l.value_size, l.max_entries),
            "{map}"
        );
    }
    // The ring buffer's number is where the two numberings differ.
    assert_ne!(
        win.map("connections").map(|m| m.map_type),
        linux.map("connections").map(|m| m.map_type)
    );
    // Same program names (the guest finds them by name), in sections efW
    // maps to sock_ops by prefix.
    let names =
        |o: &BpfObject| -> Vec<String> { o.programs.iter().map(|p| p.name.clone()).collect() };
    assert_eq!(names(&win), names(&linux));
    for p in &win.programs {
        assert!(
            p.section.name.starts_with(&header.sock_ops_section),
            "{}: section {}",
            p.name,
            p.section.name
        );
    }
    // Marked as an efW object the way efW's own headers mark theirs.
    let bytes = windows_variant();
    let elf = goblin::elf::Elf::parse(&bytes).expect("an ELF");
    assert!(elf
        .section_headers
        .iter()
        .any(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".ebpf_for_windows")));
}
