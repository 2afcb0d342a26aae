//! Tracepoint records built from tracer events, laid out by
//! [`crate::emulated::layout`] (the kernel's layouts).

use unibpf_trace::Event;

use crate::emulated::layout::{entry, sched_exec, sched_fork, sched_template, sys_enter, sys_exit};
use crate::emulated::put;
use crate::helpers::task::Task;

/// The priority the kernel reports for a task of nice 0.
const DEFAULT_PRIO: i32 = 120;

/// A record of `size` bytes with the common header filled.
fn with_header(size: u32, task: &dyn Task) -> Vec<u8> {
    let mut b = vec![0u8; size as usize];
    put(&mut b, entry::PID, &task.tid().to_le_bytes());
    b
}

/// The record the kernel's tracepoint for `event` would write.
pub fn record(event: &Event<'_>, task: &dyn Task) -> Vec<u8> {
    match *event {
        Event::SysEnter { id, args } => {
            let mut b = with_header(sys_enter::SIZE, task);
            put(&mut b, sys_enter::ID, &id.to_le_bytes());
            for (i, a) in args.iter().enumerate() {
                put(&mut b, sys_enter::ARGS + 8 * i as u32, &a.to_le_bytes());
            }
            b
        }
        Event::SysExit { id, ret } => {
            let mut b = with_header(sys_exit::SIZE, task);
            put(&mut b, sys_exit::ID, &id.to_le_bytes());
            put(&mut b, sys_exit::RET, &ret.to_le_bytes());
            b
        }
        Event::Exec { filename, old_tid } => {
            let mut b = with_header(sched_exec::SIZE, task);
            // The string follows the fixed part, NUL-terminated; its
            // place is `offset | length << 16`.
            let len = filename.len().min(0xfffe) + 1;
            let loc = sched_exec::SIZE | (len as u32) << 16;
            put(&mut b, sched_exec::FILENAME_LOC, &loc.to_le_bytes());
            put(&mut b, sched_exec::PID, &task.tid().to_le_bytes());
            put(&mut b, sched_exec::OLD_PID, &old_tid.to_le_bytes());
            b.extend_from_slice(&filename.as_bytes()[..len - 1]);
            b.push(0);
            b
        }
        Event::Exit { .. } => {
            let mut b = with_header(sched_template::SIZE, task);
            put(&mut b, sched_template::COMM, &task.comm());
            put(&mut b, sched_template::PID, &task.tid().to_le_bytes());
            put(&mut b, sched_template::PRIO, &DEFAULT_PRIO.to_le_bytes());
            b
        }
        Event::Fork { child_tid, .. } => {
            let mut b = with_header(sched_fork::SIZE, task);
            let comm = task.comm();
            put(&mut b, sched_fork::PARENT_COMM, &comm);
            put(&mut b, sched_fork::PARENT_PID, &task.tid().to_le_bytes());
            // A child starts with its parent's name.
            put(&mut b, sched_fork::CHILD_COMM, &comm);
            put(&mut b, sched_fork::CHILD_PID, &child_tid.to_le_bytes());
            b
        }
        // Not a tracepoint: its context is the registers
        // (`super::uprobe::pt_regs`), which the caller reads.
        Event::Probe { .. } => Vec::new(),
    }
}
