//! tc classifiers, attached so that nothing stays behind after any exit.
//!
//! With [`TcAttach::Link`] (kernels 6.6+) a program goes on the interface
//! through a tcx link: the link is an fd of this process, and the kernel
//! detaches it when the process ends, however it ends. With
//! [`TcAttach::Netlink`] it becomes a filter on a clsact qdisc, which the
//! kernel keeps after we die; those are recorded in a registry (for normal
//! and forced stops in this process) and with the [guardian] (for exits
//! that run no code of ours: SIGKILL, the OOM killer, aborts).
//!
//! A netlink filter is placed at a handle and priority we pick (handle: the
//! program's id, unique while it is loaded; priority: the kernel's own
//! choice for a new filter, just below the lowest in use), so the guardian
//! hears about it before it exists. Removal, here or in the guardian, first
//! checks that the filter at that place still runs our program.

mod guardian;
mod netlink;

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use unibpf_backend::{BackendError, Errno, Result, TcAttach};

use guardian::{Filter, Guardian, Ledger, Netlink, Record};
pub(crate) use netlink::Direction;
use netlink::FilterKey;

/// A tc classifier we attached, held only so that dropping it detaches.
#[allow(dead_code)]
#[derive(Debug)]
pub(crate) enum TcAttachment {
    /// Closing the link fd detaches.
    Link(OwnedFd),
    Filter(TcFilter),
}

/// Attaches `prog` to `ifindex` in `direction`, the way `how` says.
pub(crate) fn attach(
    prog: BorrowedFd<'_>,
    ifindex: i32,
    direction: Direction,
    how: TcAttach,
) -> Result<TcAttachment> {
    match how {
        TcAttach::Link => attach_tcx(prog, ifindex, direction)
            .map(TcAttachment::Link)
            .map_err(|e| BackendError::new(e, format!("tcx link ({}): {e}", direction.name()))),
        TcAttach::Netlink => TcFilter::attach(prog, ifindex, direction).map(TcAttachment::Filter),
    }
}

/// `BPF_LINK_CREATE` with `BPF_TCX_INGRESS`/`EGRESS`. Not libbpf's
/// `bpf_program__attach_tcx`: that passes the program's expected attach
/// type, which is unset for `SEC("tc")` programs and fixed before load,
/// while the direction comes from the guest's target after load. The
/// kernel accepts any sched_cls program on either tcx hook.
fn attach_tcx(prog: BorrowedFd<'_>, ifindex: i32, direction: Direction) -> Result<OwnedFd, Errno> {
    if ifindex <= 0 {
        return Err(Errno::ENODEV);
    }
    let attach_type = match direction {
        Direction::Ingress => libbpf_sys::BPF_TCX_INGRESS,
        Direction::Egress => libbpf_sys::BPF_TCX_EGRESS,
    };
    // SAFETY: bpf_link_create_opts is plain data; zeroed with its size set
    // it means "no options".
    let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
    // SAFETY: prog is a live program fd for the call; opts is initialised.
    let fd = unsafe { libbpf_sys::bpf_link_create(prog.as_raw_fd(), ifindex, attach_type, &opts) };
    if fd < 0 {
        return Err(Errno(-fd));
    }
    // SAFETY: a fresh link fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Every netlink filter and clsact qdisc this process has in the kernel,
/// and the guardian watching them (running only while there are any).
struct Registry {
    ledger: Ledger,
    guardian: Option<Guardian>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    ledger: Ledger {
        filters: Vec::new(),
        clsacts: Vec::new(),
    },
    guardian: None,
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// Notes `record` and tells the guardian, starting one if there is
    /// none; a guardian that went away is replaced and told everything.
    fn record(&mut self, record: Record) -> Result<(), Errno> {
        self.ledger.apply(record);
        if let Some(g) = &self.guardian {
            match g.send(record) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!("the tc guardian process is gone ({e}); starting another");
                    self.guardian = None;
                }
            }
        }
        if self.ledger.is_empty() {
            return Ok(());
        }
        let g = Guardian::spawn()?;
        for r in self.ledger.records() {
            g.send(r)?;
        }
        tracing::debug!("started the guardian that removes netlink tc filters after a hard exit");
        self.guardian = Some(g);
        Ok(())
    }

    /// Nothing left to guard: closing the socket ends the guardian.
    fn retire_guardian_if_idle(&mut self) {
        if self.ledger.is_empty() && self.guardian.take().is_some() {
            tracing::debug!("no netlink tc filters left; the guardian exits");
        }
    }

    /// After our last filter on `ifindex` is gone: remove the clsact qdisc
    /// if we created it and nothing else is on it.
    fn release_clsact_if_unused(&mut self, ifindex: i32) {
        if !self.ledger.clsacts.contains(&ifindex)
            || self.ledger.filters.iter().any(|f| f.key.ifindex == ifindex)
        {
            return;
        }
        match guardian::release_clsact(&mut Netlink, ifindex) {
            Ok(true) => {}
            Ok(false) => tracing::debug!(
                "leaving the clsact qdisc on ifindex {ifindex}: other filters are on it"
            ),
            Err(e) => tracing::warn!("removing the clsact qdisc on ifindex {ifindex}: {e}"),
        }
        let _ = self.record(Record::ClsactReleased(ifindex));
    }
}

/// A netlink filter we attached; dropping it detaches it.
#[derive(Debug)]
pub(crate) struct TcFilter {
    filter: Filter,
}

/// Priorities to try on a hook: the kernel's own choice first (just below
/// the lowest in use, 0xc000 on an empty hook), then a few below it in
/// case another filter kind or a racing attach holds it.
fn priorities(ifindex: i32, direction: Direction) -> impl Iterator<Item = u16> {
    let first = match netlink::dump_filters(ifindex, direction) {
        Ok(found) => match found.lowest_priority {
            Some(p) if p > 4 => p - 1,
            Some(_) | None => 0xc000,
        },
        Err(_) => 0xc000,
    };
    (0..4).map(move |i| first - i)
}

impl TcFilter {
    fn attach(prog: BorrowedFd<'_>, ifindex: i32, direction: Direction) -> Result<Self> {
        let fail = |e: Errno, what: &str| BackendError::new(e, format!("{what}: {e}"));
        let guardian_fail = |e: Errno| {
            fail(
                e,
                "starting the guardian process that removes netlink tc filters after a hard exit",
            )
        };
        let prog_id = netlink::prog_id(prog).map_err(|e| fail(e, "reading the program id"))?;
        let mut reg = registry();
        let created =
            netlink::create_clsact(ifindex).map_err(|e| fail(e, "creating the clsact qdisc"))?;
        if created {
            if let Err(e) = reg.record(Record::ClsactCreated(ifindex)) {
                reg.ledger.apply(Record::ClsactReleased(ifindex));
                let _ = netlink::destroy_clsact(ifindex);
                return Err(guardian_fail(e));
            }
        }
        let mut error = fail(Errno::EEXIST, "attaching the filter");
        for priority in priorities(ifindex, direction) {
            let filter = Filter {
                key: FilterKey {
                    ifindex,
                    direction,
                    handle: prog_id,
                    priority,
                },
                prog_id,
            };
            // Recorded before it exists: no instant where it is attached
            // and unknown to the guardian.
            if let Err(e) = reg.record(Record::FilterAdded(filter)) {
                reg.ledger.apply(Record::FilterRemoved(filter));
                error = guardian_fail(e);
                break;
            }
            match netlink::attach(filter.key, prog) {
                Ok(()) => {
                    tracing::debug!(
                        "tc filter on ifindex {ifindex} {}: handle {prog_id:#x}, priority {priority}",
                        direction.name()
                    );
                    return Ok(TcFilter { filter });
                }
                Err(e) => {
                    let _ = reg.record(Record::FilterRemoved(filter));
                    error = fail(e, "attaching the filter");
                    // Taken by another filter kind or protocol, or ours.
                    if e != Errno::EEXIST && e != Errno::EINVAL {
                        break;
                    }
                }
            }
        }
        reg.release_clsact_if_unused(ifindex);
        reg.retire_guardian_if_idle();
        Err(error)
    }
}

impl Drop for TcFilter {
    fn drop(&mut self) {
        let mut reg = registry();
        // Gone already when emergency_detach_all ran.
        if !reg.ledger.filters.contains(&self.filter) {
            return;
        }
        let key = self.filter.key;
        match guardian::remove_if_ours(&mut Netlink, self.filter) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "the tc filter on ifindex {} {} (handle {:#x}) no longer runs our program; left in place",
                key.ifindex,
                key.direction.name(),
                key.handle
            ),
            Err(e) => tracing::warn!(
                "detaching the tc filter on ifindex {} {}: {e}",
                key.ifindex,
                key.direction.name()
            ),
        }
        let _ = reg.record(Record::FilterRemoved(self.filter));
        reg.release_clsact_if_unused(key.ifindex);
        reg.retire_guardian_if_idle();
    }
}

/// Removes every netlink tc filter (and clsact qdisc) this process still
/// has, for a forced exit where objects are not dropped. Link-based
/// attachments die with the process; if a stuck thread holds the registry,
/// this gives up after a second and leaves the work to the guardian.
pub fn emergency_detach_all() {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut reg = loop {
        match REGISTRY.try_lock() {
            Ok(reg) => break reg,
            Err(TryLockError::Poisoned(p)) => break p.into_inner(),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => {
                tracing::warn!("tc registry busy; leaving netlink filters to the guardian");
                return;
            }
        }
    };
    let ledger = std::mem::take(&mut reg.ledger);
    guardian::clean_up(&ledger, &mut Netlink);
    reg.guardian = None;
}
