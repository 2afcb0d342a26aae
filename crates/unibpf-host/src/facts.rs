//! System facts read from /proc, /sys and /etc: no syscalls beyond reads,
//! uname and getrlimit.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// Kernel options that matter for BPF, reported when a config is found.
const BPF_OPTIONS: &[&str] = &[
    "CONFIG_BPF",
    "CONFIG_BPF_SYSCALL",
    "CONFIG_BPF_JIT",
    "CONFIG_BPF_JIT_ALWAYS_ON",
    "CONFIG_HAVE_EBPF_JIT",
    "CONFIG_BPF_EVENTS",
    "CONFIG_BPF_LSM",
    "CONFIG_DEBUG_INFO_BTF",
    "CONFIG_DEBUG_INFO_BTF_MODULES",
    "CONFIG_KPROBES",
    "CONFIG_KPROBE_EVENTS",
    "CONFIG_UPROBES",
    "CONFIG_UPROBE_EVENTS",
    "CONFIG_TRACEPOINTS",
    "CONFIG_FTRACE",
    "CONFIG_FTRACE_SYSCALLS",
    "CONFIG_FUNCTION_TRACER",
    "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS",
    "CONFIG_CGROUP_BPF",
    "CONFIG_NET_CLS_BPF",
    "CONFIG_NET_ACT_BPF",
    "CONFIG_NET_SCH_INGRESS",
    "CONFIG_XDP_SOCKETS",
    "CONFIG_SECURITY",
    "CONFIG_LSM",
];

/// Where BTF for the running kernel may be, besides the kernel's own file
/// (libbpf looks in the same places).
const BTF_PATHS: &[&str] = &[
    "/sys/kernel/btf/vmlinux",
    "/boot/vmlinux-{release}",
    "/lib/modules/{release}/vmlinux-{release}",
    "/lib/modules/{release}/build/vmlinux",
    "/usr/lib/modules/{release}/kernel/vmlinux",
    "/usr/lib/debug/boot/vmlinux-{release}",
    "/usr/lib/debug/boot/vmlinux-{release}.debug",
    "/usr/lib/debug/lib/modules/{release}/vmlinux",
];

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
}

pub(crate) fn read() -> Facts {
    let uname = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uname
            .as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let machine = field(|u| u.machine());
    let release = field(|u| u.release());
    Facts {
        os: field(|u| u.sysname()).to_lowercase(),
        arch: Arch {
            btfhub: btfhub_arch(&machine).to_string(),
            machine,
        },
        kernel: Kernel {
            version: KernelVersion::parse(&release),
            release: release.clone(),
        },
        distro: distro(),
        config: kernel_config(&release),
        btf: btf(&release),
        privileges: privileges(),
        mounts: mounts(),
    }
}

pub fn btfhub_arch(machine: &str) -> &str {
    match machine {
        "aarch64" | "arm64" => "arm64",
        "x86_64" | "amd64" => "x86_64",
        other => other,
    }
}

fn distro() -> Distro {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let get = |key: &str| {
        text.lines().find_map(|l| {
            let v = l.strip_prefix(key)?.strip_prefix('=')?;
            Some(v.trim_matches('"').to_string())
        })
    };
    Distro {
        id: get("ID"),
        version_id: get("VERSION_ID"),
    }
}

fn kernel_config(release: &str) -> KernelConfig {
    // procfs reads /proc/config.gz (gzip) or else /boot/config-$(uname -r).
    let boot = format!("/boot/config-{release}");
    let source = if Path::new("/proc/config.gz").exists() {
        Some("/proc/config.gz".to_string())
    } else if Path::new(&boot).exists() {
        Some(boot)
    } else {
        None
    };
    let parsed = source
        .as_ref()
        .and_then(|_| procfs::kernel_config().ok())
        .unwrap_or_default();
    let options = if source.is_some() {
        BPF_OPTIONS
            .iter()
            .map(|name| {
                let value = match parsed.get(*name) {
                    Some(procfs::ConfigSetting::Yes) => "y".to_string(),
                    Some(procfs::ConfigSetting::Module) => "m".to_string(),
                    Some(procfs::ConfigSetting::Value(v)) => v.trim_matches('"').to_string(),
                    None => "n".to_string(),
                };
                (name.to_string(), value)
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    KernelConfig { source, options }
}

fn btf(release: &str) -> BtfInfo {
    let vmlinux = BTF_PATHS
        .iter()
        .map(|p| p.replace("{release}", release))
        .find(|p| std::fs::File::open(p).is_ok());
    BtfInfo {
        kernel_btf: Path::new("/sys/kernel/btf/vmlinux").exists(),
        vmlinux,
    }
}

const CAP_NAMES: &[(u32, &str)] = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (12, "CAP_NET_ADMIN"),
    (13, "CAP_NET_RAW"),
    (19, "CAP_SYS_PTRACE"),
    (21, "CAP_SYS_ADMIN"),
    (24, "CAP_SYS_RESOURCE"),
    (38, "CAP_PERFMON"),
    (39, "CAP_BPF"),
];

impl Privileges {
    /// Why this process cannot load BPF programs at all, if it cannot: it
    /// has neither CAP_BPF nor CAP_SYS_ADMIN, and the kernel either refuses
    /// unprivileged BPF or allows only socket filters, which `only_socket_filters`
    /// says are all it would load.
    pub fn bpf_denied(&self, only_socket_filters: bool) -> Option<String> {
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

/// This thread's effective capability set, by the capget syscall.
fn effective_capabilities() -> Option<u64> {
    // _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: header and data are live, properly sized repr(C) values that
    // match the kernel's v3 layout; the kernel writes at most two Data.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    (rc == 0).then(|| u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

fn privileges() -> Privileges {
    // capget needs no file descriptor: reading /proc/self/status would fail
    // when the process is out of them, and an unreadable set must not be
    // mistaken for an empty one.
    let capeff = effective_capabilities().unwrap_or(u64::MAX);
    let has = |bit: u32| capeff & (1u64 << bit) != 0;
    let read_trim = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    // "none [integrity] confidentiality": the bracketed one is active.
    let lockdown = read_trim("/sys/kernel/security/lockdown").and_then(|s| {
        let start = s.find('[')?;
        let end = s[start..].find(']')?;
        Some(s[start + 1..start + end].to_string())
    });
    let memlock = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MEMLOCK)
        .ok()
        .and_then(|(soft, _)| (soft != nix::sys::resource::RLIM_INFINITY).then_some(soft));
    Privileges {
        effective_caps: CAP_NAMES
            .iter()
            .filter(|(bit, _)| has(*bit))
            .map(|(_, n)| n.to_string())
            .collect(),
        cap_bpf: has(39),
        cap_perfmon: has(38),
        cap_sys_admin: has(21),
        cap_net_admin: has(12),
        unprivileged_bpf_disabled: read_trim("/proc/sys/kernel/unprivileged_bpf_disabled")
            .and_then(|s| s.parse().ok()),
        lockdown,
        memlock_limit: memlock,
    }
}

fn mounts() -> Mounts {
    let list: Vec<(String, String)> = procfs::process::Process::myself()
        .and_then(|p| p.mountinfo())
        .map(|m| {
            m.into_iter()
                .map(|i| (i.fs_type, i.mount_point.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let find = |fs: &str| list.iter().find(|(t, _)| t == fs).map(|(_, p)| p.clone());
    Mounts {
        tracefs: find("tracefs"),
        debugfs: find("debugfs"),
        bpffs: find("bpf"),
        cgroup2: find("cgroup2"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capget_agrees_with_proc_status() {
        let status = procfs::process::Process::myself()
            .and_then(|p| p.status())
            .expect("reading /proc/self/status");
        assert_eq!(effective_capabilities(), Some(status.capeff));
    }

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
}
