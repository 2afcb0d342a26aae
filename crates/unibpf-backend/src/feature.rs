//! Host features, by name: what the probe establishes and what backends and
//! the selector ask about. An enum, so that asking about a feature nobody
//! probes does not compile (a string lookup would silently answer "no such
//! feature" and be read as "available").

use std::fmt;
use std::str::FromStr;

/// What kind of thing a feature is, as `unibpf probe` groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Map,
    Program,
    Attach,
    Helper,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Map => "map types",
            Group::Program => "program types",
            Group::Attach => "attach",
            Group::Helper => "helpers",
        }
    }
}

macro_rules! features {
    ($($variant:ident => $name:literal, $group:ident, ($major:literal, $minor:literal);)*) => {
        /// One BPF feature a host may or may not have.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Feature {
            $($variant,)*
        }

        impl Feature {
            /// Every feature, in the order `unibpf probe` lists them.
            pub const ALL: &'static [Feature] = &[$(Feature::$variant,)*];

            /// `group.name`, as `unibpf probe` and `--mask` spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Feature::$variant => $name,)*
                }
            }

            pub fn group(self) -> Group {
                match self {
                    $(Feature::$variant => Group::$group,)*
                }
            }

            /// The first kernel (major, minor) that has it.
            pub fn min_kernel(self) -> (u32, u32) {
                match self {
                    $(Feature::$variant => ($major, $minor),)*
                }
            }
        }
    };
}

features! {
    MapHash => "map.hash", Map, (3, 19);
    MapArray => "map.array", Map, (3, 19);
    MapProgArray => "map.prog_array", Map, (4, 2);
    MapPerfEventArray => "map.perf_event_array", Map, (4, 3);
    MapPercpuHash => "map.percpu_hash", Map, (4, 6);
    MapPercpuArray => "map.percpu_array", Map, (4, 6);
    MapStackTrace => "map.stack_trace", Map, (4, 6);
    MapLruHash => "map.lru_hash", Map, (4, 10);
    MapLpmTrie => "map.lpm_trie", Map, (4, 11);
    MapRingbuf => "map.ringbuf", Map, (5, 8);
    MapTaskStorage => "map.task_storage", Map, (5, 11);
    ProgSocketFilter => "prog.socket_filter", Program, (3, 19);
    ProgKprobe => "prog.kprobe", Program, (4, 1);
    ProgSchedCls => "prog.sched_cls", Program, (4, 1);
    ProgTracepoint => "prog.tracepoint", Program, (4, 7);
    ProgXdp => "prog.xdp", Program, (4, 8);
    ProgPerfEvent => "prog.perf_event", Program, (4, 9);
    ProgCgroupSkb => "prog.cgroup_skb", Program, (4, 10);
    ProgSockOps => "prog.sock_ops", Program, (4, 13);
    ProgRawTracepoint => "prog.raw_tracepoint", Program, (4, 17);
    ProgTpBtf => "prog.tp_btf", Program, (5, 5);
    ProgFentry => "prog.fentry", Program, (5, 5);
    ProgLsm => "prog.lsm", Program, (5, 7);
    AttachKprobe => "attach.kprobe", Attach, (4, 17);
    AttachUprobe => "attach.uprobe", Attach, (4, 17);
    AttachFentry => "attach.fentry", Attach, (5, 5);
    AttachLsm => "attach.lsm", Attach, (5, 7);
    AttachTcx => "attach.tcx", Attach, (6, 6);
    HelperPerfEventOutput => "helper.perf_event_output", Helper, (4, 4);
    HelperProbeReadKernel => "helper.probe_read_kernel", Helper, (5, 5);
    HelperRingbufOutput => "helper.ringbuf_output", Helper, (5, 8);
    HelperGetCurrentTaskBtf => "helper.get_current_task_btf", Helper, (5, 11);
    HelperLoop => "helper.loop", Helper, (5, 17);
}

/// Short names for `--mask`, each covering related features.
pub const ALIASES: &[(&str, &[Feature])] = &[
    (
        "ringbuf",
        &[Feature::MapRingbuf, Feature::HelperRingbufOutput],
    ),
    ("fentry", &[Feature::ProgFentry, Feature::AttachFentry]),
    ("lsm", &[Feature::ProgLsm, Feature::AttachLsm]),
    ("kprobe", &[Feature::ProgKprobe, Feature::AttachKprobe]),
    ("uprobe", &[Feature::AttachUprobe]),
    ("tp_btf", &[Feature::ProgTpBtf]),
    ("task_btf", &[Feature::HelperGetCurrentTaskBtf]),
    ("tcx", &[Feature::AttachTcx]),
];

impl Feature {
    /// The name without its group (`ringbuf` for `map.ringbuf`).
    pub fn short_name(self) -> &'static str {
        let name = self.name();
        name.split_once('.').map_or(name, |(_, short)| short)
    }

    /// A feature name, or an alias for several (`ringbuf`).
    pub fn lookup(name: &str) -> Option<Vec<Feature>> {
        if let Some((_, group)) = ALIASES.iter().find(|(a, _)| *a == name) {
            return Some(group.to_vec());
        }
        name.parse::<Feature>().ok().map(|f| vec![f])
    }

    /// Every name and alias, for error messages.
    pub fn known_names() -> Vec<&'static str> {
        ALIASES
            .iter()
            .map(|(a, _)| *a)
            .chain(Feature::ALL.iter().map(|f| f.name()))
            .collect()
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Not a feature name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature {0:?}")]
pub struct UnknownFeature(pub String);

impl FromStr for Feature {
    type Err = UnknownFeature;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feature::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFeature(s.to_string()))
    }
}

/// What the selector and backends need to know about the host. The probe
/// (`unibpf_host::HostReport`) implements it; tests use fakes.
pub trait HostFeatures {
    /// None when `feature` is available here, else why not.
    fn missing(&self, feature: Feature) -> Option<String>;
    /// True when the host has it but it is hidden on purpose (`--mask`).
    fn masked(&self, feature: Feature) -> bool;
    /// Whether tracepoint `category/name` exists; None when it cannot tell.
    fn tracepoint_exists(&self, category: &str, name: &str) -> Option<bool>;
    /// Whether the kernel has its own BTF (`/sys/kernel/btf/vmlinux`).
    fn kernel_btf(&self) -> bool;
    /// The machine, as `uname -m` says (`x86_64`, `aarch64`, `riscv64`).
    fn machine(&self) -> String {
        std::env::consts::ARCH.to_string()
    }
    /// How many parameters kernel function `name` takes, from the kernel's
    /// own BTF; None when it cannot tell.
    fn kernel_function_params(&self, _name: &str) -> Option<u32> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_expand() {
        for f in Feature::ALL {
            assert_eq!(f.name().parse::<Feature>(), Ok(*f));
        }
        assert_eq!(Feature::MapRingbuf.short_name(), "ringbuf");
        assert_eq!(
            Feature::lookup("ringbuf"),
            Some(vec![Feature::MapRingbuf, Feature::HelperRingbufOutput])
        );
        assert_eq!(Feature::lookup("map.hash"), Some(vec![Feature::MapHash]));
        assert_eq!(Feature::lookup("map.nope"), None);
        assert!(Feature::known_names().contains(&"tcx"));
    }
}
