//! `unibpf matrix`: runs the compatibility matrix and writes
//! matrix/results/latest.{json,md,svg}.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use unibpf_matrix::report::Results;
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
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "90s")]
    cell_timeout: Duration,
    /// The repository (matrix/, build/programs/).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// The program suite as built by scripts/build-programs.sh.
    #[arg(long)]
    programs_dir: Option<PathBuf>,
    /// unibpf for arm64 VMs (cross-built); arm64 hosts fail without it.
    #[arg(long)]
    unibpf_arm64: Option<PathBuf>,
    /// Debian mirror.
    #[arg(long, default_value = "http://deb.debian.org/debian")]
    mirror: String,
    /// Also replace the matrix section of README.md with these results.
    #[arg(long)]
    update_readme: bool,
    /// Where to write latest.{json,md,svg} (default: matrix/results).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run nothing: write the table and picture of these results
    /// (a latest.json) again, beside it or into --out.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["hosts", "programs", "quick", "update_readme"])]
    render: Option<PathBuf>,
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
            .unwrap_or(Path::new("."))
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
    let root = std::fs::canonicalize(&args.root).context("--root")?;
    let matrix_dir = root.join("matrix");
    let text = std::fs::read_to_string(matrix_dir.join("hosts.toml"))
        .context("reading matrix/hosts.toml (is --root the repository?)")?;
    let mut hosts = unibpf_matrix::hosts::parse(&text)?;
    if args.quick {
        hosts.retain(|h| h.quick);
    }
    if !args.hosts.is_empty() {
        for want in &args.hosts {
            if !hosts.iter().any(|h| &h.name == want) {
                bail!("--hosts {want}: no such host in matrix/hosts.toml");
            }
        }
        hosts.retain(|h| args.hosts.contains(&h.name));
    }
    let all: Vec<String> = unibpf_matrix::cases::PROGRAMS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let programs = if args.programs.is_empty() {
        all
    } else {
        for p in &args.programs {
            if !all.contains(p) {
                bail!(
                    "--programs {p}: the matrix has no case for it (known: {})",
                    all.join(", ")
                );
            }
        }
        args.programs.clone()
    };
    let mut unibpf = vec![(
        match std::env::consts::ARCH {
            "aarch64" => "arm64".to_string(),
            a => a.to_string(),
        },
        std::env::current_exe().context("locating this unibpf binary")?,
    )];
    if let Some(p) = &args.unibpf_arm64 {
        unibpf.push(("arm64".into(), p.clone()));
    }
    let cache = root.join("build/matrix");
    std::fs::create_dir_all(&cache).context("creating build/matrix")?;
    let cfg = MatrixConfig {
        hosts,
        programs,
        cache,
        programs_dir: args
            .programs_dir
            .unwrap_or_else(|| root.join("build/programs")),
        matrix_dir: matrix_dir.clone(),
        repo: root.clone(),
        unibpf,
        lib_dirs: vec![
            PathBuf::from("/usr/aarch64-linux-gnu/lib"),
            root.join("build/cache/arm64-sysroot/usr/lib/aarch64-linux-gnu"),
            root.join("build/cache/arm64-sysroot/lib/aarch64-linux-gnu"),
        ],
        busybox: vec![
            ("x86_64".into(), PathBuf::from("/bin/busybox")),
            (
                "arm64".into(),
                root.join("build/cache/arm64-sysroot/bin/busybox"),
            ),
        ],
        mirror: args.mirror,
        jobs: args.jobs,
        cell_timeout: args.cell_timeout,
        unibpf_version: env!("CARGO_PKG_VERSION").into(),
        date: today(),
    };
    let results = runner::run(&cfg)?;
    let out = args.out.unwrap_or_else(|| matrix_dir.join("results"));
    let md = write_tables(&results, &out)?;
    let json = serde_json::to_string_pretty(&results)? + "\n";
    std::fs::write(out.join("latest.json"), json).context("writing latest.json")?;
    if args.update_readme {
        update_readme(&root.join("README.md"), &md)?;
    }
    print!("{md}");
    use unibpf_matrix::report::Status;
    let failed = results
        .cells
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    let natives: Vec<Status> = results
        .cells
        .iter()
        .filter_map(|c| c.native.as_ref().map(|n| n.status))
        .collect();
    let native_passed = natives.iter().filter(|s| **s == Status::Pass).count();
    println!(
        "\nunibpf: {} of {} cells passed; native libbpf builds: {native_passed} of {} passed; {}/latest.{{json,md,svg}} written",
        results.cells.len() - failed,
        results.cells.len(),
        natives.len(),
        out.display()
    );
    Ok(0)
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
