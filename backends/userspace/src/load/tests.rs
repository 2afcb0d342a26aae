//! Tests of the loader on clang-built objects: each object is compiled
//! from C here, loaded with no system call, and its programs run on a
//! context whose bytes they write their results to. Without clang the
//! tests say so and pass.

use std::path::PathBuf;
use std::process::Command;

use unibpf_object::BpfObject;

use super::{load, Image, Kconfig};
use crate::helpers::task::NoTask;
use crate::maps::MapLimits;
use crate::object::ObjectCore;

/// Compiles `source` (C for `-target bpf`, with BTF); None without clang.
fn compile(name: &str, source: &str) -> Option<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp/load-tests");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (src, obj) = (
        dir.join(format!("{name}.bpf.c")),
        dir.join(format!("{name}.bpf.o")),
    );
    std::fs::write(&src, source).expect("write source");
    let arch_include = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let out = match Command::new("clang")
        .args([
            "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Werror",
        ])
        .arg(arch_include)
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: clang is not installed");
            return None;
        }
        Err(e) => panic!("running clang: {e}"),
    };
    assert!(
        out.status.success(),
        "clang failed on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(std::fs::read(&obj).expect("read object"))
}

struct Version;

impl Kconfig for Version {
    fn value(&self, name: &str) -> Option<u64> {
        (name == "LINUX_KERNEL_VERSION").then_some(6 << 16 | 18 << 8 | 3)
    }
}

fn image(elf: &[u8]) -> Image {
    let object = BpfObject::parse(elf).expect("the object parses");
    load(elf, &object, crate::emulated::btf::parsed(), &Version).expect("the object loads")
}

/// Runs `program` of `core` on `ctx`; returns r0.
fn run(core: &ObjectCore, program: &str, ctx: &mut [u8]) -> u64 {
    let index = core
        .programs
        .iter()
        .position(|p| p.name == program)
        .unwrap_or_else(|| panic!("no program {program}"));
    core.run(index, ctx, &NoTask, &mut |_| {})
        .unwrap_or_else(|e| panic!("{program} failed: {e}"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

const HEADER: &str = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn tail_calls_follow_the_prog_array_the_object_fills() {
    let src = format!(
        "{HEADER}{}",
        r#"
SEC("tracepoint/sched/sched_process_exec") int second(__u64 *ctx) { ctx[1] += 20; return 2; }
SEC("tracepoint/sched/sched_process_exec") int third(__u64 *ctx) { ctx[1] += 300; return 3; }
SEC("tracepoint/sched/sched_process_exec") int again(__u64 *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int(void *));
} jumps SEC(".maps") = { .values = { [1] = (void *)&second, [2] = (void *)&again, [3] = (void *)&third } };

/* ctx[0]: the slot to jump to; ctx[1]: what ran; returns 1 when the
   tail call falls through. */
SEC("tracepoint/sched/sched_process_exec") int first(__u64 *ctx)
{
	ctx[1] += 1;
	bpf_tail_call(ctx, &jumps, ctx[0]);
	ctx[1] += 1000;
	return 1;
}

/* Tail-calls itself until the kernel's limit stops it. */
SEC("tracepoint/sched/sched_process_exec") int again(__u64 *ctx)
{
	ctx[1] += 1;
	bpf_tail_call(ctx, &jumps, 2);
	return 4;
}
"#
    );
    let Some(elf) = compile("tail_calls", &src) else {
        return;
    };
    let image = image(&elf);
    let jumps = image
        .maps
        .iter()
        .find(|m| m.name == "jumps")
        .expect("jumps");
    let mut slots = jumps.prog_slots.clone();
    slots.sort();
    assert_eq!(
        slots,
        [
            (1, "second".into()),
            (2, "again".into()),
            (3, "third".into())
        ]
    );
    let core = ObjectCore::new(&image, &MapLimits::default()).expect("creates");
    let mut ctx;
    for (slot, r0, ran) in [
        (1u64, 2, 1 + 20),
        (3, 3, 1 + 300),
        (0, 1, 1 + 1000),
        (9, 1, 1 + 1000),
    ] {
        ctx = [0; 16];
        ctx[..8].copy_from_slice(&slot.to_le_bytes());
        assert_eq!(run(&core, "first", &mut ctx), r0, "slot {slot}");
        assert_eq!(u64_at(&ctx, 8), ran, "slot {slot}");
    }
    // again runs once, then 33 times by tail call; the 34th call falls
    // through: 1 + 33 + 1 runs of `ctx[1] += 1` counting first's.
    ctx = [0; 16];
    ctx[..8].copy_from_slice(&2u64.to_le_bytes());
    assert_eq!(run(&core, "first", &mut ctx), 4);
    assert_eq!(u64_at(&ctx, 8), 1 + 33);
}

#[test]
fn callbacks_subprograms_and_kconfig_are_linked() {
    let src = format!(
        "{HEADER}{}",
        r#"
extern unsigned int LINUX_KERNEL_VERSION __kconfig;

static long add_index(__u64 index, __u64 *sum)
{
	*sum += index;
	return 0;
}

/* A global function: verified and called on its own in the kernel. */
__attribute__((noinline)) int twice(int x) { return x * 2; }

SEC("tracepoint/sched/sched_process_exec") int all(__u64 *ctx)
{
	__u64 sum = 0;
	ctx[0] = bpf_loop(10, add_index, &sum, 0);
	ctx[1] = sum;
	ctx[2] = twice((int)ctx[3]);
	ctx[3] = LINUX_KERNEL_VERSION;
	return 0;
}
"#
    );
    let Some(elf) = compile("linked", &src) else {
        return;
    };
    let image = image(&elf);
    assert!(image.refused.is_empty(), "{:?}", image.refused);
    let core = ObjectCore::new(&image, &MapLimits::default()).expect("creates");
    let mut ctx = [0u8; 32];
    ctx[24..].copy_from_slice(&21u64.to_le_bytes());
    run(&core, "all", &mut ctx);
    assert_eq!(u64_at(&ctx, 0), 10, "bpf_loop's count");
    assert_eq!(u64_at(&ctx, 8), 45, "the callback's sum");
    assert_eq!(u64_at(&ctx, 16), 42, "the global subprogram");
    assert_eq!(
        u64_at(&ctx, 24),
        6 << 16 | 18 << 8 | 3,
        "LINUX_KERNEL_VERSION"
    );
}

#[test]
fn a_kfunc_call_refuses_only_its_program() {
    let src = format!(
        "{HEADER}{}",
        r#"
extern void *bpf_obj_new_impl(__u64 type_id, void *meta) __ksym;

SEC("tracepoint/sched/sched_process_exec") int uses_kfunc(void *ctx)
{
	return bpf_obj_new_impl(1, 0) != 0;
}

SEC("tracepoint/sched/sched_process_exec") int plain(void *ctx) { return 5; }
"#
    );
    let Some(elf) = compile("kfunc", &src) else {
        return;
    };
    let image = image(&elf);
    assert_eq!(image.refused.len(), 1, "{:?}", image.refused);
    assert_eq!(image.refused[0].0, "uses_kfunc");
    assert!(
        image.refused[0].1.contains("bpf_obj_new_impl"),
        "the reason names the kfunc: {}",
        image.refused[0].1
    );
    let core = ObjectCore::new(&image, &MapLimits::default()).expect("creates");
    assert_eq!(run(&core, "plain", &mut [0u8; 8]), 5);
}
