//! BPF features as probed on this host: on Linux each for real by syscall
//! (`linux.rs`); elsewhere none of them, with the reason.

use serde::Serialize;

use unibpf_backend::{Feature, Group};

use crate::facts::KernelVersion;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(target_os = "linux"))]
pub(crate) use crate::windows::{attaches, probe_all, probe_one};
#[cfg(target_os = "linux")]
pub(crate) use linux::{attaches, probe_all, probe_one};

/// One feature as probed on this host.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureReport {
    #[serde(skip)]
    pub feature: Feature,
    pub name: &'static str,
    pub group: Group,
    pub available: bool,
    /// Why not, or how it was established.
    pub detail: String,
    /// The first kernel release that has it.
    pub min_kernel: KernelVersion,
    /// Reported missing because of `--mask` or `--assume-kernel`.
    pub masked: bool,
}

/// The first kernel with `feature`.
pub fn min_kernel(feature: Feature) -> KernelVersion {
    let (major, minor) = feature.min_kernel();
    KernelVersion::new(major, minor, 0)
}

/// Which probes run now: all of them, or all but those that attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    All,
    /// Leave out the probes that create and tear down a link (tcx on lo,
    /// fentry, LSM): each costs tens of milliseconds of RCU grace periods,
    /// which every start-up would pay for features most objects never use.
    WithoutAttaching,
}
