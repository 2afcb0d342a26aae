//! Programs without maps or helpers, which rbpf's interpreter can run
//! too: the same bytes in both VMs, timed one after the other.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use unibpf_backend_userspace::vm::{Limits, Memory, NoHelpers, NoMaps, Program, Region};

use crate::Row;

pub const RBPF_VERSION: &str = "0.4.1, interpreter";

/// Why rbpf cannot run `code`, if its verifier refuses it.
pub fn rbpf_refusal(code: &[u8]) -> Option<String> {
    rbpf::EbpfVmMbuff::new(Some(code))
        .err()
        .map(|e| e.to_string().lines().next().unwrap_or_default().to_string())
}

/// Why rbpf cannot run `code` on `ctx`: its verifier's refusal, or the
/// error its interpreter stops with (no helpers registered: it has no
/// maps, ring buffers or tasks to give them). None if it ran.
pub fn rbpf_cannot(code: &[u8], ctx: &[u8]) -> Option<String> {
    if let Some(why) = rbpf_refusal(code) {
        return Some(why);
    }
    let vm = rbpf::EbpfVmMbuff::new(Some(code)).ok()?;
    let mem = ctx.to_vec();
    let first_line =
        |e: std::io::Error| e.to_string().lines().next().unwrap_or_default().to_string();
    vm.execute_program(&mem, ctx).err().map(first_line)
}

/// r0 = 0; r1 = 0; loop: r2 = r1; r2 <<= 3; r0 += r2; r0 ^= r1; r1 += 1;
/// if r1 < 1_000_000 goto loop; exit.
fn alu_loop() -> Vec<u8> {
    let insn = |code: u8, dst: u8, src: u8, off: i16, imm: i32| {
        let mut b = vec![code, src << 4 | dst];
        b.extend_from_slice(&off.to_le_bytes());
        b.extend_from_slice(&imm.to_le_bytes());
        b
    };
    [
        insn(0xb7, 0, 0, 0, 0),
        insn(0xb7, 1, 0, 0, 0),
        insn(0xbf, 2, 1, 0, 0),
        insn(0x67, 2, 0, 0, 3),
        insn(0x0f, 0, 2, 0, 0),
        insn(0xaf, 0, 1, 0, 0),
        insn(0x07, 1, 0, 0, 1),
        insn(0xa5, 1, 0, -6, 1_000_000),
        insn(0x95, 0, 0, 0, 0),
    ]
    .concat()
}

/// The `prog` section of tests/progs/NAME.bpf.c, built by clang; None
/// without clang.
fn clang_prog(name: &str) -> Option<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(dir).join(format!("../../target/bench/{name}.bpf.o"));
    let _ = std::fs::create_dir_all(out.parent()?);
    let built = Command::new("clang")
        .args(["-O2", "-target", "bpf", "-mcpu=v3", "-c"])
        .arg(dir.join(format!("tests/progs/{name}.bpf.c")))
        .arg("-o")
        .arg(&out)
        .output()
        .ok()?;
    if !built.status.success() {
        eprintln!("vm bench: clang failed on {name}");
        return None;
    }
    let bytes = std::fs::read(&out).ok()?;
    let elf = goblin::elf::Elf::parse(&bytes).ok()?;
    let s = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some("prog"))?;
    bytes
        .get(s.sh_offset as usize..(s.sh_offset + s.sh_size) as usize)
        .map(<[u8]>::to_vec)
}

/// Times `f` until `per_case` has passed; returns (runs, time).
fn time(per_case: Duration, mut f: impl FnMut()) -> (u64, Duration) {
    let (mut runs, start) = (0u64, Instant::now());
    while start.elapsed() < per_case {
        f();
        runs += 1;
    }
    (runs, start.elapsed())
}

/// Both VMs on `code`, with `ctx` as the memory r1 points at (None: no
/// context).
fn both(what: &str, code: &[u8], ctx: Option<Vec<u8>>, per_case: Duration) -> Option<Row> {
    let ours = Program::new(code, &NoMaps).ok()?;
    let limits = Limits {
        instructions: u64::MAX,
    };
    let mut scratch = ctx.clone().unwrap_or_default();
    let mut insns = 0u64;
    let (runs, spent) = time(per_case, || {
        let mut memory = match &ctx {
            Some(c) => {
                scratch.copy_from_slice(c);
                Memory::new(Region::ReadWrite(&mut scratch))
            }
            None => Memory::default(),
        };
        let (r, n) = ours.run_counted(
            &mut memory,
            &mut NoHelpers,
            limits,
            &[unibpf_backend_userspace::vm::memory::CONTEXT_BASE],
        );
        std::hint::black_box(r.ok());
        insns = n;
    });
    let ours_ns = spent.as_nanos() as f64 / (runs * insns.max(1)) as f64;
    let rbpf = match rbpf_refusal(code) {
        Some(why) => Err(why),
        None => {
            let raw = rbpf::EbpfVmRaw::new(Some(code)).ok()?;
            let mut mem = ctx.clone().unwrap_or_else(|| vec![0u8; 8]);
            let (runs, spent) = time(per_case, || {
                if let Some(c) = &ctx {
                    mem.copy_from_slice(c);
                }
                std::hint::black_box(raw.execute_program(&mut mem).ok());
            });
            Ok(spent.as_nanos() as f64 / (runs * insns.max(1)) as f64)
        }
    };
    Some(Row {
        what: what.to_string(),
        instructions_per_run: insns as f64,
        ours_ns_per_insn: ours_ns,
        rbpf,
    })
}

/// The kernel-free rows.
pub fn rows(per_case: Duration) -> Vec<Row> {
    let mut out = Vec::new();
    out.extend(both("ALU loop (hand-written)", &alu_loop(), None, per_case));
    // loop.bpf.c's context: n, divisor, word, swapped, hash, quotient, remainder.
    let mut loop_ctx = vec![0u8; 48];
    loop_ctx[0..8].copy_from_slice(&1000u64.to_le_bytes());
    loop_ctx[8..16].copy_from_slice(&7u64.to_le_bytes());
    let mut calls_ctx = vec![0u8; 16];
    calls_ctx[0..8].copy_from_slice(&123_456_789i64.to_le_bytes());
    calls_ctx[8..16].copy_from_slice(&(-987i64).to_le_bytes());
    for (name, ctx) in [
        ("loop", loop_ctx),
        ("calls", calls_ctx),
        ("atomic", vec![0u8; 16]),
    ] {
        match clang_prog(name) {
            Some(code) => out.extend(both(
                &format!("tests/progs/{name}.bpf.c (clang)"),
                &code,
                Some(ctx),
                per_case,
            )),
            None => eprintln!("vm bench: {name}.bpf.c skipped: clang is not installed"),
        }
    }
    out
}
