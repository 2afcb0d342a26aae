//! The breakpoints of one address space: their original bytes, the probes
//! on each, the return breakpoints waiting for a thread to come back, and
//! writing all that through /proc/PID/mem (which writes through read-only
//! text pages for a tracer, like the kernel's own breakpoints do).
//!
//! A space is an mm: the threads of a process share it, and so does a vfork
//! child until it execs; a fork child gets a copy.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::arch::{TRAP, TRAP_LEN};

/// How many return breakpoints one thread may wait on at once; deeper
/// calls are not reported on return (the kernel's uretprobes stop at 64).
pub(crate) const MAX_RETURN_DEPTH: usize = 128;

/// A thread expected back at a return breakpoint.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub tid: i32,
    /// The stack pointer right after the return.
    pub sp: u64,
    /// The return probes (indices) to report then, in order.
    pub probes: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct Breakpoint {
    pub orig: [u8; TRAP_LEN],
    /// Probes (indices, in order) placed at this instruction.
    pub probes: Vec<usize>,
    pub returns: Vec<Pending>,
}

impl Breakpoint {
    fn unused(&self) -> bool {
        self.probes.is_empty() && self.returns.is_empty()
    }
}

/// A step over a breakpoint in progress (see `stepping.rs`).
pub(crate) struct Step {
    pub stepper: i32,
    pub addr: u64,
    /// Threads of the space not yet stopped.
    pub waiting: BTreeSet<i32>,
    /// The stepper runs the original instruction.
    pub stepping: bool,
    /// Signals the stepper got meanwhile, to deliver once it has stepped.
    pub signals: Vec<libc::siginfo_t>,
}

pub(crate) struct Space {
    /// A pid that had this mm when it was opened (for messages).
    pub pid: i32,
    mem: File,
    pub bps: HashMap<u64, Breakpoint>,
    /// Addresses whose breakpoint was removed: a trap reported from there
    /// afterwards was ours, taken before the removal.
    pub retired: HashSet<u64>,
    /// The traced tasks using this mm.
    pub members: BTreeSet<i32>,
    pub step: Option<Step>,
}

impl Space {
    pub fn open(pid: i32) -> io::Result<Self> {
        let mem = File::options()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))?;
        Ok(Self {
            pid,
            mem,
            bps: HashMap::new(),
            retired: HashSet::new(),
            members: BTreeSet::new(),
            step: None,
        })
    }

    pub fn read(&self, addr: u64, buf: &mut [u8]) -> io::Result<()> {
        self.mem.read_exact_at(buf, addr)
    }

    fn write(&self, addr: u64, bytes: &[u8]) -> io::Result<()> {
        self.mem.write_all_at(bytes, addr)
    }

    /// Writes the trap at `addr` (a known breakpoint).
    pub fn arm(&self, addr: u64) -> io::Result<()> {
        self.write(addr, &TRAP)
    }

    /// Writes the original bytes back at `addr`, keeping the breakpoint.
    pub fn disarm(&self, addr: u64) -> io::Result<()> {
        match self.bps.get(&addr) {
            Some(bp) => self.write(addr, &bp.orig),
            None => Ok(()),
        }
    }

    /// The breakpoint at `addr`, placed now if there is none.
    pub fn insert(&mut self, addr: u64) -> io::Result<&mut Breakpoint> {
        match self.bps.entry(addr) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => {
                let mut orig = [0u8; TRAP_LEN];
                self.mem.read_exact_at(&mut orig, addr)?;
                if orig == TRAP {
                    // Stepping over it would trap again, forever.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the instruction there is a breakpoint already",
                    ));
                }
                self.mem.write_all_at(&TRAP, addr)?;
                self.retired.remove(&addr);
                Ok(v.insert(Breakpoint {
                    orig,
                    probes: Vec::new(),
                    returns: Vec::new(),
                }))
            }
        }
    }

    /// Removes the breakpoint at `addr` if nothing uses it any more; the
    /// original bytes go back (unless a step has them there already).
    pub fn remove_if_unused(&mut self, addr: u64) {
        if !self.bps.get(&addr).is_some_and(Breakpoint::unused) {
            return;
        }
        let stepping_here = self
            .step
            .as_ref()
            .is_some_and(|s| s.addr == addr && s.stepping);
        if !stepping_here {
            if let Err(e) = self.disarm(addr) {
                tracing::debug!("pid {}: restoring {addr:#x}: {e}", self.pid);
            }
        }
        self.bps.remove(&addr);
        self.retired.insert(addr);
    }

    /// Waits for `pending.tid` at `addr` with `pending.sp`. False when the
    /// thread already waits on [`MAX_RETURN_DEPTH`] returns.
    pub fn add_return(&mut self, addr: u64, pending: Pending) -> io::Result<bool> {
        let depth: usize = self
            .bps
            .values()
            .map(|bp| bp.returns.iter().filter(|p| p.tid == pending.tid).count())
            .sum();
        if depth >= MAX_RETURN_DEPTH {
            return Ok(false);
        }
        let bp = self.insert(addr)?;
        // The same frame entered again (after a longjmp) replaces the old.
        bp.returns
            .retain(|p| !(p.tid == pending.tid && p.sp == pending.sp));
        bp.returns.push(pending);
        Ok(true)
    }

    /// The return probes `tid` completes at `addr` with stack pointer `sp`.
    /// Its entries there with a lower sp are dropped: those frames are gone
    /// (a longjmp skipped their return).
    pub fn take_returns(&mut self, addr: u64, tid: i32, sp: u64) -> Vec<usize> {
        let Some(bp) = self.bps.get_mut(&addr) else {
            return Vec::new();
        };
        let mut fired = Vec::new();
        bp.returns.retain(|p| {
            if p.tid != tid || p.sp > sp {
                return true;
            }
            if p.sp == sp {
                fired.extend_from_slice(&p.probes);
            }
            false
        });
        fired.sort_unstable();
        fired.dedup();
        fired
    }

    /// Forgets the returns `tid` waits for (it exited or exec'd).
    pub fn forget_thread(&mut self, tid: i32) {
        let addrs: Vec<u64> = self
            .bps
            .iter_mut()
            .filter_map(|(&addr, bp)| {
                let before = bp.returns.len();
                bp.returns.retain(|p| p.tid != tid);
                (bp.returns.len() != before).then_some(addr)
            })
            .collect();
        for addr in addrs {
            self.remove_if_unused(addr);
        }
    }

    /// Makes the probe breakpoints those of `wanted` (address -> probes):
    /// new ones are placed, vanished mappings forgotten, and a breakpoint
    /// whose page was replaced (unmapped and mapped again) placed again.
    /// The first failure names its address.
    pub fn sync(&mut self, wanted: &BTreeMap<u64, Vec<usize>>) -> Result<(), (u64, io::Error)> {
        let stale: Vec<u64> = self
            .bps
            .iter()
            .filter(|(addr, bp)| !bp.probes.is_empty() && !wanted.contains_key(addr))
            .map(|(&addr, _)| addr)
            .collect();
        for addr in stale {
            if let Some(bp) = self.bps.get_mut(&addr) {
                bp.probes.clear();
                if bp.returns.is_empty() {
                    self.bps.remove(&addr);
                }
            }
        }
        let mut first_err = None;
        for (&addr, probes) in wanted {
            if let Err(e) = self.place(addr, probes) {
                first_err.get_or_insert((addr, e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn place(&mut self, addr: u64, probes: &[usize]) -> io::Result<()> {
        if self.bps.contains_key(&addr) {
            let mut now = [0u8; TRAP_LEN];
            self.read(addr, &mut now)?;
            if now != TRAP {
                // New contents at this address: our trap is not there.
                if let Some(bp) = self.bps.get_mut(&addr) {
                    bp.orig = now;
                }
                self.arm(addr)?;
            }
        }
        self.insert(addr)?.probes = probes.to_vec();
        Ok(())
    }

    /// Takes every breakpoint out (original bytes back); traps reported
    /// later from them are recognised as ours.
    pub fn remove_all(&mut self) {
        let stepping = self.step.as_ref().filter(|s| s.stepping).map(|s| s.addr);
        for (&addr, bp) in &self.bps {
            if Some(addr) == stepping {
                continue;
            }
            if let Err(e) = self.write(addr, &bp.orig) {
                tracing::debug!("pid {}: restoring {addr:#x}: {e}", self.pid);
            }
        }
        self.retired.extend(self.bps.keys().copied());
        self.bps.clear();
    }

    /// The space of a fork child of this one, which got a copy of the
    /// memory: same breakpoints; the forking thread's returns are the
    /// child's (it returns through the same frames), other threads' are
    /// taken out of the child. The traps are written again in case the
    /// fork happened while one was out for a step.
    pub fn fork_copy(&self, child: i32, parent_tid: i32) -> io::Result<Space> {
        let mut copy = Space::open(child)?;
        copy.members.insert(child);
        for (&addr, bp) in &self.bps {
            let mut bp = bp.clone();
            bp.returns.retain(|p| p.tid == parent_tid);
            for p in &mut bp.returns {
                p.tid = child;
            }
            let write = if bp.unused() { &bp.orig[..] } else { &TRAP[..] };
            copy.write(addr, write)?;
            if !bp.unused() {
                copy.bps.insert(addr, bp);
            }
        }
        copy.retired = self.retired.clone();
        Ok(copy)
    }
}
