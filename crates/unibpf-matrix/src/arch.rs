//! The architectures of the matrix's hosts, and what differs between them:
//! Debian's names, the cross toolchain's triplet, where a cross-built arch's
//! libraries and busybox are (scripts/sysroot.sh), and which kernel flavour
//! Debian ships.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use unibpf_btf::BtfArch;

use crate::MatrixError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum Arch {
    X86_64,
    Arm64,
    Riscv64,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Arm64, Arch::Riscv64];

    /// The matrix's name: hosts.toml, `--unibpf-NAME`, `DIR/NAME` of the
    /// cross-built programs.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The machine running the matrix, if it is one of the matrix's.
    pub fn this_machine() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            "riscv64" => Some(Arch::Riscv64),
            _ => None,
        }
    }

    /// Whether this arch's binaries are cross-built here.
    pub fn is_cross(self) -> bool {
        Arch::this_machine() != Some(self)
    }

    /// Debian's name, in package file names and indexes.
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            other => other.name(),
        }
    }

    /// The GNU triplet: multiarch library directories, the cross gcc.
    pub fn triplet(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-linux-gnu",
            Arch::Arm64 => "aarch64-linux-gnu",
            Arch::Riscv64 => "riscv64-linux-gnu",
        }
    }

    /// The kernel flavour a host gets unless it names one: Debian's small
    /// `cloud` kernels where they exist; riscv64 has only its plain one
    /// (`linux-image-REL-riscv64`), written as the empty flavour.
    pub fn default_flavour(self) -> &'static str {
        match self {
            Arch::X86_64 | Arch::Arm64 => "cloud",
            Arch::Riscv64 => "",
        }
    }

    pub fn btf(self) -> BtfArch {
        match self {
            Arch::X86_64 => BtfArch::X86_64,
            Arch::Arm64 => BtfArch::Arm64,
            Arch::Riscv64 => BtfArch::Riscv64,
        }
    }

    /// Where this arch's VM userland comes from: for this machine's arch,
    /// its own busybox and libraries (found with ldd); for a cross-built
    /// one, the sysroot scripts/sysroot.sh unpacked under `cache`, then the
    /// cross gcc's libc.
    pub fn userland(self, cache: &Path) -> Userland {
        if !self.is_cross() {
            return Userland {
                busybox: PathBuf::from("/bin/busybox"),
                lib_dirs: Vec::new(),
            };
        }
        let sysroot = cache.join(format!("{}-sysroot", self.name()));
        let triplet = self.triplet();
        Userland {
            busybox: sysroot.join("bin/busybox"),
            lib_dirs: vec![
                sysroot.join("usr/lib").join(triplet),
                sysroot.join("lib").join(triplet),
                PathBuf::from(format!("/usr/{triplet}/lib")),
            ],
        }
    }
}

/// What goes into an arch's VMs besides unibpf and the programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Userland {
    /// A static busybox.
    pub busybox: PathBuf,
    /// Where a cross-built binary's shared libraries are, searched in
    /// order (empty for this machine's arch: ldd finds them).
    pub lib_dirs: Vec<PathBuf>,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = MatrixError;

    /// The matrix's names; `local` is this machine's arch.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "local" {
            return Arch::this_machine().ok_or_else(|| {
                MatrixError::Invalid(format!(
                    "this machine ({}) is not an arch of the matrix",
                    std::env::consts::ARCH
                ))
            });
        }
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
                MatrixError::Invalid(format!(
                    "unknown arch {s:?} (one of {}, or local)",
                    names.join(", ")
                ))
            })
    }
}

impl TryFrom<String> for Arch {
    type Error = MatrixError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_refused() {
        for a in Arch::ALL {
            assert_eq!(a.name().parse::<Arch>().expect("parses"), a);
        }
        assert_eq!("local".parse::<Arch>().ok(), Arch::this_machine());
        let err = "mips".parse::<Arch>().expect_err("mips");
        assert_eq!(
            err.to_string(),
            "unknown arch \"mips\" (one of x86_64, arm64, riscv64, or local)"
        );
        assert_eq!(Arch::X86_64.debian(), "amd64");
        assert_eq!(Arch::Riscv64.debian(), "riscv64");
    }

    #[test]
    fn a_cross_arch_takes_its_userland_from_its_sysroot() {
        let cross = Arch::ALL
            .into_iter()
            .find(|a| a.is_cross())
            .expect("some arch is foreign");
        let u = cross.userland(Path::new("/c"));
        let sysroot = format!("/c/{}-sysroot", cross.name());
        assert_eq!(u.busybox, Path::new(&sysroot).join("bin/busybox"));
        assert_eq!(
            u.lib_dirs[0],
            Path::new(&sysroot).join("usr/lib").join(cross.triplet())
        );
        assert_eq!(
            u.lib_dirs.last().map(|p| p.to_string_lossy().into_owned()),
            Some(format!("/usr/{}/lib", cross.triplet()))
        );
    }
}
