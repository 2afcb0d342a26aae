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

mod common;
// The BTFHub archive makers of unibpf-btf's own tests.
#[path = "../../unibpf-btf/tests/common/mod.rs"]
mod btf;

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
            .env("NATIVE_CROSS", "no")
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
/// Made by `unibpf btf min` from the suite's modules (the objects are
/// found in their data) and this kernel's BTF as a BTFHub archive.
#[test]
fn one_min_core_serves_every_object_it_was_made_for() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let objects = suite();
    let modules: Vec<PathBuf> = objects
        .iter()
        .map(|o| PathBuf::from(o.to_string_lossy().replace(".bpf.o", ".wasm")))
        .collect();
    let kernel = btf::this_kernel();
    let archive = dir.path().join("from").join(btf::mirror_path(&kernel));
    std::fs::create_dir_all(archive.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&archive, btf::this_kernel_archive()).expect("writing the archive");
    let out = dir.path().join("min");
    let run = common::unibpf()
        .args(["btf", "min", "--json", "-o"])
        .arg(&out)
        .arg("--from")
        .arg(dir.path().join("from"))
        .args(&modules)
        .output()
        .expect("running unibpf btf min");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let written = &report[0];
    let path = out.join(kernel.relative_path());
    assert_eq!(written["path"], path.to_string_lossy().as_ref(), "{stdout}");
    let bytes = std::fs::metadata(&path).expect("the min-core file").len();
    assert_eq!(written["bytes"], bytes);
    assert_eq!(written["unmatched"], 0, "every relocation resolves here");

    // The objects the modules carry are the suite's objects, byte for byte:
    // the same relocations as reading the .bpf.o files.
    let relos: usize = objects
        .iter()
        .map(|o| {
            let bytes = std::fs::read(o).expect("the object");
            CoreObject::parse(&bytes).expect("parses").relos().count()
        })
        .sum();
    assert_eq!(written["relocations"], relos, "{stdout}");

    let theirs = bpftool_min_core(objects, &dir.path().join("all.bpftool.btf"));
    for object in objects {
        let name = object.display().to_string();
        let full = relocated(object, None);
        let min = relocated(object, Some(&path));
        for (prog, insns) in &full {
            assert_same(&name, prog, insns, &min[prog]);
        }
    }
    println!(
        "{} objects, {relos} relocations: ours {bytes} bytes ({} types), bpftool {theirs}",
        objects.len(),
        written["types_kept"],
    );
    assert!(bytes <= 3 * theirs);
}

#[test]
fn btf_min_refuses_what_it_cannot_use_in_one_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let loose = dir.path().join("vmlinux.btf");
    std::fs::write(&loose, b"whatever").expect("write");
    let not_wasm_objects = dir.path().join("empty.wasm");
    // A module with no data section: the header alone.
    std::fs::write(&not_wasm_objects, b"\0asm\x01\0\0\0").expect("write");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let object = &suite()[0];
    let cases: [(&[&std::ffi::OsStr], &str); 3] = [
        (
            &[object.as_os_str(), "--from".as_ref(), loose.as_os_str()],
            "cannot tell which kernel this BTF is for",
        ),
        (
            &[
                not_wasm_objects.as_os_str(),
                "--from".as_ref(),
                VMLINUX.as_ref(),
            ],
            "no BPF objects in this module's data",
        ),
        (
            &[object.as_os_str(), "--from".as_ref(), empty.as_os_str()],
            "no kernel BTF under",
        ),
    ];
    for (args, expected) in cases {
        let out = common::unibpf()
            .args(["btf", "min", "-o"])
            .arg(dir.path().join("out"))
            .args(args)
            .output()
            .expect("running unibpf btf min");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{expected}: {err}");
    }
}
