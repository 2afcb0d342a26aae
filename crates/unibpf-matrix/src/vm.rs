//! Running the cases: a payload initramfs per architecture, QEMU (TCG: KVM
//! here is a nested PVM that cannot run stock kernels) with a deadline, and
//! the local host natively.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::arch::{Arch, Userland};
use crate::initramfs::Cpio;
use crate::module::ModuleCase;
use crate::MatrixError;

/// What goes into a VM besides the kernel.
pub struct Payload {
    pub arch: Arch,
    /// The `unibpf` binary for the VM's architecture.
    pub unibpf: PathBuf,
    /// Busybox and, for a cross-built arch, where its libraries are.
    pub userland: Userland,
    /// Directory with the program suite (`NAME.wasm`, `NAME.target`).
    pub programs: PathBuf,
    /// matrix/ (init.sh, cases.sh).
    pub matrix_dir: PathBuf,
    /// Case names to run, in order.
    pub cases: Vec<String>,
    /// Each run of a case is killed after this many seconds.
    pub cell_seconds: u64,
    /// A user's module, run instead of the suite: the suite's files stay out.
    pub module: Option<ModuleCase>,
}

impl Payload {
    /// What matrix/cases.sh reads besides its arguments, as shell
    /// assignments: the cell timeout and a user's module's settings, with
    /// the module at `module_path` where the cases run.
    fn cases_env(&self, module_path: &str) -> String {
        let mut env = format!("CELL_SECONDS={}\n", self.cell_seconds);
        if let Some(m) = &self.module {
            env.push_str(&m.shell_env(module_path));
        }
        env
    }
}

/// Where scripts/build-programs.sh puts per-arch binaries (workloads and
/// native builds) for `arch`: the suite's directory for this machine's arch,
/// `DIR/ARCH` for a cross-built one. The .wasm files are the same for all.
pub fn per_arch_dir(programs: &Path, arch: Arch) -> PathBuf {
    if arch.is_cross() {
        programs.join(arch.name())
    } else {
        programs.to_path_buf()
    }
}

/// A cross-built binary's libraries: its NEEDED entries, recursively,
/// found in `dirs`, as (path in the VM, host file), plus its interpreter.
fn cross_libraries(
    binary: &Path,
    dirs: &[PathBuf],
    triplet: &str,
) -> Result<Vec<(String, PathBuf)>, MatrixError> {
    let find = |name: &str| -> Result<PathBuf, MatrixError> {
        let host = dirs
            .iter()
            .map(|d| d.join(name))
            .find(|p| p.exists())
            .ok_or_else(|| MatrixError::Invalid(format!("{name} for {triplet} not found")))?;
        std::fs::canonicalize(&host).map_err(|e| MatrixError::io(&host, e))
    };
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut todo = vec![binary.to_path_buf()];
    while let Some(file) = todo.pop() {
        let bytes = std::fs::read(&file).map_err(|e| MatrixError::io(&file, e))?;
        let elf = goblin::elf::Elf::parse(&bytes)
            .map_err(|e| MatrixError::Invalid(format!("{}: {e}", file.display())))?;
        if let Some(interp) = elf.interpreter {
            let name = interp.rsplit('/').next().unwrap_or(interp).to_string();
            if !seen.contains(&name) {
                out.push((interp.to_string(), find(&name)?));
                seen.push(name);
            }
        }
        for lib in elf.libraries {
            if seen.iter().any(|s| s == lib) {
                continue;
            }
            seen.push(lib.to_string());
            let real = find(lib)?;
            out.push((format!("/lib/{triplet}/{lib}"), real.clone()));
            todo.push(real);
        }
    }
    Ok(out)
}

/// Shared libraries a dynamic binary needs, as absolute host paths (the
/// loader included), read from `ldd`.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, MatrixError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| MatrixError::Tool("ldd".into(), e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// The initramfs: busybox, /init, the cases, unibpf with its libraries at
/// their usual paths, and the programs.
pub fn build_initramfs(p: &Payload) -> Result<Vec<u8>, MatrixError> {
    let mut c = Cpio::new();
    let mut made = Vec::new();
    for d in [
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/dev",
        "/proc",
        "/sys",
        "/tmp",
        "/unibpf",
        "/programs",
    ] {
        c.dirs(d, &mut made);
    }
    c.char_device("/dev/console", 5, 1);
    c.char_device("/dev/null", 1, 3);
    let busybox = &p.userland.busybox;
    if !busybox.exists() {
        let hint = if p.arch.is_cross() {
            format!(" (and scripts/sysroot.sh {})", p.arch)
        } else {
            String::new()
        };
        return Err(MatrixError::Tool(
            "busybox".into(),
            format!(
                "{} not found; run scripts/install-matrix-deps.sh{hint}",
                busybox.display()
            ),
        ));
    }
    c.host_file("/bin/busybox", busybox, true)?;
    c.symlink("/bin/sh", "busybox");
    let read = |name: &str| {
        let path = p.matrix_dir.join(name);
        std::fs::read(&path).map_err(|e| MatrixError::io(&path, e))
    };
    c.dirs("/etc", &mut made);
    c.file(
        "/etc/os-release",
        crate::btf::os_release().as_bytes(),
        false,
    );
    c.file("/init", &read("init.sh")?, true);
    c.file("/cases.sh", &read("cases.sh")?, false);
    c.file("/cases.list", p.cases.join(" ").as_bytes(), false);
    let mut binaries = vec![p.unibpf.clone()];
    match &p.module {
        Some(m) => {
            c.dirs("/module", &mut made);
            c.host_file(&m.path_in_vm(), &m.wasm, false)?;
            c.file("/cases.env", p.cases_env(&m.path_in_vm()).as_bytes(), false);
        }
        None => {
            c.file("/cases.env", p.cases_env("").as_bytes(), false);
            binaries.extend(add_suite(&mut c, p)?);
        }
    }
    c.host_file("/unibpf/unibpf", &p.unibpf, true)?;
    let cross = p.arch.is_cross();
    let mut libs: Vec<(String, PathBuf)> = Vec::new();
    for binary in &binaries {
        let found: Vec<(String, PathBuf)> = if cross {
            cross_libraries(binary, &p.userland.lib_dirs, p.arch.triplet())?
        } else {
            shared_libraries(binary)?
                .into_iter()
                .map(|lib| {
                    let real = std::fs::canonicalize(&lib).map_err(|e| MatrixError::io(&lib, e))?;
                    Ok((lib.to_string_lossy().into_owned(), real))
                })
                .collect::<Result<_, MatrixError>>()?
        };
        for lib in found {
            if !libs.iter().any(|(path, _)| *path == lib.0) {
                libs.push(lib);
            }
        }
    }
    for (path, host) in libs {
        if let Some((parent, _)) = path.rsplit_once('/') {
            c.dirs(parent, &mut made);
        }
        c.host_file(&path, &host, true)?;
    }
    Ok(c.finish())
}

/// The program suite's files into /programs; returns the native builds
/// (whose libraries go in too).
fn add_suite(c: &mut Cpio, p: &Payload) -> Result<Vec<PathBuf>, MatrixError> {
    let per_arch = per_arch_dir(&p.programs, p.arch);
    let mut natives = Vec::new();
    for (dir, suffix) in [
        (&p.programs, ".wasm"),
        (&per_arch, ".target"),
        (&per_arch, ".native"),
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue; // no builds for a cross arch: those cells say so
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(suffix) {
                let executable = suffix != ".wasm";
                c.host_file(&format!("/programs/{name}"), &e.path(), executable)?;
                if suffix == ".native" {
                    natives.push(e.path());
                }
            }
        }
    }
    Ok(natives)
}

/// How a boot ended.
pub struct BootLog {
    pub console: String,
    pub elapsed: Duration,
    pub timed_out: bool,
}

/// The QEMU binary, its machine options and the kernel's console for
/// `arch`. All TCG: riscv64's `virt` machine boots the kernel through the
/// OpenSBI firmware QEMU ships (its default `-bios`).
fn qemu(arch: Arch) -> (&'static str, &'static [&'static str], &'static str) {
    match arch {
        Arch::X86_64 => (
            "qemu-system-x86_64",
            &["-accel", "tcg", "-cpu", "max", "-M", "q35"],
            "ttyS0",
        ),
        Arch::Arm64 => (
            "qemu-system-aarch64",
            &["-M", "virt", "-cpu", "max"],
            "ttyAMA0",
        ),
        Arch::Riscv64 => ("qemu-system-riscv64", &["-M", "virt"], "ttyS0"),
    }
}

/// Boots `kernel` with `initrd` under QEMU for `arch` and returns the
/// console, killing QEMU after `deadline`.
pub fn boot(
    arch: Arch,
    kernel: &Path,
    initrd: &Path,
    deadline: Duration,
) -> Result<BootLog, MatrixError> {
    let (qemu, machine, console) = qemu(arch);
    let started = Instant::now();
    let child = Command::new(qemu)
        .args(machine)
        .args([
            "-m",
            "1024",
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
            "-kernel",
        ])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!("console={console} panic=-1"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            MatrixError::Tool(
                qemu.into(),
                format!("{e}; run scripts/install-matrix-deps.sh"),
            )
        })?;
    collect(child, started, deadline)
}

/// The host's settings for matrix/cases.sh (`Host::cases_env`) as an
/// archive to append to the payload's initramfs: /host.env, which /init
/// reads. None for a host without settings.
pub fn host_env_archive(env: &str) -> Option<Vec<u8>> {
    if env.is_empty() {
        return None;
    }
    let mut c = Cpio::new();
    c.file("/host.env", env.as_bytes(), false);
    Some(c.finish())
}

/// Runs the cases on this machine with the host's `sh`; `host_env` is the
/// host's settings (`Host::cases_env`).
pub fn run_local(p: &Payload, host_env: &str, deadline: Duration) -> Result<BootLog, MatrixError> {
    let started = Instant::now();
    let module = p
        .module
        .as_ref()
        .map(|m| m.wasm.to_string_lossy().into_owned());
    let cases_sh = p.matrix_dir.join("cases.sh");
    let script = format!(
        "{}{host_env}CASES_SH={}\n. \"$CASES_SH\"; run_cases {}",
        p.cases_env(module.as_deref().unwrap_or_default()),
        crate::module::shell_quote(&cases_sh.to_string_lossy()),
        p.cases.join(" ")
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("UNIBPF", &p.unibpf)
        .env("PROGRAMS", &p.programs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| MatrixError::Tool("sh".into(), e.to_string()))?;
    collect(child, started, deadline)
}

/// Reads the child's stdout to the end while watching the deadline; kills
/// it when the deadline passes.
fn collect(
    mut child: std::process::Child,
    started: Instant,
    deadline: Duration,
) -> Result<BootLog, MatrixError> {
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| MatrixError::Invalid("no stdout to read".into()))?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let mut timed_out = false;
    while child.try_wait().ok().flatten().is_none() {
        if started.elapsed() > deadline {
            let _ = child.kill();
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
    let bytes = reader.join().unwrap_or_default();
    Ok(BootLog {
        console: String::from_utf8_lossy(&bytes).into_owned(),
        elapsed: started.elapsed(),
        timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_settings_become_one_file_appended_to_the_initramfs() {
        assert!(host_env_archive("").is_none());
        let archive = host_env_archive("USERSPACE=1\n").expect("an archive");
        let text = String::from_utf8_lossy(&archive);
        // One newc entry named host.env holding the settings, then the
        // trailer that ends an archive (the kernel reads the next one on).
        assert!(text.starts_with("070701"), "{text}");
        let name = text.find("host.env\0").expect("the file's name");
        assert!(text[name..].contains("USERSPACE=1\n"), "{text}");
        assert!(text.contains("TRAILER!!!"), "{text}");
    }
}
