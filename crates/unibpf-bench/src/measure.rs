//! The measurements. Each runs the native build and the unibpf build of the
//! same guest alternately, round after round, so both see the same machine
//! state; the medians are compared.

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::guest::{field, Guests, Running, Side};
use crate::producer::Producer;
use crate::BenchError;

/// How much work each measurement does.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Rounds per measurement (each runs both sides).
    pub rounds: usize,
    /// Map updates, then as many lookups, per run.
    pub map_ops: u64,
    /// Production rates (records/s) at which delivery is measured, and for
    /// how long each.
    pub rates: &'static [u64],
    pub seconds_per_rate: f64,
    /// Records per drain (the buffer holds them all), and drains per run.
    pub drain_ring: u64,
    pub drain_perf: u64,
    pub drains: usize,
    /// Processes started (`true`) while bootstrap's memory is watched.
    pub rss_execs: usize,
    /// Hook cost: iterations per chunk of the workload (small enough for
    /// the module's buffer to hold a chunk's events), for opens and for
    /// probed calls, and chunks per run (after one for warming up).
    pub hook_opens: u64,
    pub hook_calls: u64,
    pub hook_chunks: usize,
    /// Event delivery between the backends: frames per second sent to the
    /// attached program, and for how long.
    pub frame_rate: u64,
    pub frame_seconds: f64,
}

impl Scale {
    pub const FULL: Scale = Scale {
        rounds: 7,
        map_ops: 200_000,
        rates: &[20_000, 200_000],
        seconds_per_rate: 0.5,
        drain_ring: 200_000,
        drain_perf: 6_000,
        drains: 10,
        rss_execs: 200,
        hook_opens: 500,
        hook_calls: 250,
        hook_chunks: 8,
        frame_rate: 20_000,
        frame_seconds: 0.5,
    };

    /// Checks that every path works, in seconds; its numbers mean little.
    pub const SMOKE: Scale = Scale {
        rounds: 1,
        map_ops: 2_000,
        rates: &[20_000],
        seconds_per_rate: 0.02,
        drain_ring: 4_000,
        drain_perf: 2_000,
        drains: 2,
        rss_execs: 5,
        hook_opens: 20,
        hook_calls: 20,
        hook_chunks: 1,
        frame_rate: 20_000,
        frame_seconds: 0.02,
    };
}

/// One median per side.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    pub native: f64,
    pub unibpf: f64,
}

/// Collects samples per side and reduces them to medians.
#[derive(Default)]
struct Samples {
    native: Vec<f64>,
    unibpf: Vec<f64>,
}

impl Samples {
    fn push(&mut self, side: Side, v: f64) {
        match side {
            Side::Native => self.native.push(v),
            Side::Unibpf => self.unibpf.push(v),
        }
    }

    fn medians(&self) -> Pair {
        Pair {
            native: median(&self.native),
            unibpf: median(&self.unibpf),
        }
    }
}

pub(crate) fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Both sides, alternating which goes first so neither always runs on a
/// machine the other just warmed up.
fn sides(round: usize) -> [Side; 2] {
    if round % 2 == 0 {
        [Side::Native, Side::Unibpf]
    } else {
        [Side::Unibpf, Side::Native]
    }
}

pub(crate) fn ended_cleanly(run: Running, what: &str) -> Result<u64, BenchError> {
    let exit = run.finish(Duration::from_secs(10))?;
    match exit.code {
        Some(0) => Ok(exit.max_rss_kib),
        code => Err(BenchError::Setup(format!(
            "{what} exited with {code:?} instead of 0"
        ))),
    }
}

/// Map access: ns per update and per lookup.
pub struct MapResult {
    pub update: Pair,
    pub lookup: Pair,
}

/// What the guest's lookups must add up to: each key holds the last value
/// written to it.
fn expected_map_sum(ops: u64) -> u64 {
    let mut last = [0u64; 1024];
    for i in 0..ops {
        last[(i & 1023) as usize] = i;
    }
    (0..ops).map(|i| last[(i & 1023) as usize]).sum()
}

pub fn maps(g: &Guests, scale: &Scale, mut tick: impl FnMut()) -> Result<MapResult, BenchError> {
    let (mut update, mut lookup) = (Samples::default(), Samples::default());
    let ops = scale.map_ops.to_string();
    for round in 0..scale.rounds {
        for side in sides(round) {
            let what = format!("bench maps ({})", side.label());
            let cmd = g.command(side, "bench", &["maps", &ops]);
            let (u, l) = maps_once(cmd, &what, scale.map_ops)?;
            update.push(side, u);
            lookup.push(side, l);
            tick();
        }
    }
    Ok(MapResult {
        update: update.medians(),
        lookup: lookup.medians(),
    })
}

/// One run of `bench maps OPS` (`cmd`): ns per update and per lookup, once
/// the lookups are seen to add up.
pub(crate) fn maps_once(cmd: Command, what: &str, ops: u64) -> Result<(f64, f64), BenchError> {
    let mut run = Running::spawn(cmd, what, false)?;
    let (_, line) = run.expect("MAPS ")?;
    let sum = field(&line, "sum")?;
    if sum != expected_map_sum(ops) {
        return Err(run.failed(&format!(
            "lookups added up to {sum}, not {}: values were lost or mixed up",
            expected_map_sum(ops)
        )));
    }
    let n = ops as f64;
    let update = field(&line, "update_ns")? as f64 / n;
    let lookup = field(&line, "lookup_ns")? as f64 / n;
    ended_cleanly(run, what)?;
    Ok((update, lookup))
}

/// The two event maps of the bench object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    Ring,
    Perf,
}

impl Buffer {
    fn arg(self) -> &'static str {
        match self {
            Buffer::Ring => "ring",
            Buffer::Perf => "perf",
        }
    }

    fn program(self) -> &'static str {
        match self {
            Buffer::Ring => "bench_ring",
            Buffer::Perf => "bench_perf",
        }
    }
}

/// Event delivery over one buffer kind at one production rate.
pub struct RatePoint {
    /// Records per second the kernel was asked to produce.
    pub rate: u64,
    /// What the producer reached (the lower of the two sides), records/s.
    pub reached: f64,
    /// Consumer CPU time (all threads) per record.
    pub cpu: Pair,
    /// Mean time from production in the kernel to the callback.
    pub latency: Pair,
}

/// Event delivery over one buffer kind.
pub struct EventResult {
    pub rates: Vec<RatePoint>,
    /// Consumer only: records already in the buffer, handed to the
    /// callback, ns per record.
    pub drain: Pair,
}

/// One consumer run's numbers: per rate (cpu ns, latency ns, reached/s).
struct EventRun {
    rates: Vec<(f64, f64, f64)>,
    drain_ns: f64,
}

pub fn events(
    g: &Guests,
    scale: &Scale,
    buffer: Buffer,
    mut tick: impl FnMut(),
) -> Result<EventResult, BenchError> {
    let mut drain = Samples::default();
    let mut cpu: Vec<Samples> = scale.rates.iter().map(|_| Samples::default()).collect();
    let mut latency: Vec<Samples> = scale.rates.iter().map(|_| Samples::default()).collect();
    let mut reached = vec![f64::INFINITY; scale.rates.len()];
    for round in 0..scale.rounds {
        for side in sides(round) {
            let run = events_once(g, scale, buffer, side)?;
            drain.push(side, run.drain_ns);
            for (i, (c, l, r)) in run.rates.into_iter().enumerate() {
                cpu[i].push(side, c);
                latency[i].push(side, l);
                reached[i] = reached[i].min(r);
            }
            tick();
        }
    }
    let rates = scale
        .rates
        .iter()
        .enumerate()
        .map(|(i, &rate)| RatePoint {
            rate,
            reached: reached[i],
            cpu: cpu[i].medians(),
            latency: latency[i].medians(),
        })
        .collect();
    Ok(EventResult {
        rates,
        drain: drain.medians(),
    })
}

/// CPU time used so far by every thread of `pid`, in ns (schedstat).
pub(crate) fn cpu_ns(pid: u32) -> Result<u64, BenchError> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for task in std::fs::read_dir(&dir)
        .map_err(|e| BenchError::io(&dir, e))?
        .flatten()
    {
        // A thread that just ended has no schedstat any more: it is not running.
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

/// Produces `n` records at `rate` per second, in batches small enough to
/// keep the pace (one test run at least every 50 us).
fn produce_at(producer: &Producer, n: u64, rate: u64) -> Result<(), BenchError> {
    paced(n, rate, |b| producer.produce(b))
}

/// Calls `produce(b)` (b records) until `n` were asked for, at `rate` per
/// second, in batches small enough to keep the pace (one call at least
/// every 50 us).
pub(crate) fn paced(
    n: u64,
    rate: u64,
    mut produce: impl FnMut(u32) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let batch = (rate / 20_000).max(1);
    let period = Duration::from_nanos(1_000_000_000 * batch / rate.max(1));
    let begin = Instant::now();
    let mut done = 0u64;
    let mut i = 0u32;
    while done < n {
        let due = begin + period * i;
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        let b = batch.min(n - done);
        produce(b as u32)?;
        done += b;
        i += 1;
    }
    Ok(())
}

/// One consumer process: a run at each rate, then drains.
fn events_once(
    g: &Guests,
    scale: &Scale,
    buffer: Buffer,
    side: Side,
) -> Result<EventRun, BenchError> {
    let what = format!("bench events {} ({})", buffer.arg(), side.label());
    let mut run = Running::spawn(
        g.command(side, "bench", &["events", buffer.arg()]),
        &what,
        false,
    )?;
    run.expect("READY")?;
    let producer = Producer::find(run.pid(), buffer.program())?;
    let mut produced = 0u64;

    // At each rate: the consumer's CPU time and latency per record.
    let mut rates = Vec::new();
    for &rate in scale.rates {
        let n = (rate as f64 * scale.seconds_per_rate) as u64;
        run.send(&format!("live {n}"))?;
        let cpu_before = cpu_ns(run.pid())?;
        let start = Instant::now();
        produce_at(&producer, n, rate)?;
        produced += n;
        let (at, line) = run.expect("LIVE ")?;
        let cpu = cpu_ns(run.pid())?.saturating_sub(cpu_before);
        let got = field(&line, "n")?;
        if got != n {
            return Err(run.failed(&format!("{got} of {n} records arrived at {rate}/s")));
        }
        let latency = field(&line, "latency_ns")? as f64 / n as f64;
        let reached = n as f64 / at.duration_since(start).as_secs_f64();
        rates.push((cpu as f64 / n as f64, latency, reached));
    }

    // Drains: fill, then time the consumer alone.
    let per_drain = match buffer {
        Buffer::Ring => scale.drain_ring,
        Buffer::Perf => scale.drain_perf,
    };
    let (mut drain_ns, mut drained) = (0u64, 0u64);
    for _ in 0..scale.drains {
        producer.produce(per_drain as u32)?;
        produced += per_drain;
        run.send(&format!("drain {per_drain}"))?;
        let (_, line) = run.expect("DRAINED ")?;
        drain_ns += field(&line, "ns")?;
        drained += per_drain;
    }

    // Everything produced arrived, intact: the sequence numbers add up.
    run.send("end 0")?;
    let (_, line) = run.expect("END ")?;
    let received = field(&line, "received")?;
    let seq_sum = field(&line, "seq_sum")?;
    let want = produced * produced.saturating_sub(1) / 2;
    if received != produced || seq_sum != want {
        return Err(run.failed(&format!(
            "{received} of {produced} records arrived (sequence sum {seq_sum}, expected {want})"
        )));
    }
    ended_cleanly(run, &what)?;
    Ok(EventRun {
        rates,
        drain_ns: drain_ns as f64 / drained as f64,
    })
}

/// Line bootstrap prints on stderr once everything is attached.
pub(crate) const BOOTSTRAP_READY: &str = "bootstrap: tracing";

/// Start-up: ms from spawning to "attached", per side.
pub fn startup(g: &Guests, scale: &Scale, mut tick: impl FnMut()) -> Result<Pair, BenchError> {
    let mut ms = Samples::default();
    for round in 0..scale.rounds * 2 {
        for side in sides(round) {
            let what = format!("bootstrap ({})", side.label());
            let cmd = g.command(side, "bootstrap", &[]);
            let start = Instant::now();
            let mut run = Running::spawn(cmd, &what, true)?;
            let (at, _) = run.expect(BOOTSTRAP_READY)?;
            ms.push(side, at.duration_since(start).as_secs_f64() * 1e3);
            run.interrupt();
            ended_cleanly(run, &what)?;
            tick();
        }
    }
    Ok(ms.medians())
}

/// Peak RSS (KiB) of bootstrap, per side, while processes come and go.
pub fn peak_rss(g: &Guests, scale: &Scale) -> Result<Pair, BenchError> {
    let mut rss = Samples::default();
    for side in [Side::Native, Side::Unibpf] {
        let what = format!("bootstrap ({})", side.label());
        let mut run = Running::spawn(g.command(side, "bootstrap", &[]), &what, true)?;
        run.expect(BOOTSTRAP_READY)?;
        for _ in 0..scale.rss_execs {
            Command::new("true")
                .status()
                .map_err(|e| BenchError::Setup(format!("running true: {e}")))?;
        }
        thread::sleep(Duration::from_millis(200));
        run.interrupt();
        rss.push(side, ended_cleanly(run, &what)? as f64);
    }
    Ok(rss.medians())
}

/// Size of `path` as shipped: stripped of symbols (a stripped copy is made
/// when the file still has them, as in a dev build).
pub fn stripped_size(path: &Path) -> Result<u64, BenchError> {
    let bytes = std::fs::read(path).map_err(|e| BenchError::io(path, e))?;
    let has_symbols = goblin::elf::Elf::parse(&bytes)
        .map(|elf| {
            elf.section_headers
                .iter()
                .any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".symtab"))
        })
        .unwrap_or(false);
    if !has_symbols {
        return Ok(bytes.len() as u64);
    }
    let copy = std::env::temp_dir().join(format!("unibpf-bench-strip-{}", std::process::id()));
    let status = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(path)
        .status()
        .map_err(|e| BenchError::Setup(format!("running strip: {e}")))?;
    let size = std::fs::metadata(&copy).map(|m| m.len());
    let _ = std::fs::remove_file(&copy);
    match (status.success(), size) {
        (true, Ok(size)) => Ok(size),
        _ => Err(BenchError::Setup(format!(
            "strip {} failed",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_empty_sets() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn map_sum_counts_the_last_write_per_key() {
        // Fewer ops than keys: every lookup reads its own write.
        assert_eq!(expected_map_sum(10), (0..10).sum::<u64>());
        // Key 0 is written by 0 and 1024; both lookups of it read 1024.
        let once: u64 = (1..1024).sum::<u64>() + 1024;
        assert_eq!(expected_map_sum(1025), once + 1024);
    }

    #[test]
    fn sides_alternate_which_goes_first() {
        assert_eq!(sides(0), [Side::Native, Side::Unibpf]);
        assert_eq!(sides(1), [Side::Unibpf, Side::Native]);
    }
}
