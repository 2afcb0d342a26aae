//! Map semantics. The errnos expected here are what Linux 6.18 returns
//! for the same `bpf(2)` calls (measured with raw syscalls as root).

use unibpf_backend::{Errno, MapKind};

use super::*;

const CPUS: u32 = 2;

fn def(kind: MapKind, key_size: u32, value_size: u32, max_entries: u32, flags: u32) -> MapDef {
    MapDef {
        name: "m".into(),
        kind,
        key_size,
        value_size,
        max_entries,
        flags,
    }
}

fn map(kind: MapKind, key_size: u32, value_size: u32, max_entries: u32) -> UserMap {
    UserMap::new(
        def(kind, key_size, value_size, max_entries, 0),
        CPUS,
        &MapLimits::default(),
    )
    .expect("valid map")
}

fn k(n: u32) -> [u8; 4] {
    n.to_le_bytes()
}

fn lookup_u32(m: &mut UserMap, key: u32) -> Result<u32, Errno> {
    let mut v = [0u8; 4];
    m.lookup(&k(key), &mut v, 0)?;
    Ok(u32::from_le_bytes(v))
}

/// Every key of a hash map with 4-byte keys, walked with next_key.
fn walk(m: &mut UserMap) -> Vec<u32> {
    let mut out = Vec::new();
    let mut next = [0u8; 4];
    let mut prev: Option<[u8; 4]> = None;
    while m.next_key(prev.as_ref().map(|p| &p[..]), &mut next).is_ok() {
        out.push(u32::from_le_bytes(next));
        prev = Some(next);
        assert!(out.len() <= 1000, "iteration does not end");
    }
    out
}

#[test]
fn creation_is_checked_like_the_kernel() {
    use MapKind::*;
    let e2big = Err(Errno::E2BIG);
    let einval = Err(Errno::EINVAL);
    // kind, key size, value size, max entries, flags, what bpf(2) says.
    type Case = (MapKind, u32, u32, u32, u32, Result<(), Errno>);
    let cases: &[Case] = &[
        (Hash, 4, 4, 1, 0, Ok(())),
        (Hash, 513, 4, 1, 0, Ok(())),
        (Hash, 4, 0, 1, 0, einval),
        (Hash, 0, 4, 1, 0, einval),
        (Hash, 4, 4, 0, 0, einval),
        (Hash, 4, 5 << 20, 1, 0, e2big),
        (Hash, (4 << 20) - 100, 4, 1, 0, Ok(())),
        (PerCpuHash, 4, 32768, 1, 0, Ok(())),
        (PerCpuHash, 4, 32769, 1, 0, e2big),
        (PerCpuArray, 4, 32768, 1, 0, Ok(())),
        (PerCpuArray, 4, 32769, 1, 0, e2big),
        (LruHash, 4, 4, 4, BPF_F_NO_PREALLOC, Err(ENOTSUPP)),
        (Hash, 4, 4, 4, BPF_F_NO_COMMON_LRU, einval),
        (LruHash, 4, 4, 4, BPF_F_NO_COMMON_LRU, Ok(())),
        (Hash, 4, 4, 4, BPF_F_NO_PREALLOC, Ok(())),
        (Array, 4, 4, 4, BPF_F_NO_PREALLOC, einval),
        (Array, 8, 4, 4, 0, einval),
        (Array, 4, 4, 0, 0, einval),
        (Array, 4, 4, 4, BPF_F_MMAPABLE, Ok(())),
        (Hash, 4, 4, 4, BPF_F_MMAPABLE, einval),
        (PerCpuArray, 4, 4, 4, BPF_F_MMAPABLE, einval),
        (Array, 4, 4, 4, 1 << 11, einval), // PRESERVE_ELEMS
        (Hash, 4, 4, 4, BPF_F_RDONLY | BPF_F_WRONLY, einval),
        (Hash, 4, 4, 4, 1 << 20, einval),
        (PerfEventArray, 4, 8, 4, 0, einval),
        (PerfEventArray, 4, 4, 4, 1 << 11, Ok(())),
        (ProgArray, 8, 4, 4, 0, einval),
        (ProgArray, 4, 4, 4, BPF_F_RDONLY_PROG, einval),
        (RingBuf, 0, 0, 4096, 0, Ok(())),
        (RingBuf, 0, 0, 4095, 0, einval),
        (RingBuf, 0, 0, 12288, 0, einval),
        (RingBuf, 4, 0, 4096, 0, einval),
        (StackTrace, 4, 8, 4, 0, einval),
        (LpmTrie, 8, 4, 4, 1, einval),
    ];
    for &(kind, key, value, max, flags, want) in cases {
        let got = UserMap::new(
            def(kind, key, value, max, flags),
            CPUS,
            &MapLimits::default(),
        );
        assert_eq!(
            got.map(|_| ()),
            want,
            "{kind:?} key {key} value {value} max {max} flags {flags:#x}"
        );
    }
}

#[test]
fn limits_refuse_maps_that_preallocate_too_much() {
    let limits = MapLimits {
        max_map_bytes: 1 << 20,
        ..MapLimits::default()
    };
    let new = |kind, value, max| UserMap::new(def(kind, 4, value, max, 0), 4, &limits);
    assert!(new(MapKind::Array, 8, 1 << 16).is_ok());
    assert_eq!(new(MapKind::Array, 8, 1 << 18).err(), Some(Errno::E2BIG));
    // Per-CPU maps pay for every CPU's copy.
    assert!(new(MapKind::PerCpuArray, 8, 1 << 14).is_ok());
    assert_eq!(
        new(MapKind::PerCpuArray, 8, 1 << 16).err(),
        Some(Errno::E2BIG)
    );
    assert_eq!(new(MapKind::Hash, 8, 1 << 17).err(), Some(Errno::E2BIG));
    let ring = UserMap::new(def(MapKind::RingBuf, 0, 0, 1 << 20, 0), 4, &limits);
    assert_eq!(ring.err(), Some(Errno::E2BIG));
    // An arena must fit a VM region (4 GiB) whatever the limits.
    let huge = MapLimits {
        max_map_bytes: u64::MAX,
        ..MapLimits::default()
    };
    let m = UserMap::new(def(MapKind::Array, 4, 1 << 20, 1 << 13, 0), 1, &huge);
    assert_eq!(m.err(), Some(Errno::E2BIG));
    // Sizes whose product overflows are refused, not wrapped.
    let m = UserMap::new(def(MapKind::Array, 4, u32::MAX, u32::MAX, 0), 1, &huge);
    assert_eq!(m.err(), Some(Errno::E2BIG));
    let m = UserMap::new(def(MapKind::PerCpuHash, 4, 8, u32::MAX, 0), u32::MAX, &huge);
    assert_eq!(m.err(), Some(Errno::E2BIG));
}

#[test]
fn hash_updates_honour_flags_and_capacity() {
    let mut m = map(MapKind::Hash, 4, 4, 2);
    assert_eq!(lookup_u32(&mut m, 1), Err(Errno::ENOENT));
    assert_eq!(m.update(&k(1), &k(10), BPF_EXIST), Err(Errno::ENOENT));
    m.update(&k(1), &k(10), BPF_NOEXIST).unwrap();
    assert_eq!(m.update(&k(1), &k(11), BPF_NOEXIST), Err(Errno::EEXIST));
    m.update(&k(1), &k(12), BPF_EXIST).unwrap();
    assert_eq!(lookup_u32(&mut m, 1), Ok(12));
    m.update(&k(2), &k(20), BPF_ANY).unwrap();
    assert_eq!(m.update(&k(3), &k(30), BPF_ANY), Err(Errno::E2BIG));
    // Replacing needs no new slot, full or not.
    m.update(&k(2), &k(21), BPF_ANY).unwrap();
    assert_eq!(lookup_u32(&mut m, 2), Ok(21));
    assert_eq!(m.update(&k(1), &k(0), 3), Err(Errno::EINVAL));
    assert_eq!(m.update(&k(1), &k(0), 4), Err(Errno::EINVAL));
    let mut v = [0u8; 4];
    assert_eq!(m.lookup(&k(1), &mut v, 4), Err(Errno::EINVAL));
    assert_eq!(m.lookup(&k(1), &mut v, 8), Err(Errno::EINVAL));
    m.delete(&k(1)).unwrap();
    assert_eq!(m.delete(&k(1)), Err(Errno::ENOENT));
    assert_eq!(lookup_u32(&mut m, 1), Err(Errno::ENOENT));
    // The freed slot takes a new key.
    m.update(&k(3), &k(30), BPF_ANY).unwrap();
    assert_eq!(lookup_u32(&mut m, 3), Ok(30));
}

#[test]
fn buffers_of_the_wrong_size_are_efault() {
    let mut m = map(MapKind::Hash, 4, 8, 2);
    let mut v = [0u8; 8];
    assert_eq!(m.lookup(&[0; 3], &mut v, 0), Err(Errno::EFAULT));
    assert_eq!(m.lookup(&k(0), &mut v[..4], 0), Err(Errno::EFAULT));
    assert_eq!(m.update(&k(0), &[0; 9], 0), Err(Errno::EFAULT));
    assert_eq!(m.delete(&[0; 5]), Err(Errno::EFAULT));
    assert_eq!(m.next_key(None, &mut [0; 8]), Err(Errno::EFAULT));
    let mut pc = map(MapKind::PerCpuHash, 4, 4, 2);
    // Per-CPU values: 8 bytes (4 rounded up) per CPU.
    assert_eq!(pc.update(&k(0), &[0; 8], 0), Err(Errno::EFAULT));
    pc.update(&k(0), &[0; 16], 0).unwrap();
}

#[test]
fn access_flags_limit_user_space() {
    let mut ro = UserMap::new(
        def(MapKind::Hash, 4, 4, 4, BPF_F_RDONLY),
        1,
        &MapLimits::default(),
    )
    .unwrap();
    assert_eq!(ro.update(&k(0), &k(0), 0), Err(Errno::EPERM));
    assert_eq!(ro.delete(&k(0)), Err(Errno::EPERM));
    assert_eq!(lookup_u32(&mut ro, 0), Err(Errno::ENOENT));
    let mut wo = UserMap::new(
        def(MapKind::Hash, 4, 4, 4, BPF_F_WRONLY),
        1,
        &MapLimits::default(),
    )
    .unwrap();
    wo.update(&k(0), &k(0), 0).unwrap();
    assert_eq!(lookup_u32(&mut wo, 0), Err(Errno::EPERM));
    assert_eq!(wo.next_key(None, &mut [0; 4]), Err(Errno::EPERM));
    wo.delete(&k(0)).unwrap();
}

#[test]
fn arrays_hold_every_index() {
    let mut m = map(MapKind::Array, 4, 4, 3);
    assert_eq!(lookup_u32(&mut m, 2), Ok(0));
    assert_eq!(lookup_u32(&mut m, 3), Err(Errno::ENOENT));
    assert_eq!(m.update(&k(3), &k(1), BPF_ANY), Err(Errno::E2BIG));
    assert_eq!(m.update(&k(3), &k(1), 5), Err(Errno::EINVAL));
    assert_eq!(m.update(&k(0), &k(1), BPF_NOEXIST), Err(Errno::EEXIST));
    m.update(&k(0), &k(7), BPF_EXIST).unwrap();
    assert_eq!(lookup_u32(&mut m, 0), Ok(7));
    assert_eq!(m.delete(&k(0)), Err(Errno::EINVAL));
    let mut next = [0u8; 4];
    m.next_key(None, &mut next).unwrap();
    assert_eq!(next, k(0));
    m.next_key(Some(&k(1)), &mut next).unwrap();
    assert_eq!(next, k(2));
    assert_eq!(m.next_key(Some(&k(2)), &mut next), Err(Errno::ENOENT));
    m.next_key(Some(&k(9)), &mut next).unwrap();
    assert_eq!(next, k(0));
}

#[test]
fn next_key_visits_every_hash_key_once() {
    let mut m = map(MapKind::Hash, 4, 4, 16);
    let mut next = [0u8; 4];
    assert_eq!(m.next_key(None, &mut next), Err(Errno::ENOENT));
    assert_eq!(m.next_key(Some(&k(3)), &mut next), Err(Errno::ENOENT));
    for n in [5, 3, 9, 1, 12] {
        m.update(&k(n), &k(n), 0).unwrap();
    }
    assert_eq!(walk(&mut m), [5, 3, 9, 1, 12]);
    m.delete(&k(9)).unwrap();
    m.delete(&k(5)).unwrap();
    m.update(&k(7), &k(7), 0).unwrap();
    assert_eq!(walk(&mut m), [3, 1, 12, 7]);
    // A key not in the map restarts at the first, like the kernel.
    m.next_key(Some(&k(99)), &mut next).unwrap();
    assert_eq!(next, k(3));
    // Deleting each key as it is visited still visits them all.
    let mut seen = Vec::new();
    while m.next_key(None, &mut next).is_ok() {
        seen.push(u32::from_le_bytes(next));
        m.delete(&next).unwrap();
    }
    assert_eq!(seen, [3, 1, 12, 7]);
}

#[test]
fn lru_evicts_the_least_recently_used() {
    let mut m = map(MapKind::LruHash, 4, 4, 3);
    for n in 1..=3 {
        m.update(&k(n), &k(n), 0).unwrap();
    }
    // A program's lookup marks 1 used: 2 is now the oldest.
    assert!(m.index().lookup(&k(1), 0).is_some());
    m.update(&k(4), &k(4), 0).unwrap();
    assert_eq!(lookup_u32(&mut m, 2), Err(Errno::ENOENT));
    // User space lookups do not count as use (as in the kernel): 3 goes.
    assert_eq!(lookup_u32(&mut m, 3), Ok(3));
    m.update(&k(5), &k(5), 0).unwrap();
    assert_eq!(lookup_u32(&mut m, 3), Err(Errno::ENOENT));
    // Updates count: 1 is refreshed, so 4 goes next.
    m.update(&k(1), &k(11), BPF_EXIST).unwrap();
    m.update(&k(6), &k(6), BPF_NOEXIST).unwrap();
    assert_eq!(lookup_u32(&mut m, 4), Err(Errno::ENOENT));
    assert_eq!(lookup_u32(&mut m, 1), Ok(11));
    assert_eq!(walk(&mut m).len(), 3);
    // Failed updates evict nothing.
    assert_eq!(m.update(&k(1), &k(0), BPF_NOEXIST), Err(Errno::EEXIST));
    assert_eq!(m.update(&k(8), &k(0), BPF_EXIST), Err(Errno::ENOENT));
    assert_eq!(walk(&mut m).len(), 3);
}

#[test]
fn per_cpu_values_hold_a_rounded_copy_per_cpu() {
    for kind in [
        MapKind::PerCpuHash,
        MapKind::PerCpuArray,
        MapKind::LruPerCpuHash,
    ] {
        let mut m = UserMap::new(def(kind, 4, 4, 4, 0), 3, &MapLimits::default()).unwrap();
        assert_eq!(m.info().value_buffer_size, 24);
        let value: Vec<u8> = [1u32, 2, 3]
            .iter()
            .flat_map(|c| [c.to_le_bytes(), [0; 4]])
            .flatten()
            .collect();
        m.update(&k(1), &value, 0).unwrap();
        let mut back = [0u8; 24];
        m.lookup(&k(1), &mut back, 0).unwrap();
        assert_eq!(back[..], value[..], "{kind:?}");
        // A program sees its own CPU's copy at the offset it gets.
        let (arena, index) = m.split();
        for cpu in 0..3 {
            let off = index.lookup(&k(1), cpu).unwrap();
            assert_eq!(off % 8, 0);
            assert_eq!(arena[off..off + 4], (cpu + 1).to_le_bytes(), "{kind:?}");
        }
        assert_eq!(index.lookup(&k(1), 3), None);
        // A program's update writes one CPU's copy only.
        let w = index.prepare_update(&k(1), BPF_EXIST, 2).unwrap();
        assert!(w.clear.is_empty());
        arena[w.offset..w.offset + 4].copy_from_slice(&k(9));
        m.lookup(&k(1), &mut back, 0).unwrap();
        assert_eq!(back[16..20], k(9));
        assert_eq!(back[..4], k(1));
    }
}

#[test]
fn a_programs_new_per_cpu_element_clears_the_other_copies() {
    let mut m = UserMap::new(
        def(MapKind::PerCpuHash, 4, 8, 1, 0),
        2,
        &MapLimits::default(),
    )
    .unwrap();
    m.update(&k(1), &[0xff; 16], 0).unwrap();
    m.delete(&k(1)).unwrap();
    let (arena, index) = m.split();
    let w = index.prepare_update(&k(2), BPF_ANY, 1).unwrap();
    // The slot held key 1's bytes: all of it is to be cleared.
    assert_eq!(w.clear, 0..16);
    assert_eq!(w.offset, 8);
    arena[w.clear].fill(0);
    arena[w.offset..w.offset + 8].copy_from_slice(&[7; 8]);
    let mut back = [0u8; 16];
    m.lookup(&k(2), &mut back, 0).unwrap();
    assert_eq!(back, [[0; 8], [7; 8]].concat()[..]);
}

#[test]
fn program_side_updates_follow_the_kernel() {
    let mut m = map(MapKind::Hash, 4, 12, 2);
    let (arena, index) = m.split();
    assert_eq!(index.lookup(&k(1), 0), None);
    assert_eq!(index.update_slot(&k(1), BPF_EXIST, 0), Err(Errno::ENOENT));
    let a = index.update_slot(&k(1), BPF_NOEXIST, 0).unwrap();
    assert_eq!(index.update_slot(&k(1), BPF_NOEXIST, 0), Err(Errno::EEXIST));
    let b = index.update_slot(&k(2), BPF_ANY, 0).unwrap();
    assert_eq!(index.update_slot(&k(3), BPF_ANY, 0), Err(Errno::E2BIG));
    assert_eq!(index.update_slot(&k(1), 3, 0), Err(Errno::EINVAL));
    assert_eq!(index.update_slot(&k(1), 0, CPUS), Err(Errno::EFAULT));
    assert_eq!(index.update_slot(&[1, 2], 0, 0), Err(Errno::EFAULT));
    // Values are 8-aligned, in the arena, apart.
    assert_ne!(a, b);
    assert_eq!((a % 8, b % 8), (0, 0));
    assert!(a.max(b) + 12 <= arena.len());
    arena[b..b + 4].copy_from_slice(&k(42));
    assert_eq!(index.lookup(&k(2), 0), Some(b));
    index.delete(&k(2)).unwrap();
    assert_eq!(index.delete(&k(2)), Err(Errno::ENOENT));
    assert_eq!(index.lookup(&k(2), 0), None);

    let mut arr = map(MapKind::Array, 4, 4, 2);
    let index = arr.index();
    assert_eq!(index.lookup(&k(1), 0), Some(8));
    assert_eq!(index.lookup(&k(2), 0), None);
    assert_eq!(index.update_slot(&k(2), 0, 0), Err(Errno::E2BIG));
    assert_eq!(index.update_slot(&k(0), BPF_NOEXIST, 0), Err(Errno::EEXIST));
    assert_eq!(index.update_slot(&k(1), BPF_EXIST, 0), Ok(8));
    assert_eq!(index.delete(&k(0)), Err(Errno::EINVAL));
}

#[test]
fn prog_arrays_store_program_ids() {
    let mut m = map(MapKind::ProgArray, 4, 4, 2);
    assert!(m.arena().is_empty());
    assert_eq!(lookup_u32(&mut m, 0), Err(Errno::ENOENT));
    assert_eq!(lookup_u32(&mut m, 5), Err(Errno::ENOENT));
    assert_eq!(m.update(&k(0), &k(7), BPF_NOEXIST), Err(Errno::EINVAL));
    assert_eq!(m.update(&k(5), &k(7), 0), Err(Errno::E2BIG));
    m.update(&k(1), &k(7), 0).unwrap();
    assert_eq!(lookup_u32(&mut m, 1), Ok(7));
    assert_eq!(m.index().prog_at(1), Some(7));
    assert_eq!(m.index().prog_at(0), None);
    assert_eq!(m.index().lookup(&k(1), 0), None);
    assert_eq!(m.delete(&k(5)), Err(Errno::E2BIG));
    assert_eq!(m.delete(&k(0)), Err(Errno::ENOENT));
    m.delete(&k(1)).unwrap();
    assert_eq!(m.index().prog_at(1), None);
    assert_eq!(walk(&mut m), [0, 1]);
}

#[test]
fn event_maps_refuse_element_calls_from_user_space() {
    let mut rb = map(MapKind::RingBuf, 0, 0, 4096);
    assert_eq!(rb.lookup(&[], &mut [], 0), Err(Errno::EINVAL));
    assert_eq!(rb.update(&[], &[], 0), Err(Errno::EINVAL));
    assert_eq!(rb.delete(&[]), Err(Errno::EINVAL));
    assert_eq!(rb.next_key(Some(&[]), &mut []), Err(Errno::EINVAL));
    assert_eq!(rb.next_key(None, &mut []), Err(ENOTSUPP));
    assert_eq!(rb.info().max_entries, 4096);

    let mut perf = map(MapKind::PerfEventArray, 4, 4, 0);
    assert_eq!(perf.info().max_entries, CPUS);
    assert_eq!(lookup_u32(&mut perf, 0), Err(ENOTSUPP));
    assert_eq!(perf.update(&k(0), &k(3), 0), Err(Errno::EINVAL));
    assert_eq!(perf.update(&k(0), &k(3), 1), Err(Errno::EINVAL));
    assert_eq!(perf.update(&k(9), &k(3), 0), Err(Errno::E2BIG));
    assert_eq!(perf.delete(&k(0)), Err(Errno::ENOENT));
    assert_eq!(perf.delete(&k(9)), Err(Errno::E2BIG));
    assert_eq!(walk(&mut perf), [0, 1]);
}

#[test]
fn maps_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<UserMap>();
    send::<MapIndex>();
}
