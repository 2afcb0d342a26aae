//! Attaching one program, by its type and the guest's target string.
//!
//! | program type                        | target                                  |
//! |-------------------------------------|-----------------------------------------|
//! | any, target NULL or ""              | libbpf auto-attach from the section     |
//! | sockops, cgroup_skb, cgroup/*       | cgroup directory path                   |
//! | xdp                                 | interface name                          |
//! | tc / classifier (sched_cls)         | `IFNAME[:ingress|:egress]` (see `tc`)   |
//! | kprobe / kretprobe                  | kernel function name                    |
//! | uprobe / uretprobe                  | `BINARY:FUNCTION`                       |
//! | tracepoint                          | `CATEGORY/NAME`                         |
//! | raw_tp                              | tracepoint name                         |
//! | socket (socket filter)              | interface: a raw packet socket on it    |
//! | anything else                       | ignored (warned), auto-attach           |

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use libbpf_rs::{Link, ProgramMut, ProgramType, UprobeOpts};
use unibpf_backend::{AttachTarget, BackendError, Errno, Escaped, Result, TcAttach};
use unibpf_host::tracefs;
use unibpf_object::{Direction as Way, Hook, ProgramSection};

use crate::diagnose::{errno_of, hint};
use crate::ksym;
use crate::tc::{self, Direction, TcAttachment};

/// Something attached on behalf of an object, held only so that dropping it
/// detaches.
#[allow(dead_code)]
pub(crate) enum Attachment {
    Link(Link),
    Tc(TcAttachment),
    /// A packet socket carrying a socket filter; closing it detaches.
    Socket(OwnedFd),
}

/// The kernel function a kprobe of program `name` attaches to for `wanted`
/// (`FUNC` or `FUNC+OFFSET`): as it is, this kernel's syscall wrapper for
/// another architecture's, or an error naming the closest functions.
fn kprobe_function(name: &str, wanted: &str) -> Result<String> {
    let (function, offset) = match wanted.split_once('+') {
        Some((f, o)) => (f, format!("+{o}")),
        None => (wanted, String::new()),
    };
    match ksym::resolve(function) {
        ksym::Resolved::AsIs => Ok(wanted.to_string()),
        ksym::Resolved::Renamed(to) => {
            tracing::info!(
                "program {}: kprobe on {} attaches to {to}, this kernel's syscall wrapper",
                Escaped(name),
                Escaped(function)
            );
            Ok(format!("{to}{offset}"))
        }
        ksym::Resolved::Missing { closest } => {
            let near = if closest.is_empty() {
                String::new()
            } else {
                format!("; the closest it has: {}", closest.join(", "))
            };
            Err(BackendError::new(
                Errno::ENOENT,
                format!(
                    "program {}: kernel function {} is not in this kernel (/proc/kallsyms){near}; attach to a function it has, or mark the program optional",
                    Escaped(name),
                    Escaped(function)
                ),
            ))
        }
    }
}

/// Attaches `prog`, whose section the pipeline read as `section`; `tc` says
/// how tc classifiers attach (the selector's plan).
pub(crate) fn attach(
    prog: &ProgramMut<'_>,
    section: &ProgramSection,
    target: AttachTarget<'_>,
    tc: TcAttach,
) -> Result<Attachment> {
    let name = prog.name().to_string_lossy().into_owned();
    let fail = |e: libbpf_rs::Error, what: String| -> BackendError {
        let errno = errno_of(&e);
        let mut msg = format!("program {name}: attaching {what} failed: {errno}");
        if let Some(h) = hint(&section.hook, errno, true) {
            msg.push_str(&format!(" ({h})"));
        }
        BackendError::new(errno, msg)
    };
    if let (AttachTarget::Auto, Hook::Kprobe { ret, multi: false }) = (&target, &section.hook) {
        if let Some(function) = section.name.split_once('/').map(|(_, f)| f) {
            let function = kprobe_function(&name, function)?;
            return prog
                .attach_kprobe(*ret, &function)
                .map(Attachment::Link)
                .map_err(|e| fail(e, format!("kprobe to {function}")));
        }
    }
    if let (AttachTarget::Auto, Hook::Trampoline { .. }) = (&target, &section.hook) {
        // By the program's own attach type: a converted kprobe keeps its
        // kprobe section, which libbpf's automatic attach would follow.
        return prog
            .attach_trace()
            .map(Attachment::Link)
            .map_err(|e| fail(e, format!("to {}", section.name)));
    }
    let target = match target {
        AttachTarget::Auto => {
            // The section was checked when the object was read; libbpf
            // builds tracefs paths from it.
            let tracepoint = matches!(section.hook, Hook::Tracepoint);
            let res = match prog.attach() {
                Err(e)
                    if tracepoint && errno_of(&e) == Errno::ENOENT && tracefs::ensure_mounted() =>
                {
                    prog.attach()
                }
                other => other,
            };
            return res
                .map(Attachment::Link)
                .map_err(|e| fail(e, format!("to {}", section.name)));
        }
        AttachTarget::Named(t) => t,
    };
    // Targets come from the guest; libbpf builds paths from some of them.
    section.check_target(target).map_err(|e| {
        BackendError::new(Errno::EINVAL, format!("program {}: {e}", Escaped(&name)))
    })?;

    match prog.prog_type() {
        ProgramType::SockOps
        | ProgramType::CgroupSkb
        | ProgramType::CgroupSock
        | ProgramType::CgroupSockAddr
        | ProgramType::CgroupSockopt
        | ProgramType::CgroupSysctl
        | ProgramType::CgroupDevice => {
            let cgroup = open_cgroup(target).map_err(|(errno, why)| {
                BackendError::new(
                    errno,
                    format!(
                        "program {}: cgroup {}: {why}",
                        Escaped(&name),
                        Escaped(target)
                    ),
                )
            })?;
            prog.attach_cgroup(cgroup.as_raw_fd())
                .map(Attachment::Link)
                .map_err(|e| fail(e, format!("to cgroup {target}")))
        }
        ProgramType::Xdp => {
            let ifindex = ifindex(target, &name)?;
            prog.attach_xdp(ifindex)
                .map(Attachment::Link)
                .map_err(|e| fail(e, format!("XDP to {target}")))
        }
        ProgramType::SchedCls => {
            let (ifname, direction) = parse_tc_target(target, &section.hook);
            let ifindex = ifindex(ifname, &name)?;
            tc::attach(prog.as_fd(), ifindex, direction, tc)
                .map(Attachment::Tc)
                .map_err(|e| e.context(format!("program {name}: attaching tc to {ifname}")))
        }
        ProgramType::Kprobe if matches!(section.hook, Hook::Uprobe { .. }) => {
            let (binary, func) = target.rsplit_once(':').ok_or_else(|| {
                BackendError::new(
                    Errno::EINVAL,
                    format!(
                        "program {name}: uprobe target must be BINARY:FUNCTION, got {target:?}"
                    ),
                )
            })?;
            let opts = UprobeOpts {
                retprobe: matches!(section.hook, Hook::Uprobe { ret: true, .. }),
                func_name: Some(func.to_string()),
                ..Default::default()
            };
            prog.attach_uprobe_with_opts(-1, binary, 0, opts)
                .map(Attachment::Link)
                .map_err(|e| fail(e, format!("uprobe to {target}")))
        }
        ProgramType::Kprobe => {
            let function = match section.hook {
                Hook::Kprobe { multi: false, .. } => kprobe_function(&name, target)?,
                _ => target.to_string(),
            };
            prog.attach_kprobe(
                matches!(
                    section.hook,
                    Hook::Kprobe { ret: true, .. } | Hook::Ksyscall { ret: true }
                ),
                &function,
            )
            .map(Attachment::Link)
            .map_err(|e| fail(e, format!("kprobe to {function}")))
        }
        ProgramType::Tracepoint => {
            let (cat, tp) = target.split_once(['/', ':']).ok_or_else(|| {
                BackendError::new(
                    Errno::EINVAL,
                    format!(
                        "program {name}: tracepoint target must be CATEGORY/NAME, got {target:?}"
                    ),
                )
            })?;
            tracefs::ensure_mounted();
            prog.attach_tracepoint(libbpf_rs::TracepointCategory::Custom(cat.to_string()), tp)
                .map(Attachment::Link)
                .map_err(|e| fail(e, format!("to tracepoint {target}")))
        }
        ProgramType::SocketFilter => {
            let ifindex = ifindex(target, &name)?;
            packet_socket_with_filter(prog, ifindex)
                .map(Attachment::Socket)
                .map_err(|errno| {
                    BackendError::new(
                        errno,
                        format!(
                            "program {name}: attaching a socket filter to {target} failed: {errno}"
                        ),
                    )
                })
        }
        ProgramType::RawTracepoint => prog
            .attach_raw_tracepoint(target)
            .map(Attachment::Link)
            .map_err(|e| fail(e, format!("to raw tracepoint {target}"))),
        other => {
            tracing::warn!(
                "program {name}: attach target {target:?} means nothing for {other:?} programs; attaching by section {}",
                section.name
            );
            prog.attach()
                .map(Attachment::Link)
                .map_err(|e| fail(e, format!("to {}", section.name)))
        }
    }
}

/// A raw AF_PACKET socket bound to `ifindex` that sees every frame in both
/// directions, with `prog` attached as its filter. The program's verdict
/// only decides what this socket queues; nothing reads it, so filters that
/// count in maps should return 0.
fn packet_socket_with_filter(
    prog: &ProgramMut<'_>,
    ifindex: i32,
) -> std::result::Result<OwnedFd, Errno> {
    use nix::libc;
    use std::os::fd::FromRawFd;
    let last_errno = || {
        Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    };
    let eth_p_all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            i32::from(eth_p_all),
        )
    };
    if raw < 0 {
        return Err(last_errno());
    }
    // SAFETY: raw is a fresh fd we own.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data; zeroed then filled.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = eth_p_all;
    addr.sll_ifindex = ifindex;
    // SAFETY: addr outlives the call and its size is passed.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    let prog_fd: i32 = prog.as_fd().as_raw_fd();
    // SAFETY: SO_ATTACH_BPF takes an int program fd.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_BPF,
            (&prog_fd as *const i32).cast(),
            std::mem::size_of::<i32>() as u32,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(sock)
}

/// Opens a cgroup directory the guest named, only beneath a cgroup mount:
/// the path must start with one lexically, and is resolved from it without
/// following symlinks or leaving it, so a guest can neither attach to nor
/// probe for directories elsewhere.
fn open_cgroup(path: &str) -> std::result::Result<OwnedFd, (Errno, String)> {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mount = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, at, fstype) = (f.next()?, f.next()?, f.next()?);
            matches!(fstype, "cgroup2" | "cgroup").then_some(at)
        })
        .filter(|at| {
            path == *at
                || path
                    .strip_prefix(at)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|at| at.len())
        .ok_or_else(|| {
            (
                Errno::EINVAL,
                "not under a cgroup mount (see /proc/self/mounts)".to_string(),
            )
        })?;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let root =
        nix::fcntl::open(Path::new(mount), flags, nix::sys::stat::Mode::empty()).map_err(|e| {
            (
                Errno(e as i32),
                format!("opening {mount}: {}", Errno(e as i32)),
            )
        })?;
    let rest = path[mount.len()..].trim_start_matches('/');
    if rest.is_empty() {
        return Ok(root);
    }
    let how = OpenHow::new().flags(flags).resolve(
        ResolveFlag::RESOLVE_BENEATH
            | ResolveFlag::RESOLVE_NO_SYMLINKS
            | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    );
    match openat2(&root, rest, how) {
        // Kernels before 5.6: the path has no '..' (checked), so refusing
        // a symlink at its end is what is left to do.
        Err(nix::errno::Errno::ENOSYS) => nix::fcntl::openat(
            &root,
            rest,
            flags | OFlag::O_NOFOLLOW,
            nix::sys::stat::Mode::empty(),
        ),
        other => other,
    }
    .map_err(|e| (Errno(e as i32), Errno(e as i32).to_string()))
}

fn ifindex(ifname: &str, prog: &str) -> Result<i32> {
    let bad = || {
        BackendError::new(
            Errno::ENODEV,
            format!("program {prog}: no network interface named {ifname:?}"),
        )
    };
    let c = CString::new(ifname).map_err(|_| bad())?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { nix::libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(bad());
    }
    i32::try_from(idx).map_err(|_| bad())
}

/// `eth0`, `eth0:ingress`, `eth0:egress`; without a suffix the section decides
/// (`tc/egress`, `tcx/egress`), else ingress.
fn parse_tc_target<'a>(target: &'a str, hook: &Hook) -> (&'a str, Direction) {
    let by_section = match hook {
        Hook::Tc {
            direction: Some(Way::Egress),
            ..
        } => Direction::Egress,
        _ => Direction::Ingress,
    };
    match target.rsplit_once(':') {
        Some((ifname, "egress")) => (ifname, Direction::Egress),
        Some((ifname, "ingress")) => (ifname, Direction::Ingress),
        _ => (target, by_section),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_targets_pick_direction() {
        use Direction::*;
        let hook = |s: &str| ProgramSection::parse(s).expect("section").hook;
        assert_eq!(parse_tc_target("eth0", &hook("tc")), ("eth0", Ingress));
        assert_eq!(
            parse_tc_target("eth0", &hook("tc/egress")),
            ("eth0", Egress)
        );
        assert_eq!(
            parse_tc_target("eth0:egress", &hook("tc")),
            ("eth0", Egress)
        );
        assert_eq!(
            parse_tc_target("veth:0:ingress", &hook("tc/egress")),
            ("veth:0", Ingress)
        );
    }
}
