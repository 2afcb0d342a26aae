use std::rc::Rc;

use crate::Errno;

/// Map types, numbered as the kernel's `enum bpf_map_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapKind {
    Hash,
    Array,
    ProgArray,
    PerfEventArray,
    PerCpuHash,
    PerCpuArray,
    StackTrace,
    CgroupArray,
    LruHash,
    LruPerCpuHash,
    LpmTrie,
    PerCpuCgroupStorage,
    RingBuf,
    Other(u32),
}

impl MapKind {
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            1 => MapKind::Hash,
            2 => MapKind::Array,
            3 => MapKind::ProgArray,
            4 => MapKind::PerfEventArray,
            5 => MapKind::PerCpuHash,
            6 => MapKind::PerCpuArray,
            7 => MapKind::StackTrace,
            8 => MapKind::CgroupArray,
            9 => MapKind::LruHash,
            10 => MapKind::LruPerCpuHash,
            11 => MapKind::LpmTrie,
            21 => MapKind::PerCpuCgroupStorage,
            27 => MapKind::RingBuf,
            other => MapKind::Other(other),
        }
    }

    /// Values of these maps hold one slot per possible CPU.
    pub fn is_per_cpu(self) -> bool {
        matches!(
            self,
            MapKind::PerCpuHash
                | MapKind::PerCpuArray
                | MapKind::LruPerCpuHash
                | MapKind::PerCpuCgroupStorage
        )
    }

    /// Maps that deliver records to user space through a poller.
    pub fn is_event_source(self) -> bool {
        matches!(self, MapKind::RingBuf | MapKind::PerfEventArray)
    }
}

/// Sizes of a map, fetched once when the guest first names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapInfo {
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// Bytes a lookup writes and an update reads: `value_size`, or for per-CPU
    /// maps `round_up(value_size, 8) * possible_cpus`.
    pub value_buffer_size: u32,
}

impl MapInfo {
    pub fn new(
        kind: MapKind,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        possible_cpus: u32,
    ) -> Self {
        let value_buffer_size = if kind.is_per_cpu() {
            value_size
                .div_ceil(8)
                .saturating_mul(8)
                .saturating_mul(possible_cpus.max(1))
        } else {
            value_size
        };
        Self {
            kind,
            key_size,
            value_size,
            max_entries,
            value_buffer_size,
        }
    }
}

/// Element operations on one map. Slices must have exactly the sizes
/// [`MapInfo`] gives (`key_size` for keys, `value_buffer_size` for values);
/// implementations check that themselves (`EFAULT` otherwise) before they
/// hand a buffer to anything that trusts its size. Errors are plain errnos:
/// this is the hot path and allocates nothing.
pub trait MapOps {
    fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno>;
    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno>;
    fn delete(&self, key: &[u8], flags: u64) -> Result<(), Errno>;
    /// The key after `key`, or the first key when `key` is `None`.
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno>;
}

/// A map as the ABI layer holds it.
#[derive(Clone)]
pub struct MapHandle {
    /// The number the guest uses for this map (the kernel backend uses the real fd,
    /// as upstream does).
    pub id: i32,
    pub info: MapInfo,
    pub ops: Rc<dyn MapOps>,
}

impl std::fmt::Debug for MapHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapHandle")
            .field("id", &self.id)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_values_are_rounded_per_cpu() {
        let i = MapInfo::new(MapKind::PerCpuArray, 4, 12, 1, 3);
        assert_eq!(i.value_buffer_size, 16 * 3);
        let i = MapInfo::new(MapKind::Hash, 4, 12, 1, 3);
        assert_eq!(i.value_buffer_size, 12);
    }
}
