//! uprobes without kernel eBPF: a `BINARY:FUNCTION[+OFFSET]` target
//! resolved to a file offset (what the tracer puts its breakpoint on), and
//! the registers of the stopped thread laid out as the `pt_regs` the
//! program reads.

use std::path::{Path, PathBuf};

use goblin::elf::{program_header::PF_X, program_header::PT_LOAD, sym, Elf};

/// Where a uprobe goes: an instruction of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbePoint {
    pub file: PathBuf,
    pub offset: u64,
}

/// Binaries larger than this are not read to look a symbol up: a target
/// naming a huge file must not make us allocate its size.
const MAX_BINARY_BYTES: u64 = 1 << 30;

/// Resolves `BINARY:FUNCTION[+OFFSET]` (OFFSET decimal or 0x-hex) the way
/// libbpf does: a BINARY without '/' is looked up in PATH, or for a
/// shared library (`.so` in its name) in LD_LIBRARY_PATH and the system
/// library directories.
pub fn resolve(target: &str) -> Result<ProbePoint, String> {
    let (binary, function) = target
        .rsplit_once(':')
        .filter(|(b, f)| !b.is_empty() && !f.is_empty())
        .ok_or_else(|| format!("uprobe target must be BINARY:FUNCTION, got {target:?}"))?;
    let (symbol, extra) = split_offset(function)
        .ok_or_else(|| format!("uprobe target {target:?}: bad +OFFSET after the function"))?;
    let file = find_binary(binary).ok_or_else(|| {
        format!("uprobe target {target:?}: no file {binary:?} (give a path, or a name in PATH or the library directories)")
    })?;
    let meta = std::fs::metadata(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    if !meta.is_file() || meta.len() > MAX_BINARY_BYTES {
        return Err(format!(
            "uprobe target {target:?}: {} is not a regular file of at most 1 GiB",
            file.display()
        ));
    }
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let offset = symbol_file_offset(&bytes, symbol)
        .map_err(|why| format!("uprobe target {target:?}: {}: {why}", file.display()))?
        .checked_add(extra)
        .ok_or_else(|| format!("uprobe target {target:?}: offset overflows"))?;
    Ok(ProbePoint { file, offset })
}

/// `name+OFFSET` → (name, OFFSET); a bare name has offset 0.
fn split_offset(function: &str) -> Option<(&str, u64)> {
    let Some((name, off)) = function.split_once('+') else {
        return Some((function, 0));
    };
    let off = match off.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => off.parse().ok()?,
    };
    (!name.is_empty()).then_some((name, off))
}

fn find_binary(binary: &str) -> Option<PathBuf> {
    if binary.contains('/') {
        let p = Path::new(binary);
        return p.is_file().then(|| p.canonicalize().ok()).flatten();
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    let from_env = |var: &str| {
        std::env::var_os(var)
            .map(|v| std::env::split_paths(&v).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    if binary.contains(".so") {
        dirs.extend(from_env("LD_LIBRARY_PATH"));
        let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
        for d in ["/lib", "/usr/lib", "/lib64", "/usr/lib64"] {
            dirs.push(Path::new(d).join(&multiarch));
            dirs.push(PathBuf::from(d));
        }
    } else {
        dirs.extend(from_env("PATH"));
    }
    dirs.iter()
        .map(|d| d.join(binary))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
}

/// The file offset of the code `symbol` names: its address mapped through
/// the executable load segment that holds it.
fn symbol_file_offset(elf_bytes: &[u8], symbol: &str) -> Result<u64, String> {
    let elf = Elf::parse(elf_bytes).map_err(|e| format!("not a valid ELF file ({e})"))?;
    let defined_function =
        |s: &sym::Sym| s.st_shndx != 0 && matches!(s.st_type(), sym::STT_FUNC | sym::STT_GNU_IFUNC);
    let address = elf
        .syms
        .iter()
        .find(|s| defined_function(s) && elf.strtab.get_at(s.st_name) == Some(symbol))
        .or_else(|| {
            elf.dynsyms
                .iter()
                .find(|s| defined_function(s) && elf.dynstrtab.get_at(s.st_name) == Some(symbol))
        })
        .map(|s| s.st_value)
        .ok_or_else(|| format!("no function {symbol} in its symbol tables"))?;
    elf.program_headers
        .iter()
        .filter(|ph| ph.p_type == PT_LOAD && ph.p_flags & PF_X != 0)
        .find(|ph| address >= ph.p_vaddr && address - ph.p_vaddr < ph.p_filesz)
        .map(|ph| address - ph.p_vaddr + ph.p_offset)
        .ok_or_else(|| format!("{symbol} at {address:#x} is not in an executable segment"))
}

/// The registers as the program's `pt_regs` context
/// ([`crate::emulated::layout::regs`]).
#[cfg(target_arch = "x86_64")]
pub fn pt_regs(r: &unibpf_trace::Regs) -> Vec<u8> {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect()
}

#[cfg(target_arch = "aarch64")]
pub fn pt_regs(r: &unibpf_trace::Regs) -> Vec<u8> {
    r.regs
        .iter()
        .chain([r.sp, r.pc, r.pstate].iter())
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn pt_regs(_: &unibpf_trace::Regs) -> Vec<u8> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_in_decimal_and_hex() {
        assert_eq!(split_offset("f"), Some(("f", 0)));
        assert_eq!(split_offset("f+16"), Some(("f", 16)));
        assert_eq!(split_offset("f+0x10"), Some(("f", 16)));
        assert_eq!(split_offset("f+zz"), None);
        assert_eq!(split_offset("+4"), None);
    }

    /// libc's getpid: the bytes at the resolved file offset are the
    /// function's code as this process has it mapped.
    #[test]
    fn a_symbol_resolves_to_the_file_offset_of_its_code() {
        let point = resolve("libc.so.6:getpid").expect("libc resolves");
        assert!(
            point.file.to_string_lossy().contains("libc.so.6"),
            "{point:?}"
        );
        let file = std::fs::read(&point.file).expect("read libc");
        let at = usize::try_from(point.offset).expect("offset");
        let mut code = [0u8; 16];
        // Through /proc/self/mem: this crate has no unsafe.
        let mem = std::fs::File::open("/proc/self/mem").expect("open own memory");
        let getpid = libc::getpid as *const () as usize as u64;
        std::os::unix::fs::FileExt::read_exact_at(&mem, &mut code, getpid).expect("read getpid");
        assert_eq!(&file[at..at + 16], &code);
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        let e = resolve("nocolon").unwrap_err();
        assert!(e.contains("BINARY:FUNCTION"), "{e}");
        let e = resolve("/nonexistent/bin:main").unwrap_err();
        assert!(e.contains("no file"), "{e}");
        let e = resolve("/etc/passwd:main").unwrap_err();
        assert!(e.contains("not a valid ELF"), "{e}");
        let exe = std::env::current_exe().expect("exe");
        let e = resolve(&format!("{}:no_such_function_here", exe.display())).unwrap_err();
        assert!(e.contains("no function no_such_function_here"), "{e}");
    }
}
