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
        assert_eq!(quick, ["5.10-x86_64", "6.12-x86_64", "6.12-arm64", "local"]);
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
    }
}
