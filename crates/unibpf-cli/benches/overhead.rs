//! `cargo bench`: unibpf against native libbpf, side by side (see the
//! unibpf-bench crate). Under `cargo test` (no `--bench` argument) it runs
//! a smoke pass with tiny counts: the harness works, the numbers mean little.
//!
//!   cargo bench -p unibpf-cli --bench overhead [-- --json] [-- --smoke] [-- --backends]
//!
//! Prints the table (or JSON with --json) and keeps both under
//! target/bench/ as latest.md and latest.json (smoke.* for a smoke pass,
//! backends.* for `--backends`, which measures only unibpf's kernel
//! backend against its userspace one).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use indicatif::{ProgressBar, ProgressStyle};
use unibpf_bench::{Config, Guests, Scale, Sections};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn build_guests(out: &Path, smoke: bool) -> Result<(), String> {
    let root = root();
    let mut cmd = Command::new("sh");
    cmd.arg(root.join("scripts/build-programs.sh"))
        .arg(out)
        .env(
            "SOURCES",
            format!(
                "{} {}",
                root.join("crates/unibpf-bench/guests").display(),
                root.join("programs").display()
            ),
        )
        .env("UNIBPF", env!("CARGO_BIN_EXE_unibpf"))
        // Sizes are reported for the C guests; the Rust ones need a wasm32
        // std that only the test set-up fetches.
        .env("RUST_GUESTS", "no")
        .env("NATIVE_CROSS", "no");
    if smoke {
        cmd.env("PROGRAMS", "bench bootstrap opensnoop uprobe");
    }
    let status = cmd
        .status()
        .map_err(|e| format!("running build-programs.sh: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(
            "scripts/build-programs.sh failed (scripts/install-deps.sh installs what it needs)"
                .into(),
        )
    }
}

/// Tracepoints need tracefs for the native loader (unibpf mounts it itself).
fn mount_tracefs() {
    let dir = Path::new("/sys/kernel/tracing");
    if !dir.join("events").exists() {
        let _ = Command::new("mount")
            .args(["-t", "tracefs", "tracefs"])
            .arg(dir)
            .status();
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let smoke = !has("--bench") || has("--smoke");
    let json = has("--json");
    let sections = if has("--backends") {
        Sections::Backends
    } else {
        Sections::All
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("bench: needs root (it loads BPF programs into the running kernel)");
        return ExitCode::FAILURE;
    }
    mount_tracefs();
    let out = root().join("target/bench");
    let guests_dir = out.join("guests");
    if let Err(e) = std::fs::create_dir_all(&guests_dir) {
        eprintln!("bench: {}: {e}", guests_dir.display());
        return ExitCode::FAILURE;
    }
    if let Err(e) = build_guests(&guests_dir, smoke) {
        eprintln!("bench: {e}");
        return ExitCode::FAILURE;
    }
    let (scale, scale_name) = if smoke {
        (Scale::SMOKE, "smoke")
    } else {
        (Scale::FULL, "full")
    };
    let cfg = Config {
        guests: Guests {
            unibpf: PathBuf::from(env!("CARGO_BIN_EXE_unibpf")),
            dir: guests_dir,
        },
        scale,
        scale_name,
    };
    let bar = ProgressBar::new(unibpf_bench::steps(&scale, sections));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = unibpf_bench::run(&cfg, sections, |step| {
        bar.set_message(step.to_string());
        bar.inc(1);
    });
    bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let table = report.table();
    let json_text = serde_json::to_string_pretty(&report).unwrap_or_default();
    // A smoke pass (under cargo test) does not replace the last real results.
    let stem = match (smoke, sections) {
        (true, _) => "smoke",
        (false, Sections::Backends) => "backends",
        (false, Sections::All) => "latest",
    };
    for (name, text) in [
        (format!("{stem}.md"), &table),
        (format!("{stem}.json"), &json_text),
    ] {
        if let Err(e) = std::fs::write(out.join(&name), text) {
            eprintln!("bench: writing {name}: {e}");
        }
    }
    if json {
        println!("{json_text}");
    } else {
        print!("{table}");
    }
    // Missed targets are reported, not failed on: speed is not a test.
    for measure in report.missed() {
        eprintln!("bench: target missed: {measure}");
    }
    ExitCode::SUCCESS
}
