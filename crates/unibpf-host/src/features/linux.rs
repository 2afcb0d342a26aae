//! The probes on Linux, each by syscall: map creation, program loads (with
//! BTF attach ids for tracing types), attaches, helper checks. Every fd a
//! probe opens is closed before it returns.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};

use unibpf_backend::Feature;

use super::{min_kernel, FeatureReport, Which};

/// How a feature is probed.
#[derive(Debug, Clone, Copy)]
enum Probe {
    Map(u32),
    Prog(u32),
    /// A BTF-typed raw tracepoint program on sched_switch.
    TpBtf,
    /// A tracing program loaded against a kernel function; attached too.
    Fentry {
        attach: bool,
    },
    /// An LSM program on file_open; attached too (needs BPF LSM active).
    Lsm {
        attach: bool,
    },
    /// perf_event_open on the kprobe PMU.
    KprobeAttach,
    UprobePmu,
    /// A sched_cls program on lo's ingress through a tcx link.
    TcxLink,
    Helper(u32),
}

/// How each feature is probed.
const PROBES: &[(Feature, Probe)] = &[
    (Feature::MapHash, Probe::Map(libbpf_sys::BPF_MAP_TYPE_HASH)),
    (
        Feature::MapArray,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_ARRAY),
    ),
    (
        Feature::MapProgArray,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_PROG_ARRAY),
    ),
    (
        Feature::MapPerfEventArray,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_PERF_EVENT_ARRAY),
    ),
    (
        Feature::MapPercpuHash,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_PERCPU_HASH),
    ),
    (
        Feature::MapPercpuArray,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_PERCPU_ARRAY),
    ),
    (
        Feature::MapStackTrace,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_STACK_TRACE),
    ),
    (
        Feature::MapLruHash,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_LRU_HASH),
    ),
    (
        Feature::MapLpmTrie,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_LPM_TRIE),
    ),
    (
        Feature::MapRingbuf,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_RINGBUF),
    ),
    (
        Feature::MapTaskStorage,
        Probe::Map(libbpf_sys::BPF_MAP_TYPE_TASK_STORAGE),
    ),
    (
        Feature::ProgSocketFilter,
        Probe::Prog(libbpf_sys::BPF_PROG_TYPE_SOCKET_FILTER),
    ),
    (
        Feature::ProgKprobe,
        Probe::Prog(libbpf_sys::BPF_PROG_TYPE_KPROBE),
    ),
    (
        Feature::ProgSchedCls,
        Probe::Prog(libbpf_sys::BPF_PROG_TYPE_SCHED_CLS),
    ),
    (
        Feature::ProgTracepoint,
        Probe::Prog(libbpf_sys::BPF_PROG_TYPE_TRACEPOINT),
    ),
    (Feature::ProgXdp, Probe::Prog(libbpf_sys::BPF_PROG_TYPE_XDP)),
    (
        Feature::ProgPerfEvent,
        Probe::Prog(libbpf_sys::BPF_PROG_TYPE_PERF_EVENT),
    ),
    (
        Feature::ProgCgroupSkb,
        Probe::Prog(libbpf_sys::BPF_PROG_TYPE_CGROUP_SKB),
    ),
    (
        Feature::ProgSockOps,
        Probe::Prog(libbpf_sys::BPF_PROG_TYPE_SOCK_OPS),
    ),
    (
        Feature::ProgRawTracepoint,
        Probe::Prog(libbpf_sys::BPF_PROG_TYPE_RAW_TRACEPOINT),
    ),
    (Feature::ProgTpBtf, Probe::TpBtf),
    (Feature::ProgFentry, Probe::Fentry { attach: false }),
    (Feature::ProgLsm, Probe::Lsm { attach: false }),
    (Feature::AttachKprobe, Probe::KprobeAttach),
    (Feature::AttachUprobe, Probe::UprobePmu),
    (Feature::AttachFentry, Probe::Fentry { attach: true }),
    (Feature::AttachLsm, Probe::Lsm { attach: true }),
    (Feature::AttachTcx, Probe::TcxLink),
    (Feature::HelperPerfEventOutput, Probe::Helper(25)),
    (Feature::HelperProbeReadKernel, Probe::Helper(113)),
    (Feature::HelperRingbufOutput, Probe::Helper(130)),
    (Feature::HelperGetCurrentTaskBtf, Probe::Helper(158)),
    (Feature::HelperLoop, Probe::Helper(181)),
];

/// Whether probing `feature` attaches something.
pub(crate) fn attaches(feature: Feature) -> bool {
    PROBES.iter().any(|&(f, probe)| {
        f == feature
            && matches!(
                probe,
                Probe::TcxLink | Probe::Fentry { attach: true } | Probe::Lsm { attach: true }
            )
    })
}

pub(crate) fn probe_all(which: Which) -> Vec<FeatureReport> {
    let btf = VmlinuxBtf::load();
    PROBES
        .iter()
        .filter(|&&(feature, _)| which == Which::All || !attaches(feature))
        .map(|&(feature, probe)| report(feature, probe, &btf))
        .collect()
}

/// Probes one feature on its own (a deferred one, on first ask).
pub(crate) fn probe_one(feature: Feature) -> Option<FeatureReport> {
    let &(_, probe) = PROBES.iter().find(|(f, _)| *f == feature)?;
    Some(report(feature, probe, &VmlinuxBtf::load()))
}

fn report(feature: Feature, probe: Probe, btf: &VmlinuxBtf) -> FeatureReport {
    nix::errno::Errno::clear();
    let (available, detail) = match run(probe, btf) {
        (false, _) if starved() => (
            true,
            "not probed: this process is out of file descriptors; the load will decide".to_string(),
        ),
        result => result,
    };
    FeatureReport {
        feature,
        name: feature.name(),
        group: feature.group(),
        available,
        detail,
        min_kernel: min_kernel(feature),
        masked: false,
    }
}

/// Whether the probe that just failed failed for want of file descriptors,
/// which says nothing about the kernel. Every probe fails through a syscall
/// that leaves its errno behind.
fn starved() -> bool {
    matches!(
        nix::errno::Errno::last(),
        nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE
    )
}

fn yes(how: &str) -> (bool, String) {
    (true, how.to_string())
}

fn no(why: impl Into<String>) -> (bool, String) {
    (false, why.into())
}

fn errno_text(code: i32) -> String {
    match code.abs() {
        // The kernel-internal ENOTSUPP, which libc has no name for.
        524 => "not supported by this kernel or architecture (ENOTSUPP)".into(),
        c => nix::errno::Errno::from_raw(c).desc().to_lowercase(),
    }
}

fn run(probe: Probe, btf: &VmlinuxBtf) -> (bool, String) {
    match probe {
        Probe::Map(t) => {
            // SAFETY: libbpf creates and closes a throwaway map.
            match unsafe { libbpf_sys::libbpf_probe_bpf_map_type(t, std::ptr::null()) } {
                1 => yes("map created"),
                0 => no("the kernel refused to create one"),
                e => no(format!("probe failed: {}", errno_text(e))),
            }
        }
        Probe::Prog(t) => {
            // SAFETY: libbpf loads and closes a two-instruction program.
            match unsafe { libbpf_sys::libbpf_probe_bpf_prog_type(t, std::ptr::null()) } {
                1 => yes("program loaded"),
                0 => no("the kernel refused to load one"),
                e => no(format!("probe failed: {}", errno_text(e))),
            }
        }
        Probe::Helper(id) => {
            // SAFETY: as above, with a call to helper `id`.
            match unsafe {
                libbpf_sys::libbpf_probe_bpf_helper(
                    libbpf_sys::BPF_PROG_TYPE_TRACEPOINT,
                    id,
                    std::ptr::null(),
                )
            } {
                1 => yes("accepted by the verifier in a tracepoint program"),
                0 => no("unknown to the verifier"),
                e => no(format!("probe failed: {}", errno_text(e))),
            }
        }
        Probe::TpBtf => {
            let Some(id) = btf.find("btf_trace_sched_switch", libbpf_sys::BTF_KIND_TYPEDEF) else {
                return no(btf.missing_reason("btf_trace_sched_switch"));
            };
            match load_minimal(
                libbpf_sys::BPF_PROG_TYPE_TRACING,
                libbpf_sys::BPF_TRACE_RAW_TP,
                id,
            ) {
                Ok(_) => yes("tp_btf program loaded on sched_switch"),
                Err(e) => no(format!("load refused: {}", errno_text(e))),
            }
        }
        Probe::Fentry { attach } => {
            let Some((func, id)) = ["bpf_fentry_test1", "do_unlinkat", "vfs_read"]
                .iter()
                .find_map(|f| Some((*f, btf.find(f, libbpf_sys::BTF_KIND_FUNC)?)))
            else {
                return no(btf.missing_reason("a kernel function"));
            };
            let prog = match load_minimal(
                libbpf_sys::BPF_PROG_TYPE_TRACING,
                libbpf_sys::BPF_TRACE_FENTRY,
                id,
            ) {
                Ok(fd) => fd,
                Err(e) => {
                    return no(format!(
                    "fentry load on {func} refused: {} (the kernel does not allow BPF trampolines)",
                    errno_text(e)
                ))
                }
            };
            if !attach {
                return yes(&format!("fentry program loaded on {func}"));
            }
            match link(&prog, 0, libbpf_sys::BPF_TRACE_FENTRY) {
                Ok(_) => yes(&format!("fentry attached to {func}")),
                Err(e) => no(format!(
                    "fentry attach to {func} refused: {}",
                    errno_text(e)
                )),
            }
        }
        Probe::Lsm { attach } => {
            let Some(id) = btf.find("bpf_lsm_file_open", libbpf_sys::BTF_KIND_FUNC) else {
                return no(btf.missing_reason("bpf_lsm_file_open (CONFIG_BPF_LSM)"));
            };
            let prog =
                match load_minimal(libbpf_sys::BPF_PROG_TYPE_LSM, libbpf_sys::BPF_LSM_MAC, id) {
                    Ok(fd) => fd,
                    Err(e) => {
                    return no(format!(
                        "LSM load refused: {} (BPF LSM needs CONFIG_BPF_LSM and 'bpf' in the lsm= boot parameter)",
                        errno_text(e)
                    ))
                }
                };
            if !attach {
                return yes("LSM program loaded on file_open");
            }
            // Without securityfs the active LSMs cannot be read: let the
            // attach below decide.
            if let Ok(active) = std::fs::read_to_string("/sys/kernel/security/lsm") {
                if !active.split(',').any(|l| l.trim() == "bpf") {
                    return no(
                        "BPF LSM is not active ('bpf' missing from the lsm= boot parameter)",
                    );
                }
            }
            match link(&prog, 0, libbpf_sys::BPF_LSM_MAC) {
                Ok(_) => yes("LSM program attached to file_open"),
                Err(e) => no(format!("LSM attach refused: {}", errno_text(e))),
            }
        }
        Probe::KprobeAttach => kprobe_attach(),
        Probe::TcxLink => tcx_attach(),
        Probe::UprobePmu => {
            if std::path::Path::new("/sys/bus/event_source/devices/uprobe/type").exists() {
                yes("uprobe PMU present")
            } else {
                no("no uprobe PMU (CONFIG_UPROBE_EVENTS)")
            }
        }
    }
}

/// `mov r0, 0; exit`.
const RETURN_ZERO: [libbpf_sys::bpf_insn; 2] = [
    libbpf_sys::bpf_insn {
        code: (libbpf_sys::BPF_ALU64 | libbpf_sys::BPF_MOV | libbpf_sys::BPF_K) as u8,
        _bitfield_align_1: [],
        _bitfield_1: libbpf_sys::__BindgenBitfieldUnit::new([0]),
        off: 0,
        imm: 0,
    },
    libbpf_sys::bpf_insn {
        code: (libbpf_sys::BPF_JMP | libbpf_sys::BPF_EXIT) as u8,
        _bitfield_align_1: [],
        _bitfield_1: libbpf_sys::__BindgenBitfieldUnit::new([0]),
        off: 0,
        imm: 0,
    },
];

/// Loads `RETURN_ZERO` as `prog_type` (attach type and BTF id for the
/// tracing types; 0 for the others).
fn load_minimal(prog_type: u32, attach_type: u32, btf_id: u32) -> Result<OwnedFd, i32> {
    // SAFETY: opts is zeroed then given its size; the kernel copies insns.
    unsafe {
        let mut opts: libbpf_sys::bpf_prog_load_opts = std::mem::zeroed();
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_prog_load_opts>() as _;
        opts.expected_attach_type = attach_type;
        opts.attach_btf_id = btf_id;
        let fd = libbpf_sys::bpf_prog_load(
            prog_type,
            c"unibpf_probe".as_ptr(),
            c"GPL".as_ptr(),
            RETURN_ZERO.as_ptr(),
            RETURN_ZERO.len() as _,
            &mut opts,
        );
        if fd < 0 {
            Err(fd)
        } else {
            Ok(OwnedFd::from_raw_fd(fd))
        }
    }
}

/// `BPF_LINK_CREATE` of `prog` on `target` (an ifindex for tcx, else 0).
fn link(prog: &OwnedFd, target: i32, attach_type: u32) -> Result<OwnedFd, i32> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall wrapper; the link fd is owned right away.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(prog.as_raw_fd(), target, attach_type, std::ptr::null())
    };
    if fd < 0 {
        Err(fd)
    } else {
        // SAFETY: fresh fd.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// A tcx link (kernel 6.6+) for a `return 0` classifier on lo's ingress,
/// closed at once: 0 is TCX_PASS, so lo's traffic is not touched meanwhile.
fn tcx_attach() -> (bool, String) {
    let prog = match load_minimal(libbpf_sys::BPF_PROG_TYPE_SCHED_CLS, 0, 0) {
        Ok(fd) => fd,
        Err(e) => return no(format!("sched_cls load refused: {}", errno_text(e))),
    };
    // SAFETY: a NUL-terminated interface name.
    let lo = unsafe { nix::libc::if_nametoindex(c"lo".as_ptr()) };
    let Ok(lo) = i32::try_from(lo) else {
        return no("no interface lo to probe on");
    };
    if lo == 0 {
        return no("no interface lo to probe on");
    }
    match link(&prog, lo, libbpf_sys::BPF_TCX_INGRESS) {
        Ok(_) => yes("tcx link created on lo"),
        Err(e) => no(format!("tcx link on lo refused: {}", errno_text(e))),
    }
}

/// A real kprobe through the kprobe PMU on a function every kernel has.
fn kprobe_attach() -> (bool, String) {
    let Some(pmu) = std::fs::read_to_string("/sys/bus/event_source/devices/kprobe/type")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        let legacy = [
            "/sys/kernel/tracing/kprobe_events",
            "/sys/kernel/debug/tracing/kprobe_events",
        ]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
        return if legacy {
            yes("no kprobe PMU, but tracefs kprobe_events exists")
        } else {
            no("no kprobe PMU and no kprobe_events (CONFIG_KPROBES is off)")
        };
    };
    match kprobe_pmu_probe(pmu, 0) {
        Ok(()) => yes("kprobe created on do_sys_openat2 through the kprobe PMU"),
        // Some kernels (riscv64 without CONFIG_KPROBES_ON_FTRACE) refuse a
        // function's first instruction, which is its ftrace site, but take
        // offsets into it: programs probing function entry cannot attach.
        Err(e)
            if e.raw_os_error() == Some(nix::libc::EINVAL) && kprobe_pmu_probe(pmu, 4).is_ok() =>
        {
            no(format!(
                "kprobe PMU refused do_sys_openat2's entry ({e}) but took an offset into it: \
                 this kernel cannot put kprobes on ftrace sites (no CONFIG_KPROBES_ON_FTRACE)"
            ))
        }
        Err(e) => no(format!("kprobe PMU refused a probe on do_sys_openat2: {e}")),
    }
}

/// A kprobe through the kprobe PMU at `offset` into do_sys_openat2,
/// created and closed.
fn kprobe_pmu_probe(pmu: u32, offset: u64) -> std::io::Result<()> {
    let func = CString::new("do_sys_openat2").unwrap_or_default();
    // SAFETY: perf_event_attr is plain data, zeroed then filled; config1 points
    // at a NUL-terminated name alive for the call.
    let fd = unsafe {
        let mut attr: libbpf_sys::perf_event_attr = std::mem::zeroed();
        attr.size = std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32;
        attr.type_ = pmu;
        attr.__bindgen_anon_3.config1 = func.as_ptr() as u64;
        attr.__bindgen_anon_4.config2 = offset;
        nix::libc::syscall(
            nix::libc::SYS_perf_event_open,
            &attr as *const libbpf_sys::perf_event_attr,
            -1i32,
            0i32,
            -1i32,
            8u64, // PERF_FLAG_FD_CLOEXEC
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fd, closed on drop.
    drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    Ok(())
}

/// The kernel's BTF through libbpf, for attach ids.
struct VmlinuxBtf {
    btf: *mut libbpf_sys::btf,
    error: Option<String>,
}

impl VmlinuxBtf {
    fn load() -> Self {
        // SAFETY: returns an owned btf or an error pointer.
        let btf = unsafe { libbpf_sys::btf__load_vmlinux_btf() };
        // SAFETY: libbpf_get_error reads the encoded error from the pointer.
        let err = unsafe { libbpf_sys::libbpf_get_error(btf as *const _) };
        if err != 0 || btf.is_null() {
            return Self {
                btf: std::ptr::null_mut(),
                error: Some(format!("no kernel BTF: {}", errno_text(err as i32))),
            };
        }
        Self { btf, error: None }
    }

    fn find(&self, name: &str, kind: u32) -> Option<u32> {
        if self.btf.is_null() {
            return None;
        }
        let c = CString::new(name).ok()?;
        // SAFETY: valid btf and NUL-terminated name.
        let id = unsafe { libbpf_sys::btf__find_by_name_kind(self.btf, c.as_ptr(), kind) };
        u32::try_from(id).ok().filter(|&i| i > 0)
    }

    fn missing_reason(&self, what: &str) -> String {
        match &self.error {
            Some(e) => e.clone(),
            None => format!("{what} not in the kernel's BTF"),
        }
    }
}

impl Drop for VmlinuxBtf {
    fn drop(&mut self) {
        if !self.btf.is_null() {
            // SAFETY: we own it.
            unsafe { libbpf_sys::btf__free(self.btf) };
        }
    }
}

#[cfg(test)]
mod probe_table_tests {
    use super::*;

    #[test]
    fn every_feature_is_probed_once_in_order() {
        let probed: Vec<Feature> = PROBES.iter().map(|(f, _)| *f).collect();
        assert_eq!(probed, Feature::ALL);
    }
}
