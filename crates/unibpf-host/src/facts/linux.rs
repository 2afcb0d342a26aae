//! Reading the facts on Linux.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;

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
        ebpf_for_windows: None,
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
        bpf_syscall: bpf_syscall(),
    }
}

/// Asks bpf() for a command no kernel defines: any answer but ENOSYS (EINVAL,
/// or EPERM without the privilege) means the call exists. Nothing is made.
fn bpf_syscall() -> BpfSyscall {
    const NO_SUCH_COMMAND: libc::c_long = 0x7fff_0000;
    // SAFETY: a NULL attribute pointer with size 0 is never dereferenced;
    // the kernel rejects the command before it would read one.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            NO_SUCH_COMMAND,
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_uint,
        )
    };
    if rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::ENOSYS {
        BpfSyscall::Missing
    } else {
        BpfSyscall::Present
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
}
