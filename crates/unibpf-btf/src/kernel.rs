//! Naming a kernel the way BTFHub does: `<ID>/<VERSION_ID>/<arch>/<release>`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

/// An architecture as BTFHub spells it in its paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BtfArch {
    X86_64,
    Arm64,
    Riscv64,
}

impl BtfArch {
    /// From `uname -m` (or a BTFHub directory name): arm64 kernels report
    /// `aarch64`, BTFHub calls them `arm64`.
    pub fn from_machine(machine: &str) -> Option<Self> {
        match machine {
            "x86_64" | "amd64" => Some(Self::X86_64),
            "aarch64" | "arm64" => Some(Self::Arm64),
            "riscv64" => Some(Self::Riscv64),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
            Self::Riscv64 => "riscv64",
        }
    }
}

impl fmt::Display for BtfArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a kernel could not be named.
#[derive(Debug, thiserror::Error)]
pub enum KernelIdError {
    #[error("cannot read {path}: {source}; BTF lookups need the distribution's ID and VERSION_ID (name the kernel as ID/VERSION_ID/ARCH/RELEASE, or give --btf FILE)")]
    OsRelease {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} has no {field}; BTF lookups need it (name the kernel as ID/VERSION_ID/ARCH/RELEASE, or give --btf FILE)")]
    OsReleaseField { path: PathBuf, field: &'static str },
    #[error("uname failed: {0}")]
    Uname(#[source] std::io::Error),
    #[error(
        "architecture {0:?} has no BTFHub name (x86_64, arm64 and riscv64 do); give --btf FILE"
    )]
    Arch(String),
    #[error("{text:?} is not a kernel name: {why}; expected ID/VERSION_ID/ARCH/RELEASE, e.g. ubuntu/20.04/x86_64/5.4.0-73-generic")]
    Parse { text: String, why: String },
}

/// One kernel build as BTFHub names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct KernelId {
    /// os-release `ID`, e.g. `ubuntu`.
    pub distro_id: String,
    /// os-release `VERSION_ID`, e.g. `20.04`.
    pub version_id: String,
    pub arch: BtfArch,
    /// `uname -r`, e.g. `5.4.0-73-generic`.
    pub release: String,
}

impl KernelId {
    /// Checks every part: each becomes a path component, so none may be
    /// empty, `.`/`..`, or hold `/` or control characters.
    pub fn new(
        distro_id: &str,
        version_id: &str,
        arch: BtfArch,
        release: &str,
    ) -> Result<Self, KernelIdError> {
        let text = format!("{distro_id}/{version_id}/{arch}/{release}");
        for (what, part) in [
            ("the ID", distro_id),
            ("the VERSION_ID", version_id),
            ("the release", release),
        ] {
            check_component(part).map_err(|why| KernelIdError::Parse {
                text: text.clone(),
                why: format!("{what} {why}"),
            })?;
        }
        Ok(Self {
            distro_id: distro_id.to_string(),
            version_id: version_id.to_string(),
            arch,
            release: release.to_string(),
        })
    }

    /// The running kernel: `/etc/os-release` (or `/usr/lib/os-release`) and `uname`.
    pub fn of_this_host() -> Result<Self, KernelIdError> {
        let path = ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .unwrap_or(Path::new("/etc/os-release"));
        let text = std::fs::read_to_string(path).map_err(|source| KernelIdError::OsRelease {
            path: path.to_path_buf(),
            source,
        })?;
        let field = |name: &'static str| {
            os_release_field(&text, name).ok_or(KernelIdError::OsReleaseField {
                path: path.to_path_buf(),
                field: name,
            })
        };
        let (id, version_id) = (field("ID")?, field("VERSION_ID")?);
        let (machine, release) = uname()?;
        let arch = BtfArch::from_machine(&machine).ok_or(KernelIdError::Arch(machine))?;
        Self::new(&id, &version_id, arch, &release)
    }

    /// The running kernel's architecture and release, which `uname` gives
    /// even where there is no `/etc/os-release`.
    pub fn host_arch_release() -> Result<(BtfArch, String), KernelIdError> {
        let (machine, release) = uname()?;
        let arch = BtfArch::from_machine(&machine).ok_or(KernelIdError::Arch(machine))?;
        Ok((arch, release))
    }

    /// Whether this names the running kernel (release and architecture: the
    /// distribution does not change what the kernel is).
    pub fn is_this_host(&self) -> bool {
        match uname() {
            Ok((machine, release)) => {
                release == self.release && BtfArch::from_machine(&machine) == Some(self.arch)
            }
            Err(_) => false,
        }
    }

    /// `<ID>/<VERSION_ID>/<arch>/<release>.btf`: where the cache and bundles keep it.
    pub fn relative_path(&self) -> PathBuf {
        PathBuf::from(self.key())
    }

    /// [`relative_path`](Self::relative_path) as a string with `/`.
    pub fn key(&self) -> String {
        format!("{self}.btf")
    }

    /// The member a BTFHub archive holds: `<release>.btf`.
    pub fn member_name(&self) -> String {
        format!("{}.btf", self.release)
    }

    /// Where a BTFHub-archive mirror serves it.
    pub fn archive_url(&self, mirror: &str) -> String {
        format!("{}/{self}.btf.tar.xz", mirror.trim_end_matches('/'))
    }

    /// From a path relative to a BTFHub-layout tree (`ID/VERSION_ID/ARCH/RELEASE.btf`).
    pub fn from_relative_path(path: &str) -> Result<Self, KernelIdError> {
        match path.strip_suffix(".btf") {
            Some(stem) => stem.parse(),
            None => Err(KernelIdError::Parse {
                text: path.to_string(),
                why: "it does not end in .btf".into(),
            }),
        }
    }
}

/// `ID/VERSION_ID/ARCH/RELEASE`, the form the command line takes.
impl fmt::Display for KernelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.distro_id, self.version_id, self.arch, self.release
        )
    }
}

impl FromStr for KernelId {
    type Err = KernelIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let [id, version_id, arch, release] = parts[..] else {
            return Err(KernelIdError::Parse {
                text: s.to_string(),
                why: format!("it has {} parts separated by /, not 4", parts.len()),
            });
        };
        let arch = BtfArch::from_machine(arch).ok_or_else(|| KernelIdError::Parse {
            text: s.to_string(),
            why: format!("{arch:?} is not x86_64, arm64 or riscv64"),
        })?;
        Self::new(id, version_id, arch, release)
    }
}

fn check_component(part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err("is empty".into());
    }
    if part == "." || part == ".." {
        return Err(format!("cannot be {part:?}"));
    }
    if part.contains('/') || part.chars().any(char::is_control) || part.len() > 200 {
        return Err(format!(
            "{part:?} holds / or control characters, or is too long"
        ));
    }
    Ok(())
}

/// The value of `NAME=` in os-release text, quotes stripped.
pub(crate) fn os_release_field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix(name)?.strip_prefix('=')?.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// `(uname -m, uname -r)`.
#[cfg(unix)]
fn uname() -> Result<(String, String), KernelIdError> {
    let u = nix::sys::utsname::uname().map_err(|e| KernelIdError::Uname(e.into()))?;
    Ok((
        u.machine().to_string_lossy().into_owned(),
        u.release().to_string_lossy().into_owned(),
    ))
}

/// No Linux kernel to name elsewhere.
#[cfg(not(unix))]
fn uname() -> Result<(String, String), KernelIdError> {
    Err(KernelIdError::Uname(std::io::ErrorKind::Unsupported.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_quotes_are_stripped() {
        let text =
            "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\nID_LIKE='rhel fedora'\n";
        assert_eq!(os_release_field(text, "ID").as_deref(), Some("debian"));
        assert_eq!(os_release_field(text, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(
            os_release_field(text, "ID_LIKE").as_deref(),
            Some("rhel fedora")
        );
        assert_eq!(os_release_field(text, "VERSION_CODENAME"), None);
    }

    #[test]
    fn names_round_trip_and_map_aarch64() {
        let k: KernelId = "ubuntu/20.04/aarch64/5.4.0-73-generic".parse().unwrap();
        assert_eq!(k.arch, BtfArch::Arm64);
        assert_eq!(k.to_string(), "ubuntu/20.04/arm64/5.4.0-73-generic");
        assert_eq!(
            k.relative_path(),
            PathBuf::from("ubuntu/20.04/arm64/5.4.0-73-generic.btf")
        );
        assert_eq!(
            k.archive_url("http://m/x/"),
            "http://m/x/ubuntu/20.04/arm64/5.4.0-73-generic.btf.tar.xz"
        );
        assert_eq!(
            KernelId::from_relative_path("centos/8/x86_64/4.18.0-348.el8.x86_64.btf").unwrap(),
            "centos/8/x86_64/4.18.0-348.el8.x86_64".parse().unwrap()
        );
    }

    #[test]
    fn names_that_would_escape_a_directory_are_refused() {
        for bad in [
            "../20.04/x86_64/5.4",
            "ubuntu/../x86_64/5.4",
            "ubuntu/20.04/x86_64/..",
            "ubuntu/20.04/x86_64/a/b",
            "ubuntu//x86_64/5.4",
            "ubuntu/20.04/mips/5.4",
            "ubuntu/20.04/x86_64/5.4\n",
        ] {
            let e = bad.parse::<KernelId>().unwrap_err().to_string();
            assert!(e.contains("expected ID/VERSION_ID/ARCH/RELEASE"), "{e}");
        }
    }
}
