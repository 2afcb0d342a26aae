//! [`MapIndex`]: everything of a map but its value bytes, so a helper can
//! work on it while the VM's memory holds the arena. These are the
//! program-side operations (what helpers call during a run).

use std::ops::Range;

use unibpf_backend::{Errno, MapKind};

use super::array::{self, ProgSlots};
use super::def::Layout;
use super::hash::HashIndex;
use super::perf::PerfEvents;
use super::ringbuf::RingBuf;
use super::BPF_EXIST;

#[derive(Debug)]
pub(crate) enum Store {
    Hash(HashIndex),
    /// Plain and per-CPU arrays: every slot exists, nothing to index.
    Array,
    Prog(ProgSlots),
    RingBuf(RingBuf),
    Perf(PerfEvents),
}

/// Where a program-side update writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotWrite {
    /// Arena offset of the value (this CPU's copy for per-CPU maps),
    /// where the caller writes `value_size` bytes.
    pub offset: usize,
    /// Arena bytes to zero before writing: a new element of a per-CPU
    /// map starts with zeros in the other CPUs' copies, as in the kernel.
    /// Empty otherwise.
    pub clear: Range<usize>,
}

/// A map's key index and event queues, split from its arena.
#[derive(Debug)]
pub struct MapIndex {
    pub(crate) layout: Layout,
    pub(crate) store: Store,
}

impl MapIndex {
    pub fn kind(&self) -> MapKind {
        self.layout.kind
    }

    pub fn key_size(&self) -> usize {
        self.layout.key_size
    }

    pub fn value_size(&self) -> usize {
        self.layout.value_size
    }

    /// Map flags as defined (`BPF_F_RDONLY_PROG` says to map the arena
    /// read-only).
    pub fn flags(&self) -> u32 {
        self.layout.flags
    }

    /// `bpf_map_lookup_elem` from a program on `cpu`: the arena offset of
    /// the value (this CPU's copy for per-CPU maps), `None` for NULL.
    /// Marks an LRU map's element used. Maps a program cannot look up in
    /// (prog, perf event and ring buffer maps) give `None`.
    pub fn lookup(&mut self, key: &[u8], cpu: u32) -> Option<usize> {
        if key.len() != self.layout.key_size {
            return None;
        }
        let slot = match &mut self.store {
            Store::Array => array::index(key).filter(|&i| i < self.layout.max_entries)?,
            Store::Hash(h) => h.find(key, true)?,
            _ => return None,
        };
        self.layout.value_offset(slot, cpu)
    }

    /// `bpf_map_update_elem` from a program on `cpu`: finds or creates the
    /// element and returns the offset where the caller writes the value.
    /// For per-CPU maps prefer [`Self::prepare_update`], which says
    /// which bytes of a new element to clear.
    pub fn update_slot(&mut self, key: &[u8], flags: u64, cpu: u32) -> Result<usize, Errno> {
        self.prepare_update(key, flags, cpu).map(|w| w.offset)
    }

    /// [`Self::update_slot`] with the bytes to zero first. Errnos as the
    /// kernel's: EINVAL for flags other than ANY, NOEXIST, EXIST; EEXIST
    /// and ENOENT for NOEXIST and EXIST; E2BIG for a full hash map or an
    /// array index past the end (arrays: NOEXIST is always EEXIST); a full
    /// LRU map evicts its least recently used element. EFAULT for a key of
    /// the wrong size or a CPU out of range (the caller's bug).
    pub fn prepare_update(&mut self, key: &[u8], flags: u64, cpu: u32) -> Result<SlotWrite, Errno> {
        let l = self.layout;
        if key.len() != l.key_size || cpu >= l.cpus {
            return Err(Errno::EFAULT);
        }
        if flags > BPF_EXIST {
            return Err(Errno::EINVAL);
        }
        let (slot, fresh) = match &mut self.store {
            Store::Array => (array_slot(key, flags, l.max_entries)?, false),
            Store::Hash(h) => {
                let u = h.upsert(key, flags)?;
                (u.slot, u.fresh)
            }
            _ => return Err(Errno::EINVAL),
        };
        let offset = l.value_offset(slot, cpu).ok_or(Errno::EFAULT)?;
        let clear = if fresh && l.per_cpu() {
            l.elem_range(slot)
        } else {
            0..0
        };
        Ok(SlotWrite { offset, clear })
    }

    /// `bpf_map_delete_elem` from a program: ENOENT when absent, EINVAL
    /// for arrays and maps a program cannot delete from.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), Errno> {
        if key.len() != self.layout.key_size {
            return Err(Errno::EFAULT);
        }
        match &mut self.store {
            Store::Hash(h) => h.remove(key).map(|_| ()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The program id at `index` of a prog array (for tail calls).
    pub fn prog_at(&self, index: u32) -> Option<u32> {
        match &self.store {
            Store::Prog(p) => p.get(index),
            _ => None,
        }
    }

    /// The ring buffer of a `RingBuf` map.
    pub fn ringbuf(&mut self) -> Option<&mut RingBuf> {
        match &mut self.store {
            Store::RingBuf(r) => Some(r),
            _ => None,
        }
    }

    /// The per-CPU queues of a `PerfEventArray` map.
    pub fn perf(&mut self) -> Option<&mut PerfEvents> {
        match &mut self.store {
            Store::Perf(p) => Some(p),
            _ => None,
        }
    }

    /// To call after every run: discards ring buffer reservations the
    /// program left open. Nothing for other maps.
    pub fn end_run(&mut self) {
        if let Store::RingBuf(r) = &mut self.store {
            r.end_run();
        }
    }
}

/// The slot of an array update: E2BIG past the end, EEXIST for NOEXIST
/// (every element of an array exists).
pub(crate) fn array_slot(key: &[u8], flags: u64, max_entries: u32) -> Result<u32, Errno> {
    let i = array::index(key)
        .filter(|&i| i < max_entries)
        .ok_or(Errno::E2BIG)?;
    if flags == super::BPF_NOEXIST {
        return Err(Errno::EEXIST);
    }
    Ok(i)
}
