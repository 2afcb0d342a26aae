//! What an attach target may look like, by the kind of hook it names.
//!
//! Targets come from the guest (its target string) and from the object it
//! handed us (the section name, which libbpf turns into tracefs paths for
//! tracepoints). Both are checked here, before anything builds a path from
//! them: a tracepoint called `../../../tmp/x` must not make the backend read
//! `/tmp/x/id`, and the answer must not tell the guest whether the file exists.

use std::fmt;

/// Why a target was refused: one line naming the hook kind and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {kind}: {rule}")]
pub struct TargetError {
    pub text: String,
    pub kind: &'static str,
    pub rule: &'static str,
}

fn refuse(text: &str, kind: &'static str, rule: &'static str) -> TargetError {
    TargetError {
        text: text.to_string(),
        kind,
        rule,
    }
}

/// A guest-supplied name for a log line: as it is when it is plain text,
/// quoted with its control characters escaped when not, so that it cannot
/// end the line and fake one of ours.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && !self.0.chars().any(char::is_control) {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

const TRACEFS_NAME: &str =
    "letters, digits, '_', '-' and '.', and not '.' or '..' (names under tracefs events/)";
const SYMBOL: &str = "letters, digits, '_', '.', '$' and '@', optionally +OFFSET";
const INTERFACE: &str = "1 to 15 bytes, no '/', ':', spaces or control characters";
const CGROUP: &str = "an absolute path without '.' or '..' components or control characters";
const BINARY: &str = "a path without control characters, then ':' and a function symbol";

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
pub fn interface(s: &str) -> bool {
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

/// `text` if `ok`, else refused as a `kind` by `rule`.
fn check(ok: bool, text: &str, kind: &'static str, rule: &'static str) -> Result<(), TargetError> {
    if ok {
        Ok(())
    } else {
        Err(refuse(text, kind, rule))
    }
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

fn uprobe(text: &str) -> Result<(), TargetError> {
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

/// The hook kind of a section (`tp/sched/x` -> `tp`), and what follows it.
fn split_section(section: &str) -> (&str, &str) {
    section.split_once('/').unwrap_or((section, ""))
}

fn is_uprobe(kind: &str) -> bool {
    kind.starts_with("uprobe") || kind.starts_with("uretprobe") || kind.starts_with("usdt")
}

/// The places named the same way in a section and in a guest's target:
/// tracepoints, raw tracepoints, kernel functions and uprobes. None for
/// other kinds.
fn named_place(kind: &str, text: &str) -> Option<Result<(), TargetError>> {
    Some(match kind {
        "tp" | "tracepoint" => tracepoint(text),
        "raw_tp" | "raw_tracepoint" | "raw_tp.w" | "raw_tracepoint.w" => {
            check(tracefs_name(text), text, "raw tracepoint", TRACEFS_NAME)
        }
        "kprobe" | "kretprobe" | "ksyscall" | "kretsyscall" => {
            check(symbol(text, false), text, "kernel function", SYMBOL)
        }
        k if is_uprobe(k) => uprobe(text),
        _ => return None,
    })
}

/// Checks what a section name says to attach to, where it names a place
/// (`tp/CAT/NAME`, `raw_tp/NAME`, `kprobe/FUNC`, `uprobe/BINARY:FUNC`, ...).
pub fn check_section(section: &str) -> Result<(), TargetError> {
    let (kind, rest) = split_section(section);
    if rest.is_empty() {
        return check(
            no_controls(section),
            section,
            "section name",
            "no control characters",
        );
    }
    match kind {
        // Without a second component the guest names the tracepoint.
        "tp" | "tracepoint" if !rest.contains('/') => {
            check(tracefs_name(rest), rest, "tracepoint", TRACEFS_NAME)
        }
        "tp_btf" => check(tracefs_name(rest), rest, "raw tracepoint", TRACEFS_NAME),
        "fentry" | "fexit" | "fmod_ret" | "fentry.s" | "fexit.s" | "lsm" | "lsm.s"
        | "lsm_cgroup" | "iter" | "iter.s" | "freplace" => {
            check(symbol(rest, false), rest, "kernel function", SYMBOL)
        }
        "kprobe.multi" | "kretprobe.multi" => {
            check(symbol(rest, true), rest, "kernel function pattern", SYMBOL)
        }
        _ => named_place(kind, rest).unwrap_or_else(|| {
            check(
                no_controls(section),
                section,
                "section name",
                "no control characters",
            )
        }),
    }
}

/// Checks a guest's attach target for a program in `section`.
pub fn check_target(section: &str, target: &str) -> Result<(), TargetError> {
    let (kind, _) = split_section(section);
    if let Some(checked) = named_place(kind, target) {
        return checked;
    }
    match kind {
        "xdp" | "xdp.frags" | "socket" => {
            check(interface(target), target, "network interface", INTERFACE)
        }
        "tc" | "classifier" | "tcx" | "action" => {
            let ifname = match target.rsplit_once(':') {
                Some((ifname, "ingress" | "egress")) => ifname,
                _ => target,
            };
            check(
                interface(ifname),
                target,
                "tc target",
                "IFNAME, IFNAME:ingress or IFNAME:egress",
            )
        }
        k if k == "sockops" || k.starts_with("cgroup") => {
            check(cgroup_path(target), target, "cgroup", CGROUP)
        }
        _ => check(
            no_controls(target) && target.len() <= 4096,
            target,
            "attach target",
            "no control characters",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracepoints_cannot_climb_out_of_tracefs() {
        assert!(check_section("tp/sched/sched_process_exec").is_ok());
        assert!(check_section("tracepoint/syscalls/sys_enter_openat").is_ok());
        assert!(check_section("tp/sched").is_ok());
        for bad in [
            "tp/../../../../tmp/x",
            "tp/sched/../../x",
            "tp/..",
            "tp/./x",
            "tp/sched/a b",
            "tp/sched/x\n",
        ] {
            assert!(check_section(bad).is_err(), "{bad:?}");
        }
        assert!(check_target("tp/x", "sched:sched_switch").is_ok());
        assert!(check_target("tp", "../../../tmp/x/y").is_err());
        assert!(check_target("raw_tp", "sched_switch").is_ok());
        assert!(check_target("raw_tp", "../x").is_err());
        assert!(check_section("raw_tp/..").is_err());
    }

    #[test]
    fn symbols_paths_and_interfaces_follow_their_kind() {
        assert!(check_section("kprobe/do_unlinkat").is_ok());
        assert!(check_section("kprobe/do_unlinkat+0x10").is_ok());
        assert!(check_section("kprobe/foo.isra.0").is_ok());
        assert!(check_section("kprobe/../x").is_err());
        assert!(check_section("kprobe.multi/tcp_*").is_ok());
        assert!(check_section("uprobe//usr/bin/bash:readline").is_ok());
        assert!(check_target("uprobe", "/proc/self/exe:uprobe_add").is_ok());
        assert!(check_target("uprobe", "/bin/x:rm -rf").is_err());
        assert!(check_target("uprobe", "nofunction").is_err());
        assert!(check_target("xdp", "eth0").is_ok());
        assert!(check_target("xdp", "../eth0").is_err());
        assert!(check_target("xdp", "a-very-long-interface").is_err());
        assert!(check_target("tc", "veth0:egress").is_ok());
        assert!(check_target("tc", "veth0:sideways").is_err());
        assert!(check_target("sockops", "/sys/fs/cgroup/unified/x").is_ok());
        assert!(check_target("sockops", "/sys/fs/cgroup/../../etc").is_err());
        assert!(check_target("cgroup_skb/egress", "relative/path").is_err());
        assert!(check_target("perf_event", "x\ny").is_err());
    }

    #[test]
    fn plain_names_stay_plain_and_others_are_quoted() {
        assert_eq!(Escaped("handle_exec").to_string(), "handle_exec");
        assert_eq!(Escaped("a\nb").to_string(), "\"a\\nb\"");
        assert_eq!(Escaped("").to_string(), "\"\"");
    }

    #[test]
    fn errors_quote_the_text_on_one_line() {
        let e = check_target("tp", "a\nunibpf: error: forged").unwrap_err();
        let line = e.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("\"a\\nunibpf: error: forged\" is not a valid tracepoint"));
    }
}
