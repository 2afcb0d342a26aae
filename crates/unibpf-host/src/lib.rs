//! What this host can do for BPF: system facts (kernel, arch, distro,
//! config, BTF, privileges, mounts) and real feature probes by syscall
//! (map and program types, attach points, helpers); on Windows, the OS
//! version and whether eBPF for Windows is installed.
//!
//! A [`Mask`] makes the host look older than it is (`--mask ringbuf`,
//! `--assume-kernel 5.4`): masked features are reported missing, so the
//! selector adapts exactly as it would on such a host.

#[cfg(target_os = "linux")]
pub mod bpftime;
#[cfg(windows)]
mod efw_info;
mod facts;
mod features;
pub mod tracefs;
#[cfg(windows)]
mod windows;

use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;

pub use facts::{
    btfhub_arch, guid_string, BpfSyscall, EbpfForWindows, EfwExecutionTypes, EfwProgramType,
    EfwSection, ExecutionSupport, Facts, KernelVersion, EBPF_FOR_WINDOWS_RELEASES,
    EFW_EXECUTION_TYPES_UNKNOWN, EFW_NATIVE_NOT_PROBED,
};
pub use features::{min_kernel, FeatureReport};
pub use unibpf_backend::{Feature, Group, HostFeatures};
#[cfg(windows)]
pub use windows::ebpf_for_windows;

/// JSON schema version of [`HostReport`]; bumped on incompatible changes.
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("--mask {0:?}: unknown feature; use one of {1}")]
    UnknownFeature(String, String),
    #[error("--assume-kernel {0:?}: expected a version like 5.4 or 5.10.0")]
    BadVersion(String),
}

/// Features to report missing although the host has them.
#[derive(Debug, Clone, Default)]
pub struct Mask {
    features: Vec<Feature>,
    assume_kernel: Option<KernelVersion>,
}

impl Mask {
    /// `names` are feature names (`map.ringbuf`) or aliases (`ringbuf`).
    pub fn new(names: &[String], assume_kernel: Option<&str>) -> Result<Self, HostError> {
        let mut out = Vec::new();
        for n in names {
            match Feature::lookup(n) {
                Some(features) => out.extend(features),
                None => {
                    return Err(HostError::UnknownFeature(
                        n.clone(),
                        Feature::known_names().join(", "),
                    ))
                }
            }
        }
        let assume_kernel = assume_kernel
            .map(|v| KernelVersion::parse(v).ok_or_else(|| HostError::BadVersion(v.to_string())))
            .transpose()?;
        Ok(Self {
            features: out,
            assume_kernel,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty() && self.assume_kernel.is_none()
    }

    fn apply(&self, f: &mut FeatureReport) {
        if !f.available {
            return;
        }
        if self.features.contains(&f.feature) {
            f.available = false;
            f.masked = true;
            f.detail = "masked (--mask)".into();
        } else if let Some(k) = self.assume_kernel {
            if f.min_kernel > k {
                f.available = false;
                f.masked = true;
                f.detail = format!(
                    "needs kernel {}, assuming {k} (--assume-kernel)",
                    f.min_kernel
                );
            }
        }
    }
}

/// Everything `unibpf probe` reports.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub report_version: u32,
    #[serde(flatten)]
    pub facts: Facts,
    pub features: Vec<FeatureReport>,
    /// Feature names reported missing on purpose.
    pub masked: Vec<String>,
    pub assumed_kernel: Option<KernelVersion>,
    /// How long probing took.
    pub probe_ms: u64,
    /// Features left out of `features` by [`HostReport::probe_lazily`],
    /// probed on first ask.
    #[serde(skip)]
    deferred: Vec<(Feature, OnceLock<FeatureReport>)>,
    #[serde(skip)]
    mask: Mask,
    /// The kernel's own BTF, read on first ask (for kernel functions'
    /// parameters); None inside when it has none or it does not parse.
    #[serde(skip)]
    kernel_btf_types: std::sync::Arc<OnceLock<Option<unibpf_object::Btf>>>,
}

impl HostReport {
    /// Reads the facts and runs every probe; masked features are reported
    /// missing. Needs the privileges BPF itself needs (root, or CAP_BPF with
    /// CAP_PERFMON) for the feature probes to mean anything.
    pub fn probe(mask: &Mask) -> Self {
        Self::probe_which(mask, features::Which::All)
    }

    /// [`HostReport::probe`] for a runtime: the probes that attach
    /// something (tcx, fentry and LSM attachment) run only when a program
    /// needs to know, which spares every start-up their RCU waits.
    pub fn probe_lazily(mask: &Mask) -> Self {
        Self::probe_which(mask, features::Which::WithoutAttaching)
    }

    fn probe_which(mask: &Mask, which: features::Which) -> Self {
        let started = Instant::now();
        let facts = facts::read();
        let mut features = features::probe_all(which);
        let deferred = Feature::ALL
            .iter()
            .copied()
            .filter(|f| features::attaches(*f) && !features.iter().any(|r| r.feature == *f))
            .map(|f| (f, OnceLock::new()))
            .collect();
        for f in &mut features {
            mask.apply(f);
        }
        Self {
            report_version: REPORT_VERSION,
            facts,
            masked: features
                .iter()
                .filter(|f| f.masked)
                .map(|f| f.name.to_string())
                .collect(),
            features,
            assumed_kernel: mask.assume_kernel,
            probe_ms: started.elapsed().as_millis() as u64,
            deferred,
            kernel_btf_types: Default::default(),
            mask: mask.clone(),
        }
    }

    /// What the probe found for `feature` (a deferred feature is probed
    /// now, once).
    pub fn feature(&self, feature: Feature) -> Option<&FeatureReport> {
        if let Some(f) = self.features.iter().find(|f| f.feature == feature) {
            return Some(f);
        }
        let (_, cell) = self.deferred.iter().find(|(f, _)| *f == feature)?;
        let report = cell.get_or_init(|| {
            let mut report = features::probe_one(feature).unwrap_or_else(|| FeatureReport {
                feature,
                name: feature.name(),
                group: feature.group(),
                available: false,
                detail: "not probed".into(),
                min_kernel: min_kernel(feature),
                masked: false,
            });
            self.mask.apply(&mut report);
            report
        });
        Some(report)
    }

    pub fn has(&self, feature: Feature) -> bool {
        self.feature(feature).is_some_and(|f| f.available)
    }

    /// The kernel's tracefs `events/` directory, if tracefs is mounted.
    pub fn tracefs_events(&self) -> Option<std::path::PathBuf> {
        tracefs::events_dir()
    }
}

impl HostFeatures for HostReport {
    fn missing(&self, feature: Feature) -> Option<String> {
        match self.feature(feature) {
            Some(f) if f.available => None,
            Some(f) => Some(f.detail.clone()),
            None => Some("not probed".to_string()),
        }
    }

    fn masked(&self, feature: Feature) -> bool {
        self.feature(feature).is_some_and(|f| f.masked)
    }

    fn tracepoint_exists(&self, category: &str, name: &str) -> Option<bool> {
        Some(tracefs::events_dir()?.join(category).join(name).is_dir())
    }

    fn kernel_btf(&self) -> bool {
        self.facts.btf.kernel_btf
    }

    fn machine(&self) -> String {
        self.facts.arch.machine.clone()
    }

    fn kernel_function_params(&self, name: &str) -> Option<u32> {
        let btf = self.kernel_btf_types.get_or_init(|| {
            let raw = std::fs::read("/sys/kernel/btf/vmlinux").ok()?;
            unibpf_object::Btf::parse(&raw)
                .inspect_err(|e| tracing::warn!("reading the kernel's BTF: {e}"))
                .ok()
        });
        btf.as_ref()?.function_params(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_expand_aliases_and_reject_unknown_names() {
        let m = Mask::new(&["ringbuf".into(), "prog.xdp".into()], None).expect("mask");
        assert!(m.features.contains(&Feature::MapRingbuf));
        assert!(m.features.contains(&Feature::HelperRingbufOutput));
        assert!(m.features.contains(&Feature::ProgXdp));
        let err = Mask::new(&["warp_drive".into()], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("warp_drive") && err.contains("ringbuf"),
            "{err}"
        );
        assert!(Mask::new(&[], Some("five")).is_err());
    }

    #[test]
    fn assumed_kernels_hide_newer_features() {
        let m = Mask::new(&[], Some("5.4")).expect("mask");
        let mut f = FeatureReport {
            feature: Feature::MapRingbuf,
            name: "map.ringbuf",
            group: Group::Map,
            available: true,
            detail: String::new(),
            min_kernel: KernelVersion::new(5, 8, 0),
            masked: false,
        };
        m.apply(&mut f);
        assert!(!f.available && f.masked && f.detail.contains("5.8.0"));
        let mut old = FeatureReport {
            feature: Feature::MapHash,
            name: "map.hash",
            min_kernel: KernelVersion::new(3, 19, 0),
            available: true,
            masked: false,
            detail: String::new(),
            group: Group::Map,
        };
        m.apply(&mut old);
        assert!(old.available);
    }
}

#[cfg(test)]
mod lazy_tests {
    use super::*;

    /// A runtime's report leaves out the probes that attach, so start-up
    /// does not wait for their RCU grace periods, and answers for them on
    /// first ask exactly as the full probe does.
    #[test]
    fn attaching_probes_wait_until_asked() {
        let mask = Mask::default();
        let lazy = HostReport::probe_lazily(&mask);
        let full = HostReport::probe(&mask);
        for f in [
            Feature::AttachTcx,
            Feature::AttachFentry,
            Feature::AttachLsm,
        ] {
            assert!(
                !lazy.features.iter().any(|r| r.feature == f),
                "{f:?} was probed up front"
            );
            assert!(full.features.iter().any(|r| r.feature == f));
            assert_eq!(lazy.has(f), full.has(f), "{f:?}");
        }
        // Everything else is there from the start.
        assert_eq!(lazy.features.len() + 3, full.features.len());
    }
}
