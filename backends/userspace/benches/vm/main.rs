//! The userspace VM's speed, side by side with rbpf's interpreter in one
//! run: ns per executed instruction on the program suite's own programs
//! (loaded from their .bpf.o files as the backend loads them, run on the
//! records their hooks would give, with real map and ring buffer work),
//! and on kernel-free programs both VMs can run.
//!
//!   cargo bench -p unibpf-backend-userspace --bench vm [-- DIR] [-- --quick]
//!
//! Under `cargo test` (no `--bench` argument) it is a quick smoke pass.
//! DIR holds the suite's `.bpf.o` files (default: $UNIBPF_PROGRAMS, else
//! target/bench/guests from `scripts/bench.sh`, else target/tmp/programs
//! from `cargo test -p unibpf-cli`). The table is printed and kept in
//! target/bench/vm.md. Timings are reported, never asserted.

mod inputs;
mod micro;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use unibpf_backend::EventBatch;
use unibpf_backend_userspace::load::{self, Image, Kconfig};
use unibpf_backend_userspace::maps::MapLimits;
use unibpf_backend_userspace::ObjectCore;
use unibpf_object::BpfObject;

use inputs::BenchTask;

/// One measured row.
struct Row {
    what: String,
    instructions_per_run: f64,
    ours_ns_per_insn: f64,
    /// rbpf's ns per instruction, or why it cannot run the program.
    rbpf: Result<f64, String>,
}

struct NoKconfig;

impl Kconfig for NoKconfig {
    fn value(&self, _: &str) -> Option<u64> {
        None
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn programs_dir(arg: Option<&String>) -> Option<PathBuf> {
    let candidates = [
        arg.map(PathBuf::from),
        std::env::var_os("UNIBPF_PROGRAMS").map(PathBuf::from),
        Some(root().join("target/bench/guests")),
        Some(root().join("target/tmp/programs")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("bootstrap.bpf.o").is_file())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let quick = args.iter().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let dir_arg = args.iter().find(|a| !a.starts_with("--"));
    let Some(dir) = programs_dir(dir_arg) else {
        eprintln!(
            "vm bench: no suite objects (bootstrap.bpf.o) found: build them with \
             `cargo test -p unibpf-cli --test userspace` or scripts/bench.sh, or name their directory"
        );
        // Under `cargo test` (a smoke pass) the suite may not be built yet.
        return if quick {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    };
    let per_case = if quick {
        Duration::from_millis(50)
    } else {
        Duration::from_millis(700)
    };
    let mut rows = Vec::new();
    for case in inputs::suite() {
        match suite_row(&dir, &case, per_case) {
            Ok(row) => rows.push(row),
            Err(e) => eprintln!("vm bench: {}: {e}", case.object),
        }
    }
    rows.extend(micro::rows(per_case));
    let table = table(&rows, &dir);
    print!("{table}");
    let out = root().join("target/bench");
    if std::fs::create_dir_all(&out).is_ok() {
        let name = if quick { "vm-quick.md" } else { "vm.md" };
        if let Err(e) = std::fs::write(out.join(name), &table) {
            eprintln!("vm bench: writing {name}: {e}");
        }
    }
    ExitCode::SUCCESS
}

fn load_object(path: &Path) -> Result<(Image, ObjectCore), String> {
    let elf = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let object = BpfObject::parse(&elf).map_err(|e| e.to_string())?;
    let btf = unibpf_backend_userspace::emulated::btf::parsed();
    let image = load::load(&elf, &object, btf, &NoKconfig).map_err(|e| e.to_string())?;
    let core = ObjectCore::new(&image, &MapLimits::default()).map_err(|e| e.to_string())?;
    Ok((image, core))
}

/// One step of a case, ready to run: the program, its context (copied
/// afresh for each run: programs may write it) and frame.
struct Step {
    index: usize,
    context: Vec<u8>,
    packet: Option<Vec<u8>>,
    scratch: Vec<u8>,
}

/// Runs one suite case (its programs in turn) for about `per_case`,
/// draining its event maps between batches (untimed) so every run does
/// the work a keeping-up consumer allows.
fn suite_row(dir: &Path, case: &inputs::Case, per_case: Duration) -> Result<Row, String> {
    let (image, core) = load_object(&dir.join(format!("{}.bpf.o", case.object)))?;
    let task = BenchTask::new();
    let mut steps = Vec::new();
    for (program, input) in &case.steps {
        let index = core
            .programs
            .iter()
            .position(|p| p.name == *program)
            .ok_or_else(|| format!("no program {program}"))?;
        let (context, packet) = input.build(&task);
        steps.push(Step {
            index,
            scratch: context.clone(),
            context,
            packet,
        });
    }
    let events: Vec<usize> = image
        .maps
        .iter()
        .filter(|m| matches!(m.map_type, MAP_TYPE_PERF_EVENT_ARRAY | MAP_TYPE_RINGBUF))
        .filter_map(|m| core.map_by_name(&m.name).map(|(i, _, _)| i))
        .collect();
    let mut batch = EventBatch::new();
    let mut run_all = |core: &ObjectCore| -> Result<(), String> {
        for s in steps.iter_mut() {
            s.scratch.copy_from_slice(&s.context);
            let result = match &mut s.packet {
                Some(p) => core.run_on(s.index, &mut s.scratch, Some(p), &task, &mut |_| {}),
                None => core.run(s.index, &mut s.scratch, &task, &mut |_| {}),
            };
            result.map_err(|e| format!("{} failed: {e}", core.programs[s.index].name))?;
        }
        Ok(())
    };
    // Warm up, and check that it runs at all.
    run_all(&core)?;
    let (mut runs, mut spent) = (0u64, Duration::ZERO);
    let before = core.instructions_executed();
    while spent < per_case {
        let start = Instant::now();
        for _ in 0..BATCH {
            run_all(&core)?;
        }
        spent += start.elapsed();
        runs += BATCH;
        for &e in &events {
            batch.reset(usize::MAX);
            let _ = core.drain(e, &mut batch);
        }
    }
    let executed = (core.instructions_executed() - before) as f64;
    let names: Vec<&str> = case.steps.iter().map(|(p, _)| *p).collect();
    let mut rbpf = None;
    for ((program, _), step) in case.steps.iter().zip(&steps) {
        let code = &image
            .programs
            .iter()
            .find(|l| l.name == *program)
            .ok_or("no linked code")?
            .code;
        if let Some(why) = micro::rbpf_cannot(code, &step.context) {
            rbpf.get_or_insert(format!("{program}: {why}"));
        }
    }
    Ok(Row {
        what: format!("{} {}", case.object, names.join(" + ")),
        instructions_per_run: executed / runs as f64,
        ours_ns_per_insn: spent.as_nanos() as f64 / executed.max(1.0),
        // Each program ran in rbpf would need timing; none has so far.
        rbpf: Err(rbpf.unwrap_or_else(|| "it ran them: time it".into())),
    })
}

/// Runs between drains of the event maps.
const BATCH: u64 = 256;
const MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
const MAP_TYPE_RINGBUF: u32 = 27;

fn table(rows: &[Row], dir: &Path) -> String {
    let mut t = format!(
        "VM speed, ns per executed instruction (objects from {}; rbpf {}).\n\n\
         | program | insns/run | unibpf ns/insn | rbpf ns/insn | unibpf/rbpf |\n\
         |---|---:|---:|---:|---:|\n",
        dir.display(),
        micro::RBPF_VERSION
    );
    for r in rows {
        let (theirs, ratio) = match &r.rbpf {
            Ok(ns) => (
                format!("{ns:.2}"),
                format!("{:.2}", r.ours_ns_per_insn / ns),
            ),
            Err(why) => (format!("cannot run it: {why}"), "-".into()),
        };
        t.push_str(&format!(
            "| {} | {:.0} | {:.2} | {theirs} | {ratio} |\n",
            r.what, r.instructions_per_run, r.ours_ns_per_insn
        ));
    }
    t
}
