//! `BPF_MAP_TYPE_RINGBUF`: records a program reserves, fills in place and
//! submits (or copies in with `output`), delivered to user space in
//! reservation order.
//!
//! The map's arena is scratch space for the reservations of a run: a
//! program writes a record there, and submit copies it into the queue.
//! The queue is accounted like the kernel's ring: every record, pending,
//! submitted or discarded, takes an 8-byte header plus its length rounded
//! to 8 until the consumer has passed it, and a record waits for every
//! earlier reservation to be submitted or discarded.

use std::collections::VecDeque;

use unibpf_backend::{Errno, EventBatch};

use super::def::{round8, EAGAIN};

/// `bpf_ringbuf_submit`/`output` flag: do not wake the consumer.
pub const BPF_RB_NO_WAKEUP: u64 = 1;
/// `bpf_ringbuf_submit`/`output` flag: wake the consumer whatever the
/// queue holds.
pub const BPF_RB_FORCE_WAKEUP: u64 = 2;
const HEADER: u64 = 8;
/// The kernel's largest record: anything above fails the reservation.
const MAX_RECORD: u64 = (u32::MAX / 4) as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reserved,
    Committed,
    Discarded,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    /// Where the program writes it in the arena (reserved records only).
    scratch: usize,
    len: usize,
    /// Stream position of its bytes in `RingBuf::data`.
    pos: u64,
    state: State,
}

#[derive(Debug)]
pub struct RingBuf {
    /// The ring's size: `max_entries`.
    capacity: u64,
    /// Bytes the undelivered records take in the ring, headers included.
    used: u64,
    records: VecDeque<Record>,
    /// The bytes of undelivered records, in record order; `data[0]` is at
    /// stream position `base`. Room is made at reservation, so drained
    /// records are always a prefix.
    data: Vec<u8>,
    base: u64,
    /// Next free byte of the scratch arena for this run's reservations.
    scratch_top: usize,
    /// Reservations not yet submitted or discarded.
    outstanding: usize,
    wakeup: bool,
}

impl RingBuf {
    pub(crate) fn new(capacity: u32) -> Self {
        Self {
            capacity: u64::from(capacity),
            used: 0,
            records: VecDeque::new(),
            data: Vec::new(),
            base: 0,
            scratch_top: 0,
            outstanding: 0,
            wakeup: false,
        }
    }

    /// `bpf_ringbuf_reserve`: the arena offset of `size` bytes for the
    /// program to fill, or `None` (NULL) when flags are not 0, the
    /// record can never fit, or the ring is too full now. A zero-size
    /// record is allowed, as in the kernel.
    pub fn reserve(&mut self, size: u64, flags: u64) -> Option<usize> {
        if flags != 0 || size > MAX_RECORD {
            return None;
        }
        if self.outstanding == 0 {
            self.scratch_top = 0;
        }
        // At least 8 bytes each, so two reservations never share an
        // offset; never more than the ring accounts, so it always fits.
        let scratch = self.scratch_top;
        let advance = round8(size).max(HEADER) as usize;
        if scratch + advance > self.capacity as usize {
            return None;
        }
        let pos = self.append(size)?;
        self.scratch_top += advance;
        self.outstanding += 1;
        self.records.push_back(Record {
            scratch,
            len: size as usize,
            pos,
            state: State::Reserved,
        });
        Some(scratch)
    }

    /// Makes room for a record of `size` bytes at the end of the queue.
    fn append(&mut self, size: u64) -> Option<u64> {
        let need = round8(size) + HEADER;
        if need > self.capacity || self.used + need > self.capacity {
            return None;
        }
        self.used += need;
        let pos = self.base + self.data.len() as u64;
        self.data.resize(self.data.len() + size as usize, 0);
        Some(pos)
    }

    /// `bpf_ringbuf_submit`: the record reserved at `offset`, whose bytes
    /// are read from `arena`, becomes deliverable. EINVAL (and nothing
    /// happens) if no reservation is outstanding at `offset`.
    pub fn submit(&mut self, arena: &[u8], offset: usize, flags: u64) -> Result<(), Errno> {
        let i = self.reservation(offset)?;
        let rec = self.records[i];
        let bytes = arena
            .get(rec.scratch..rec.scratch + rec.len)
            .ok_or(Errno::EINVAL)?;
        let at = (rec.pos - self.base) as usize;
        self.data[at..at + rec.len].copy_from_slice(bytes);
        self.settle(i, State::Committed, flags);
        Ok(())
    }

    /// `bpf_ringbuf_discard`: the record reserved at `offset` is dropped
    /// (its room is freed when the consumer passes it).
    pub fn discard(&mut self, offset: usize, flags: u64) -> Result<(), Errno> {
        let i = self.reservation(offset)?;
        self.settle(i, State::Discarded, flags);
        Ok(())
    }

    /// `bpf_ringbuf_output`: copies `bytes` in as one record. EINVAL for
    /// unknown flags, EAGAIN when the ring has no room.
    pub fn output(&mut self, bytes: &[u8], flags: u64) -> Result<(), Errno> {
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return Err(Errno::EINVAL);
        }
        let pos = self.append(bytes.len() as u64).ok_or(EAGAIN)?;
        let at = (pos - self.base) as usize;
        self.data[at..].copy_from_slice(bytes);
        self.records.push_back(Record {
            scratch: 0,
            len: bytes.len(),
            pos,
            state: State::Committed,
        });
        self.note_wakeup(self.records.len() - 1, flags);
        Ok(())
    }

    /// After a run: reservations the program left open are discarded
    /// (the kernel's verifier would have refused such a program).
    pub fn end_run(&mut self) {
        for rec in &mut self.records {
            if rec.state == State::Reserved {
                rec.state = State::Discarded;
            }
        }
        self.outstanding = 0;
        self.scratch_top = 0;
    }

    /// The index of the outstanding reservation at `offset`. Searched
    /// from the newest: open reservations are few and at the back.
    fn reservation(&self, offset: usize) -> Result<usize, Errno> {
        self.records
            .iter()
            .rposition(|r| r.state == State::Reserved && r.scratch == offset)
            .ok_or(Errno::EINVAL)
    }

    fn settle(&mut self, i: usize, state: State, flags: u64) {
        self.records[i].state = state;
        self.outstanding -= 1;
        self.note_wakeup(i, flags);
    }

    /// Like the kernel: wake the consumer if asked to, or (unless told not
    /// to) when the record is the next one it will read.
    fn note_wakeup(&mut self, i: usize, flags: u64) {
        if flags & BPF_RB_FORCE_WAKEUP != 0 || (flags & BPF_RB_NO_WAKEUP == 0 && i == 0) {
            self.wakeup = true;
        }
    }

    /// True once a submit asked for the consumer to be woken.
    pub fn wants_wakeup(&self) -> bool {
        self.wakeup
    }

    /// Returns and clears [`Self::wants_wakeup`].
    pub fn take_wakeup(&mut self) -> bool {
        std::mem::take(&mut self.wakeup)
    }

    /// Bytes the undelivered records take in the ring, headers included.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// True when a submitted record can be delivered now.
    pub fn pending(&self) -> bool {
        self.records
            .iter()
            .take_while(|r| r.state != State::Reserved)
            .any(|r| r.state == State::Committed)
    }

    /// Moves deliverable records into `out`, in order, until a pending
    /// reservation or `out`'s budget stops it; the rest stay queued.
    pub fn drain(&mut self, out: &mut EventBatch) {
        while let Some(rec) = self.records.front().copied() {
            match rec.state {
                State::Reserved => break,
                State::Committed if out.is_full() => break,
                State::Committed => {
                    let at = (rec.pos - self.base) as usize;
                    let more = out.push(&self.data[at..at + rec.len]);
                    self.pop_front();
                    if !more {
                        break;
                    }
                }
                State::Discarded => self.pop_front(),
            }
        }
        // Delivered records are a prefix of `data`: drop it.
        let end = self
            .records
            .front()
            .map_or(self.base + self.data.len() as u64, |r| r.pos);
        self.data.drain(..(end - self.base) as usize);
        self.base = end;
    }

    fn pop_front(&mut self) {
        if let Some(rec) = self.records.pop_front() {
            self.used -= round8(rec.len as u64) + HEADER;
        }
    }
}
