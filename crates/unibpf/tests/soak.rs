//! Soak: several modules side by side in one runtime, as a plugin host runs
//! them, under a steady exec load, for UNIBPF_SOAK_SECS seconds (15 by
//! default: the short version CI runs; `scripts/soak.sh MINUTES` runs a long
//! one). Three execsnoop modules must each receive every exec of the load;
//! a churn module loads, attaches, uses and closes objects in a loop.
//! Between the warm-up and the end, the process must not grow in file
//! descriptors, BPF objects or memory beyond allocator noise, and once the
//! modules end, nothing they held may be left in the kernel. Root only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unibpf::{Config, Exit, ModuleSpec, OutputBuffer, OutputCallback, Runtime};
use unibpf_test_guests::{guest, held_bpf, HeldBpf};

/// The load's binary name, which its exec events carry as comm.
const COMM: &str = "unibpfsoak";
/// Execs per second the load aims at: well within what a 256 KiB ring
/// buffer absorbs while a module waits on a loaded 2-core machine.
const EXEC_RATE: u64 = 200;
/// Memory a run may add between warm-up and end without being a leak:
/// allocator noise and caches that fill once. A leak of even 100 bytes per
/// churn iteration or event passes it within a long run.
const RSS_SLACK: u64 = 16 << 20;
/// File descriptors and BPF objects one churn cycle holds while in flight
/// (a program, its maps, BTF, a link and its perf event): it holds them
/// most of the time, so a sample may or may not catch them. A leak of even
/// one per cycle grows by hundreds over a run.
const IN_FLIGHT: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Sample {
    fds: usize,
    bpf: usize,
    rss: u64,
}

fn sample() -> Sample {
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let held = held_bpf(std::process::id());
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096;
    Sample {
        fds,
        bpf: held.programs.len() + held.maps.len() + held.links.len(),
        rss,
    }
}

/// The smallest of each measure over a few samples.
fn settled() -> Sample {
    let mut low = sample();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(30));
        let s = sample();
        low.fds = low.fds.min(s.fds);
        low.bpf = low.bpf.min(s.bpf);
        low.rss = low.rss.min(s.rss);
    }
    low
}

/// An output that counts, per pid, the exec lines of the load's binary.
fn exec_counter() -> (unibpf::Output, Arc<Mutex<HashMap<u32, u32>>>) {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let partial = Mutex::new(String::new());
    let sink = seen.clone();
    let output = OutputCallback::output(move |bytes: &[u8]| {
        let mut partial = partial.lock().unwrap_or_else(|e| e.into_inner());
        partial.push_str(&String::from_utf8_lossy(bytes));
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            let mut fields = line.split_whitespace();
            let pid = fields
                .next()
                .filter(|f| *f == "exec")
                .and_then(|_| fields.next()?.strip_prefix("pid=")?.parse::<u32>().ok());
            if let Some(pid) = pid {
                if line.contains(&format!("comm={COMM} ")) {
                    *sink
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(pid)
                        .or_insert(0) += 1;
                }
            }
        }
    });
    (output, seen)
}

#[test]
fn modules_side_by_side_under_load_neither_leak_nor_lose_events() {
    let secs: u64 = std::env::var("UNIBPF_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let runtime = Runtime::new(Config::default()).unwrap();
    let before = held_bpf(std::process::id());
    let wasm = |f: &str| std::fs::read(guest(f)).expect("guest");

    let mut snoops = Vec::new();
    for i in 0..3 {
        let (output, seen) = exec_counter();
        let handle = runtime
            .spawn(ModuleSpec::new(format!("snoop{i}"), wasm("execsnoop.wasm")).stdout(output))
            .unwrap();
        snoops.push((handle, seen));
    }
    let churn_out = OutputBuffer::new();
    let churn = runtime
        .spawn(
            ModuleSpec::new("churn", wasm("nasty.wasm"))
                .arg("churn")
                .stdout(churn_out.sink()),
        )
        .unwrap();
    // Every snoop attached: three links beyond what we held before.
    let deadline = Instant::now() + Duration::from_secs(20);
    while held_bpf(std::process::id()).links.len() < before.links.len() + 3 {
        assert!(Instant::now() < deadline, "the modules never attached");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The load: a copy of /bin/true named COMM, run at EXEC_RATE.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join(COMM);
    std::fs::copy("/bin/true", &binary).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spawned = Arc::new(Mutex::new(Vec::<u32>::new()));
    let execs = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, spawned, execs, binary) =
            (stop.clone(), spawned.clone(), execs.clone(), binary.clone());
        std::thread::spawn(move || {
            let period = Duration::from_micros(1_000_000 / EXEC_RATE);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut child = std::process::Command::new(&binary).spawn().expect("exec");
                spawned.lock().unwrap().push(child.id());
                child.wait().expect("wait");
                execs.fetch_add(1, Ordering::Relaxed);
                if let Some(rest) = period.checked_sub(started.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
        })
    };

    let run = Duration::from_secs(secs);
    std::thread::sleep(run / 4);
    let warm = settled();
    let during = held_bpf(std::process::id());
    std::thread::sleep(run - run / 4);
    let end = settled();
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();

    // Every module ends gracefully, after delivering what was waiting.
    let churn_exit = churn.terminate(Duration::from_secs(30)).unwrap();
    assert_eq!(churn_exit, Exit::Stopped { forced: false });
    let spawned = spawned.lock().unwrap().clone();
    for (i, (handle, seen)) in snoops.into_iter().enumerate() {
        assert_eq!(
            handle.terminate(Duration::from_secs(30)).unwrap(),
            Exit::Stopped { forced: false }
        );
        let seen = seen.lock().unwrap();
        let missing: Vec<&u32> = spawned.iter().filter(|p| !seen.contains_key(p)).collect();
        assert!(
            missing.is_empty(),
            "snoop{i} missed {} of {} execs, e.g. {:?}",
            missing.len(),
            spawned.len(),
            &missing[..missing.len().min(5)]
        );
        assert!(seen.values().all(|&n| n == 1), "snoop{i} saw an exec twice");
    }

    let churn_line = churn_out.text();
    let iterations: u64 = churn_line
        .trim()
        .strip_prefix("churn iterations=")
        .and_then(|r| r.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("churn printed {churn_line:?}"));
    assert!(churn_line.trim().ends_with(" failures=0"), "{churn_line}");
    eprintln!(
        "soak: {secs} s, {} execs seen by 3 modules each, {iterations} load/close cycles; \
         fds {} -> {}, BPF objects held {} -> {}, RSS {} -> {} KiB",
        execs.load(Ordering::Relaxed),
        warm.fds,
        end.fds,
        warm.bpf,
        end.bpf,
        warm.rss >> 10,
        end.rss >> 10
    );
    assert!(iterations > 0);
    assert!(
        end.fds <= warm.fds + IN_FLIGHT,
        "fds grew: {warm:?} -> {end:?}"
    );
    assert!(
        end.bpf <= warm.bpf + IN_FLIGHT,
        "BPF objects held grew: {warm:?} -> {end:?}"
    );
    assert!(
        end.rss <= warm.rss + RSS_SLACK,
        "RSS grew by {} KiB: {warm:?} -> {end:?}",
        (end.rss - warm.rss) >> 10
    );
    // Nothing of the modules' is left, in this process or the kernel.
    let now = held_bpf(std::process::id());
    assert_eq!(now, before, "held after every module ended");
    let theirs = HeldBpf {
        programs: during
            .programs
            .into_iter()
            .filter(|p| !before.programs.contains(p))
            .collect(),
        maps: during
            .maps
            .into_iter()
            .filter(|m| !before.maps.contains(m))
            .collect(),
        links: during
            .links
            .into_iter()
            .filter(|l| !before.links.contains(l))
            .collect(),
    };
    assert!(!theirs.links.is_empty(), "{theirs:?}");
    theirs.assert_gone_within(Duration::from_secs(10), "what the modules held");
}
