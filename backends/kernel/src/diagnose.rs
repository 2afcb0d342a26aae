//! Turning libbpf failures into one line that names the cause.
//!
//! libbpf reports *why* something failed only through its log callback. We route
//! that log to `tracing` and, while a load or attach is in progress on this
//! thread, also capture it so the error message can name the failing program.

use std::cell::RefCell;
use std::sync::Once;

use libbpf_rs::PrintLevel;
use unibpf_backend::{BackendError, Errno};

thread_local! {
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

fn forward(level: PrintLevel, msg: String) {
    let msg = msg.trim_end();
    match level {
        PrintLevel::Warn => tracing::debug!(target: "libbpf", "{msg}"),
        _ => tracing::trace!(target: "libbpf", "{msg}"),
    }
    CAPTURE.with(|c| {
        if let Some(lines) = c.borrow_mut().as_mut() {
            // The verifier log can be huge; the first lines and the tail matter.
            if lines.len() < 4096 {
                lines.push(msg.to_string());
            }
        }
    });
}

pub(crate) fn route_libbpf_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        libbpf_rs::set_print(Some((PrintLevel::Debug, forward)));
    });
}

/// Runs `f` while capturing libbpf's log lines on this thread.
pub(crate) fn capture_log<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let out = f();
    let lines = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (out, lines)
}

/// The errno inside a libbpf-rs error chain (EINVAL when there is none).
pub(crate) fn errno_of(err: &libbpf_rs::Error) -> Errno {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return Errno(code.abs());
            }
        }
        source = e.source();
    }
    use libbpf_rs::ErrorKind as K;
    match err.kind() {
        K::NotFound => Errno::ENOENT,
        K::PermissionDenied => Errno::EPERM,
        K::AlreadyExists => Errno::EEXIST,
        K::OutOfMemory => Errno::ENOMEM,
        K::TooBig => Errno::E2BIG,
        K::Unsupported => Errno::EOPNOTSUPP,
        _ => Errno::EINVAL,
    }
}

/// The program libbpf names in a "prog 'X': ... failed" line.
pub(crate) fn failing_program(log: &[String]) -> Option<String> {
    log.iter().find_map(|line| {
        let rest = &line[line.find("prog '")? + 6..];
        let name = &rest[..rest.find('\'')?];
        let tail = &rest[name.len()..];
        (tail.contains("failed") || tail.contains("error")).then(|| name.to_string())
    })
}

/// Kernel error numbers beyond the user-visible range.
const ENOTSUPP: i32 = 524;

/// A short explanation of what a load or attach failure usually means for a
/// program in `section`.
pub(crate) fn hint(section: &str, errno: Errno, attaching: bool) -> Option<&'static str> {
    let kind = section.split('/').next().unwrap_or(section);
    let refused = matches!(errno.0, 1 | 22 | 95 | ENOTSUPP);
    match kind {
        "fentry" | "fexit" | "fmod_ret" | "fentry.s" | "fexit.s" if refused => {
            Some("fentry/fexit programs are not available on this kernel")
        }
        "lsm" | "lsm.s" | "lsm_cgroup" if refused => Some(
            "BPF LSM is not available on this kernel: it needs CONFIG_BPF_LSM and 'bpf' in the lsm= boot parameter",
        ),
        "kprobe" | "kretprobe" | "ksyscall" | "kretsyscall" if attaching => Some(
            "kprobes cannot attach on this kernel (no CONFIG_KPROBES), or the function does not exist",
        ),
        "tp" | "tracepoint" if attaching && errno == Errno::ENOENT => {
            Some("the tracepoint does not exist on this kernel")
        }
        "xdp" if attaching && errno == Errno::ENODEV => Some("no such network interface"),
        _ if errno == Errno::EPERM => Some("run as root, or with CAP_BPF and CAP_PERFMON"),
        _ => None,
    }
}

/// The verifier's own reason from a load log: the line before its
/// "processed N insns" summary, with the last source location it showed.
fn verifier_reason(log: &[String]) -> Option<String> {
    let lines: Vec<&str> = log.iter().flat_map(|l| l.lines()).map(str::trim).collect();
    let end = lines
        .iter()
        .rposition(|l| l.starts_with("processed ") && l.contains(" insns"))?;
    let reason = lines[..end].iter().rev().find(|l| !l.is_empty())?;
    let location = lines[..end].iter().rev().find_map(|l| {
        l.strip_prefix(';')
            .and_then(|rest| rest.rsplit_once(" @ "))
            .map(|(_, at)| at)
    });
    Some(match location {
        Some(at) => format!("{reason} (at {at})"),
        None => reason.to_string(),
    })
}

/// Builds the one-line error for a failed load.
pub(crate) fn load_error(
    err: &libbpf_rs::Error,
    log: &[String],
    section_of: impl Fn(&str) -> Option<String>,
) -> BackendError {
    let errno = errno_of(err);
    match failing_program(log) {
        Some(prog) => {
            let section = section_of(&prog).unwrap_or_default();
            if let Some(reason) = verifier_reason(log) {
                return BackendError::new(
                    errno,
                    format!("program {prog}: the verifier rejected it: {reason}"),
                );
            }
            let mut msg = format!("program {prog}: kernel refused the load: {errno}");
            if let Some(h) = hint(&section, errno, false) {
                msg.push_str(&format!(" ({h})"));
            }
            BackendError::new(errno, msg)
        }
        None => {
            // Not a program: a map, BTF or relocation problem. libbpf's last
            // warning says which.
            let detail = log
                .iter()
                .rev()
                .find(|l| l.contains("failed") || l.contains("error") || l.contains("invalid"))
                .map(|l| l.trim_start_matches("libbpf: ").to_string());
            match detail {
                Some(d) => BackendError::new(errno, format!("loading the object failed: {d}")),
                None => BackendError::new(errno, format!("loading the object failed: {err}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_reason_and_location_are_extracted() {
        let log = vec![
            "libbpf: prog 'on_state': BPF program load failed: -EACCES".to_string(),
            "libbpf: prog 'on_state': -- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\n; e->daddr = sk->__sk_common.skc_daddr; @ tcpconnlat.bpf.c:66\n42: (61) r2 = *(u32 *)(r1 +0)\nR1 invalid mem access 'scalar'\nprocessed 41 insns (limit 1000000)\n-- END PROG LOAD LOG --".to_string(),
        ];
        assert_eq!(
            verifier_reason(&log).as_deref(),
            Some("R1 invalid mem access 'scalar' (at tcpconnlat.bpf.c:66)")
        );
        assert_eq!(verifier_reason(&log[..1]), None);
    }

    #[test]
    fn finds_the_failing_program_in_libbpf_log() {
        let log = vec![
            "libbpf: map 'rb': created successfully, fd=4".to_string(),
            "libbpf: prog 'handle_exec': BPF program load failed: -EPERM".to_string(),
        ];
        assert_eq!(failing_program(&log).as_deref(), Some("handle_exec"));
    }

    #[test]
    fn hints_name_the_missing_feature() {
        assert!(hint("fentry/do_unlinkat", Errno::EPERM, false)
            .unwrap()
            .contains("fentry"));
        assert!(hint("kprobe/do_unlinkat", Errno::ENOENT, true)
            .unwrap()
            .contains("kprobes"));
        assert_eq!(hint("tp/sched/x", Errno(11), true), None);
    }
}
