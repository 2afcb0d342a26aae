//! tc classifiers. With [`TcAttach::Link`] (kernels 6.6+) a program goes on
//! the interface through a tcx link: the link is an fd of this process, and
//! the kernel detaches it when the process ends, however it ends. With
//! [`TcAttach::Netlink`] it becomes a filter on a clsact qdisc, which the
//! kernel keeps after we die.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use unibpf_backend::{BackendError, Errno, Result, TcAttach};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

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

/// tc filters are attached through netlink, not a link fd, so the kernel keeps
/// them after our process dies. Each one is recorded here while attached, so a
/// forced exit can still remove them.
static TC_FILTERS: Mutex<Vec<TcKey>> = Mutex::new(Vec::new());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TcKey {
    ifindex: i32,
    direction: Direction,
    handle: u32,
    priority: u32,
    created_qdisc: bool,
}

#[derive(Debug)]
pub(crate) struct TcFilter {
    key: TcKey,
}

fn tc_hook(ifindex: i32, direction: Direction) -> libbpf_sys::bpf_tc_hook {
    libbpf_sys::bpf_tc_hook {
        sz: std::mem::size_of::<libbpf_sys::bpf_tc_hook>() as _,
        ifindex,
        attach_point: match direction {
            Direction::Egress => libbpf_sys::BPF_TC_EGRESS,
            Direction::Ingress => libbpf_sys::BPF_TC_INGRESS,
        },
        ..Default::default()
    }
}

impl TcFilter {
    fn attach(prog: BorrowedFd<'_>, ifindex: i32, direction: Direction) -> Result<Self> {
        let mut hook = tc_hook(ifindex, direction);
        // SAFETY: hook is a properly sized, initialised bpf_tc_hook.
        let created = unsafe { libbpf_sys::bpf_tc_hook_create(&mut hook) };
        if created < 0 && created != -nix::libc::EEXIST {
            return Err(BackendError::new(
                Errno(-created),
                format!("creating the clsact qdisc: {}", Errno(-created)),
            ));
        }
        let mut opts = libbpf_sys::bpf_tc_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_tc_opts>() as _,
            prog_fd: prog.as_raw_fd(),
            ..Default::default()
        };
        // SAFETY: hook and opts are initialised; prog_fd is a loaded program.
        let ret = unsafe { libbpf_sys::bpf_tc_attach(&hook, &mut opts) };
        if ret < 0 {
            if created == 0 {
                // SAFETY: destroys only the qdisc we just created.
                unsafe {
                    hook.attach_point = libbpf_sys::BPF_TC_INGRESS | libbpf_sys::BPF_TC_EGRESS;
                    libbpf_sys::bpf_tc_hook_destroy(&mut hook);
                }
            }
            return Err(BackendError::new(Errno(-ret), format!("{}", Errno(-ret))));
        }
        let key = TcKey {
            ifindex,
            direction,
            handle: opts.handle,
            priority: opts.priority,
            created_qdisc: created == 0,
        };
        TC_FILTERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
        Ok(Self { key })
    }
}

fn tc_detach(key: TcKey) {
    let mut hook = tc_hook(key.ifindex, key.direction);
    let opts = libbpf_sys::bpf_tc_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_tc_opts>() as _,
        handle: key.handle,
        priority: key.priority,
        ..Default::default()
    };
    // SAFETY: hook and opts describe a filter we attached.
    let ret = unsafe { libbpf_sys::bpf_tc_detach(&hook, &opts) };
    if ret < 0 {
        tracing::warn!(
            "detaching tc filter on ifindex {} failed: {}",
            key.ifindex,
            Errno(-ret)
        );
    }
    if key.created_qdisc {
        hook.attach_point = libbpf_sys::BPF_TC_INGRESS | libbpf_sys::BPF_TC_EGRESS;
        // SAFETY: removes the clsact qdisc we created (and anything left on it).
        unsafe { libbpf_sys::bpf_tc_hook_destroy(&mut hook) };
    }
}

impl Drop for TcFilter {
    fn drop(&mut self) {
        let mut list = TC_FILTERS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = list.iter().position(|k| *k == self.key) {
            list.swap_remove(pos);
            drop(list);
            tc_detach(self.key);
        }
    }
}

/// Removes every tc filter still attached by this process. For forced exits,
/// where objects are not dropped; link-based attachments die with the process.
pub fn emergency_detach_all() {
    let keys = std::mem::take(&mut *TC_FILTERS.lock().unwrap_or_else(|e| e.into_inner()));
    for key in keys {
        tc_detach(key);
    }
}
