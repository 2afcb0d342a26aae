//! Per-platform variants at load time: where the chosen backend cannot
//! run Linux objects (eBPF for Windows), the guest's object is swapped for
//! the variant the module carries under its key (`unibpf bundle`), and the
//! selector judges the variant's programs, not the Linux object's.

use unibpf_backend::{BackendError, BackendKind, Errno};
use unibpf_object::BpfObject;
use unibpf_variants::{key_of, variant_for, Platform, VariantKind};

/// The platform whose own objects `backend` needs, if any.
pub fn platform_of(backend: BackendKind) -> Option<Platform> {
    match backend {
        BackendKind::Windows => Some(Platform::Windows),
        BackendKind::Kernel | BackendKind::Userspace => None,
    }
}

/// The object to load instead of the guest's, read.
#[derive(Debug)]
pub struct Swap {
    pub bytes: Vec<u8>,
    /// What it holds; a native image's programs cannot be read before
    /// eBPF for Windows loads it, so it holds none.
    pub object: BpfObject,
    /// The `--explain` line.
    pub explain: String,
}

/// The guest's object as the user knows it: its programs, and its key.
fn describe(linux: &BpfObject, key: &str) -> String {
    let names: Vec<&str> = linux.programs.iter().map(|p| p.name.as_str()).collect();
    match names.as_slice() {
        [] => format!("the BPF object with key {key}"),
        _ => format!(
            "the BPF object with programs {} (key {key})",
            names.join(", ")
        ),
    }
}

/// The variant of `elf` (read as `linux`) for `platform` that `wasm`
/// carries, checked: a missing one, a corrupt section, a variant that is
/// not an object, or one that lacks a program or map the guest will name,
/// is one line saying what to do.
pub fn pick(
    wasm: &[u8],
    elf: &[u8],
    linux: &BpfObject,
    platform: Platform,
) -> Result<Swap, BackendError> {
    let key = key_of(elf);
    let platform_name = match platform {
        Platform::Windows => "eBPF for Windows",
    };
    let variant = variant_for(wasm, platform, elf)
        .map_err(|e| BackendError::new(Errno::EINVAL, e.to_string()))?
        .ok_or_else(|| {
            BackendError::new(
                Errno::ENOENT,
                format!(
                    "{} has no {} variant, and {platform_name} cannot load a Linux object: build one for {platform_name} and add it with `unibpf bundle APP.wasm --platform {} LINUX.bpf.o=VARIANT.o -o OUT.wasm`",
                    describe(linux, &key),
                    platform.name(),
                    platform.name()
                ),
            )
        })?;
    let bad = |why: String| {
        BackendError::new(
            Errno::EINVAL,
            format!(
                "the {} variant {} of {}: {why}; bundle a matching one with `unibpf bundle`",
                platform.name(),
                variant.name,
                describe(linux, &key)
            ),
        )
    };
    if variant.bytes == elf {
        return Err(bad("it is the Linux object itself".into()));
    }
    let object = match variant.kind {
        VariantKind::Elf => {
            let object = BpfObject::parse(&variant.bytes)
                .map_err(|e| bad(format!("cannot be read as a BPF object: {e}")))?;
            check_names(linux, &object).map_err(bad)?;
            object
        }
        VariantKind::Native => no_programs(),
    };
    let explain = format!(
        "{}: {} swapped for its {} variant {} ({} bytes, {}, key {key})",
        platform.name(),
        describe(linux, &key).replacen(&format!(" (key {key})"), "", 1),
        platform.name(),
        variant.name,
        variant.bytes.len(),
        match variant.kind {
            VariantKind::Elf => "BPF ELF",
            VariantKind::Native => "native image",
        },
    );
    Ok(Swap {
        bytes: variant.bytes,
        object,
        explain,
    })
}

/// The guest finds programs and maps by the names of its Linux object (a
/// skeleton attaches each program, reads each map): the variant must have
/// them all.
fn check_names(linux: &BpfObject, variant: &BpfObject) -> Result<(), String> {
    let missing_programs: Vec<&str> = linux
        .programs
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| !variant.programs.iter().any(|p| p.name == *n))
        .collect();
    let missing_maps: Vec<&str> = linux
        .maps
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| !n.starts_with('.') && !variant.maps.iter().any(|m| m.name == *n))
        .collect();
    let mut why = Vec::new();
    if !missing_programs.is_empty() {
        why.push(format!("program {}", missing_programs.join(", ")));
    }
    if !missing_maps.is_empty() {
        why.push(format!("map {}", missing_maps.join(", ")));
    }
    match why.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "it lacks {} of the Linux object, which the guest names",
            why.join(" and ")
        )),
    }
}

fn no_programs() -> BpfObject {
    BpfObject {
        programs: Vec::new(),
        optional_programs: Vec::new(),
        alternatives: Vec::new(),
        maps: Vec::new(),
        data_sections: Vec::new(),
        btf: None,
        regs_arches: Vec::new(),
        fixed_regs_reads: Vec::new(),
        kprobe_reads: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
