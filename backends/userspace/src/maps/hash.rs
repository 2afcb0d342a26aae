//! The key index of hash maps (plain, per-CPU, LRU): which slot of the
//! arena holds which key. Slots come from a free list of preallocated
//! ones, so a full map refuses (or, LRU, evicts) instead of growing.

use std::collections::HashMap;

use unibpf_backend::Errno;

use super::list::{Links, NIL};
use super::{BPF_EXIST, BPF_NOEXIST};

#[derive(Debug)]
pub(crate) struct HashIndex {
    /// Key to slot. Boxed keys let a lookup borrow `&[u8]`, no allocation.
    slots: HashMap<Box<[u8]>, u32>,
    /// The key of each slot, for `next_key` and eviction.
    keys: Box<[u8]>,
    key_size: usize,
    /// Slots not in use; popped from the end, lowest first.
    free: Vec<u32>,
    /// Slots in use, in insertion order: iteration visits each once.
    order: Links,
    /// LRU maps: slots in use, most recently used first.
    recency: Option<Links>,
}

/// Where an update goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Upsert {
    pub slot: u32,
    /// The key was not there: the slot's old bytes belong to no one.
    pub fresh: bool,
}

impl HashIndex {
    pub fn new(key_size: usize, max_entries: u32, lru: bool) -> Self {
        Self {
            // Grows as keys come, up to max_entries; no huge upfront table.
            slots: HashMap::with_capacity((max_entries as usize).min(1024)),
            keys: vec![0; key_size * max_entries as usize].into_boxed_slice(),
            key_size,
            free: (0..max_entries).rev().collect(),
            order: Links::new(max_entries),
            recency: lru.then(|| Links::new(max_entries)),
        }
    }

    /// The slot of `key`. `used` marks it recently used (program lookups
    /// do; user space lookups do not, as in the kernel).
    pub fn find(&mut self, key: &[u8], used: bool) -> Option<u32> {
        let slot = *self.slots.get(key)?;
        if used {
            if let Some(r) = &mut self.recency {
                r.move_to_front(slot);
            }
        }
        Some(slot)
    }

    /// Finds or creates the slot for `key`, honouring `flags` (already
    /// checked to be ANY, NOEXIST or EXIST).
    pub fn upsert(&mut self, key: &[u8], flags: u64) -> Result<Upsert, Errno> {
        if let Some(&slot) = self.slots.get(key) {
            if flags == BPF_NOEXIST {
                return Err(Errno::EEXIST);
            }
            if let Some(r) = &mut self.recency {
                r.move_to_front(slot);
            }
            return Ok(Upsert { slot, fresh: false });
        }
        if flags == BPF_EXIST {
            return Err(Errno::ENOENT);
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => self.evict().ok_or(Errno::E2BIG)?,
        };
        let range = self.key_range(slot);
        self.keys[range].copy_from_slice(key);
        self.slots.insert(key.into(), slot);
        self.order.push_back(slot);
        if let Some(r) = &mut self.recency {
            r.push_front(slot);
        }
        Ok(Upsert { slot, fresh: true })
    }

    /// Takes the least recently used slot of an LRU map for reuse.
    fn evict(&mut self) -> Option<u32> {
        let victim = self.recency.as_ref()?.tail();
        if victim == NIL {
            return None;
        }
        self.unlink(victim);
        Some(victim)
    }

    /// Removes `key`; returns the slot it had.
    pub fn remove(&mut self, key: &[u8]) -> Result<u32, Errno> {
        let slot = *self.slots.get(key).ok_or(Errno::ENOENT)?;
        self.unlink(slot);
        self.free.push(slot);
        Ok(slot)
    }

    /// Forgets the key of `slot`, which is in use.
    fn unlink(&mut self, slot: u32) {
        let range = self.key_range(slot);
        self.slots.remove(&self.keys[range]);
        self.order.unlink(slot);
        if let Some(r) = &mut self.recency {
            r.unlink(slot);
        }
    }

    /// The key after `key` in iteration order; the first key when `key`
    /// is `None` or not in the map (the kernel restarts the same way).
    pub fn next_key(&self, key: Option<&[u8]>) -> Option<&[u8]> {
        let next = match key.and_then(|k| self.slots.get(k)) {
            Some(&slot) => self.order.next(slot),
            None => self.order.head(),
        };
        (next != NIL).then(|| &self.keys[self.key_range(next)])
    }

    fn key_range(&self, slot: u32) -> std::ops::Range<usize> {
        let start = slot as usize * self.key_size;
        start..start + self.key_size
    }
}
