//! The `kernel` backend: BPF objects are loaded into the running Linux kernel with
//! libbpf (through libbpf-rs), attached with kernel links, and their event maps are
//! read with libbpf's ring buffer and perf buffer consumers.

mod attach;
mod diagnose;
mod ksym;
mod map;
mod object;
mod poll;
mod tc;

use unibpf_backend::{
    Backend, BackendKind, Feature, HostFeatures, LoadRequest, LoadedObject, Program, Result,
    Unsupported,
};
use unibpf_object::Hook;

pub use tc::emergency_detach_all;

/// Loads objects into the host kernel.
#[derive(Debug, Default)]
pub struct KernelBackend {
    _private: (),
}

impl KernelBackend {
    pub fn new() -> Self {
        diagnose::route_libbpf_logs();
        Self { _private: () }
    }
}

/// The kernel features a program of this kind needs to load and attach.
fn requirements(hook: &Hook) -> &'static [Feature] {
    use Feature::*;
    match hook {
        Hook::Tracepoint => &[ProgTracepoint],
        Hook::RawTracepoint { .. } => &[ProgRawTracepoint],
        Hook::BtfTracepoint => &[ProgTpBtf],
        Hook::Kprobe { .. } | Hook::Ksyscall { .. } => &[ProgKprobe, AttachKprobe],
        Hook::Uprobe { .. } | Hook::Usdt => &[ProgKprobe, AttachUprobe],
        Hook::Trampoline { .. } => &[ProgFentry, AttachFentry],
        Hook::Lsm { .. } => &[ProgLsm, AttachLsm],
        Hook::Xdp { .. } => &[ProgXdp],
        Hook::Tc { .. } => &[ProgSchedCls],
        Hook::SockOps => &[ProgSockOps],
        Hook::CgroupSkb { .. } => &[ProgCgroupSkb],
        Hook::SocketFilter => &[ProgSocketFilter],
        Hook::PerfEvent => &[ProgPerfEvent],
        // libbpf knows these; the kernel has the last word at load.
        Hook::Iter { .. } | Hook::Cgroup | Hook::Other => &[],
    }
}

impl Backend for KernelBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Kernel
    }

    fn supports(
        &self,
        program: &Program,
        host: &dyn HostFeatures,
    ) -> std::result::Result<String, Unsupported> {
        let section = &program.section;
        let checked_against_kernel_btf = matches!(
            section.hook,
            Hook::BtfTracepoint | Hook::Trampoline { .. } | Hook::Lsm { .. } | Hook::Iter { .. }
        );
        if checked_against_kernel_btf && !host.kernel_btf() {
            return Err(Unsupported::NeedsKernelBtf {
                hook: section.kind_word().to_string(),
            });
        }
        if let Some((category, name)) = section.tracepoint() {
            if host.tracepoint_exists(category, name) == Some(false) {
                return Err(Unsupported::NoTracepoint {
                    category: category.to_string(),
                    name: name.to_string(),
                });
            }
        }
        for &feature in requirements(&section.hook) {
            if let Some(why) = host.missing(feature) {
                return Err(Unsupported::MissingFeature { feature, why });
            }
        }
        Ok(section.to_string())
    }

    fn load_object(&mut self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedObject>> {
        Ok(Box::new(object::KernelObject::load(request)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unibpf_object::ProgramSection;

    #[test]
    fn sections_map_to_the_features_they_need() {
        let needs = |s: &str| requirements(&ProgramSection::parse(s).expect("section").hook);
        assert_eq!(
            needs("kprobe/do_unlinkat"),
            &[Feature::ProgKprobe, Feature::AttachKprobe]
        );
        assert_eq!(
            needs("uretprobe"),
            &[Feature::ProgKprobe, Feature::AttachUprobe]
        );
        assert_eq!(
            needs("lsm/path_rmdir"),
            &[Feature::ProgLsm, Feature::AttachLsm]
        );
        assert_eq!(needs("xdp"), &[Feature::ProgXdp]);
        assert!(needs("weird/thing").is_empty());
    }
}
