//! Min-core BTF judged by libbpf: for every object of the program suite
//! with CO-RE relocations, libbpf relocates each program against our
//! min-core of this kernel's BTF to exactly the instructions it gets
//! against the full BTF. Sizes are compared with bpftool's min-core.
//! Needs root (preparing an object creates its maps), bpftool and
//! /sys/kernel/btf/vmlinux.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use libbpf_rs::{AsRawLibbpf, ObjectBuilder};
use unibpf_object::btf_ext::CoreObject;
use unibpf_object::min_core;

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
/// `call 0xbad2310`: the instruction libbpf writes where a relocation
/// cannot be resolved.
const POISON_IMM: i32 = 0xbad2310;
/// `BPF_LD | BPF_IMM | BPF_DW`: the first half of a 64-bit immediate load.
const LD_IMM64: u8 = 0x18;

/// The suite's BPF objects, built once per run by the suite's own script
/// (without the Rust control planes, which these objects do not need).
fn suite() -> &'static [PathBuf] {
    static BUILT: OnceLock<Vec<PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("min-core-suite");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let built = Command::new("sh")
            .arg(root.join("scripts/build-programs.sh"))
            .arg(&out)
            .env("UNIBPF", env!("CARGO_BIN_EXE_unibpf"))
            .env("RUST_GUESTS", "no")
            .env("NATIVE_ARM64", "no")
            .output()
            .expect("running build-programs.sh");
        assert!(
            built.status.success(),
            "build-programs.sh failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let mut objects: Vec<PathBuf> = std::fs::read_dir(&out)
            .expect("the output directory")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
            .collect();
        objects.sort();
        objects
    })
}

/// One instruction as compared: code, registers, offset, immediate.
type Insn = (u8, u8, u8, i16, i32);

/// Each program's instructions once libbpf has relocated the object
/// (against `btf`, or the running kernel's BTF), without loading it.
fn relocated(object: &Path, btf: Option<&Path>) -> BTreeMap<String, Vec<Insn>> {
    let mut builder = ObjectBuilder::default();
    if let Some(btf) = btf {
        builder.btf_custom_path(btf).expect("btf_custom_path");
    }
    let open = builder.open_file(object).expect("libbpf opens the object");
    // bpf_object__prepare (libbpf 1.6+) does everything loading does but
    // load the programs: fentry and lsm programs, which this kernel
    // refuses to load, are relocated too. libbpf-rs 0.27 has no wrapper.
    // SAFETY: the pointer is the live bpf_object that `open` owns and
    // keeps until it is dropped below; prepare is called once, before any
    // load, as libbpf requires.
    let err = unsafe { libbpf_sys::bpf_object__prepare(open.as_libbpf_object().as_ptr()) };
    assert_eq!(err, 0, "libbpf could not prepare {}", object.display());
    open.progs()
        .map(|p| {
            let insns = p.insns().iter().map(insn).collect();
            (p.name().to_string_lossy().into_owned(), insns)
        })
        .collect()
}

/// The fd of a map in a 64-bit load is not the object's doing: it differs
/// between two opens of the same object, so it is left out.
fn insn(i: &libbpf_sys::bpf_insn) -> Insn {
    let map_fd = i.code == LD_IMM64 && matches!(i.src_reg(), 1 | 2 | 5 | 6);
    let imm = if map_fd { 0 } else { i.imm };
    (i.code, i.dst_reg(), i.src_reg(), i.off, imm)
}

fn poisoned(progs: &BTreeMap<String, Vec<Insn>>) -> usize {
    progs
        .values()
        .flatten()
        .filter(|i| i.0 == 0x85 && i.4 == POISON_IMM)
        .count()
}

/// The first instructions that differ, rather than two whole programs.
fn assert_same(object: &str, prog: &str, full: &[Insn], min: &[Insn]) {
    let diff: Vec<String> = (full.iter().zip(min).enumerate())
        .filter(|(_, (a, b))| a != b)
        .map(|(at, (a, b))| format!("#{at}: {a:?} against the full BTF, {b:?} against ours"))
        .collect();
    assert!(
        diff.is_empty() && full.len() == min.len(),
        "{object}: program {prog} is relocated differently against our min-core \
         ({} and {} instructions; (code, dst, src, off, imm)):\n{}",
        full.len(),
        min.len(),
        diff.join("\n")
    );
}

fn bpftool_min_core(objects: &[PathBuf], out: &Path) -> u64 {
    let status = Command::new("bpftool")
        .args(["gen", "min_core_btf", VMLINUX])
        .arg(out)
        .args(objects)
        .output()
        .expect("running bpftool");
    assert!(
        status.status.success(),
        "bpftool gen min_core_btf failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::metadata(out).expect("bpftool's output").len()
}

#[test]
fn libbpf_relocates_the_suite_against_min_core_as_against_the_full_btf() {
    let kernel = std::fs::read(VMLINUX).expect("this test needs the kernel's BTF");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut compared = 0;
    println!(
        "{:<12} {:>6} {:>6} {:>8} {:>8} {:>9}",
        "object", "progs", "relos", "ours", "bpftool", "full"
    );
    for object in suite() {
        let name = object
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".bpf.o"))
            .expect("NAME.bpf.o");
        let bytes = std::fs::read(object).expect("the object");
        let relos = CoreObject::parse(&bytes)
            .expect("our parser reads it")
            .relos()
            .count();
        if relos == 0 {
            println!("{name:<12} no CO-RE relocations");
            continue;
        }
        let ours = min_core::min_core_btf(&[&bytes], &kernel).expect("min-core");
        let ours_path = dir.path().join(format!("{name}.btf"));
        std::fs::write(&ours_path, &ours).expect("writing our min-core");
        let theirs = bpftool_min_core(
            std::slice::from_ref(object),
            &dir.path().join(format!("{name}.bpftool.btf")),
        );

        let full = relocated(object, None);
        let min = relocated(object, Some(&ours_path));
        assert_eq!(
            full.keys().collect::<Vec<_>>(),
            min.keys().collect::<Vec<_>>()
        );
        for (prog, insns) in &full {
            assert_same(name, prog, insns, &min[prog]);
        }
        // Equal but failed would prove nothing: the suite's relocations
        // all resolve on this kernel.
        assert_eq!(
            poisoned(&full),
            0,
            "{name}: relocations failed against the full BTF"
        );
        println!(
            "{name:<12} {:>6} {relos:>6} {:>8} {theirs:>8} {:>9}",
            full.len(),
            ours.len(),
            kernel.len()
        );
        assert!(
            ours.len() as u64 <= 3 * theirs,
            "{name}: ours is over 3x bpftool's"
        );
        assert!(ours.len() < kernel.len() / 100, "{name}: ours is not small");
        compared += relos;
    }
    assert!(compared > 0, "no object of the suite has CO-RE relocations");
    println!("{compared} relocations relocated the same");
}

/// What an application ships: one min-core per kernel for all its
/// objects, which each object must relocate against as against the full.
#[test]
fn one_min_core_serves_every_object_it_was_made_for() {
    let kernel = std::fs::read(VMLINUX).expect("this test needs the kernel's BTF");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let objects = suite();
    let bytes: Vec<Vec<u8>> = objects
        .iter()
        .map(|o| std::fs::read(o).expect("the object"))
        .collect();
    let all: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let ours = min_core::min_core(&all, &kernel).expect("min-core");
    let path = dir.path().join("all.btf");
    std::fs::write(&path, &ours.btf).expect("writing our min-core");
    let theirs = bpftool_min_core(objects, &dir.path().join("all.bpftool.btf"));
    for object in objects {
        let name = object.display().to_string();
        let full = relocated(object, None);
        let min = relocated(object, Some(&path));
        for (prog, insns) in &full {
            assert_same(&name, prog, insns, &min[prog]);
        }
    }
    let s = &ours.stats;
    println!(
        "{} objects, {} relocations: ours {} bytes ({} types, {} members), bpftool {theirs}",
        objects.len(),
        s.relocations,
        ours.btf.len(),
        s.types_kept,
        s.members_kept
    );
    assert_eq!(
        s.unmatched, 0,
        "every relocation of the suite resolves here"
    );
    assert!(ours.btf.len() as u64 <= 3 * theirs);
}
