//! Uprobes and uretprobes by software breakpoints: which address spaces
//! exist and what is placed in each (at seize, after exec, after an
//! executable mmap, copied on fork), and what a breakpoint hit reports.
//! Stepping over a hit is in `stepping.rs`.
//!
//! A return probe works like the kernel's uretprobe: at the entry hit the
//! return address gets a temporary breakpoint keyed by (thread, stack
//! pointer after the return); a hit there by that thread at that stack
//! pointer reports the return, any other hit is stepped over silently.

use std::collections::{BTreeMap, HashMap};

use crate::arch;
use crate::breakpoint::{Pending, Space};
use crate::maps::{self, FileId};
use crate::sys::{self, Resume};
use crate::task::Task;
use crate::{Event, Probe, ProbeKind, TraceError, Tracer};

/// The probes asked for and the address spaces they are placed in.
pub(crate) struct Probes {
    pub list: Vec<Probe>,
    /// Per probe: its file and offset.
    targets: Vec<(FileId, u64)>,
    pub spaces: HashMap<u64, Space>,
    next_space: u64,
}

impl Probes {
    /// Identifies each probe's file now, so that a missing one is an error
    /// before anything runs.
    pub fn new(list: Vec<Probe>) -> Result<Self, TraceError> {
        if !list.is_empty() && !arch::SUPPORTED {
            return Err(TraceError::ProbesUnsupported);
        }
        let targets = list
            .iter()
            .map(|p| match FileId::of(&p.file) {
                Ok(id) => Ok((id, p.offset)),
                Err(source) => Err(TraceError::ProbeFile {
                    path: p.file.clone(),
                    source,
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            list,
            targets,
            spaces: HashMap::new(),
            next_space: 0,
        })
    }

    pub fn active(&self) -> bool {
        !self.list.is_empty()
    }

    fn add(&mut self, space: Space) -> u64 {
        self.next_space += 1;
        self.spaces.insert(self.next_space, space);
        self.next_space
    }

    /// A space for the mm of `pid` with `members`, nothing placed yet.
    pub fn open(&mut self, pid: i32, members: &[i32]) -> Result<u64, TraceError> {
        let mut space =
            Space::open(pid).map_err(|source| TraceError::ProbeMemory { pid, source })?;
        space.members.extend(members);
        Ok(self.add(space))
    }

    /// Places the breakpoints of every probe whose file `space` maps
    /// executable now (read from /proc/PID/maps).
    pub fn scan(&mut self, id: u64) -> Result<(), TraceError> {
        let Some(space) = self.spaces.get_mut(&id) else {
            return Ok(());
        };
        let pid = space.pid;
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .map_err(|source| TraceError::ProbeMaps { pid, source })?;
        let wanted: BTreeMap<u64, Vec<usize>> = maps::probe_addresses(&text, &self.targets);
        space
            .sync(&wanted)
            .map_err(|(addr, source)| TraceError::ProbeWrite { pid, addr, source })
    }
}

impl Tracer {
    /// Handles a stop that probes make theirs: a stop in a space where a
    /// step is under way, a breakpoint hit, a new task whose space is not
    /// known yet. True if handled (the task's resumption included).
    pub(crate) fn probe_stop(
        &mut self,
        tid: i32,
        sig: i32,
        event: i32,
        on_event: &mut impl FnMut(&Event, &Task),
    ) -> bool {
        if !self.probes.active() {
            return false;
        }
        let Some(task) = self.tasks.get_mut(&tid) else {
            return false;
        };
        let Some(space) = task.space else {
            if task.fresh && event == libc::PTRACE_EVENT_STOP && !self.stopping {
                // Until its parent's fork event says which breakpoints its
                // memory holds, it must not run.
                task.fresh = false;
                task.held = true;
                task.awaiting_space = true;
                return true;
            }
            return false;
        };
        let stepper = self.probes.spaces.get(&space).and_then(|s| s.step.as_ref());
        match stepper.map(|s| s.stepper) {
            Some(t) if t == tid => self.stepper_stop(space, tid, sig, event, on_event),
            Some(_) => self.park(space, tid, sig, event),
            None if event == 0 && sig == libc::SIGTRAP => return self.trap(space, tid, on_event),
            None => return false,
        }
        true
    }

    /// A SIGTRAP: ours if it comes from a breakpoint of the task's space.
    fn trap(&mut self, space_id: u64, tid: i32, on_event: &mut impl FnMut(&Event, &Task)) -> bool {
        let Some((regs, addr, known)) = self.our_trap(space_id, tid) else {
            return false;
        };
        if !known {
            // Hit just before its breakpoint was taken out: run the
            // original instruction.
            self.resume_task(tid, self.mode_of(tid), 0);
            return true;
        }
        let Some(space) = self.probes.spaces.get_mut(&space_id) else {
            return false;
        };
        let returns = space.take_returns(addr, tid, arch::sp(&regs));
        let here = space
            .bps
            .get(&addr)
            .map(|bp| bp.probes.clone())
            .unwrap_or_default();
        self.fire(tid, &returns, ProbeKind::Return, on_event);
        self.fire(tid, &here, ProbeKind::Entry, on_event);
        self.arm_return(space_id, tid, &regs, &here);
        let Some(space) = self.probes.spaces.get_mut(&space_id) else {
            return true;
        };
        space.remove_if_unused(addr);
        if space.bps.contains_key(&addr) {
            self.begin_step(space_id, tid, addr);
        } else {
            self.resume_task(tid, self.mode_of(tid), 0);
        }
        true
    }

    /// If `tid` stopped on a trap instruction that is (or was) one of our
    /// breakpoints: its registers with ip set back to the breakpoint, the
    /// address, and whether the breakpoint is still there.
    pub(crate) fn our_trap(&self, space_id: u64, tid: i32) -> Option<(crate::Regs, u64, bool)> {
        let info = sys::siginfo(tid).ok()?;
        if info.si_code != arch::TRAP_CODE {
            return None;
        }
        let mut regs = sys::regs(tid).ok()?;
        let addr = arch::trap_address(&regs);
        let space = self.probes.spaces.get(&space_id)?;
        let known = space.bps.contains_key(&addr);
        if !known && !space.retired.contains(&addr) {
            return None;
        }
        if arch::ip(&regs) != addr {
            arch::set_ip(&mut regs, addr);
            if let Err(e) = sys::set_regs(tid, regs) {
                tracing::warn!("tid {tid}: cannot set ip back to the breakpoint at {addr:#x}: {e}");
            }
        }
        Some((regs, addr, known))
    }

    fn fire(
        &self,
        tid: i32,
        which: &[usize],
        kind: ProbeKind,
        on_event: &mut impl FnMut(&Event, &Task),
    ) {
        for &i in which {
            if let Some(p) = self.probes.list.get(i).filter(|p| p.kind == kind) {
                self.deliver(tid, &Event::Probe { id: p.id, kind }, on_event);
            }
        }
    }

    /// At the entry of a function with return probes: wait for the thread
    /// at its return address.
    fn arm_return(&mut self, space_id: u64, tid: i32, regs: &crate::Regs, here: &[usize]) {
        let list = &self.probes.list;
        let rets: Vec<usize> = here
            .iter()
            .copied()
            .filter(|&i| list.get(i).is_some_and(|p| p.kind == ProbeKind::Return))
            .collect();
        let Some(state) = self.tasks.get(&tid) else {
            return;
        };
        if rets.is_empty() {
            return;
        }
        let task = Task { state };
        let Some((at, sp)) = arch::return_site(regs, |a, b| task.read_memory(a, b)) else {
            return tracing::debug!("tid {tid}: cannot read the return address");
        };
        let Some(space) = self.probes.spaces.get_mut(&space_id) else {
            return;
        };
        let pending = Pending {
            tid,
            sp,
            probes: rets,
        };
        match space.add_return(at, pending) {
            Ok(true) => {}
            Ok(false) => tracing::debug!("tid {tid}: too many pending returns, one not reported"),
            Err(e) => tracing::debug!("tid {tid}: return breakpoint at {at:#x}: {e}"),
        }
    }

    /// Resumes `tid` unless a step in its space keeps it parked.
    pub(crate) fn resume_task(&mut self, tid: i32, how: Resume, sig: i32) {
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.held = false;
        }
        self.resume(tid, how, sig);
    }

    pub(crate) fn mode_of(&self, tid: i32) -> Resume {
        self.tasks
            .get(&tid)
            .map_or(Resume::Cont, |t| self.resume_mode(t))
    }

    /// After a seize: one space for the process, breakpoints placed.
    pub(crate) fn probes_seized(&mut self, tgid: i32) -> Result<(), TraceError> {
        if !self.probes.active() {
            return Ok(());
        }
        let tids: Vec<i32> = self.tasks.keys().copied().collect();
        let id = self.probes.open(tgid, &tids)?;
        for t in self.tasks.values_mut() {
            t.space = Some(id);
        }
        self.probes.scan(id)
    }

    /// After an exec: a new, empty address space for `tid`.
    pub(crate) fn probes_exec(&mut self, tid: i32, old_tid: i32) {
        if !self.probes.active() {
            return;
        }
        let old = self.tasks.get(&tid).and_then(|t| t.space);
        if let Some(old) = old {
            self.leave_space(old, tid);
            self.leave_space(old, old_tid);
        }
        let id = match self.probes.open(tid, &[tid]) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!("pid {tid}: no probes after exec: {e}");
                None
            }
        };
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.space = id;
        }
        self.probes_rescan(tid);
    }

    /// Places what a new executable mapping of `tid`'s space may need.
    pub(crate) fn probes_rescan(&mut self, tid: i32) {
        if let Some(id) = self.tasks.get(&tid).and_then(|t| t.space) {
            if let Err(e) = self.probes.scan(id) {
                tracing::warn!("{e}");
            }
        }
    }

    /// A fork event: `child` shares its parent's space (a thread, a vfork
    /// child) or gets a copy of it (fork); held until then.
    pub(crate) fn probes_fork(&mut self, parent: i32, child: i32, event: i32) {
        if !self.probes.active() || self.tasks.get(&child).is_some_and(|t| t.space.is_some()) {
            return;
        }
        let parent_space = self.tasks.get(&parent).and_then(|t| t.space);
        let thread =
            self.tasks.get(&parent).map(|t| t.tgid) == self.tasks.get(&child).map(|t| t.tgid);
        let space = parent_space.and_then(|id| {
            if thread || event == libc::PTRACE_EVENT_VFORK {
                self.probes.spaces.get_mut(&id)?.members.insert(child);
                return Some(id);
            }
            match self.probes.spaces.get(&id)?.fork_copy(child, parent) {
                Ok(copy) => Some(self.probes.add(copy)),
                Err(e) => {
                    tracing::warn!("pid {child}: no probes in this fork child: {e}");
                    None
                }
            }
        });
        self.settle_child(child, space);
    }

    /// Gives a held new task its space and lets it run.
    fn settle_child(&mut self, child: i32, space: Option<u64>) {
        let Some(task) = self.tasks.get_mut(&child) else {
            return;
        };
        task.space = space;
        if std::mem::take(&mut task.awaiting_space) {
            self.resume_task(child, self.mode_of(child), 0);
        }
    }

    /// New tasks whose parent's fork event will not come (it died): a
    /// thread joins its process's space, a process copies its parent's.
    fn settle_orphans(&mut self) {
        let orphans: Vec<(i32, i32)> = self
            .tasks
            .values()
            .filter(|t| t.awaiting_space)
            .map(|t| (t.tid, t.tgid))
            .collect();
        for (child, tgid) in orphans {
            let ppid = self
                .tasks
                .get(&child)
                .map_or(0, |state| Task { state }.ppid());
            let sibling = self
                .tasks
                .values()
                .find(|t| t.tgid == tgid && t.space.is_some());
            let space = match sibling.and_then(|t| t.space) {
                Some(id) => {
                    if let Some(s) = self.probes.spaces.get_mut(&id) {
                        s.members.insert(child);
                    }
                    Some(id)
                }
                None => self
                    .tasks
                    .values()
                    .find(|t| t.tgid == ppid)
                    .and_then(|p| Some((p.tid, p.space?)))
                    .and_then(|(ptid, id)| self.probes.spaces.get(&id)?.fork_copy(child, ptid).ok())
                    .map(|copy| self.probes.add(copy)),
            };
            self.settle_child(child, space);
        }
    }

    /// `tid` no longer uses space `id` (it exited or exec'd).
    fn leave_space(&mut self, id: u64, tid: i32) {
        let Some(space) = self.probes.spaces.get_mut(&id) else {
            return;
        };
        space.members.remove(&tid);
        space.forget_thread(tid);
        if space.members.is_empty() && space.step.is_none() {
            self.probes.spaces.remove(&id);
        }
    }

    /// A traced task is gone: its space and any step it was part of.
    pub(crate) fn probes_gone(&mut self, tid: i32, on_event: &mut impl FnMut(&Event, &Task)) {
        if !self.probes.active() {
            return;
        }
        if let Some(id) = self.tasks.get(&tid).and_then(|t| t.space) {
            self.step_member_gone(id, tid, on_event);
            self.leave_space(id, tid);
        }
        self.tasks.remove(&tid);
        self.settle_orphans();
    }

    /// Stopping with a pid target: every breakpoint out, and the tasks we
    /// hold detached (the others are detached at their next stop).
    pub(crate) fn probes_remove_all(&mut self) {
        for space in self.probes.spaces.values_mut() {
            space.remove_all();
        }
        let held: Vec<i32> = self
            .tasks
            .values()
            .filter(|t| t.held)
            .map(|t| t.tid)
            .collect();
        for tid in held {
            let (sig, event) = self
                .tasks
                .get_mut(&tid)
                .and_then(|t| t.deferred.take())
                .unwrap_or((0, libc::PTRACE_EVENT_STOP));
            self.stop_one(tid, sig, event);
        }
    }

    /// The signal to detach `tid` with, given the one its stop carries
    /// (`signal_stop`: a signal-delivery-stop): none for a trap of ours (ip
    /// set back), and a signal held back during a step instead of the
    /// step's own trap.
    pub(crate) fn probes_detach_signal(&mut self, tid: i32, sig: i32, signal_stop: bool) -> i32 {
        let Some(id) = self.tasks.get(&tid).and_then(|t| t.space) else {
            return sig;
        };
        let space = self.probes.spaces.get_mut(&id);
        let step = space.and_then(|s| s.step.take_if(|s| s.stepper == tid));
        let mut sig = sig;
        if signal_stop && sig == libc::SIGTRAP {
            let code = sys::siginfo(tid).map(|i| i.si_code);
            let stepped = step.is_some() && code == Ok(arch::TRAP_TRACE);
            if stepped || self.our_trap(id, tid).is_some() {
                sig = 0;
            }
        }
        let tgid = self.tasks.get(&tid).map_or(tid, |t| t.tgid);
        for info in step.map(|s| s.signals).unwrap_or_default() {
            if signal_stop && sig == 0 && sys::set_siginfo(tid, &info).is_ok() {
                sig = info.si_signo;
            } else if let Err(e) = sys::tgkill(tgid, tid, info.si_signo) {
                tracing::debug!("tid {tid}: signal {} lost: {e}", info.si_signo);
            }
        }
        sig
    }
}
