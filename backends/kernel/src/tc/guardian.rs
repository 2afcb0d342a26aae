//! The guardian: a forked process that removes our netlink tc filters after
//! this process dies, however it dies.
//!
//! The kernel keeps a netlink filter (and the program it runs) after its
//! creator exits, and SIGKILL, the OOM killer or an abort run no cleanup of
//! ours. So before each filter is attached, a fixed-size record describing
//! it goes over a socket to the guardian; a record also says when a filter
//! is gone, or when we created or released a clsact qdisc. When the socket
//! reaches end of file (this process closed it or died) the guardian
//! removes every filter still recorded that still runs the recorded
//! program, then every clsact qdisc we created that has nothing left on it,
//! and exits. A process without netlink filters has no guardian.
//!
//! The guardian is forked, not executed: the runtime is a library and the
//! running binary need not be unibpf. The fork copies a multi-threaded
//! process, so the child only makes syscalls and libbpf netlink calls: no
//! logging, no locks, no std I/O.
//!
//! Limits: the guardian works in the network namespace of the thread that
//! forked it (the first netlink attach); it shares the parent's memory
//! copy-on-write, so pages the parent rewrites meanwhile cost a copy; and
//! a child the embedding program forks without exec keeps our end of the
//! socket open, so cleanup waits for that child too.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::libc;
use unibpf_backend::Errno;

use super::netlink::{self, Direction, FilterKey};

/// A filter we attached: where, and the program that makes it ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) key: FilterKey,
    pub(crate) prog_id: u32,
}

/// One message to the guardian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// Sent before the attach, so no instant exists where the filter is
    /// attached but unrecorded.
    FilterAdded(Filter),
    FilterRemoved(Filter),
    /// We created the clsact qdisc on this ifindex.
    ClsactCreated(i32),
    /// That qdisc is gone or no longer ours to remove.
    ClsactReleased(i32),
}

pub(crate) const RECORD_LEN: usize = 20;
const MAGIC: u8 = 0xb7;

impl Record {
    /// `[magic, kind, direction, 0, ifindex, handle, priority(2), 0(2),
    /// prog_id]`, native-endian: both ends are this process's code.
    pub(crate) fn encode(&self) -> [u8; RECORD_LEN] {
        let (kind, filter, ifindex) = match *self {
            Record::FilterAdded(f) => (1, Some(f), f.key.ifindex),
            Record::FilterRemoved(f) => (2, Some(f), f.key.ifindex),
            Record::ClsactCreated(i) => (3, None, i),
            Record::ClsactReleased(i) => (4, None, i),
        };
        let mut out = [0u8; RECORD_LEN];
        out[0] = MAGIC;
        out[1] = kind;
        out[4..8].copy_from_slice(&ifindex.to_ne_bytes());
        if let Some(f) = filter {
            out[2] = match f.key.direction {
                Direction::Ingress => 0,
                Direction::Egress => 1,
            };
            out[8..12].copy_from_slice(&f.key.handle.to_ne_bytes());
            out[12..14].copy_from_slice(&f.key.priority.to_ne_bytes());
            out[16..20].copy_from_slice(&f.prog_id.to_ne_bytes());
        }
        out
    }

    /// None for anything that is not exactly one valid record.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Record> {
        let bytes: &[u8; RECORD_LEN] = bytes.try_into().ok()?;
        if bytes[0] != MAGIC || bytes[3] != 0 {
            return None;
        }
        let u32_at = |at: usize| -> u32 {
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let ifindex = u32_at(4) as i32;
        let filter = || -> Option<Filter> {
            let direction = match bytes[2] {
                0 => Direction::Ingress,
                1 => Direction::Egress,
                _ => return None,
            };
            Some(Filter {
                key: FilterKey {
                    ifindex,
                    direction,
                    handle: u32_at(8),
                    priority: u16::from_ne_bytes([bytes[12], bytes[13]]),
                },
                prog_id: u32_at(16),
            })
        };
        match bytes[1] {
            1 => filter().map(Record::FilterAdded),
            2 => filter().map(Record::FilterRemoved),
            3 => Some(Record::ClsactCreated(ifindex)),
            4 => Some(Record::ClsactReleased(ifindex)),
            _ => None,
        }
    }
}

/// What is attached right now, as the records tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ledger {
    pub(crate) filters: Vec<Filter>,
    pub(crate) clsacts: Vec<i32>,
}

impl Ledger {
    pub(crate) fn apply(&mut self, record: Record) {
        match record {
            Record::FilterAdded(f) => {
                if !self.filters.contains(&f) {
                    self.filters.push(f);
                }
            }
            Record::FilterRemoved(f) => self.filters.retain(|g| *g != f),
            Record::ClsactCreated(i) => {
                if !self.clsacts.contains(&i) {
                    self.clsacts.push(i);
                }
            }
            Record::ClsactReleased(i) => self.clsacts.retain(|j| *j != i),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.filters.is_empty() && self.clsacts.is_empty()
    }

    /// Records that rebuild this ledger from nothing.
    pub(crate) fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.clsacts
            .iter()
            .map(|i| Record::ClsactCreated(*i))
            .chain(self.filters.iter().map(|f| Record::FilterAdded(*f)))
    }
}

/// The netlink operations cleanup needs; a trait so the rules are tested
/// without a kernel.
pub(crate) trait TcOps {
    fn query_prog_id(&mut self, key: FilterKey) -> Result<u32, Errno>;
    fn detach(&mut self, key: FilterKey) -> Result<(), Errno>;
    fn clsact_is_empty(&mut self, ifindex: i32) -> Result<bool, Errno>;
    fn destroy_clsact(&mut self, ifindex: i32) -> Result<(), Errno>;
}

/// The real kernel.
pub(crate) struct Netlink;

impl TcOps for Netlink {
    fn query_prog_id(&mut self, key: FilterKey) -> Result<u32, Errno> {
        netlink::query_prog_id(key)
    }
    fn detach(&mut self, key: FilterKey) -> Result<(), Errno> {
        netlink::detach(key)
    }
    fn clsact_is_empty(&mut self, ifindex: i32) -> Result<bool, Errno> {
        netlink::clsact_is_empty(ifindex)
    }
    fn destroy_clsact(&mut self, ifindex: i32) -> Result<(), Errno> {
        netlink::destroy_clsact(ifindex)
    }
}

/// Removes `filter` only if the filter at its place still runs its
/// program: someone may have replaced it, and theirs stays. Ok(false) when
/// there was nothing of ours to remove.
pub(crate) fn remove_if_ours(ops: &mut impl TcOps, filter: Filter) -> Result<bool, Errno> {
    match ops.query_prog_id(filter.key) {
        Ok(id) if id == filter.prog_id => ops.detach(filter.key).map(|()| true),
        Ok(_) => Ok(false),
        // Gone already (or its interface is).
        Err(Errno::ENOENT) | Err(Errno::ENODEV) | Err(Errno::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a clsact qdisc we created if nothing at all is left on it.
pub(crate) fn release_clsact(ops: &mut impl TcOps, ifindex: i32) -> Result<bool, Errno> {
    if ops.clsact_is_empty(ifindex)? {
        ops.destroy_clsact(ifindex).map(|()| true)
    } else {
        Ok(false)
    }
}

/// Everything still recorded: filters first, so the qdiscs they sat on can
/// be empty. Best effort: a failure leaves that item and moves on.
pub(crate) fn clean_up(ledger: &Ledger, ops: &mut impl TcOps) {
    for f in &ledger.filters {
        let _ = remove_if_ours(ops, *f);
    }
    for i in &ledger.clsacts {
        let _ = release_clsact(ops, *i);
    }
}

/// Our end of the socket to a running guardian. Dropping it closes the
/// socket: the guardian cleans up what is still recorded and exits.
#[derive(Debug)]
pub(crate) struct Guardian {
    sock: OwnedFd,
}

fn last_errno() -> Errno {
    Errno(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

impl Guardian {
    /// Forks the guardian and waits until it is ready: its fds closed, its
    /// own session, deaf to terminal signals.
    pub(crate) fn spawn() -> Result<Self, Errno> {
        let mut fds = [-1; 2];
        // SAFETY: fds has room for the two descriptors socketpair writes.
        // SEQPACKET keeps record boundaries; a dead peer reads as EOF.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(last_errno());
        }
        // SAFETY: both fds are fresh and owned by nobody else.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fork in a multi-threaded process: the children only call
        // async-signal-safe functions and libbpf netlink code (see
        // guardian_main), then _exit; they never return here.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(last_errno());
        }
        if pid == 0 {
            // The intermediate child: fork again and exit, so the guardian
            // is re-parented to init and never becomes our zombie.
            // SAFETY: as above.
            unsafe {
                match libc::fork() {
                    0 => guardian_main(theirs.as_raw_fd()),
                    -1 => libc::_exit(1),
                    _ => libc::_exit(0),
                }
            }
        }
        drop(theirs);
        let mut status = 0;
        // SAFETY: waits for the intermediate child we just forked.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
            // ECHILD: someone else reaped it (SIGCHLD ignored); the
            // handshake below still tells.
            if last_errno() != Errno::EINTR {
                break;
            }
        }
        let guardian = Guardian { sock: ours };
        guardian.await_ready()?;
        Ok(guardian)
    }

    /// The guardian says one byte once it is set up; EOF means it died.
    fn await_ready(&self) -> Result<(), Errno> {
        let timeout = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: timeout is a valid timeval for SO_RCVTIMEO.
        unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        let mut byte = 0u8;
        loop {
            // SAFETY: byte is writable for one byte.
            let n =
                unsafe { libc::recv(self.sock.as_raw_fd(), (&mut byte as *mut u8).cast(), 1, 0) };
            match n {
                1 => return Ok(()),
                0 => return Err(Errno(libc::ECHILD)),
                _ if last_errno() == Errno::EINTR => continue,
                _ => return Err(last_errno()),
            }
        }
    }

    pub(crate) fn send(&self, record: Record) -> Result<(), Errno> {
        let bytes = record.encode();
        loop {
            // SAFETY: bytes is readable for its length. MSG_NOSIGNAL: a dead
            // guardian is EPIPE here, not SIGPIPE for the whole process.
            let n = unsafe {
                libc::send(
                    self.sock.as_raw_fd(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n == bytes.len() as isize {
                return Ok(());
            }
            if n < 0 && last_errno() == Errno::EINTR {
                continue;
            }
            return Err(if n < 0 { last_errno() } else { Errno::EIO });
        }
    }
}

/// The guardian process. Never returns.
///
/// # Safety
/// Only to be called in a freshly forked child, with `sock` its end of the
/// socket to the parent.
unsafe fn guardian_main(sock: RawFd) -> ! {
    // SAFETY (whole body): this is a single-threaded copy of the parent;
    // every call below is a raw syscall wrapper or libbpf netlink code,
    // none of which takes a lock another thread of the parent could have
    // held at fork time (glibc's malloc is reset by fork).
    unsafe {
        // libbpf would print through the parent's callback (tracing, locks).
        libbpf_sys::libbpf_set_print(None);
        // Out of the terminal's process group: Ctrl-C is not for us.
        libc::setsid();
        // Handlers inherited from the parent would run the parent's code.
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGPIPE,
            libc::SIGQUIT,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::prctl(
            libc::PR_SET_NAME,
            c"unibpf-tcguard".as_ptr() as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        );
        libc::chdir(c"/".as_ptr());

        // Keep only the socket, above stdio; stdio goes to /dev/null. Any
        // other inherited fd (programs, links, the parent's pipes and its end
        // of this socket) would outlive the parent and keep things alive.
        let keep = libc::fcntl(sock, libc::F_DUPFD_CLOEXEC, 3);
        if keep < 0 {
            libc::_exit(1);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        for fd in 0..3 {
            if null >= 0 {
                libc::dup2(null, fd);
            } else {
                libc::close(fd);
            }
        }
        close_all_but(keep);

        let ready = 1u8;
        libc::send(keep, (&ready as *const u8).cast(), 1, libc::MSG_NOSIGNAL);

        let mut ledger = Ledger::default();
        let mut buf = [0u8; 64];
        loop {
            let n = libc::recv(keep, buf.as_mut_ptr().cast(), buf.len(), 0);
            if n > 0 {
                if let Some(record) = buf.get(..n as usize).and_then(Record::decode) {
                    ledger.apply(record);
                }
                continue;
            }
            if n < 0 && last_errno() == Errno::EINTR {
                continue;
            }
            // EOF: the parent closed its end or died.
            break;
        }
        clean_up(&ledger, &mut Netlink);
        libc::_exit(0)
    }
}

/// Closes every fd from 3 up except `keep`.
///
/// # Safety
/// Closes fds other code may think it owns: only for the guardian.
unsafe fn close_all_but(keep: RawFd) {
    let close_range = |first: u32, last: u32| -> bool {
        // SAFETY: close_range(2) only closes descriptors.
        first > last || unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) } == 0
    };
    let keep = keep as u32;
    if close_range(3, keep - 1) && close_range(keep + 1, u32::MAX) {
        return;
    }
    // Kernels before 5.9: one by one, up to the fd limit.
    let mut limit: libc::rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: limit is writable.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur.min(1 << 20) as i32
    } else {
        4096
    };
    for fd in 3..max {
        if fd as u32 != keep {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(ifindex: i32, handle: u32, prog_id: u32) -> Filter {
        Filter {
            key: FilterKey {
                ifindex,
                direction: Direction::Egress,
                handle,
                priority: 0xc000,
            },
            prog_id,
        }
    }

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        let f = Filter {
            key: FilterKey {
                ifindex: 7,
                direction: Direction::Ingress,
                handle: 0xdead_beef,
                priority: 0xfffe,
            },
            prog_id: 123_456,
        };
        for r in [
            Record::FilterAdded(f),
            Record::FilterRemoved(filter(i32::MAX, 1, u32::MAX)),
            Record::ClsactCreated(3),
            Record::ClsactReleased(3),
        ] {
            let bytes = r.encode();
            assert_eq!(bytes.len(), RECORD_LEN);
            assert_eq!(Record::decode(&bytes), Some(r));
        }
        let good = Record::FilterAdded(f).encode();
        assert_eq!(Record::decode(&good[..19]), None);
        assert_eq!(Record::decode(&[good.as_slice(), &[0]].concat()), None);
        for (at, value) in [(0, 0), (1, 9), (2, 2), (3, 1)] {
            let mut bad = good;
            bad[at] = value;
            assert_eq!(Record::decode(&bad), None, "byte {at} = {value}");
        }
    }

    #[test]
    fn the_ledger_follows_the_records_and_replays_itself() {
        let (a, b) = (filter(2, 10, 100), filter(2, 11, 101));
        let mut l = Ledger::default();
        for r in [
            Record::ClsactCreated(2),
            Record::FilterAdded(a),
            Record::FilterAdded(b),
            Record::FilterAdded(a),
            Record::FilterRemoved(a),
        ] {
            l.apply(r);
        }
        assert_eq!(l.filters, vec![b]);
        assert_eq!(l.clsacts, vec![2]);
        let mut copy = Ledger::default();
        l.records().for_each(|r| copy.apply(r));
        assert_eq!(copy, l);
        l.apply(Record::FilterRemoved(b));
        l.apply(Record::ClsactReleased(2));
        assert!(l.is_empty());
    }

    /// A kernel of filters at keys, each running a program id.
    #[derive(Default)]
    struct FakeKernel {
        filters: Vec<(FilterKey, u32)>,
        clsacts: Vec<i32>,
    }

    impl TcOps for FakeKernel {
        fn query_prog_id(&mut self, key: FilterKey) -> Result<u32, Errno> {
            self.filters
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, id)| *id)
                .ok_or(Errno::ENOENT)
        }
        fn detach(&mut self, key: FilterKey) -> Result<(), Errno> {
            self.filters.retain(|(k, _)| *k != key);
            Ok(())
        }
        fn clsact_is_empty(&mut self, ifindex: i32) -> Result<bool, Errno> {
            Ok(!self.filters.iter().any(|(k, _)| k.ifindex == ifindex))
        }
        fn destroy_clsact(&mut self, ifindex: i32) -> Result<(), Errno> {
            self.clsacts.retain(|i| *i != ifindex);
            Ok(())
        }
    }

    #[test]
    fn cleanup_removes_only_filters_still_running_our_program() {
        let ours = filter(2, 10, 100);
        let replaced = filter(2, 11, 101);
        let gone = filter(2, 12, 102);
        let foreign = filter(2, 13, 999);
        let mut kernel = FakeKernel {
            filters: vec![
                (ours.key, 100),
                (replaced.key, 555), // someone replaced our program there
                (foreign.key, 999),
            ],
            clsacts: vec![2],
        };
        let ledger = Ledger {
            filters: vec![ours, replaced, gone],
            clsacts: vec![2],
        };
        clean_up(&ledger, &mut kernel);
        assert_eq!(
            kernel.filters,
            vec![(replaced.key, 555), (foreign.key, 999)]
        );
        // Not empty: the qdisc we created stays for the filters on it.
        assert_eq!(kernel.clsacts, vec![2]);
    }

    #[test]
    fn cleanup_removes_our_qdisc_once_it_is_empty() {
        let ours = filter(4, 10, 100);
        let mut kernel = FakeKernel {
            filters: vec![(ours.key, 100)],
            clsacts: vec![4, 5],
        };
        let ledger = Ledger {
            filters: vec![ours],
            clsacts: vec![4],
        };
        clean_up(&ledger, &mut kernel);
        assert!(kernel.filters.is_empty());
        // 5 was not ours.
        assert_eq!(kernel.clsacts, vec![5]);
    }
}
