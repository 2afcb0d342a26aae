//! System facts: on Linux read from /proc, /sys and /etc (no syscalls
//! beyond reads, uname, capget and getrlimit); on Windows the OS version
//! and whether eBPF for Windows is installed.

use std::collections::BTreeMap;

use serde::Serialize;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(windows)]
pub(crate) use crate::windows::read;
#[cfg(target_os = "linux")]
pub(crate) use linux::read;

#[derive(Debug, Clone, Serialize)]
pub struct Arch {
    /// `uname -m`.
    pub machine: String,
    /// The architecture's name in btfhub's layout (`x86_64`, `arm64`).
    pub btfhub: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// From a release string: `6.18.44-cloud-amd64` -> 6.18.44, `5.4` -> 5.4.0.
    pub fn parse(release: &str) -> Option<Self> {
        let mut nums = release
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().ok());
        let major = nums.next()??;
        let minor = nums.next().flatten().unwrap_or(0);
        let patch = if release.split('-').next()?.matches('.').count() >= 2 {
            nums.next().flatten().unwrap_or(0)
        } else {
            0
        };
        Some(Self::new(major, minor, patch))
    }
}

/// In JSON as `"6.18.44"`.
impl Serialize for KernelVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Kernel {
    pub release: String,
    pub version: Option<KernelVersion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Distro {
    pub id: Option<String>,
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelConfig {
    /// Where the config was read, or None when none was found.
    pub source: Option<String>,
    /// The BPF-relevant options: `y`, `m`, a value, or `n` when unset.
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BtfInfo {
    /// The first readable BTF for this kernel, if any.
    pub vmlinux: Option<String>,
    /// Whether the kernel exposes its own (`/sys/kernel/btf/vmlinux`).
    pub kernel_btf: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Privileges {
    pub effective_caps: Vec<String>,
    pub cap_bpf: bool,
    pub cap_perfmon: bool,
    pub cap_sys_admin: bool,
    pub cap_net_admin: bool,
    /// `/proc/sys/kernel/unprivileged_bpf_disabled` (0, 1, 2), if readable.
    pub unprivileged_bpf_disabled: Option<u32>,
    /// The active lockdown mode (`none`, `integrity`, `confidentiality`).
    pub lockdown: Option<String>,
    /// RLIMIT_MEMLOCK soft limit in bytes; None is unlimited.
    pub memlock_limit: Option<u64>,
    /// Whether this process can make the bpf() system call at all.
    pub bpf_syscall: BpfSyscall,
}

/// Whether the bpf() system call exists for this process, asked with a
/// command no kernel has (no side effect): ENOSYS means it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BpfSyscall {
    Present,
    /// ENOSYS: a kernel built without CONFIG_BPF_SYSCALL, or a seccomp
    /// filter that answers for it.
    Missing,
    /// Not a Linux host: there is no such system call to ask.
    NotLinux,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mounts {
    pub tracefs: Option<String>,
    pub debugfs: Option<String>,
    pub bpffs: Option<String>,
    pub cgroup2: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub os: String,
    pub arch: Arch,
    pub kernel: Kernel,
    pub distro: Distro,
    pub config: KernelConfig,
    pub btf: BtfInfo,
    pub privileges: Privileges,
    pub mounts: Mounts,
    /// On Windows only: whether eBPF for Windows is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebpf_for_windows: Option<EbpfForWindows>,
}

/// Where eBPF for Windows comes from, for the one-line error that names it.
pub const EBPF_FOR_WINDOWS_RELEASES: &str =
    "https://github.com/microsoft/ebpf-for-windows/releases";

/// eBPF for Windows as found on this host: its user-mode library,
/// ebpfapi.dll, loads or it does not; what its file and its extensions'
/// registry entries say. What only its driver knows is said to be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EbpfForWindows {
    pub installed: bool,
    /// How it was established, or why it is not there.
    pub detail: String,
    /// The file the loaded ebpfapi.dll came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its file version (`VS_FIXEDFILEINFO`), `1.2.3.4`; None when it has
    /// no version resource (or did not load).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The registry key the extensions' providers were read from
    /// (`HKCU` or `HKLM\Software\eBPF\Providers`, the user's first, as
    /// ebpfapi reads them); None when neither exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The program types the extensions registered.
    pub program_types: Vec<EfwProgramType>,
    /// The section prefixes (hooks) they registered, and the program type
    /// each loads as.
    pub sections: Vec<EfwSection>,
    /// Which execution types the driver allows (JIT, interpreter, native
    /// only): decided by how ebpfcore.sys was built and by HVCI, which only
    /// the running driver can tell (`unibpf probe` asks it by loading a
    /// trivial program each way).
    pub execution_types: EfwExecutionTypes,
}

/// How eBPF for Windows may run programs (its `ebpf_execution_type_t`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EfwExecutionTypes {
    /// The hook the trivial test program was loaded as; None when not
    /// probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_section: Option<String>,
    pub jit: ExecutionSupport,
    pub interpreter: ExecutionSupport,
    /// Signed `.sys` images made by bpf2c: the driver always allows them
    /// (HVCI included); not probed, since that needs such an image.
    pub native: ExecutionSupport,
}

/// Whether one execution type works here, as a probe load found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "why", rename_all = "snake_case")]
pub enum ExecutionSupport {
    /// A trivial program loaded this way.
    Allowed,
    /// eBPF for Windows refused it; why (HVCI, a build without it...).
    Refused(String),
    /// Not found out; why.
    Unknown(String),
}

impl Default for EfwExecutionTypes {
    /// Without a probe: nothing known but what the driver always allows.
    fn default() -> Self {
        let unknown = || ExecutionSupport::Unknown(EFW_EXECUTION_TYPES_UNKNOWN.into());
        EfwExecutionTypes {
            probe_section: None,
            jit: unknown(),
            interpreter: unknown(),
            native: ExecutionSupport::Unknown(EFW_NATIVE_NOT_PROBED.into()),
        }
    }
}

impl std::fmt::Display for ExecutionSupport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecutionSupport::Allowed => f.write_str("allowed"),
            ExecutionSupport::Refused(why) => write!(f, "refused: {why}"),
            ExecutionSupport::Unknown(why) => write!(f, "unknown: {why}"),
        }
    }
}

/// A program type an eBPF for Windows extension registered
/// (`ProgramData\{GUID}\TypeDescriptor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EfwProgramType {
    pub guid: String,
    pub name: String,
    /// Its libbpf `bpf_prog_type` number (efW's numbering), if given.
    pub bpf_prog_type: Option<u32>,
}

/// A section prefix an extension registered (`SectionData\NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EfwSection {
    pub name: String,
    /// The program type's GUID, and its name when registered.
    pub program_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program_type_name: Option<String>,
    pub attach_type: String,
    pub bpf_prog_type: Option<u32>,
    pub bpf_attach_type: Option<u32>,
}

/// Why JIT and interpreter support is unknown until probed.
pub const EFW_EXECUTION_TYPES_UNKNOWN: &str = "needs the eBPF for Windows driver \
     (ebpfcore.sys allows JIT and the interpreter, or native images only, as it was built \
     and as HVCI permits)";

/// Why native support is not probed.
pub const EFW_NATIVE_NOT_PROBED: &str = "not probed: needs a signed .sys image made by bpf2c \
     (ebpfcore.sys always allows native images)";

/// A GUID's 16 bytes (as Windows stores it: the first three fields
/// little-endian) in its usual `{xxxxxxxx-xxxx-...}` form.
pub fn guid_string(b: &[u8; 16]) -> String {
    let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d2 = u16::from_le_bytes([b[4], b[5]]);
    let d3 = u16::from_le_bytes([b[6], b[7]]);
    format!(
        "{{{d1:08x}-{d2:04x}-{d3:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}}}",
        b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

impl EbpfForWindows {
    /// The one-line error for loading a BPF object when it is not there.
    pub fn missing(&self) -> Option<String> {
        (!self.installed).then(|| {
            format!(
                "eBPF for Windows is not installed ({}): install it from {EBPF_FOR_WINDOWS_RELEASES}",
                self.detail
            )
        })
    }
}

#[cfg(test)]
mod efw_tests {
    use super::guid_string;

    /// efW's sock_ops program type GUID, as its header spells it and as
    /// the registry holds its bytes.
    #[test]
    fn guid_bytes_read_as_windows_stores_them() {
        let bytes = [
            0x4d, 0x22, 0xfb, 0x43, 0xf8, 0x68, 0xd6, 0x46, 0xaa, 0x3f, 0xc8, 0x56, 0x51, 0x8c,
            0xbb, 0x32,
        ];
        assert_eq!(
            guid_string(&bytes),
            "{43fb224d-68f8-46d6-aa3f-c856518cbb32}"
        );
    }
}

pub fn btfhub_arch(machine: &str) -> &str {
    match machine {
        "aarch64" | "arm64" => "arm64",
        "x86_64" | "amd64" => "x86_64",
        other => other,
    }
}

/// Why nothing loads into a kernel whose bpf() answers ENOSYS.
const BPF_SYSCALL_MISSING: &str = "the bpf() system call does not exist here (ENOSYS): the kernel was built without CONFIG_BPF_SYSCALL, or a seccomp filter hides it; only the userspace backend can run BPF programs on this host";

impl Privileges {
    /// Why this process cannot load BPF programs at all, if it cannot: it
    /// has neither CAP_BPF nor CAP_SYS_ADMIN, and the kernel either refuses
    /// unprivileged BPF or allows only socket filters, which `only_socket_filters`
    /// says are all it would load.
    pub fn bpf_denied(&self, only_socket_filters: bool) -> Option<String> {
        if self.bpf_syscall == BpfSyscall::Missing {
            return Some(BPF_SYSCALL_MISSING.to_string());
        }
        if self.cap_bpf || self.cap_sys_admin {
            return None;
        }
        let sysctl = match self.unprivileged_bpf_disabled {
            Some(0) if only_socket_filters => return None,
            Some(n) => format!("kernel.unprivileged_bpf_disabled is {n}"),
            None => "kernel.unprivileged_bpf_disabled is unreadable".to_string(),
        };
        Some(format!(
            "loading BPF programs needs root, or CAP_BPF with CAP_PERFMON (tracing) or CAP_NET_ADMIN (networking); this process has neither CAP_BPF nor CAP_SYS_ADMIN and {sysctl}: run unibpf with sudo"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_releases() {
        assert_eq!(
            KernelVersion::parse("6.18.44-cloud-amd64"),
            Some(KernelVersion::new(6, 18, 44))
        );
        assert_eq!(
            KernelVersion::parse("5.10.0-33-amd64"),
            Some(KernelVersion::new(5, 10, 0))
        );
        assert_eq!(
            KernelVersion::parse("5.4"),
            Some(KernelVersion::new(5, 4, 0))
        );
        assert_eq!(KernelVersion::parse("garbage"), None);
        assert!(KernelVersion::new(5, 8, 0) > KernelVersion::new(5, 4, 99));
        assert_eq!(btfhub_arch("aarch64"), "arm64");
    }

    fn root() -> Privileges {
        Privileges {
            effective_caps: vec!["CAP_SYS_ADMIN".into()],
            cap_bpf: true,
            cap_perfmon: true,
            cap_sys_admin: true,
            cap_net_admin: true,
            unprivileged_bpf_disabled: Some(2),
            lockdown: None,
            memlock_limit: None,
            bpf_syscall: BpfSyscall::Present,
        }
    }

    #[test]
    fn a_missing_bpf_syscall_is_why_even_root_cannot_load() {
        assert_eq!(root().bpf_denied(false), None);
        let none = Privileges {
            bpf_syscall: BpfSyscall::Missing,
            ..root()
        };
        let why = none.bpf_denied(true).expect("denied");
        assert!(why.starts_with("the bpf() system call does not exist here (ENOSYS)"));
        assert!(why.contains("CONFIG_BPF_SYSCALL"), "{why}");
    }
}
