//! `unibpf matrix`: runs the compatibility matrix and writes
//! matrix/results/latest.{json,md,svg}; with `--module`, runs a user's
//! module on the same hosts instead of the suite.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use unibpf_matrix::arch::Arch;
use unibpf_matrix::hosts::Host;
use unibpf_matrix::module::ModuleCase;
use unibpf_matrix::report::{Results, Status};
use unibpf_matrix::runner::{self, MatrixConfig};

#[derive(clap::Args)]
pub struct MatrixArgs {
    /// Only these hosts (names from matrix/hosts.toml).
    #[arg(long, value_delimiter = ',')]
    hosts: Vec<String>,
    /// Only these programs.
    #[arg(long, value_delimiter = ',')]
    programs: Vec<String>,
    /// The hosts marked quick in matrix/hosts.toml.
    #[arg(long)]
    quick: bool,
    /// Hosts run at once.
    #[arg(long, default_value = "2")]
    jobs: usize,
    /// Time allowed per cell.
    #[arg(long, visible_alias = "timeout", value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "90s")]
    cell_timeout: Duration,
    /// The repository (matrix/, build/); default: the current directory or
    /// the one this binary was built in, whichever is one.
    #[arg(long)]
    root: Option<PathBuf>,
    /// The program suite as built by scripts/build-programs.sh.
    #[arg(long)]
    programs_dir: Option<PathBuf>,
    /// unibpf for arm64 VMs (scripts/build-cross.sh arm64); arm64 hosts
    /// fail without it.
    #[arg(long)]
    unibpf_arm64: Option<PathBuf>,
    /// unibpf for riscv64 VMs (scripts/build-cross.sh riscv64); riscv64
    /// hosts fail without it.
    #[arg(long)]
    unibpf_riscv64: Option<PathBuf>,
    /// unibpf.exe (scripts/build-windows.sh) for the wine host, which is
    /// skipped without it.
    #[arg(long, value_name = "PATH")]
    unibpf_windows: Option<PathBuf>,
    /// Debian mirror.
    #[arg(long, default_value = "http://deb.debian.org/debian")]
    mirror: String,
    /// Also replace the matrix section of README.md with these results.
    #[arg(long)]
    update_readme: bool,
    /// Where to write latest.{json,md,svg} (default: matrix/results;
    /// with --module, matrix-results in the current directory).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep the hosts of the latest.json already in --out that this run
    /// does not run: a run of some hosts (--hosts) updates their columns
    /// of the full table, and the others stay as their own run left them.
    #[arg(long, conflicts_with = "module")]
    merge: bool,
    /// Run nothing: write the table and picture of these results
    /// (a latest.json) again, beside it or into --out.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["hosts", "programs", "quick", "update_readme", "module"])]
    render: Option<PathBuf>,
    #[command(flatten)]
    module: ModuleArgs,
}

/// `--module`: your module on the matrix's hosts instead of the suite.
#[derive(clap::Args)]
struct ModuleArgs {
    /// Run this module on every host instead of the suite (native column
    /// omitted); a cell passes when a line of its output matches --expect.
    #[arg(long, value_name = "APP.wasm", requires = "expect", conflicts_with_all = ["programs", "programs_dir", "update_readme"])]
    module: Option<PathBuf>,
    /// The module's arguments: every word after --args, options included,
    /// so give it last.
    #[arg(long, value_name = "ARG", num_args = 1.., allow_hyphen_values = true, requires = "module")]
    args: Vec<String>,
    /// A shell command run (as `sh -c CMD`, busybox sh in the VMs) once
    /// the module is ready, to give it something to see.
    #[arg(long, value_name = "CMD", requires = "module")]
    workload: Option<String>,
    /// A regex one line of the module's stdout or stderr must match.
    #[arg(long, value_name = "REGEX", requires = "module")]
    expect: Option<String>,
    /// Text the module prints (stdout or stderr) when it is ready for the
    /// workload; default: ready once unibpf has attached its first program.
    #[arg(long, value_name = "TEXT", requires = "module")]
    ready: Option<String>,
    /// Wait this long after ready before the workload.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1s")]
    settle: Duration,
}

/// `--render`: latest.{md,svg} from an earlier run's JSON.
fn render(json: &Path, out: Option<PathBuf>) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(json)
        .with_context(|| format!("--render: cannot read {}", json.display()))?;
    let results: Results = serde_json::from_str(&text).with_context(|| {
        format!(
            "--render: {} is not the JSON of a `unibpf matrix` run",
            json.display()
        )
    })?;
    let out = out.unwrap_or_else(|| {
        json.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf()
    });
    write_tables(&results, &out)?;
    println!("{}/latest.{{md,svg}} written", out.display());
    Ok(0)
}

/// latest.md and latest.svg of `results` into `out`.
fn write_tables(results: &Results, out: &Path) -> anyhow::Result<String> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let md = results.markdown();
    std::fs::write(out.join("latest.md"), &md).context("writing latest.md")?;
    std::fs::write(out.join("latest.svg"), results.svg()).context("writing latest.svg")?;
    Ok(md)
}

pub fn run(args: MatrixArgs) -> anyhow::Result<u8> {
    if let Some(json) = &args.render {
        return render(json, args.out);
    }
    let root = repository(args.root.as_deref())?;
    let module = module_case(&args.module)?;
    let hosts = hosts(&root, args.quick, &args.hosts)?;
    let programs = match &module {
        Some(m) => vec![m.name.clone()],
        None => programs(&args.programs)?,
    };
    let out = match (&args.out, &module) {
        (Some(out), _) => out.clone(),
        (None, Some(_)) => PathBuf::from("matrix-results"),
        (None, None) => root.join("matrix/results"),
    };
    let cache = root.join("build/matrix");
    std::fs::create_dir_all(&cache).context("creating build/matrix")?;
    // A module run's images and console logs are its own, beside its results.
    let work = match module {
        Some(_) => out.join("work"),
        None => cache.clone(),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let cfg = MatrixConfig {
        hosts,
        programs,
        cache,
        programs_dir: args
            .programs_dir
            .unwrap_or_else(|| root.join("build/programs")),
        matrix_dir: root.join("matrix"),
        repo: root.clone(),
        unibpf: unibpf_builds([
            (Arch::Arm64, args.unibpf_arm64),
            (Arch::Riscv64, args.unibpf_riscv64),
        ])?,
        unibpf_windows: args
            .unibpf_windows
            .map(|p| {
                std::fs::canonicalize(&p).with_context(|| {
                    format!(
                        "--unibpf-windows {}: build it with scripts/build-windows.sh",
                        p.display()
                    )
                })
            })
            .transpose()?,
        // Where scripts/sysroot.sh unpacked them (the scripts' cache).
        sysroots: std::env::var_os("UNIBPF_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("build/cache")),
        mirror: args.mirror,
        jobs: args.jobs,
        cell_timeout: args.cell_timeout,
        unibpf_version: env!("CARGO_PKG_VERSION").into(),
        date: today(),
        module,
        work,
    };
    let mut results = runner::run(&cfg)?;
    if args.merge {
        let earlier = out.join("latest.json");
        let text = std::fs::read_to_string(&earlier).with_context(|| {
            format!(
                "--merge: cannot read {} (run without --merge first)",
                earlier.display()
            )
        })?;
        let earlier: Results = serde_json::from_str(&text).with_context(|| {
            format!(
                "--merge: {} is not the JSON of a `unibpf matrix` run",
                earlier.display()
            )
        })?;
        let order: Vec<String> = self::hosts(&root, false, &[])?
            .into_iter()
            .map(|h| h.name)
            .collect();
        results = results.merge_into(earlier, &order);
    }
    let md = write_tables(&results, &out)?;
    let json = serde_json::to_string_pretty(&results)? + "\n";
    std::fs::write(out.join("latest.json"), json).context("writing latest.json")?;
    if args.update_readme {
        update_readme(&root.join("README.md"), &md)?;
    }
    print!("{md}");
    summary(&results, &out);
    if cfg.module.is_some() {
        remove_images(&cfg.work);
        if results.cells.iter().any(|c| c.status == Status::Fail) {
            return Ok(2);
        }
    }
    Ok(0)
}

/// The repository: `--root`, else the current directory or the one this
/// binary was built in (target/*/unibpf), whichever holds matrix/hosts.toml.
fn repository(root: Option<&Path>) -> anyhow::Result<PathBuf> {
    let is_repo = |d: &Path| d.join("matrix/hosts.toml").is_file();
    if let Some(root) = root {
        let root =
            std::fs::canonicalize(root).with_context(|| format!("--root {}", root.display()))?;
        if !is_repo(&root) {
            bail!(
                "--root {}: no matrix/hosts.toml there; give the unibpf repository",
                root.display()
            );
        }
        return Ok(root);
    }
    let cwd = std::env::current_dir().context("the current directory")?;
    let exe = std::env::current_exe().context("locating this unibpf binary")?;
    cwd.ancestors()
        .chain(exe.ancestors())
        .find(|d| is_repo(d))
        .map(Path::to_path_buf)
        .context("cannot find the unibpf repository (matrix/hosts.toml) from here or from this binary; pass --root")
}

/// `--module` and its options, checked before any VM boots.
fn module_case(m: &ModuleArgs) -> anyhow::Result<Option<ModuleCase>> {
    let Some(wasm) = &m.module else {
        return Ok(None);
    };
    let expect = m.expect.as_deref().unwrap_or_default();
    let case = ModuleCase::new(
        wasm,
        m.args.clone(),
        m.workload.clone(),
        m.ready.clone(),
        m.settle,
        expect,
    )?;
    Ok(Some(case))
}

/// matrix/hosts.toml's hosts, or the quick ones, or those named.
fn hosts(root: &Path, quick: bool, names: &[String]) -> anyhow::Result<Vec<Host>> {
    let text = std::fs::read_to_string(root.join("matrix/hosts.toml"))
        .context("reading matrix/hosts.toml (is --root the repository?)")?;
    let mut hosts = unibpf_matrix::hosts::parse(&text)?;
    if quick {
        hosts.retain(|h| h.quick);
    }
    if !names.is_empty() {
        for want in names {
            if !hosts.iter().any(|h| &h.name == want) {
                bail!("--hosts {want}: no such host in matrix/hosts.toml");
            }
        }
        hosts.retain(|h| names.contains(&h.name));
    }
    Ok(hosts)
}

/// The suite's programs, or those named.
fn programs(names: &[String]) -> anyhow::Result<Vec<String>> {
    let all: Vec<String> = unibpf_matrix::cases::PROGRAMS
        .iter()
        .map(|s| s.to_string())
        .collect();
    for p in names {
        if !all.contains(p) {
            bail!(
                "--programs {p}: the matrix has no case for it (known: {})",
                all.join(", ")
            );
        }
    }
    Ok(if names.is_empty() {
        all
    } else {
        names.to_vec()
    })
}

/// This binary for this machine's arch, and the cross-built ones given.
fn unibpf_builds(cross: [(Arch, Option<PathBuf>); 2]) -> anyhow::Result<Vec<(Arch, PathBuf)>> {
    let mut unibpf = Vec::new();
    if let Some(arch) = Arch::this_machine() {
        let this = std::env::current_exe().context("locating this unibpf binary")?;
        unibpf.push((arch, this));
    }
    for (arch, path) in cross {
        let Some(p) = path else { continue };
        let p = std::fs::canonicalize(&p).with_context(|| {
            format!(
                "--unibpf-{arch} {}: build it with scripts/build-cross.sh {arch}",
                p.display()
            )
        })?;
        unibpf.push((arch, p));
    }
    Ok(unibpf)
}

/// The last line: cells passed, and where the files are.
fn summary(results: &Results, out: &Path) {
    let passed = |s: &[Status]| s.iter().filter(|s| **s == Status::Pass).count();
    let cells: Vec<Status> = results.cells.iter().map(|c| c.status).collect();
    let natives: Vec<Status> = results
        .cells
        .iter()
        .filter_map(|c| c.native.as_ref().map(|n| n.status))
        .collect();
    let native = if natives.is_empty() {
        String::new()
    } else {
        format!(
            "; native libbpf builds: {} of {} passed",
            passed(&natives),
            natives.len()
        )
    };
    println!(
        "\nunibpf: {} of {} cells passed{native}; {}/latest.{{json,md,svg}} written",
        passed(&cells),
        cells.len(),
        out.display()
    );
}

/// A module run's initramfs images, once booted (its console logs stay).
fn remove_images(work: &Path) {
    let Ok(entries) = std::fs::read_dir(work) else {
        return;
    };
    for e in entries.flatten() {
        if e.path().extension().is_some_and(|x| x == "cpio") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

const BEGIN: &str = "<!-- matrix:begin -->";
const END: &str = "<!-- matrix:end -->";

fn update_readme(path: &Path, md: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).context("reading README.md")?;
    let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
        bail!("README.md has no {BEGIN} ... {END} section");
    };
    let new = format!(
        "{}{BEGIN}\n{md}\n![compatibility matrix](matrix/results/latest.svg)\n{}",
        &text[..a],
        &text[b..]
    );
    std::fs::write(path, new).context("writing README.md")
}

/// Today's UTC date, from the system clock.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    civil_date(days)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_date(0), "1970-01-01");
        assert_eq!(super::civil_date(11016), "2000-02-29");
        assert_eq!(super::civil_date(20000), "2024-10-04");
    }
}
