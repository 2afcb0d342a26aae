//! Turning libbpf failures into one line that names the cause.
//!
//! libbpf reports *why* something failed only through its log callback. We route
//! that log to `tracing` and, while a load or attach is in progress on this
//! thread, also capture it so the error message can name the failing program.

use std::cell::RefCell;
use std::sync::Once;

use std::ffi::{c_char, c_int};
use unibpf_backend::{BackendError, Errno};
use unibpf_object::Hook;

thread_local! {
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

fn forward(level: c_int, msg: &str) {
    let msg = msg.trim_end();
    match level {
        LIBBPF_WARN => tracing::debug!(target: "libbpf", "{msg}"),
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

/// libbpf's `LIBBPF_WARN` level.
const LIBBPF_WARN: c_int = 0;

extern "C" {
    /// Installs csrc/libbpf_log.c's callback with `libbpf_set_print`.
    fn unibpf_route_libbpf_log();
}

/// Called by csrc/libbpf_log.c with each formatted message. Names in the
/// message come from the guest's ELF and may be any bytes: they are converted
/// lossily, and nothing here may unwind into C.
#[no_mangle]
extern "C" fn unibpf_libbpf_log(level: c_int, msg: *const c_char, len: usize) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the C side passes a buffer it owns, valid for `len` bytes, for
    // the duration of this call.
    let bytes = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
    let text = String::from_utf8_lossy(bytes);
    // A panic must not cross into C (it would abort); losing one log line is
    // the lesser harm.
    let _ = std::panic::catch_unwind(|| forward(level, &text));
}

pub(crate) fn route_libbpf_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a callback with the signature libbpf expects;
        // libbpf keeps only the function pointer.
        unsafe { unibpf_route_libbpf_log() };
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
    // libbpf-rs keeps the io::Error it made from libbpf's return code out of
    // the source chain, and its plain text shows only the outer context
    // ("failed to open object from memory"); the alternate form prints the
    // whole chain, which ends with std's "(os error N)".
    let text = format!("{err:#}");
    if let Some(code) = text
        .rsplit_once("(os error ")
        .and_then(|(_, rest)| rest.split(')').next())
        .and_then(|n| n.parse::<i32>().ok())
    {
        return Errno(code.abs());
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
/// program of this hook kind.
pub(crate) fn hint(hook: &Hook, errno: Errno, attaching: bool) -> Option<&'static str> {
    let refused = matches!(errno.0, 1 | 22 | 95 | ENOTSUPP);
    match hook {
        Hook::Trampoline { .. } if refused => {
            Some("fentry/fexit programs are not available on this kernel")
        }
        Hook::Lsm { .. } if refused => Some(
            "BPF LSM is not available on this kernel: it needs CONFIG_BPF_LSM and 'bpf' in the lsm= boot parameter",
        ),
        Hook::Kprobe { .. } | Hook::Ksyscall { .. } if attaching => Some(
            "kprobes cannot attach on this kernel (no CONFIG_KPROBES), or the function does not exist",
        ),
        Hook::Tracepoint if attaching && errno == Errno::ENOENT => {
            Some("the tracepoint does not exist on this kernel")
        }
        Hook::Xdp { .. } if attaching && errno == Errno::ENODEV => Some("no such network interface"),
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

/// Failures that say nothing about the object: the process or the host ran
/// out of something. The cause and what to do about it.
pub(crate) fn out_of_resources(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::EMFILE => Some(
            "this process is out of file descriptors (EMFILE): raise its limit (ulimit -n) or load fewer objects",
        ),
        Errno::ENFILE => Some(
            "the system is out of file descriptors (ENFILE): close some, or raise fs.file-max",
        ),
        _ => None,
    }
}

/// Builds the one-line error for a failed load.
pub(crate) fn load_error(
    err: &libbpf_rs::Error,
    log: &[String],
    hook_of: impl Fn(&str) -> Option<Hook>,
) -> BackendError {
    let errno = errno_of(err);
    if let Some(cause) = out_of_resources(errno) {
        return BackendError::new(errno, format!("loading the object failed: {cause}"));
    }
    match failing_program(log) {
        Some(prog) => {
            let hook = hook_of(&prog).unwrap_or(Hook::Other);
            if let Some(reason) = verifier_reason(log) {
                let remedy = if reason.contains("requires BPF JIT compiler") {
                    // Debian's riscv64 kernels boot with the JIT off.
                    "; turn the kernel's BPF JIT on: sysctl net.core.bpf_jit_enable=1"
                } else {
                    ""
                };
                return BackendError::new(
                    errno,
                    format!("program {prog}: the verifier rejected it: {reason}{remedy}"),
                );
            }
            if let Some(function) = missing_btf_function(log) {
                return BackendError::new(
                    errno,
                    format!(
                        "program {prog}: this kernel has no function {function} to attach to \
                         (its BTF does not list it: not built in, inlined or renamed here)"
                    ),
                );
            }
            let mut msg = format!("program {prog}: kernel refused the load: {errno}");
            if let Some(h) = hint(&hook, errno, false) {
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

/// The function libbpf looked for in the kernel's BTF and did not find
/// (an fentry, fexit or LSM target).
fn missing_btf_function(log: &[String]) -> Option<String> {
    const MARK: &str = "failed to find kernel BTF type ID of '";
    log.iter().find_map(|l| {
        let rest = &l[l.find(MARK)? + MARK.len()..];
        let name = &rest[..rest.find('\'')?];
        Some(unibpf_backend::Escaped(name).to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_needing_the_jit_names_the_sysctl() {
        let log = vec![
            "libbpf: prog 'handle_exec': BPF program load failed: -ENOTSUPP".to_string(),
            "libbpf: prog 'handle_exec': -- BEGIN PROG LOAD LOG --\nprogram requires BPF JIT compiler but it is not available\nprocessed 30 insns (limit 1000000)\n-- END PROG LOAD LOG --".to_string(),
        ];
        let err = load_error(&libbpf_rs::Error::from_raw_os_error(524), &log, |_| None);
        assert_eq!(
            err.to_string(),
            "program handle_exec: the verifier rejected it: program requires BPF JIT compiler \
             but it is not available; turn the kernel's BPF JIT on: sysctl net.core.bpf_jit_enable=1"
        );
    }

    #[test]
    fn a_target_missing_from_the_kernel_btf_is_named() {
        let log = vec![
            "libbpf: prog 'deny_rmdir': failed to find kernel BTF type ID of 'path_rmdir': -3"
                .to_string(),
        ];
        assert_eq!(missing_btf_function(&log).as_deref(), Some("path_rmdir"));
        let err = load_error(&libbpf_rs::Error::from_raw_os_error(3), &log, |_| None);
        assert_eq!(
            err.to_string(),
            "program deny_rmdir: this kernel has no function path_rmdir to attach to \
             (its BTF does not list it: not built in, inlined or renamed here)"
        );
    }

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
    fn the_errno_survives_libbpf_rs_errors() {
        for code in [24, 23, 28, 7, 1] {
            let err = libbpf_rs::Error::from_raw_os_error(code);
            assert_eq!(errno_of(&err), Errno(code), "{err}");
        }
    }

    #[test]
    fn the_errno_survives_a_context_layer() {
        use libbpf_rs::ErrorExt as _;
        // How libbpf-rs reports a failed bpf_object__open_mem: libbpf 1.7
        // makes a placeholder memfd while opening, so EMFILE can come from
        // open as well as from load.
        let err = Err::<(), _>(libbpf_rs::Error::from_raw_os_error(24))
            .context("failed to open object from memory")
            .unwrap_err();
        assert_eq!(errno_of(&err), Errno::EMFILE, "{err:#}");
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
        let hook = |s: &str| {
            unibpf_object::ProgramSection::parse(s)
                .expect("section")
                .hook
        };
        assert!(hint(&hook("fentry/do_unlinkat"), Errno::EPERM, false)
            .unwrap()
            .contains("fentry"));
        assert!(hint(&hook("kprobe/do_unlinkat"), Errno::ENOENT, true)
            .unwrap()
            .contains("kprobes"));
        assert_eq!(hint(&hook("tp/sched/x"), Errno(11), true), None);
    }
}
