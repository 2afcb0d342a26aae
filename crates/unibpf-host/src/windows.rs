//! Host facts on Windows: the OS version, whether the process runs under
//! wine, and whether eBPF for Windows is installed (its ebpfapi.dll loads;
//! its version and its extensions' registry entries: see [`efw_info`]).
//! No kernel eBPF features are probed here: they belong to eBPF for
//! Windows, whose backend reports them.

use std::collections::BTreeMap;

use unibpf_backend::Feature;
use windows_sys::Wdk::System::SystemServices::RtlGetVersion;
use windows_sys::Win32::System::SystemInformation::OSVERSIONINFOW;

use crate::efw_info;
use crate::facts::{
    btfhub_arch, Arch, BpfSyscall, BtfInfo, Distro, EbpfForWindows, Facts, Kernel, KernelConfig,
    Mounts, Privileges,
};
use crate::features::{min_kernel, FeatureReport, Which};

/// ERROR_MOD_NOT_FOUND: LoadLibrary found no such DLL on the search path.
const ERROR_MOD_NOT_FOUND: i32 = 126;

pub(crate) fn read() -> Facts {
    let machine = std::env::consts::ARCH.to_string();
    Facts {
        os: "windows".into(),
        arch: Arch {
            btfhub: btfhub_arch(&machine).to_string(),
            machine,
        },
        kernel: Kernel {
            release: release(),
            version: None,
        },
        distro: Distro {
            id: Some("windows".into()),
            version_id: wine_version().map(|v| format!("wine {v}")),
        },
        config: KernelConfig {
            source: None,
            options: BTreeMap::new(),
        },
        btf: BtfInfo {
            vmlinux: None,
            kernel_btf: false,
        },
        privileges: Privileges {
            effective_caps: Vec::new(),
            cap_bpf: false,
            cap_perfmon: false,
            cap_sys_admin: false,
            cap_net_admin: false,
            unprivileged_bpf_disabled: None,
            lockdown: None,
            memlock_limit: None,
            bpf_syscall: BpfSyscall::NotLinux,
        },
        mounts: Mounts {
            tracefs: None,
            debugfs: None,
            bpffs: None,
            cgroup2: None,
        },
        ebpf_for_windows: Some(ebpf_for_windows()),
    }
}

/// `10.0.19045`: RtlGetVersion, which unlike GetVersionEx is not capped
/// by the executable's compatibility manifest.
fn release() -> String {
    // SAFETY: OSVERSIONINFOW is plain data; zeroed with its size set is
    // what RtlGetVersion expects, and it only writes into it.
    let info = unsafe {
        let mut info: OSVERSIONINFOW = std::mem::zeroed();
        info.dwOSVersionInfoSize = std::mem::size_of::<OSVERSIONINFOW>() as u32;
        (RtlGetVersion(&mut info) == 0).then_some(info)
    };
    info.map_or_else(
        || "unknown".into(),
        |i| {
            format!(
                "{}.{}.{}",
                i.dwMajorVersion, i.dwMinorVersion, i.dwBuildNumber
            )
        },
    )
}

/// Wine's version when running under wine (its ntdll exports
/// `wine_get_version`; Windows' does not).
fn wine_version() -> Option<String> {
    // SAFETY: ntdll is loaded in every process; wine_get_version takes no
    // arguments and returns a static NUL-terminated string.
    unsafe {
        let ntdll = libloading::Library::new("ntdll.dll").ok()?;
        let get: libloading::Symbol<'_, unsafe extern "C" fn() -> *const std::ffi::c_char> =
            ntdll.get(b"wine_get_version\0").ok()?;
        let v = get();
        (!v.is_null()).then(|| std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned())
    }
}

/// eBPF for Windows as this process finds it: whether ebpfapi.dll loads
/// from the default search path (eBPF for Windows' installer puts its
/// folder on PATH), the file it came from and that file's version, and
/// what its extensions registered. Loaded and let go: the backend loads
/// it again for itself.
pub fn ebpf_for_windows() -> EbpfForWindows {
    let mut found = EbpfForWindows::default();
    // SAFETY: loading ebpfapi.dll runs its initialisation, which eBPF for
    // Windows' own tools do alike; nothing of it is called here.
    match unsafe { libloading::Library::new("ebpfapi.dll") } {
        Ok(library) => {
            found.installed = true;
            found.detail = "ebpfapi.dll loaded".into();
            found.path = efw_info::module_path("ebpfapi.dll");
            found.version = found.path.as_deref().and_then(efw_info::file_version);
            drop(library);
        }
        Err(e) => {
            found.detail = match std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .and_then(std::io::Error::raw_os_error)
            {
                Some(ERROR_MOD_NOT_FOUND) | None => "ebpfapi.dll not found".into(),
                Some(_) => format!("ebpfapi.dll does not load: {e}"),
            };
        }
    }
    if let Some(store) = efw_info::Store::open() {
        found.store = Some(store.name.to_string());
        found.program_types = store.program_types();
        found.sections = store.sections(&found.program_types);
    }
    found
}

/// Whether probing `feature` attaches something: nothing is probed here.
pub(crate) fn attaches(_feature: Feature) -> bool {
    false
}

pub(crate) fn probe_all(_which: Which) -> Vec<FeatureReport> {
    Feature::ALL.iter().copied().map(not_probed).collect()
}

pub(crate) fn probe_one(feature: Feature) -> Option<FeatureReport> {
    Some(not_probed(feature))
}

fn not_probed(feature: Feature) -> FeatureReport {
    FeatureReport {
        feature,
        name: feature.name(),
        group: feature.group(),
        available: false,
        detail: "no Linux kernel eBPF on Windows".into(),
        min_kernel: min_kernel(feature),
        masked: false,
    }
}
