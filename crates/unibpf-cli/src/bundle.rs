//! `unibpf bundle`: per-platform variants of a module's BPF objects,
//! stored in the module (see `unibpf_variants`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use unibpf_variants::{embedded_objects, key_of, Platform, Variant, VariantKind};

#[derive(clap::Args)]
pub struct BundleArgs {
    /// The module to add variants to.
    #[arg(value_name = "APP.wasm")]
    module: PathBuf,
    /// The platform the variants are for.
    #[arg(long, value_parser = ["windows"])]
    platform: Option<String>,
    /// The variants: `VARIANT` (ELF for eBPF for Windows, or a native
    /// `.sys`) when the module carries one BPF object, else
    /// `LINUX.bpf.o=VARIANT` naming the Linux object it replaces.
    #[arg(value_name = "OBJECT")]
    objects: Vec<String>,
    /// Where to write the module with its variants.
    #[arg(short, long, value_name = "OUT.wasm")]
    output: Option<PathBuf>,
    /// List the BPF objects the module carries and the variants it has.
    #[arg(long, conflicts_with_all = ["objects", "output", "platform"])]
    list: bool,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "variant".into())
}

pub fn run(args: BundleArgs) -> anyhow::Result<u8> {
    let wasm = read(&args.module)?;
    if args.list {
        return list(&args.module, &wasm).map(|()| 0);
    }
    let platform = args
        .platform
        .as_deref()
        .and_then(Platform::parse)
        .context("--platform is required: the platform the variants are for (windows)")?;
    let Some(output) = args.output else {
        bail!("-o OUT.wasm is required: where to write the module with its variants");
    };
    if args.objects.is_empty() {
        bail!("name at least one variant object (LINUX.bpf.o=VARIANT, or VARIANT alone)");
    }
    let carried = embedded_objects(&wasm);
    let mut added = Vec::new();
    for spec in &args.objects {
        let (replaces, variant_path) = match spec.split_once('=') {
            Some((linux, variant)) => {
                let key = key_of(&read(Path::new(linux))?);
                if !carried.iter().any(|e| e.key == key) {
                    bail!(
                        "{linux} is not one of the BPF objects {} carries (`unibpf bundle --list` shows them): \
                         rebuild the module with it, or name the object it does carry",
                        args.module.display()
                    );
                }
                (key, PathBuf::from(variant))
            }
            None => match &carried[..] {
                [one] => (one.key.clone(), PathBuf::from(spec)),
                [] => bail!("{} carries no BPF object for {spec} to replace", args.module.display()),
                _ => bail!(
                    "{} carries {} BPF objects: say which one {spec} replaces, as LINUX.bpf.o={spec}",
                    args.module.display(),
                    carried.len()
                ),
            },
        };
        let bytes = read(&variant_path)?;
        let name = file_name(&variant_path);
        let kind = VariantKind::of(&bytes).with_context(|| {
            format!("{name}: not a BPF ELF object nor a native .sys image, so no platform can load it as a variant")
        })?;
        added.push(Variant {
            platform,
            replaces,
            name,
            kind,
            bytes,
        });
    }
    let count = added.len();
    let out = unibpf_variants::bundle(&wasm, added)?;
    std::fs::write(&output, &out).with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "unibpf: {} variant(s) for {} in {}",
        count,
        platform.name(),
        output.display()
    );
    Ok(0)
}

fn list(path: &Path, wasm: &[u8]) -> anyhow::Result<()> {
    let variants = unibpf_variants::list(wasm)?;
    let carried = embedded_objects(wasm);
    if carried.is_empty() {
        println!("{}: no BPF objects", path.display());
    }
    for e in &carried {
        println!(
            "object {} ({} bytes, programs: {})",
            &e.key[..16],
            e.len,
            e.programs.join(", ")
        );
        for v in variants.iter().filter(|v| v.replaces == e.key) {
            println!(
                "  {}: {} ({:?}, {} bytes)",
                v.platform.name(),
                v.name,
                v.kind,
                v.bytes.len()
            );
        }
    }
    for v in variants
        .iter()
        .filter(|v| !carried.iter().any(|e| e.key == v.replaces))
    {
        println!(
            "variant {} for {} replaces an object the module does not carry ({})",
            v.name,
            v.platform.name(),
            &v.replaces[..16]
        );
    }
    Ok(())
}
