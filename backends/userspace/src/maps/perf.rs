//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: `bpf_perf_event_output` records,
//! queued per CPU with a byte cap like the kernel's per-CPU perf buffers.
//! A record that does not fit is dropped and counted as lost.

use std::collections::VecDeque;

use unibpf_backend::{Errno, EventBatch};

use super::def::round8;

/// `bpf_perf_event_output` flags: the low 32 bits pick the entry...
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// ...and this index means the CPU the program runs on.
pub const BPF_F_CURRENT_CPU: u64 = BPF_F_INDEX_MASK;
/// Bytes of a perf record around the sample: the perf event header and
/// the raw sample's u32 size.
const OVERHEAD: u64 = 8 + 4;

#[derive(Debug, Clone, Copy)]
struct Record {
    cpu: u32,
    /// Bytes delivered: the data padded with zeros so that, with its u32
    /// size, it ends on 8 bytes, which is what a perf reader gets.
    len: usize,
}

#[derive(Debug)]
pub struct PerfEvents {
    max_entries: u32,
    cpus: u32,
    /// Bytes each CPU's buffer holds.
    cap: u64,
    /// Bytes each CPU's undelivered records take.
    queued: Vec<u64>,
    records: VecDeque<Record>,
    /// Undelivered records' bytes, in order, from `head` on.
    data: Vec<u8>,
    head: usize,
    lost: u64,
}

impl PerfEvents {
    pub(crate) fn new(max_entries: u32, cpus: u32, cap: u64) -> Self {
        Self {
            max_entries,
            cpus,
            cap,
            queued: vec![0; cpus as usize],
            records: VecDeque::new(),
            data: Vec::new(),
            head: 0,
            lost: 0,
        }
    }

    /// `bpf_perf_event_output` from a program running on `cpu`, with the
    /// kernel's errnos: EINVAL for flags above the index, E2BIG for an
    /// index past `max_entries`, ENOENT for an entry with no CPU behind
    /// it, EOPNOTSUPP for another CPU's entry (a perf buffer only takes
    /// records from its own CPU), ENOSPC when the buffer is full (the
    /// record is lost).
    pub fn output(&mut self, flags: u64, cpu: u32, bytes: &[u8]) -> Result<(), Errno> {
        if flags & !BPF_F_INDEX_MASK != 0 {
            return Err(Errno::EINVAL);
        }
        let index = match flags & BPF_F_INDEX_MASK {
            BPF_F_CURRENT_CPU => cpu,
            i => i as u32,
        };
        if index >= self.max_entries {
            return Err(Errno::E2BIG);
        }
        if index >= self.cpus {
            return Err(Errno::ENOENT);
        }
        if index != cpu {
            return Err(Errno::EOPNOTSUPP);
        }
        let len = round8(bytes.len() as u64 + 4) - 4;
        let cost = len + OVERHEAD;
        let queued = &mut self.queued[index as usize];
        if queued.saturating_add(cost) > self.cap {
            self.lost += 1;
            return Err(Errno::ENOSPC);
        }
        *queued += cost;
        self.data.extend_from_slice(bytes);
        self.data
            .resize(self.data.len() + (len as usize - bytes.len()), 0);
        self.records.push_back(Record {
            cpu: index,
            len: len as usize,
        });
        Ok(())
    }

    /// Records dropped since the last drain.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    pub fn pending(&self) -> bool {
        !self.records.is_empty() || self.lost > 0
    }

    /// Reports lost records, then moves records into `out` in output
    /// order until its budget is reached; the rest stay queued.
    pub fn drain(&mut self, out: &mut EventBatch) {
        if self.lost > 0 {
            out.add_lost(std::mem::take(&mut self.lost));
        }
        while let Some(rec) = self.records.front().copied() {
            if out.is_full() {
                break;
            }
            let more = out.push(&self.data[self.head..self.head + rec.len]);
            self.head += rec.len;
            self.queued[rec.cpu as usize] -= rec.len as u64 + OVERHEAD;
            self.records.pop_front();
            if !more {
                break;
            }
        }
        self.data.drain(..self.head);
        self.head = 0;
    }
}
