//! What a map is made of: its definition, the limits a runtime puts on
//! it, and the checks `bpf(BPF_MAP_CREATE)` makes, with the kernel's
//! errnos (measured on Linux 6.18).

use unibpf_backend::{Errno, MapKind};

/// The kernel's internal "not supported" errno. It reaches user space
/// unchanged from some map calls (ring buffer and perf event array ops),
/// so programs that check for it see the same number here.
pub const ENOTSUPP: Errno = Errno(524);
/// "Try again": a full ring buffer (not among `Errno`'s constants).
pub const EAGAIN: Errno = Errno(11);

// `map_flags` bits of `BPF_MAP_CREATE`.
pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
pub const BPF_F_RDONLY: u32 = 1 << 3;
pub const BPF_F_WRONLY: u32 = 1 << 4;
pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
pub const BPF_F_INNER_MAP: u32 = 1 << 12;

const ACCESS_MASK: u32 = BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
const HASH_FLAGS: u32 =
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | ACCESS_MASK | BPF_F_ZERO_SEED;
const ARRAY_FLAGS: u32 =
    BPF_F_NUMA_NODE | BPF_F_MMAPABLE | ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;

/// The kernel's largest kmalloc (4 MiB on x86_64): hash elements,
/// key and value together, must fit in one.
const KMALLOC_MAX_SIZE: u64 = 4 << 20;
/// Bytes of the kernel's hash element header, counted against the above.
const HTAB_ELEM_HEADER: u64 = 48;
/// The largest per-CPU allocation unit: one CPU's copy of a value.
const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;
const PAGE_SIZE: u32 = 4096;

/// A map as the object file (or the guest) defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDef {
    pub name: String,
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    /// For a perf event array, 0 means one entry per CPU (as libbpf does).
    pub max_entries: u32,
    pub flags: u32,
}

/// What one runtime lets a map take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapLimits {
    /// Bytes one map may preallocate (values, keys, index, queues).
    pub max_map_bytes: u64,
    /// Bytes of records each CPU's perf buffer holds before dropping.
    pub perf_buffer_bytes: u64,
}

impl Default for MapLimits {
    fn default() -> Self {
        Self {
            max_map_bytes: 256 << 20,
            // libbpf users commonly ask for 64 pages per CPU.
            perf_buffer_bytes: 64 * 4096,
        }
    }
}

/// Where the bytes of a map's values sit in its arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub kind: MapKind,
    pub key_size: usize,
    pub value_size: usize,
    pub max_entries: u32,
    pub cpus: u32,
    pub flags: u32,
    /// One copy of a value, rounded to 8 bytes so 8-byte atomics on any
    /// aligned field of it are aligned (the kernel rounds the same way).
    pub stride: usize,
    /// One element: `stride`, or `stride * cpus` for per-CPU maps, whose
    /// copies sit side by side as user space reads them.
    pub elem: usize,
}

pub(crate) fn round8(n: u64) -> u64 {
    n.div_ceil(8) * 8
}

impl Layout {
    pub fn per_cpu(&self) -> bool {
        self.kind.is_per_cpu()
    }

    /// Bytes user space reads and writes for one value.
    pub fn user_value_len(&self) -> usize {
        if self.per_cpu() {
            self.elem
        } else {
            self.value_size
        }
    }

    /// Offset of `cpu`'s copy of element `slot`, as a program sees it.
    pub fn value_offset(&self, slot: u32, cpu: u32) -> Option<usize> {
        let base = (slot as usize).checked_mul(self.elem)?;
        if !self.per_cpu() {
            return Some(base);
        }
        (cpu < self.cpus).then(|| base + cpu as usize * self.stride)
    }

    /// Byte range of the whole element `slot` (every CPU's copy).
    pub fn elem_range(&self, slot: u32) -> std::ops::Range<usize> {
        let start = slot as usize * self.elem;
        start..start + self.elem
    }
}

/// Checks `def` like `BPF_MAP_CREATE` and the runtime's `limits`, and
/// lays the map out. Returns the layout and the arena's length.
pub(crate) fn check(def: &MapDef, cpus: u32, limits: &MapLimits) -> Result<(Layout, u64), Errno> {
    let cpus = cpus.max(1);
    let flags = def.flags;
    let both = |a: u32, b: u32| flags & a != 0 && flags & b != 0;
    if both(BPF_F_RDONLY, BPF_F_WRONLY) || both(BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG) {
        return Err(Errno::EINVAL);
    }
    let mut max_entries = def.max_entries;
    match def.kind {
        MapKind::Hash | MapKind::PerCpuHash | MapKind::LruHash | MapKind::LruPerCpuHash => {
            check_hash(def)?
        }
        MapKind::Array | MapKind::PerCpuArray => check_array(def, def.max_entries)?,
        MapKind::ProgArray | MapKind::PerfEventArray => {
            if def.kind == MapKind::PerfEventArray && max_entries == 0 {
                max_entries = cpus;
            }
            if def.value_size != 4 || flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != 0 {
                return Err(Errno::EINVAL);
            }
            check_array(def, max_entries)?
        }
        MapKind::RingBuf => check_ringbuf(def)?,
        _ => return Err(Errno::EINVAL),
    }
    let stride = round8(u64::from(def.value_size));
    let elem = if def.kind.is_per_cpu() {
        stride.saturating_mul(u64::from(cpus))
    } else {
        stride
    };
    let (arena, extra) = footprint(def, max_entries, cpus, elem, limits);
    // A VM region holds at most 4 GiB, whatever the limits say.
    if arena > u64::from(u32::MAX) || arena.saturating_add(extra) > limits.max_map_bytes {
        return Err(Errno::E2BIG);
    }
    let layout = Layout {
        kind: def.kind,
        key_size: def.key_size as usize,
        value_size: def.value_size as usize,
        max_entries,
        cpus,
        flags,
        stride: stride as usize,
        elem: elem as usize,
    };
    Ok((layout, arena))
}

fn check_hash(def: &MapDef) -> Result<(), Errno> {
    let lru = matches!(def.kind, MapKind::LruHash | MapKind::LruPerCpuHash);
    if def.flags & !HASH_FLAGS != 0 || (!lru && def.flags & BPF_F_NO_COMMON_LRU != 0) {
        return Err(Errno::EINVAL);
    }
    if lru && def.flags & BPF_F_NO_PREALLOC != 0 {
        return Err(ENOTSUPP);
    }
    if def.max_entries == 0 || def.key_size == 0 || def.value_size == 0 {
        return Err(Errno::EINVAL);
    }
    let (key, value) = (u64::from(def.key_size), u64::from(def.value_size));
    if key + value >= KMALLOC_MAX_SIZE - HTAB_ELEM_HEADER
        || (def.kind.is_per_cpu() && round8(value) > PCPU_MIN_UNIT_SIZE)
    {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

fn check_array(def: &MapDef, max_entries: u32) -> Result<(), Errno> {
    let flags = def.flags;
    if flags & !ARRAY_FLAGS != 0
        || (def.kind.is_per_cpu() && flags & BPF_F_MMAPABLE != 0)
        || (def.kind != MapKind::Array && flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP) != 0)
        || (def.kind != MapKind::PerfEventArray && flags & BPF_F_PRESERVE_ELEMS != 0)
    {
        return Err(Errno::EINVAL);
    }
    if max_entries == 0 || def.key_size != 4 || def.value_size == 0 {
        return Err(Errno::EINVAL);
    }
    if def.kind.is_per_cpu() && round8(u64::from(def.value_size)) > PCPU_MIN_UNIT_SIZE {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

fn check_ringbuf(def: &MapDef) -> Result<(), Errno> {
    if def.flags & !BPF_F_NUMA_NODE != 0
        || def.key_size != 0
        || def.value_size != 0
        || !def.max_entries.is_power_of_two()
        || def.max_entries % PAGE_SIZE != 0
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Bytes of the arena (what the VM maps) and of everything else the map
/// preallocates or may grow to (keys, index, queued records).
fn footprint(
    def: &MapDef,
    max_entries: u32,
    cpus: u32,
    elem: u64,
    limits: &MapLimits,
) -> (u64, u64) {
    let max = u64::from(max_entries);
    let key = u64::from(def.key_size);
    match def.kind {
        MapKind::Hash | MapKind::PerCpuHash | MapKind::LruHash | MapKind::LruPerCpuHash => {
            // Keys twice (lookup table and per-slot copy), links, free list,
            // and the lookup table's own entry.
            (max.saturating_mul(elem), max.saturating_mul(2 * key + 48))
        }
        MapKind::Array | MapKind::PerCpuArray => (max.saturating_mul(elem), 0),
        MapKind::ProgArray => (0, max * 8),
        MapKind::PerfEventArray => (0, u64::from(cpus).saturating_mul(limits.perf_buffer_bytes)),
        // Scratch for reservations, and the queue of records.
        _ => (max, max),
    }
}
