//! A program's ELF section, read once into what it means: the kind of hook
//! (tracepoint, kprobe, XDP, ...), its flags, and the place it names.
//!
//! Everyone who needs to know what a section says (the selector, the
//! backends' attach code and error hints, `--explain`, the skeleton
//! generator) matches on [`Hook`] instead of reading the string again. The
//! place a section names, and the target a guest passes at attach time, are
//! checked here by hook kind before anything builds a path from them: a
//! tracepoint called `../../../tmp/x` must not make a backend read
//! `/tmp/x/id`, and the answer must not tell the guest whether the file
//! exists.

use std::fmt;

/// Which way a packet hook sees traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

/// The three BPF trampoline attach kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trampoline {
    /// `fentry`: on function entry.
    Entry,
    /// `fexit`: on function return.
    Exit,
    /// `fmod_ret`: may change the return value.
    ModifyReturn,
}

/// The kind of hook a section names, with its flags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `tp/CAT/NAME`, `tracepoint/CAT/NAME`.
    Tracepoint,
    /// `raw_tp/NAME`, `raw_tracepoint/NAME` (`.w`: writable).
    RawTracepoint { writable: bool },
    /// `tp_btf/NAME`: a raw tracepoint typed by kernel BTF.
    BtfTracepoint,
    /// `kprobe/FUNC`, `kretprobe/FUNC`, `kprobe.multi/PATTERN`.
    Kprobe { ret: bool, multi: bool },
    /// `ksyscall/NAME`, `kretsyscall/NAME`.
    Ksyscall { ret: bool },
    /// `uprobe/BINARY:FUNC`, `uretprobe/...` (`.s`: sleepable), `uprobe.multi`.
    Uprobe {
        ret: bool,
        sleepable: bool,
        multi: bool,
    },
    /// `usdt/BINARY:PROVIDER:NAME`.
    Usdt,
    /// `fentry/FUNC`, `fexit/FUNC`, `fmod_ret/FUNC` (`.s`: sleepable).
    Trampoline { kind: Trampoline, sleepable: bool },
    /// `lsm/HOOK`, `lsm.s/HOOK`, `lsm_cgroup/HOOK`.
    Lsm { sleepable: bool, cgroup: bool },
    /// `iter/TARGET`, `iter.s/TARGET`.
    Iter { sleepable: bool },
    /// `xdp`, `xdp.frags` (and `xdp/...` variants libbpf knows).
    Xdp { frags: bool },
    /// `tc`, `classifier`, `action`, `tc/ingress|egress`, `tcx/ingress|egress`.
    Tc {
        tcx: bool,
        direction: Option<Direction>,
    },
    /// `socket`: a socket filter.
    SocketFilter,
    /// `sockops`.
    SockOps,
    /// `cgroup_skb/ingress|egress`.
    CgroupSkb { direction: Option<Direction> },
    /// `cgroup/ATTACH` (`cgroup/connect4`, `cgroup/sock_create`, ...).
    Cgroup,
    /// `perf_event`.
    PerfEvent,
    /// Any other kind: libbpf decides what it means.
    Other,
}

/// Why a section or target was refused: one line naming the hook kind and
/// the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {kind}: {rule}")]
pub struct TargetError {
    pub text: String,
    pub kind: &'static str,
    pub rule: &'static str,
}

/// A program's section, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProgramSection {
    /// The section name as the ELF has it (`tp/sched/sched_switch`).
    pub name: String,
    pub hook: Hook,
    /// The place the section names after its kind (`sched/sched_switch`),
    /// already checked for its kind; None when the guest must name one.
    pub target: Option<String>,
}

const TRACEFS_NAME: &str =
    "letters, digits, '_', '-' and '.', and not '.' or '..' (names under tracefs events/)";
const SYMBOL: &str = "letters, digits, '_', '.', '$' and '@', optionally +OFFSET";
const INTERFACE: &str = "1 to 15 bytes, no '/', ':', spaces or control characters";
const CGROUP: &str = "an absolute path without '.' or '..' components or control characters";
const BINARY: &str = "a path without control characters, then ':' and a function symbol";
const NO_CONTROLS: &str = "no control characters";

/// Kinds libbpf attaches only with a target the guest names (an interface,
/// a cgroup, a socket), besides the ones [`Hook`] knows by name.
const OTHER_NEEDS_TARGET: &[&str] = &[
    "sk_skb",
    "sk_msg",
    "sk_lookup",
    "sk_reuseport",
    "flow_dissector",
    "netkit",
    "lirc_mode2",
];

fn refuse(text: &str, kind: &'static str, rule: &'static str) -> TargetError {
    TargetError {
        text: text.to_string(),
        kind,
        rule,
    }
}

/// `text` if `ok`, else refused as a `kind` by `rule`.
fn check(ok: bool, text: &str, kind: &'static str, rule: &'static str) -> Result<(), TargetError> {
    if ok {
        Ok(())
    } else {
        Err(refuse(text, kind, rule))
    }
}

/// One tracefs path component: a tracepoint category or event name.
fn tracefs_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A kernel or ELF symbol, optionally with `+OFFSET` (`do_unlinkat+0x10`).
fn symbol(s: &str, glob: bool) -> bool {
    let (name, offset) = s.split_once('+').unwrap_or((s, ""));
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'_' | b'.' | b'$' | b'@')
                || (glob && matches!(b, b'*' | b'?'))
        });
    let offset_ok = offset.is_empty()
        || offset
            .strip_prefix("0x")
            .map_or(offset.bytes().all(|b| b.is_ascii_digit()), |hex| {
                !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
            });
    name_ok && offset_ok
}

fn no_controls(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A network interface name (`IFNAMSIZ` is 16 with the NUL).
pub fn interface_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b':'))
}

fn cgroup_path(s: &str) -> bool {
    s.starts_with('/')
        && s.len() <= 4096
        && no_controls(s)
        && s.split('/').skip(1).all(|c| c != "." && c != "..")
}

fn tracepoint(text: &str) -> Result<(), TargetError> {
    let (category, name) = text
        .split_once(['/', ':'])
        .ok_or_else(|| refuse(text, "tracepoint", "expected CATEGORY/NAME"))?;
    check(
        tracefs_name(category) && tracefs_name(name),
        text,
        "tracepoint",
        TRACEFS_NAME,
    )
}

fn binary_and_symbol(text: &str) -> Result<(), TargetError> {
    let (binary, func) = text
        .rsplit_once(':')
        .ok_or_else(|| refuse(text, "uprobe target", "expected BINARY:FUNCTION"))?;
    check(
        !binary.is_empty() && binary.len() <= 4096 && no_controls(binary) && symbol(func, false),
        text,
        "uprobe target",
        BINARY,
    )
}

fn direction(word: &str) -> Option<Direction> {
    match word {
        "ingress" => Some(Direction::Ingress),
        "egress" => Some(Direction::Egress),
        _ => None,
    }
}

impl Hook {
    /// The hook a section's kind word names (the part before the first `/`).
    fn of_kind(kind: &str, rest: &str) -> Hook {
        let sleepable = kind.ends_with(".s");
        match kind {
            "tp" | "tracepoint" => Hook::Tracepoint,
            "raw_tp" | "raw_tracepoint" => Hook::RawTracepoint { writable: false },
            "raw_tp.w" | "raw_tracepoint.w" => Hook::RawTracepoint { writable: true },
            "tp_btf" => Hook::BtfTracepoint,
            "kprobe" | "kretprobe" | "kprobe.multi" | "kretprobe.multi" => Hook::Kprobe {
                ret: kind.starts_with("kret"),
                multi: kind.ends_with(".multi"),
            },
            "ksyscall" | "kretsyscall" => Hook::Ksyscall {
                ret: kind == "kretsyscall",
            },
            "uprobe" | "uretprobe" | "uprobe.s" | "uretprobe.s" | "uprobe.multi"
            | "uretprobe.multi" | "uprobe.multi.s" | "uretprobe.multi.s" => Hook::Uprobe {
                ret: kind.starts_with("uret"),
                sleepable,
                multi: kind.contains(".multi"),
            },
            "usdt" => Hook::Usdt,
            "fentry" | "fentry.s" => Hook::Trampoline {
                kind: Trampoline::Entry,
                sleepable,
            },
            "fexit" | "fexit.s" => Hook::Trampoline {
                kind: Trampoline::Exit,
                sleepable,
            },
            "fmod_ret" | "fmod_ret.s" => Hook::Trampoline {
                kind: Trampoline::ModifyReturn,
                sleepable,
            },
            "lsm" | "lsm.s" => Hook::Lsm {
                sleepable,
                cgroup: false,
            },
            "lsm_cgroup" => Hook::Lsm {
                sleepable: false,
                cgroup: true,
            },
            "iter" | "iter.s" => Hook::Iter { sleepable },
            "xdp" | "xdp.frags" => Hook::Xdp {
                frags: kind == "xdp.frags",
            },
            "tc" | "classifier" | "action" | "tcx" => Hook::Tc {
                tcx: kind == "tcx",
                direction: direction(rest),
            },
            "socket" => Hook::SocketFilter,
            "sockops" => Hook::SockOps,
            "cgroup_skb" => Hook::CgroupSkb {
                direction: direction(rest),
            },
            "cgroup" => Hook::Cgroup,
            "perf_event" => Hook::PerfEvent,
            _ => Hook::Other,
        }
    }

    /// What the place this hook attaches to is called, in words.
    pub fn target_kind(&self) -> &'static str {
        match self {
            Hook::Tracepoint => "tracepoint",
            Hook::RawTracepoint { .. } | Hook::BtfTracepoint => "raw tracepoint",
            Hook::Kprobe { .. } | Hook::Ksyscall { .. } => "kernel function",
            Hook::Uprobe { .. } | Hook::Usdt => "uprobe target",
            Hook::Trampoline { .. } | Hook::Lsm { .. } | Hook::Iter { .. } => "kernel function",
            Hook::Xdp { .. } | Hook::SocketFilter => "network interface",
            Hook::Tc { .. } => "tc target",
            Hook::SockOps | Hook::CgroupSkb { .. } | Hook::Cgroup => "cgroup",
            Hook::PerfEvent | Hook::Other => "attach target",
        }
    }
}

impl ProgramSection {
    /// Reads `name` and checks the place it names, if any.
    pub fn parse(name: &str) -> Result<Self, TargetError> {
        let (kind, rest) = name.split_once('/').unwrap_or((name, ""));
        let hook = Hook::of_kind(kind, rest);
        if !no_controls(name) {
            return Err(refuse(name, "section name", NO_CONTROLS));
        }
        let named = match hook {
            // These kinds take flags after the slash, not places.
            Hook::Tc { .. } | Hook::CgroupSkb { .. } | Hook::Cgroup | Hook::Xdp { .. } => None,
            Hook::Other => None,
            _ if rest.is_empty() => None,
            _ => Some(rest),
        };
        if let Some(place) = named {
            Self::check_named_place(&hook, place)?;
        }
        Ok(Self {
            name: name.to_string(),
            hook,
            target: named.map(str::to_string),
        })
    }

    /// The rules for a place named in a section.
    fn check_named_place(hook: &Hook, place: &str) -> Result<(), TargetError> {
        match hook {
            // Without a second component the guest names the category.
            Hook::Tracepoint if !place.contains('/') => {
                check(tracefs_name(place), place, "tracepoint", TRACEFS_NAME)
            }
            Hook::Tracepoint => tracepoint(place),
            Hook::RawTracepoint { .. } | Hook::BtfTracepoint => {
                check(tracefs_name(place), place, "raw tracepoint", TRACEFS_NAME)
            }
            Hook::Kprobe { multi: true, .. } => check(
                symbol(place, true),
                place,
                "kernel function pattern",
                SYMBOL,
            ),
            Hook::Uprobe { .. } | Hook::Usdt => binary_and_symbol(place),
            Hook::Kprobe { .. }
            | Hook::Ksyscall { .. }
            | Hook::Trampoline { .. }
            | Hook::Lsm { .. }
            | Hook::Iter { .. } => check(symbol(place, false), place, "kernel function", SYMBOL),
            _ => Ok(()),
        }
    }

    /// Checks a target the guest passes for this program.
    pub fn check_target(&self, target: &str) -> Result<(), TargetError> {
        match &self.hook {
            Hook::Tracepoint => tracepoint(target),
            Hook::RawTracepoint { .. } => {
                check(tracefs_name(target), target, "raw tracepoint", TRACEFS_NAME)
            }
            Hook::Kprobe { .. } | Hook::Ksyscall { .. } => {
                check(symbol(target, false), target, "kernel function", SYMBOL)
            }
            Hook::Uprobe { .. } | Hook::Usdt => binary_and_symbol(target),
            Hook::Xdp { .. } | Hook::SocketFilter => check(
                interface_name(target),
                target,
                "network interface",
                INTERFACE,
            ),
            Hook::Tc { .. } => {
                let ifname = match target.rsplit_once(':') {
                    Some((ifname, "ingress" | "egress")) => ifname,
                    _ => target,
                };
                check(
                    interface_name(ifname),
                    target,
                    "tc target",
                    "IFNAME, IFNAME:ingress or IFNAME:egress",
                )
            }
            Hook::SockOps | Hook::CgroupSkb { .. } | Hook::Cgroup => {
                check(cgroup_path(target), target, "cgroup", CGROUP)
            }
            _ => check(
                no_controls(target) && target.len() <= 4096,
                target,
                "attach target",
                NO_CONTROLS,
            ),
        }
    }

    /// The tracepoint `(category, name)` the section names, if it names one.
    pub fn tracepoint(&self) -> Option<(&str, &str)> {
        match self.hook {
            Hook::Tracepoint => self.target.as_deref()?.split_once('/'),
            _ => None,
        }
    }

    /// Whether the program cannot attach without a target from the guest
    /// (an interface, a cgroup, a socket, or a probe whose section names no
    /// function).
    pub fn needs_target(&self) -> bool {
        match &self.hook {
            Hook::Xdp { .. }
            | Hook::Tc { .. }
            | Hook::SocketFilter
            | Hook::SockOps
            | Hook::CgroupSkb { .. }
            | Hook::Cgroup => true,
            Hook::Kprobe { .. } | Hook::Uprobe { .. } => self.target.is_none(),
            Hook::Other => {
                let kind = self.name.split(['/', '.']).next().unwrap_or(&self.name);
                OTHER_NEEDS_TARGET
                    .iter()
                    .any(|p| kind == *p || kind.starts_with(&format!("{p}_")))
            }
            _ => false,
        }
    }

    /// The kind word of the section (`tp`, `kretprobe`, `xdp.frags`).
    pub fn kind_word(&self) -> &str {
        self.name.split('/').next().unwrap_or(&self.name)
    }
}

impl Hook {
    /// What the guest names when the section does not: `target`,
    /// `function`, `BINARY:FUNC`, `interface`, `cgroup`, `hook`.
    fn guest_names(&self) -> &'static str {
        match self {
            Hook::Tracepoint | Hook::RawTracepoint { .. } | Hook::BtfTracepoint => "target",
            Hook::Kprobe { .. }
            | Hook::Ksyscall { .. }
            | Hook::Trampoline { .. }
            | Hook::Iter { .. } => "function",
            Hook::Uprobe { .. } | Hook::Usdt => "BINARY:FUNC",
            Hook::Lsm { .. } => "hook",
            Hook::Xdp { .. } | Hook::Tc { .. } | Hook::SocketFilter => "interface",
            Hook::SockOps | Hook::CgroupSkb { .. } | Hook::Cgroup => "cgroup",
            Hook::PerfEvent | Hook::Other => "target",
        }
    }
}

impl fmt::Display for ProgramSection {
    /// How `--explain` names the hook: `tracepoint sched/sched_switch`,
    /// `XDP (interface from the guest)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.kind_word().trim_end_matches(".s");
        let what = match &self.hook {
            Hook::Tracepoint => "tracepoint",
            Hook::RawTracepoint { .. } => "raw tracepoint",
            Hook::BtfTracepoint => "BTF tracepoint",
            Hook::Kprobe { .. }
            | Hook::Ksyscall { .. }
            | Hook::Uprobe { .. }
            | Hook::Trampoline { .. } => word,
            Hook::Usdt => "USDT probe",
            Hook::Lsm { .. } => "LSM hook",
            Hook::Iter { .. } => "iterator",
            Hook::Xdp { .. } => "XDP",
            Hook::Tc { direction, .. } => match direction {
                Some(Direction::Egress) => "tc egress",
                Some(Direction::Ingress) => "tc ingress",
                None => "tc classifier",
            },
            Hook::SocketFilter => "socket filter",
            Hook::SockOps => "sock_ops",
            Hook::CgroupSkb { direction } => match direction {
                Some(Direction::Ingress) => "cgroup skb ingress",
                Some(Direction::Egress) => "cgroup skb egress",
                None => "cgroup skb",
            },
            Hook::Cgroup => &self.name,
            Hook::PerfEvent => return f.write_str("perf event"),
            Hook::Other => return write!(f, "section {}", self.name),
        };
        match &self.target {
            Some(place) => write!(f, "{what} {place}"),
            None => write!(f, "{what} ({} from the guest)", self.hook.guest_names()),
        }
    }
}

#[cfg(test)]
mod tests;
