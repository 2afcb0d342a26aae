//! Host definitions (matrix/hosts.toml).

use serde::Deserialize;

use crate::arch::Arch;
use crate::MatrixError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    /// A Debian kernel booted in QEMU.
    Debian,
    /// The machine running the matrix, natively.
    Local,
    /// This machine running unibpf.exe (scripts/build-windows.sh) under
    /// wine, against the recording stand-in of eBPF for Windows'
    /// ebpfapi.dll: no real eBPF for Windows (see [`crate::wine`]).
    Wine,
}

/// The backend a host leaves unibpf, which decides how a case gives it its
/// workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostBackend {
    /// Kernel eBPF: the programs see every process, so a case runs its
    /// workload beside the program.
    #[default]
    Kernel,
    /// No bpf() for unibpf (an unprivileged user, a kernel without
    /// `CONFIG_BPF_SYSCALL`): it runs the programs on its userspace backend,
    /// which sees only the processes it traces, so a case hands its
    /// workload to `unibpf run --cmd`.
    Userspace,
}

fn debian() -> HostKind {
    HostKind::Debian
}
fn debian_archive() -> String {
    "debian".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct Host {
    pub name: String,
    /// `x86_64`, `arm64`, `riscv64`, or `local` (this machine's).
    pub arch: Arch,
    #[serde(default = "debian")]
    pub kind: HostKind,
    #[serde(default)]
    pub suite: String,
    #[serde(default = "debian_archive")]
    pub archive: String,
    /// The kernel package's flavour; unset, the arch's default
    /// ([`Arch::default_flavour`]).
    #[serde(default)]
    flavour: Option<String>,
    /// Kernel series to pick in the suite (`5.10`, `6.12`, `7`): suites also
    /// carry backported newer kernels.
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub quick: bool,
    /// Build the kernel from the suite's `linux-source-SERIES` with
    /// matrix/kernel/BUILD.config over tinyconfig, instead of taking Debian's
    /// image (a host Debian does not ship, e.g. `nobtf`).
    #[serde(default)]
    pub build: Option<String>,
    /// What unibpf has on this host: kernel eBPF, or only its userspace
    /// backend.
    #[serde(default)]
    pub backend: HostBackend,
    /// Run the programs (unibpf and the native builds) as this uid and gid,
    /// without capabilities (`setpriv`); only on the local host.
    #[serde(default)]
    pub uid: Option<u32>,
}

#[derive(Deserialize)]
struct File {
    host: Vec<Host>,
}

impl Host {
    /// The kernel flavour: `cloud`, or empty for the arch's plain kernel.
    pub fn flavour(&self) -> &str {
        self.flavour
            .as_deref()
            .unwrap_or(self.arch.default_flavour())
    }

    /// The archive root: `http://deb.debian.org/debian` or `.../debian-security`.
    pub fn archive_url(&self, mirror: &str) -> String {
        let base = mirror.trim_end_matches('/');
        match self.archive.as_str() {
            "debian" => base.to_string(),
            other => match base.rsplit_once('/') {
                Some((host, _)) => format!("{host}/{other}"),
                None => format!("{base}/{other}"),
            },
        }
    }

    /// What matrix/cases.sh reads about this host, as shell assignments:
    /// `USERSPACE=1` on a userspace host, `RUN_UID=N` for a host whose
    /// programs run unprivileged. Empty for an ordinary host.
    pub fn cases_env(&self) -> String {
        let mut env = String::new();
        if self.backend == HostBackend::Userspace {
            env.push_str("USERSPACE=1\n");
        }
        if let Some(uid) = self.uid {
            env.push_str(&format!("RUN_UID={uid}\n"));
        }
        env
    }
}

pub fn parse(text: &str) -> Result<Vec<Host>, MatrixError> {
    let file: File = toml::from_str(text).map_err(|e| MatrixError::Hosts(e.to_string()))?;
    for h in &file.host {
        if let Some(b) = &h.build {
            if b.is_empty() || !b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(MatrixError::Hosts(format!(
                    "host {}: build must name a file in matrix/kernel/ (letters, digits, -)",
                    h.name
                )));
            }
        }
        if h.uid.is_some() && h.kind != HostKind::Local {
            return Err(MatrixError::Hosts(format!(
                "host {}: uid is for the local host only (a VM's cases run as root; its kernel decides what they may do)",
                h.name
            )));
        }
        if h.kind == HostKind::Wine && (h.arch != Arch::X86_64 || h.backend != HostBackend::Kernel)
        {
            return Err(MatrixError::Hosts(format!(
                "host {}: a wine host runs the x86_64 unibpf.exe on its own backend; give arch = \"x86_64\" and no backend",
                h.name
            )));
        }
        if h.uid == Some(0) {
            return Err(MatrixError::Hosts(format!(
                "host {}: uid 0 is root, which every host already runs as; name an unprivileged uid",
                h.name
            )));
        }
    }
    Ok(file.host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_hosts_parse() {
        let text = include_str!("../../../matrix/hosts.toml");
        let hosts = parse(text).expect("hosts.toml");
        let quick: Vec<&str> = hosts
            .iter()
            .filter(|h| h.quick)
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(
            quick,
            [
                "5.10-x86_64",
                "6.12-x86_64",
                "6.12-arm64",
                "local",
                "local-nobody"
            ]
        );
        let h = hosts
            .iter()
            .find(|h| h.name == "6.12-x86_64")
            .expect("6.12");
        assert_eq!(h.arch.debian(), "amd64");
        assert_eq!(h.flavour(), "cloud");
        assert_eq!(
            h.archive_url("http://deb.debian.org/debian"),
            "http://deb.debian.org/debian-security"
        );
        assert!(parse("[[host]]\nname='x'\narch='mips'\n").is_err());
        assert!(parse("[[host]]\nname='x'\narch='arm64'\nbuild='../etc'\n").is_err());
        let nobtf = hosts
            .iter()
            .find(|h| h.build.as_deref() == Some("nobtf"))
            .expect("a no-BTF host");
        assert_eq!(nobtf.kernel, "6.1");
        let riscv: Vec<&Host> = hosts.iter().filter(|h| h.arch == Arch::Riscv64).collect();
        assert_eq!(riscv.len(), 2);
        assert!(riscv.iter().all(|h| h.flavour().is_empty()));
        assert_eq!(h.backend, HostBackend::Kernel);
        assert_eq!(h.cases_env(), "");
    }

    #[test]
    fn userspace_hosts_run_unprivileged_or_without_bpf() {
        let text = include_str!("../../../matrix/hosts.toml");
        let hosts = parse(text).expect("hosts.toml");
        let userspace: Vec<&Host> = hosts
            .iter()
            .filter(|h| h.backend == HostBackend::Userspace)
            .collect();
        let names: Vec<&str> = userspace.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            ["6.1-nobpf-x86_64", "6.1-nobpf-arm64", "local-nobody"]
        );
        let nobody = userspace[2];
        assert_eq!(nobody.kind, HostKind::Local);
        assert_eq!(nobody.cases_env(), "USERSPACE=1\nRUN_UID=65534\n");
        for h in &userspace[..2] {
            assert_eq!(h.build.as_deref(), Some("nobpf"));
            assert_eq!(h.kernel, "6.1");
            assert_eq!(h.cases_env(), "USERSPACE=1\n");
        }
        assert_ne!(userspace[0].arch, userspace[1].arch);
    }

    #[test]
    fn the_windows_column_is_one_wine_host_outside_quick() {
        let hosts = parse(include_str!("../../../matrix/hosts.toml")).expect("hosts.toml");
        let wine: Vec<&Host> = hosts.iter().filter(|h| h.kind == HostKind::Wine).collect();
        assert_eq!(wine.len(), 1);
        assert_eq!(wine[0].name, "windows-wine");
        assert_eq!(wine[0].arch, Arch::X86_64);
        assert!(!wine[0].quick);
        let arm = "[[host]]\nname='w'\narch='arm64'\nkind='wine'\n";
        let err = parse(arm).expect_err("an arm64 wine host").to_string();
        assert!(
            err.contains("host w: a wine host runs the x86_64 unibpf.exe"),
            "{err}"
        );
        let us = "[[host]]\nname='w'\narch='x86_64'\nkind='wine'\nbackend='userspace'\n";
        assert!(parse(us).is_err());
    }

    #[test]
    fn a_uid_is_only_for_the_local_host_and_never_root() {
        let vm = "[[host]]\nname='v'\narch='x86_64'\nuid=65534\n";
        let err = parse(vm).expect_err("a VM with a uid").to_string();
        assert!(
            err.contains("host v: uid is for the local host only"),
            "{err}"
        );
        let root = "[[host]]\nname='r'\narch='local'\nkind='local'\nuid=0\n";
        let err = parse(root).expect_err("uid 0").to_string();
        assert!(err.contains("uid 0 is root"), "{err}");
        assert!(parse("[[host]]\nname='b'\narch='local'\nbackend='bpftime'\n").is_err());
        let ok = "[[host]]\nname='n'\narch='local'\nkind='local'\nuid=1000\nbackend='userspace'\n";
        assert_eq!(
            parse(ok).expect("parses")[0].cases_env(),
            "USERSPACE=1\nRUN_UID=1000\n"
        );
    }
}
