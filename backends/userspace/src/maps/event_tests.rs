//! Ring buffer and perf event array records: order, capacity, budgets.

use unibpf_backend::{Errno, EventBatch, MapKind};

use super::*;

fn ring(size: u32) -> UserMap {
    let def = MapDef {
        name: "rb".into(),
        kind: MapKind::RingBuf,
        key_size: 0,
        value_size: 0,
        max_entries: size,
        flags: 0,
    };
    UserMap::new(def, 2, &MapLimits::default()).unwrap()
}

fn perf(cap: u64) -> UserMap {
    let def = MapDef {
        name: "events".into(),
        kind: MapKind::PerfEventArray,
        key_size: 4,
        value_size: 4,
        max_entries: 0,
        flags: 0,
    };
    let limits = MapLimits {
        perf_buffer_bytes: cap,
        ..MapLimits::default()
    };
    UserMap::new(def, 2, &limits).unwrap()
}

fn drained(m: &mut UserMap, budget: usize) -> (Vec<Vec<u8>>, u64) {
    let mut out = EventBatch::new();
    out.reset(budget);
    m.drain(&mut out);
    let records = (0..out.len())
        .filter_map(|i| out.get(i))
        .map(<[u8]>::to_vec);
    (records.collect(), out.lost())
}

/// Reserves `len` bytes, fills them with `fill`; returns the offset.
fn reserve(m: &mut UserMap, len: usize, fill: u8) -> usize {
    let (arena, index) = m.split();
    let off = index.ringbuf().unwrap().reserve(len as u64, 0).unwrap();
    arena[off..off + len].fill(fill);
    off
}

fn submit(m: &mut UserMap, off: usize, flags: u64) -> Result<(), Errno> {
    let (arena, index) = m.split();
    index.ringbuf().unwrap().submit(arena, off, flags)
}

#[test]
fn ring_records_come_in_reservation_order() {
    let mut m = ring(4096);
    let a = reserve(&mut m, 3, b'a');
    let b = reserve(&mut m, 9, b'b');
    let c = reserve(&mut m, 5, b'c');
    let d = reserve(&mut m, 1, b'd');
    assert_eq!(a % 8 + b % 8 + c % 8 + d % 8, 0);
    // Later reservations submitted first wait for the earlier ones.
    submit(&mut m, c, 0).unwrap();
    submit(&mut m, b, 0).unwrap();
    assert!(!m.pending());
    assert!(drained(&mut m, usize::MAX).0.is_empty());
    assert!(!m.take_wakeup(), "the consumer's next record is still open");
    m.index().ringbuf().unwrap().discard(a, 0).unwrap();
    assert!(m.take_wakeup());
    assert!(m.pending());
    let (records, _) = drained(&mut m, usize::MAX);
    assert_eq!(records, [b"bbbbbbbbb".to_vec(), b"ccccc".to_vec()]);
    // d is still open: it comes once submitted.
    submit(&mut m, d, 0).unwrap();
    assert_eq!(drained(&mut m, usize::MAX).0, [b"d".to_vec()]);
    assert_eq!(m.index().ringbuf().unwrap().used(), 0);
    assert!(!m.pending());
}

#[test]
fn ring_capacity_counts_headers_until_drained() {
    let mut m = ring(4096);
    let rb = m.index().ringbuf().unwrap();
    // A record needs its 8-byte header: 4088 is the largest.
    assert_eq!(rb.reserve(4089, 0), None);
    assert_eq!(rb.reserve(8, 1), None, "reserve takes no flags");
    let big = reserve(&mut m, 4000, b'x');
    let rb = m.index().ringbuf().unwrap();
    assert_eq!(rb.used(), 4008);
    assert_eq!(rb.reserve(81, 0), None);
    let small = rb.reserve(80, 0).unwrap();
    assert_eq!(rb.reserve(0, 0), None, "the ring is full");
    rb.discard(small, 0).unwrap();
    // Discarded records keep their room until the consumer passes them.
    assert_eq!(rb.reserve(8, 0), None);
    assert_eq!(rb.output(b"y", 0), Err(EAGAIN));
    submit(&mut m, big, 0).unwrap();
    m.end_run();
    assert_eq!(m.index().ringbuf().unwrap().reserve(8, 0), None);
    let (records, _) = drained(&mut m, usize::MAX);
    assert_eq!(records, [vec![b'x'; 4000]]);
    let rb = m.index().ringbuf().unwrap();
    assert_eq!(rb.used(), 0);
    assert!(rb.reserve(4088, 0).is_some());
}

#[test]
fn ring_output_copies_and_checks_flags() {
    let mut m = ring(4096);
    let rb = m.index().ringbuf().unwrap();
    assert_eq!(rb.output(b"x", 4), Err(Errno::EINVAL));
    rb.output(b"first", BPF_RB_NO_WAKEUP).unwrap();
    assert!(!rb.take_wakeup());
    rb.output(b"", BPF_RB_FORCE_WAKEUP).unwrap();
    assert!(rb.take_wakeup());
    rb.output(b"third", 0).unwrap();
    assert!(
        !rb.wants_wakeup(),
        "the consumer has earlier records to read"
    );
    let (records, _) = drained(&mut m, usize::MAX);
    assert_eq!(records, [b"first".to_vec(), vec![], b"third".to_vec()]);
}

#[test]
fn ring_runs_end_with_open_reservations_discarded() {
    let mut m = ring(4096);
    let a = reserve(&mut m, 16, 1);
    m.index().ringbuf().unwrap().output(b"after", 0).unwrap();
    m.end_run();
    assert_eq!(submit(&mut m, a, 0), Err(Errno::EINVAL));
    assert_eq!(drained(&mut m, usize::MAX).0, [b"after".to_vec()]);
    // Offsets that name no reservation are refused, never trusted.
    let b = reserve(&mut m, 16, 2);
    let rb = m.index().ringbuf().unwrap();
    assert_eq!(rb.discard(b + 1, 0), Err(Errno::EINVAL));
    assert_eq!(rb.discard(usize::MAX, 0), Err(Errno::EINVAL));
    assert_eq!(rb.submit(&[], b, 0), Err(Errno::EINVAL), "arena too short");
    submit(&mut m, b, 0).unwrap();
    assert_eq!(submit(&mut m, b, 0), Err(Errno::EINVAL), "submitted twice");
    assert_eq!(drained(&mut m, usize::MAX).0, [vec![2; 16]]);
}

#[test]
fn ring_scratch_is_reused_from_run_to_run() {
    let mut m = ring(4096);
    for round in 0..100u8 {
        let off = reserve(&mut m, 1000, round);
        submit(&mut m, off, 0).unwrap();
        m.end_run();
        assert_eq!(drained(&mut m, usize::MAX).0, [vec![round; 1000]]);
    }
}

#[test]
fn drains_stop_at_the_batch_budget() {
    let mut m = ring(4096);
    for n in 0..3u8 {
        m.index().ringbuf().unwrap().output(&[n; 10], 0).unwrap();
    }
    // The record that reaches the budget is the last taken.
    assert_eq!(drained(&mut m, 15).0, [vec![0; 10], vec![1; 10]]);
    assert!(m.pending());
    assert_eq!(drained(&mut m, 0).0, Vec::<Vec<u8>>::new());
    assert_eq!(drained(&mut m, 15).0, [vec![2; 10]]);
    assert!(!m.pending());

    let mut p = perf(4096);
    for n in 0..3u8 {
        p.index()
            .perf()
            .unwrap()
            .output(BPF_F_CURRENT_CPU, 1, &[n; 4])
            .unwrap();
    }
    assert_eq!(drained(&mut p, 4).0, [vec![0; 4]]);
    assert_eq!(drained(&mut p, 100).0, [vec![1; 4], vec![2; 4]]);
}

#[test]
fn perf_records_are_padded_and_checked_like_the_kernel() {
    let mut m = perf(4096);
    let pe = m.index().perf().unwrap();
    pe.output(BPF_F_CURRENT_CPU, 0, b"hello").unwrap();
    pe.output(1, 1, b"12345678").unwrap();
    assert_eq!(pe.output(1 << 32, 0, b"x"), Err(Errno::EINVAL));
    assert_eq!(pe.output(2, 0, b"x"), Err(Errno::E2BIG));
    assert_eq!(pe.output(1, 0, b"x"), Err(Errno::EOPNOTSUPP));
    let (records, lost) = drained(&mut m, usize::MAX);
    // A perf reader gets the data zero-padded so that with its u32 size
    // it ends on 8 bytes.
    assert_eq!(
        records,
        [
            b"hello\0\0\0\0\0\0\0".to_vec(),
            b"12345678\0\0\0\0".to_vec()
        ]
    );
    assert_eq!(lost, 0);

    let def = MapDef {
        name: "wide".into(),
        kind: MapKind::PerfEventArray,
        key_size: 4,
        value_size: 4,
        max_entries: 8,
        flags: 0,
    };
    let mut wide = UserMap::new(def, 2, &MapLimits::default()).unwrap();
    let pe = wide.index().perf().unwrap();
    assert_eq!(pe.output(5, 0, b"x"), Err(Errno::ENOENT), "no CPU 5");
    assert_eq!(pe.output(BPF_F_CURRENT_CPU, 5, b"x"), Err(Errno::ENOENT));
}

#[test]
fn perf_records_over_a_cpus_cap_are_lost_and_counted() {
    // 20 bytes of data take 8 + 4 + 20 = 32 bytes of a 64-byte buffer.
    let mut m = perf(64);
    let pe = m.index().perf().unwrap();
    pe.output(BPF_F_CURRENT_CPU, 0, &[1; 20]).unwrap();
    pe.output(BPF_F_CURRENT_CPU, 0, &[2; 20]).unwrap();
    assert_eq!(
        pe.output(BPF_F_CURRENT_CPU, 0, &[3; 20]),
        Err(Errno::ENOSPC)
    );
    assert_eq!(
        pe.output(BPF_F_CURRENT_CPU, 0, &[4; 100]),
        Err(Errno::ENOSPC)
    );
    // Each CPU has its own buffer.
    pe.output(BPF_F_CURRENT_CPU, 1, &[5; 20]).unwrap();
    assert_eq!(pe.lost(), 2);
    assert!(m.pending());
    let (records, lost) = drained(&mut m, usize::MAX);
    assert_eq!(records, [vec![1; 20], vec![2; 20], vec![5; 20]]);
    assert_eq!(lost, 2);
    assert!(!m.pending());
    // Drained records free their room.
    let pe = m.index().perf().unwrap();
    pe.output(BPF_F_CURRENT_CPU, 0, &[6; 20]).unwrap();
    pe.output(BPF_F_CURRENT_CPU, 0, &[7; 20]).unwrap();
    assert_eq!(
        drained(&mut m, usize::MAX),
        (vec![vec![6; 20], vec![7; 20]], 0)
    );
}
