//! tc filters and clsact qdiscs through netlink: safe wrappers over libbpf's
//! `bpf_tc_*` calls, plus the one question libbpf cannot answer, which
//! filters sit on a hook (an `RTM_GETTFILTER` dump).
//!
//! The guardian calls these after `fork()` in a multi-threaded process, so
//! nothing here logs or takes a lock: only syscalls, and libbpf's netlink
//! code, which allocates with malloc (fork-safe in glibc) and prints
//! through a callback the guardian clears first.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::libc;
use unibpf_backend::Errno;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn attach_point(self) -> libbpf_sys::bpf_tc_attach_point {
        match self {
            Direction::Ingress => libbpf_sys::BPF_TC_INGRESS,
            Direction::Egress => libbpf_sys::BPF_TC_EGRESS,
        }
    }

    /// The clsact class a filter hangs off: `TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_*)`.
    fn parent(self) -> u32 {
        match self {
            Direction::Ingress => 0xffff_fff2,
            Direction::Egress => 0xffff_fff3,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// Where a netlink filter sits: with protocol "all" and kind "bpf", these
/// four name exactly one filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FilterKey {
    pub(crate) ifindex: i32,
    pub(crate) direction: Direction,
    pub(crate) handle: u32,
    pub(crate) priority: u16,
}

impl FilterKey {
    /// libbpf and the kernel reject these; checked here so a bad key is an
    /// error, not a request about some other filter.
    fn check(&self) -> Result<(), Errno> {
        if self.ifindex <= 0 || self.handle == 0 || self.priority == 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn hook(&self) -> libbpf_sys::bpf_tc_hook {
        hook(self.ifindex, self.direction.attach_point())
    }

    fn opts(&self) -> libbpf_sys::bpf_tc_opts {
        libbpf_sys::bpf_tc_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_tc_opts>() as _,
            handle: self.handle,
            priority: u32::from(self.priority),
            ..Default::default()
        }
    }
}

fn hook(ifindex: i32, attach_point: libbpf_sys::bpf_tc_attach_point) -> libbpf_sys::bpf_tc_hook {
    libbpf_sys::bpf_tc_hook {
        sz: std::mem::size_of::<libbpf_sys::bpf_tc_hook>() as _,
        ifindex,
        attach_point,
        ..Default::default()
    }
}

fn result(ret: i32) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno(-ret))
    } else {
        Ok(())
    }
}

/// Creates the clsact qdisc on `ifindex`: true if this call created it,
/// false if one was there already.
pub(crate) fn create_clsact(ifindex: i32) -> Result<bool, Errno> {
    if ifindex <= 0 {
        return Err(Errno::EINVAL);
    }
    let mut hook = hook(ifindex, libbpf_sys::BPF_TC_INGRESS);
    // SAFETY: hook is a fully initialised bpf_tc_hook with its own size.
    match unsafe { libbpf_sys::bpf_tc_hook_create(&mut hook) } {
        0 => Ok(true),
        e if e == -libc::EEXIST => Ok(false),
        e => Err(Errno(-e)),
    }
}

/// Deletes the clsact qdisc on `ifindex`, with whatever is on it: callers
/// check [`clsact_is_empty`] first.
pub(crate) fn destroy_clsact(ifindex: i32) -> Result<(), Errno> {
    if ifindex <= 0 {
        return Err(Errno::EINVAL);
    }
    let mut hook = hook(
        ifindex,
        libbpf_sys::BPF_TC_INGRESS | libbpf_sys::BPF_TC_EGRESS,
    );
    // SAFETY: as above; INGRESS|EGRESS makes libbpf delete the qdisc itself.
    result(unsafe { libbpf_sys::bpf_tc_hook_destroy(&mut hook) })
}

/// Attaches `prog` as a direct-action filter at exactly `key`; fails with
/// EEXIST rather than replace a filter already there.
pub(crate) fn attach(key: FilterKey, prog: BorrowedFd<'_>) -> Result<(), Errno> {
    key.check()?;
    let hook = key.hook();
    let mut opts = key.opts();
    opts.prog_fd = prog.as_raw_fd();
    // SAFETY: hook and opts are initialised with their sizes; prog_fd is
    // a live fd for the duration of the call (borrowed).
    result(unsafe { libbpf_sys::bpf_tc_attach(&hook, &mut opts) })
}

/// The id of the program the filter at `key` runs (ENOENT: no filter there).
pub(crate) fn query_prog_id(key: FilterKey) -> Result<u32, Errno> {
    key.check()?;
    let hook = key.hook();
    let mut opts = key.opts();
    // SAFETY: as for attach; libbpf fills prog_id into opts.
    result(unsafe { libbpf_sys::bpf_tc_query(&hook, &mut opts) })?;
    Ok(opts.prog_id)
}

/// Removes the filter at `key`, whoever it belongs to: see
/// [`super::remove_if_ours`] for the checked version.
pub(crate) fn detach(key: FilterKey) -> Result<(), Errno> {
    key.check()?;
    let hook = key.hook();
    let opts = key.opts();
    // SAFETY: as for attach.
    result(unsafe { libbpf_sys::bpf_tc_detach(&hook, &opts) })
}

/// The id of the loaded program behind `prog`.
pub(crate) fn prog_id(prog: BorrowedFd<'_>) -> Result<u32, Errno> {
    // SAFETY: bpf_prog_info is plain data; zeroed it is a valid request.
    let mut info: libbpf_sys::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: info is writable for len bytes; the fd is live (borrowed).
    let ret = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(prog.as_raw_fd(), &mut info, &mut len) };
    result(ret)?;
    Ok(info.id)
}

/// What sits on one clsact hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HookFilters {
    /// Dump entries: one per filter and one per priority in use, so zero
    /// means an empty hook.
    pub(crate) entries: usize,
    pub(crate) lowest_priority: Option<u16>,
}

/// True when neither hook of the clsact qdisc on `ifindex` has a filter
/// (also when there is no clsact qdisc).
pub(crate) fn clsact_is_empty(ifindex: i32) -> Result<bool, Errno> {
    Ok(dump_filters(ifindex, Direction::Ingress)?.entries == 0
        && dump_filters(ifindex, Direction::Egress)?.entries == 0)
}

// Netlink constants and the tcmsg header (<linux/rtnetlink.h>), which the
// libc crate does not carry.
const RTM_NEWTFILTER: u16 = 44;
const RTM_GETTFILTER: u16 = 46;

#[repr(C)]
#[derive(Clone, Copy)]
struct TcMsg {
    family: u8,
    pad1: u8,
    pad2: u16,
    ifindex: i32,
    handle: u32,
    parent: u32,
    info: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct DumpRequest {
    header: libc::nlmsghdr,
    tc: TcMsg,
}

/// A dump of the filters on one clsact hook: whether there are any, and the
/// lowest priority in use.
pub(crate) fn dump_filters(ifindex: i32, direction: Direction) -> Result<HookFilters, Errno> {
    if ifindex <= 0 {
        return Err(Errno::EINVAL);
    }
    let last = || {
        Errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    };
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(last());
    }
    // SAFETY: raw is a fresh fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let request = DumpRequest {
        header: libc::nlmsghdr {
            nlmsg_len: std::mem::size_of::<DumpRequest>() as u32,
            nlmsg_type: RTM_GETTFILTER,
            nlmsg_flags: (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        },
        tc: TcMsg {
            family: libc::AF_UNSPEC as u8,
            pad1: 0,
            pad2: 0,
            ifindex,
            handle: 0,
            parent: direction.parent(),
            info: 0,
        },
    };
    // SAFETY: sockaddr_nl is plain data; zeroed with the family set
    // addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: request and kernel outlive the call; their sizes are passed.
    let sent = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            (&request as *const DumpRequest).cast(),
            std::mem::size_of::<DumpRequest>(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(last());
    }
    // Dump datagrams are at most 32 KiB (the kernel sizes them by our reads).
    let mut buf = vec![0u8; 32 * 1024];
    let mut found = HookFilters::default();
    loop {
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            if last() == Errno::EINTR {
                continue;
            }
            return Err(last());
        }
        let data = buf.get(..n as usize).unwrap_or_default();
        match parse_dump(data, &mut found) {
            Parsed::More => continue,
            Parsed::Done => return Ok(found),
            Parsed::Error(e) => return Err(e),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    More,
    Done,
    Error(Errno),
}

/// Reads one datagram of a filter dump into `found`.
fn parse_dump(mut data: &[u8], found: &mut HookFilters) -> Parsed {
    const HEADER: usize = std::mem::size_of::<libc::nlmsghdr>();
    while data.len() >= HEADER {
        let word = |at: usize| -> u32 {
            data.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_ne_bytes)
        };
        let len = word(0) as usize;
        let kind = data
            .get(4..6)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u16::from_ne_bytes);
        if len < HEADER || len > data.len() {
            return Parsed::Error(Errno::EIO);
        }
        match i32::from(kind) {
            libc::NLMSG_DONE => return Parsed::Done,
            libc::NLMSG_ERROR => {
                // struct nlmsgerr: the (negative) errno follows the header.
                let code = word(HEADER) as i32;
                return if code == 0 {
                    Parsed::Done
                } else {
                    Parsed::Error(Errno(-code))
                };
            }
            _ if kind == RTM_NEWTFILTER => {
                found.entries += 1;
                // tcmsg.tcm_info: priority in the upper 16 bits.
                let priority = (word(HEADER + 16) >> 16) as u16;
                if priority != 0 {
                    found.lowest_priority =
                        Some(found.lowest_priority.map_or(priority, |p| p.min(priority)));
                }
            }
            _ => {}
        }
        // Messages are 4-byte aligned.
        let step = (len + 3) & !3;
        data = data.get(step..).unwrap_or_default();
    }
    Parsed::More
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let len = 16 + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn filter(priority: u16) -> Vec<u8> {
        let mut tc = vec![0u8; 20];
        tc[16..20].copy_from_slice(&((u32::from(priority) << 16) | 0x0300).to_ne_bytes());
        message(RTM_NEWTFILTER, &tc)
    }

    #[test]
    fn dumps_count_filters_and_find_the_lowest_priority() {
        let mut found = HookFilters::default();
        let mut data = filter(49152);
        data.extend(filter(7));
        assert_eq!(parse_dump(&data, &mut found), Parsed::More);
        let done = message(libc::NLMSG_DONE as u16, &[0; 4]);
        assert_eq!(parse_dump(&done, &mut found), Parsed::Done);
        assert_eq!(
            found,
            HookFilters {
                entries: 2,
                lowest_priority: Some(7)
            }
        );
    }

    #[test]
    fn dump_errors_and_garbage_are_errors() {
        let mut found = HookFilters::default();
        let err = message(libc::NLMSG_ERROR as u16, &(-22i32).to_ne_bytes());
        assert_eq!(parse_dump(&err, &mut found), Parsed::Error(Errno::EINVAL));
        let mut short = filter(1);
        short[0] = 200; // longer than the datagram
        assert_eq!(parse_dump(&short, &mut found), Parsed::Error(Errno::EIO));
        assert_eq!(found.entries, 0);
    }

    #[test]
    fn bad_keys_are_refused_before_libbpf_sees_them() {
        let key = FilterKey {
            ifindex: 1,
            direction: Direction::Ingress,
            handle: 0,
            priority: 1,
        };
        assert_eq!(query_prog_id(key), Err(Errno::EINVAL));
        assert_eq!(
            detach(FilterKey {
                ifindex: 0,
                handle: 1,
                ..key
            }),
            Err(Errno::EINVAL)
        );
        assert_eq!(create_clsact(-1), Err(Errno::EINVAL));
    }
}
