//! XDP, tc and socket filter programs without kernel eBPF: each interface
//! a program attaches to gets one packet socket (`unibpf_trace::packet`,
//! a ring the kernel fills a block at a time) and one thread, which copies
//! every frame and runs the programs attached there on it. Verdicts are observed and counted, not enforced: the
//! kernel has already delivered (or sent) the frame when the copy arrives,
//! so a program's DROP drops nothing. The counts are reported when the
//! program detaches.
//!
//! Detaching the last program of an interface stops its thread (an
//! eventfd wakes it) and joins it, closing the socket: nothing is left
//! open or running.

mod context;

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use unibpf_backend::{wait_readable, BackendError, Errno};
use unibpf_trace::packet::{Frame, PacketSocket, RingSize};

pub use context::PacketHook;

use crate::helpers::task::NoTask;
use crate::object::ObjectCore;
use crate::wake::Wake;

/// A program attached to an interface, and what it returned so far.
struct Attachment {
    owner: usize,
    core: Arc<ObjectCore>,
    program: usize,
    hook: PacketHook,
    packets: u64,
    /// Runs per verdict name; runs that failed count as `ERROR`.
    verdicts: BTreeMap<String, u64>,
}

impl Attachment {
    /// The report of what it saw, for when it detaches.
    fn report(&self, ifname: &str) -> String {
        let verdicts: Vec<String> = self
            .verdicts
            .iter()
            .map(|(v, n)| format!("{v} {n}"))
            .collect();
        let verdicts = if verdicts.is_empty() {
            "none".to_string()
        } else {
            verdicts.join(", ")
        };
        format!(
            "{} {} on {ifname}: {} packets seen, verdicts observed not enforced: {verdicts}",
            self.hook.words(),
            self.core.programs[self.program].name,
            self.packets
        )
    }
}

/// One interface's socket thread and the programs it feeds.
struct Interface {
    name: String,
    ifindex: u32,
    attached: Arc<Mutex<Vec<Attachment>>>,
    stopping: Arc<AtomicBool>,
    wake: Arc<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl Interface {
    /// Opens the interface's socket and starts its thread.
    fn start(name: &str, ifindex: u32, program: &str) -> Result<Self, BackendError> {
        let socket = PacketSocket::open(ifindex, RingSize::DEFAULT)
            .map_err(|e| socket_error(e, name, program))?;
        let wake = Arc::new(
            Wake::new()
                .map_err(|e| BackendError::new(Errno::EMFILE, format!("a wake event: {e}")))?,
        );
        let attached = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (attached, stopping, wake) = (attached.clone(), stopping.clone(), wake.clone());
            std::thread::Builder::new()
                .name(format!("unibpf-pkt-{ifindex}"))
                .spawn(move || serve(socket, ifindex, &attached, &stopping, &wake))
                .map_err(|e| {
                    BackendError::new(Errno(libc::EAGAIN), format!("a thread for {name}: {e}"))
                })?
        };
        Ok(Self {
            name: name.to_string(),
            ifindex,
            attached,
            stopping,
            wake,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it; the socket closes with it.
    fn stop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        self.wake.signal();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::warn!("the packet thread of {} panicked", self.name);
            }
        }
    }
}

impl Drop for Interface {
    fn drop(&mut self) {
        self.stop();
    }
}

fn socket_error(e: nix::errno::Errno, ifname: &str, program: &str) -> BackendError {
    use nix::errno::Errno as E;
    let why = match e {
        E::EPERM | E::EACCES => format!(
            "a packet socket on {ifname} needs CAP_NET_RAW: run unibpf as root or with that \
             capability (setcap cap_net_raw+ep, or setpriv --inh-caps=+net_raw \
             --ambient-caps=+net_raw)"
        ),
        E::ENODEV => format!("no network interface named {ifname:?}"),
        _ => format!("opening a packet socket on {ifname}: {}", Errno(e as i32)),
    };
    BackendError::new(Errno(e as i32), format!("program {program}: {why}"))
}

/// The packet programs of a module's objects, by interface.
#[derive(Default)]
pub struct PacketHooks {
    interfaces: Mutex<Vec<Interface>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PacketHooks {
    /// Attaches program `program` of `core` to `hook` on interface
    /// `ifname`, opening its socket if it is the first there.
    pub fn attach(
        &self,
        owner: usize,
        core: &Arc<ObjectCore>,
        program: usize,
        hook: PacketHook,
        ifname: &str,
    ) -> Result<(), BackendError> {
        let name = &core.programs[program].name;
        let ifindex = nix::net::if_::if_nametoindex(ifname).map_err(|_| {
            BackendError::new(
                Errno::ENODEV,
                format!("program {name}: no network interface named {ifname:?}"),
            )
        })?;
        let mut interfaces = lock(&self.interfaces);
        let i = match interfaces.iter().position(|i| i.ifindex == ifindex) {
            Some(i) => i,
            None => {
                interfaces.push(Interface::start(ifname, ifindex, name)?);
                interfaces.len() - 1
            }
        };
        lock(&interfaces[i].attached).push(Attachment {
            owner,
            core: Arc::clone(core),
            program,
            hook,
            packets: 0,
            verdicts: BTreeMap::new(),
        });
        Ok(())
    }

    /// Detaches everything `owner` attached, reporting what each program
    /// saw; interfaces left with no program are closed.
    pub fn detach_all(&self, owner: usize) {
        let mut interfaces = lock(&self.interfaces);
        for interface in interfaces.iter() {
            let mut attached = lock(&interface.attached);
            for a in attached.iter().filter(|a| a.owner == owner) {
                tracing::info!("{}", a.report(&interface.name));
            }
            attached.retain(|a| a.owner != owner);
        }
        // Dropping an interface stops and joins its thread.
        interfaces.retain(|i| !lock(&i.attached).is_empty());
    }
}

/// The thread of one interface: runs the programs on each frame the ring
/// hands over until told to stop.
fn serve(
    mut socket: PacketSocket,
    ifindex: u32,
    attached: &Mutex<Vec<Attachment>>,
    stopping: &AtomicBool,
    wake: &Wake,
) {
    // The copy each program runs on, reused: programs may write it.
    let mut packet = Vec::new();
    while !stopping.load(Ordering::Acquire) {
        wait_readable(&[socket.as_fd(), wake.wake()], None);
        let mut attached = lock(attached);
        socket.for_each_frame(|frame, bytes| {
            deliver(&mut attached, frame, bytes, ifindex, &mut packet)
        });
    }
}

/// Runs every program attached whose hook sees `frame`.
fn deliver(
    attached: &mut [Attachment],
    frame: &Frame,
    bytes: &[u8],
    ifindex: u32,
    packet: &mut Vec<u8>,
) {
    for a in attached.iter_mut().filter(|a| a.hook.sees(frame.pkt_type)) {
        let core = Arc::clone(&a.core);
        let name = &core.programs[a.program].name;
        let mut print = |line: &str| {
            tracing::info!(
                "bpf_trace_printk from {name}: {}",
                unibpf_backend::Escaped(line)
            )
        };
        // Each program gets the frame as it came.
        let mut ctx = a.hook.context(frame, ifindex);
        packet.clear();
        packet.extend_from_slice(bytes);
        let verdict = match core.run_on(a.program, &mut ctx, Some(packet), &NoTask, &mut print) {
            Ok(r0) => a.hook.verdict(r0, frame.len),
            Err(_) => "ERROR".into(),
        };
        a.packets += 1;
        match a.verdicts.get_mut(verdict.as_ref()) {
            Some(n) => *n += 1,
            None => {
                a.verdicts.insert(verdict.into_owned(), 1);
            }
        }
    }
}
