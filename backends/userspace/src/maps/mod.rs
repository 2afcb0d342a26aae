//! Userspace maps: the kernel's map types, kept so the VM can use values
//! in place.
//!
//! A program's `bpf_map_lookup_elem` returns a pointer into the map's
//! value storage, which it then reads and writes (atomics included). So
//! every map keeps all its value bytes in one preallocated buffer, the
//! *arena*, that never moves or grows: the runtime maps it as one VM
//! region per run, and a lookup gives `region base + offset`. The key
//! index ([`MapIndex`]) is a separate value, so a helper can hold
//! `&mut MapIndex` while the VM's memory holds `&mut` arena:
//! [`UserMap::split`] hands out both.
//!
//! Values sit at multiples of 8 bytes (each value rounded up to 8, as
//! the kernel does), so aligned atomics on them stay aligned. Per-CPU maps
//! hold one copy per CPU side by side, the way user space reads them.
//!
//! User-side calls ([`UserMap::lookup`] and co.) give the errnos
//! `bpf(2)` gives for the same call on Linux (checked on 6.18); a key or
//! value buffer of the wrong size is EFAULT (the ABI layer checks sizes
//! first, so that is a bug in it). Program-side calls live on
//! [`MapIndex`]; ring buffer and perf event records on [`RingBuf`] and
//! [`PerfEvents`], drained by [`UserMap::drain`].

mod array;
mod def;
#[cfg(test)]
mod event_tests;
mod hash;
mod index;
mod list;
mod perf;
mod ringbuf;
#[cfg(test)]
mod tests;

use unibpf_backend::{Errno, EventBatch, MapInfo, MapKind};

pub use def::{
    MapDef, MapLimits, BPF_F_MMAPABLE, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_RDONLY,
    BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_WRONLY_PROG, EAGAIN, ENOTSUPP,
};
pub use index::{MapIndex, SlotWrite};
pub use perf::{PerfEvents, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK};
pub use ringbuf::{RingBuf, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};

use hash::HashIndex;
use index::Store;

/// Update flag: create or replace.
pub const BPF_ANY: u64 = 0;
/// Update flag: create only (EEXIST if present).
pub const BPF_NOEXIST: u64 = 1;
/// Update flag: replace only (ENOENT if absent).
pub const BPF_EXIST: u64 = 2;

/// One map: its definition, value arena and index.
#[derive(Debug)]
pub struct UserMap {
    def: MapDef,
    arena: Box<[u8]>,
    index: MapIndex,
}

impl UserMap {
    /// Creates a map for a machine of `cpus` CPUs, checked like
    /// `BPF_MAP_CREATE`: EINVAL for sizes or flags the kernel refuses for
    /// the type (and for types not supported here), E2BIG when values are
    /// too large for the type or the preallocation exceeds `limits`.
    /// A perf event array with `max_entries` 0 gets one entry per CPU.
    pub fn new(mut def: MapDef, cpus: u32, limits: &MapLimits) -> Result<Self, Errno> {
        let (layout, arena_len) = def::check(&def, cpus, limits)?;
        def.max_entries = layout.max_entries;
        let store = match def.kind {
            MapKind::Hash | MapKind::PerCpuHash => {
                Store::Hash(HashIndex::new(layout.key_size, layout.max_entries, false))
            }
            MapKind::LruHash | MapKind::LruPerCpuHash => {
                Store::Hash(HashIndex::new(layout.key_size, layout.max_entries, true))
            }
            MapKind::ProgArray => Store::Prog(array::ProgSlots::new(layout.max_entries)),
            MapKind::RingBuf => Store::RingBuf(RingBuf::new(layout.max_entries)),
            MapKind::PerfEventArray => Store::Perf(PerfEvents::new(
                layout.max_entries,
                layout.cpus,
                limits.perf_buffer_bytes,
            )),
            _ => Store::Array,
        };
        Ok(Self {
            def,
            // Zeroed, so untouched pages are never faulted in.
            arena: vec![0; arena_len as usize].into_boxed_slice(),
            index: MapIndex { layout, store },
        })
    }

    pub fn def(&self) -> &MapDef {
        &self.def
    }

    pub fn info(&self) -> MapInfo {
        let l = &self.index.layout;
        MapInfo::new(
            l.kind,
            self.def.key_size,
            self.def.value_size,
            l.max_entries,
            l.cpus,
        )
    }

    /// The value bytes (every CPU's copy for per-CPU maps; scratch for a
    /// ring buffer's reservations; empty for prog and perf event arrays).
    pub fn arena(&self) -> &[u8] {
        &self.arena
    }

    /// The arena, for the VM to map for a run, and the index, for helpers.
    pub fn split(&mut self) -> (&mut [u8], &mut MapIndex) {
        (&mut self.arena, &mut self.index)
    }

    pub fn index(&mut self) -> &mut MapIndex {
        &mut self.index
    }

    /// Ends a run: see [`MapIndex::end_run`].
    pub fn end_run(&mut self) {
        self.index.end_run();
    }

    fn check_sizes(&self, key: &[u8], value: Option<usize>) -> Result<(), Errno> {
        let l = &self.index.layout;
        let value_ok = value.is_none_or(|v| v == l.user_value_len());
        if key.len() != l.key_size || !value_ok {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Refuses user space access the map's flags forbid.
    fn check_access(&self, write: bool) -> Result<(), Errno> {
        let forbidden = if write { BPF_F_RDONLY } else { BPF_F_WRONLY };
        if self.def.flags & forbidden != 0 {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// `BPF_MAP_LOOKUP_ELEM`: copies the value (every CPU's, each
    /// rounded to 8 bytes, for per-CPU maps) into `value`. ENOENT when
    /// absent; EINVAL for flags (no spin locks here) and ring buffers;
    /// ENOTSUPP for perf event arrays; a prog array gives the program id.
    /// Does not mark LRU elements used, as in the kernel.
    pub fn lookup(&mut self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        if self.def.kind == MapKind::RingBuf {
            return Err(Errno::EINVAL);
        }
        self.check_sizes(key, Some(value.len()))?;
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        self.check_access(false)?;
        let l = self.index.layout;
        let slot = match &mut self.index.store {
            Store::Perf(_) => return Err(ENOTSUPP),
            Store::Prog(p) => {
                let id = array::index(key).and_then(|i| p.get(i));
                value.copy_from_slice(&id.ok_or(Errno::ENOENT)?.to_le_bytes());
                return Ok(());
            }
            Store::Array => array::index(key).filter(|&i| i < l.max_entries),
            Store::Hash(h) => h.find(key, false),
            Store::RingBuf(_) => None,
        };
        let start = slot.ok_or(Errno::ENOENT)? as usize * l.elem;
        value.copy_from_slice(&self.arena[start..start + value.len()]);
        Ok(())
    }

    /// `BPF_MAP_UPDATE_ELEM`: flags ANY, NOEXIST (EEXIST if present;
    /// always for arrays), EXIST (ENOENT if absent), others EINVAL; E2BIG
    /// when a hash map is full or an array index is past the end; a full
    /// LRU map evicts. Prog arrays store the u32 in `value` as the program
    /// id. Perf event arrays: EINVAL (the kernel wants a perf event fd
    /// and says EBADF for anything else; we have none to give).
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        if self.def.kind == MapKind::RingBuf {
            return Err(Errno::EINVAL);
        }
        self.check_sizes(key, Some(value.len()))?;
        self.check_access(true)?;
        let l = self.index.layout;
        let slot = match &mut self.index.store {
            Store::Prog(_) | Store::Perf(_) => return self.update_fd_array(key, value, flags),
            _ if flags > BPF_EXIST => return Err(Errno::EINVAL),
            Store::Array => index::array_slot(key, flags, l.max_entries)?,
            Store::Hash(h) => h.upsert(key, flags)?.slot,
            Store::RingBuf(_) => return Err(Errno::EINVAL),
        };
        let start = slot as usize * l.elem;
        self.arena[start..start + value.len()].copy_from_slice(value);
        Ok(())
    }

    fn update_fd_array(&mut self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        if flags != BPF_ANY {
            return Err(Errno::EINVAL);
        }
        let i = array::index(key).ok_or(Errno::EFAULT)?;
        if i >= self.index.layout.max_entries {
            return Err(Errno::E2BIG);
        }
        match &mut self.index.store {
            Store::Prog(p) => p.set(i, array::index(value).ok_or(Errno::EFAULT)?),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `BPF_MAP_DELETE_ELEM`: ENOENT when absent; EINVAL for arrays and
    /// ring buffers; prog and perf event arrays: E2BIG past the end.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), Errno> {
        if self.def.kind == MapKind::RingBuf {
            return Err(Errno::EINVAL);
        }
        self.check_sizes(key, None)?;
        self.check_access(true)?;
        let max = self.index.layout.max_entries;
        let i = array::index(key).unwrap_or(u32::MAX);
        match &mut self.index.store {
            Store::Hash(h) => h.remove(key).map(|_| ()),
            Store::Prog(p) => p.clear(i),
            Store::Perf(_) if i >= max => Err(Errno::E2BIG),
            // No perf event is ever stored in an entry.
            Store::Perf(_) => Err(Errno::ENOENT),
            Store::Array | Store::RingBuf(_) => Err(Errno::EINVAL),
        }
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the first key for `None`. Hash maps:
    /// insertion order, a key not in the map restarts at the first,
    /// ENOENT after the last or when empty. Arrays: 0 for `None` or an
    /// index past the end, ENOENT after the last. Ring buffers: EINVAL with
    /// a key, ENOTSUPP without.
    pub fn next_key(&mut self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        if self.def.kind == MapKind::RingBuf {
            return Err(if key.is_some() {
                Errno::EINVAL
            } else {
                ENOTSUPP
            });
        }
        if let Some(k) = key {
            self.check_sizes(k, None)?;
        }
        if next.len() != self.index.layout.key_size {
            return Err(Errno::EFAULT);
        }
        self.check_access(false)?;
        match &self.index.store {
            Store::Hash(h) => {
                next.copy_from_slice(h.next_key(key).ok_or(Errno::ENOENT)?);
                Ok(())
            }
            _ => array::next_key(key, self.index.layout.max_entries, next),
        }
    }

    /// Moves every deliverable ring buffer or perf record into `out`, in
    /// order, stopping once `out` is full (the rest stay queued); perf
    /// drops are added as lost. Nothing for other maps.
    pub fn drain(&mut self, out: &mut EventBatch) {
        match &mut self.index.store {
            Store::RingBuf(r) => r.drain(out),
            Store::Perf(p) => p.drain(out),
            _ => {}
        }
    }

    /// True when [`Self::drain`] has something to deliver.
    pub fn pending(&self) -> bool {
        match &self.index.store {
            Store::RingBuf(r) => r.pending(),
            Store::Perf(p) => p.pending(),
            _ => false,
        }
    }

    /// Returns and clears a ring buffer's request to wake its consumer.
    pub fn take_wakeup(&mut self) -> bool {
        self.index.ringbuf().is_some_and(RingBuf::take_wakeup)
    }
}
