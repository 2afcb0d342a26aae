//! `unibpf btf`: where BTF comes from when the kernel has none.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use unibpf_btf::{Cache, CacheEntry, KernelCheck, KernelId, Settings};

#[derive(clap::Subcommand)]
pub enum BtfCommand {
    /// Where BTF would come from on this host, step by step, and why.
    Status(StatusArgs),
    /// Download a kernel's BTF from a BTFHub-archive mirror into the cache,
    /// verified first.
    Fetch(FetchArgs),
    /// Add the BTFs of a BTFHub-layout tree to a module, as a custom section.
    Bundle(BundleArgs),
    /// The kernels a module bundles BTF for.
    List(ListArgs),
    /// Min-core BTF: keep only what the objects' CO-RE relocations use of
    /// each kernel's BTF, written in BTFHub's layout for `bundle`.
    Min(MinArgs),
}

/// Where the cache is and where downloads come from.
#[derive(clap::Args)]
pub struct Place {
    /// The BTF cache (default: /var/cache/unibpf/btf as root,
    /// $XDG_CACHE_HOME/unibpf/btf otherwise; env UNIBPF_BTF_CACHE).
    #[arg(long, value_name = "DIR")]
    btf_cache: Option<PathBuf>,
    /// A BTFHub-archive mirror (env UNIBPF_BTF_MIRROR).
    #[arg(long, value_name = "URL")]
    btf_mirror: Option<String>,
    /// Give up on a mirror silent this long (connecting or reading).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    btf_timeout: Duration,
}

impl Place {
    pub fn settings(&self) -> Settings {
        let mut s = Settings::from_env();
        if let Some(d) = &self.btf_cache {
            s.cache_dir = Some(d.clone());
        }
        if let Some(m) = &self.btf_mirror {
            s.mirror = m.clone();
        }
        s.timeout = self.btf_timeout;
        s
    }
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// A BTF file to use before anything else (env UNIBPF_BTF).
    #[arg(long, value_name = "FILE")]
    btf: Option<PathBuf>,
    #[command(flatten)]
    place: Place,
    /// Also look for BTF bundled in this module.
    module: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct FetchArgs {
    /// The kernel, as ID/VERSION_ID/ARCH/RELEASE (default: this host's).
    kernel: Option<KernelId>,
    /// Print what was fetched as JSON.
    #[arg(long)]
    json: bool,
    /// Download even when the cache has it.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    place: Place,
}

#[derive(clap::Args)]
pub struct BundleArgs {
    /// The module to add BTF to.
    module: PathBuf,
    /// A BTFHub-layout tree: every ID/VERSION_ID/ARCH/RELEASE.btf under it goes in.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The module with the bundle.
    #[arg(short, long, value_name = "OUT.wasm")]
    output: PathBuf,
}

#[derive(clap::Args)]
pub struct ListArgs {
    module: PathBuf,
    /// Print the list as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct MinArgs {
    /// BPF objects (.bpf.o), or modules whose data carries them.
    #[arg(required = true, value_name = "OBJECT")]
    objects: Vec<PathBuf>,
    /// Kernel BTF: a BTFHub-layout tree (.btf or .btf.tar.xz files), one
    /// such file, or /sys/kernel/btf/vmlinux for this host's.
    #[arg(long, required = true, value_name = "KERNEL_BTF")]
    from: Vec<PathBuf>,
    /// Where to write ID/VERSION_ID/ARCH/RELEASE.btf files.
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: BtfCommand) -> anyhow::Result<u8> {
    match cmd {
        BtfCommand::Status(a) => status(a),
        BtfCommand::Fetch(a) => fetch(a),
        BtfCommand::Bundle(a) => bundle(a),
        BtfCommand::List(a) => list(a),
        BtfCommand::Min(a) => min(a),
    }
    .map(|()| 0)
}

/// The library's errors already say cause and remedy in one line; the
/// chain below them goes to the debug log rather than onto that line.
fn one_line(e: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    let mut cause = e.source();
    while let Some(c) = cause {
        tracing::debug!("caused by: {c}");
        cause = c.source();
    }
    anyhow::anyhow!("{e}")
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("rendering JSON")?
    );
    Ok(())
}

fn status(a: StatusArgs) -> anyhow::Result<()> {
    let mut s = a.place.settings();
    if let Some(f) = a.btf {
        s.user_file = Some(f);
    }
    let wasm = a.module.as_ref().map(read).transpose()?;
    let kernel = KernelId::of_this_host().map_err(|e| e.to_string());
    let report = unibpf_btf::status(&s, kernel.as_ref().map_err(Clone::clone), wasm.as_deref());
    if a.json {
        return json(&report);
    }
    print!("{report}");
    Ok(())
}

fn fetch(a: FetchArgs) -> anyhow::Result<()> {
    let kernel = match a.kernel {
        Some(k) => k,
        None => KernelId::of_this_host().map_err(one_line)?,
    };
    let mut s = a.place.settings();
    s.progress = !a.json;
    let cache = Cache::open(s.cache_dir.as_deref()).map_err(one_line)?;
    if let (CacheEntry::Found(path), false) = (cache.get(&kernel), a.force) {
        if a.json {
            return json(&serde_json::json!({ "kernel": kernel, "path": path, "cached": true }));
        }
        println!(
            "{kernel}: already cached at {} (--force fetches it again)",
            path.display()
        );
        return Ok(());
    }
    let f = unibpf_btf::fetch(&s, &cache, &kernel).map_err(one_line)?;
    if a.json {
        return json(&f);
    }
    let checked = match &f.btf.this_kernel {
        KernelCheck::Matched { checked, present } => {
            format!("{present} of its {checked} functions are this kernel's")
        }
        KernelCheck::Skipped { reason } => format!("not compared with a kernel: {reason}"),
    };
    println!(
        "{}: fetched {} bytes from {}; BTF of {} types, {checked}; cached at {}",
        f.kernel,
        f.downloaded,
        f.url,
        f.btf.types,
        f.path.display()
    );
    Ok(())
}

fn bundle(a: BundleArgs) -> anyhow::Result<()> {
    let wasm = read(&a.module)?;
    let before = unibpf_btf::list(&wasm).map_err(one_line)?;
    let entries = unibpf_btf::bundle::read_tree(&a.from).map_err(one_line)?;
    let out = unibpf_btf::bundle(&wasm, &entries).map_err(one_line)?;
    std::fs::write(&a.output, &out)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    if !before.is_empty() {
        println!("replaced the bundle of {} kernels", before.len());
    }
    for (kernel, btf) in &entries {
        println!("added {kernel} ({} bytes)", btf.len());
    }
    println!(
        "{}: {} bytes ({} kernels; {} bytes more than {})",
        a.output.display(),
        out.len(),
        entries.len(),
        out.len() as i64 - wasm.len() as i64,
        a.module.display()
    );
    Ok(())
}

fn list(a: ListArgs) -> anyhow::Result<()> {
    let wasm = read(&a.module)?;
    let entries = unibpf_btf::list(&wasm).map_err(one_line)?;
    if a.json {
        return json(&entries);
    }
    if entries.is_empty() {
        println!("{}: no bundled BTF", a.module.display());
    }
    for e in &entries {
        println!("{}  {} bytes", e.kernel, e.size);
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct MinWritten {
    kernel: KernelId,
    path: PathBuf,
    bytes: usize,
    relocations: usize,
    unmatched: usize,
    types_kept: usize,
    target_types: usize,
}

fn min(a: MinArgs) -> anyhow::Result<()> {
    let mut objects = Vec::new();
    for path in &a.objects {
        objects.extend(unibpf_btf::read_objects(path).map_err(one_line)?);
    }
    let mut kernels = Vec::new();
    for from in &a.from {
        kernels.extend(unibpf_btf::kernel_btfs(from).map_err(one_line)?);
    }
    if !a.json {
        for o in &objects {
            let relos = o.core.relos().count();
            println!("object {} ({relos} CO-RE relocations)", o.name);
        }
    }
    let progress = indicatif::ProgressBar::new(kernels.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut written = Vec::new();
    for file in &kernels {
        progress.set_message(file.kernel.to_string());
        let min = unibpf_btf::minimise(&objects, file).map_err(one_line)?;
        let path = a.output.join(min.kernel.relative_path());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, &min.btf)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let w = MinWritten {
            kernel: min.kernel,
            path,
            bytes: min.btf.len(),
            relocations: min.stats.relocations,
            unmatched: min.stats.unmatched,
            types_kept: min.stats.types_kept,
            target_types: min.stats.target_types,
        };
        progress.suspend(|| {
            if !a.json {
                println!(
                    "{}: {} bytes, {} of {} types ({} relocations, {} unmatched)",
                    w.path.display(),
                    w.bytes,
                    w.types_kept,
                    w.target_types,
                    w.relocations,
                    w.unmatched
                );
            }
        });
        written.push(w);
        progress.inc(1);
    }
    progress.finish_and_clear();
    if a.json {
        return json(&written);
    }
    Ok(())
}
