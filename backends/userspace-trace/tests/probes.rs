//! Uprobes and uretprobes by breakpoints, on real processes: arguments and
//! return values, a library mapped after exec, a seized pid left clean,
//! many threads, recursion, fork, and SIGTRAPs that are not ours.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{compile_c, libc_path, proc_status, symbol_offset, wait_for};
use unibpf_trace::{Event, Interest, Probe, ProbeKind, Regs, Target, TraceEnd, Tracer};

/// int3; BRK #0 (0xd4200000) little-endian starts with 0x00.
#[cfg(target_arch = "x86_64")]
const TRAP_FIRST_BYTE: u8 = 0xCC;
#[cfg(target_arch = "aarch64")]
const TRAP_FIRST_BYTE: u8 = 0x00;

const ENTRY: ProbeKind = ProbeKind::Entry;
const RETURN: ProbeKind = ProbeKind::Return;

/// A probe hit as the callback saw it.
#[derive(Debug, Clone, Copy)]
struct Hit {
    id: u32,
    kind: ProbeKind,
    tid: i32,
    tgid: i32,
    /// First and second argument registers (at entry).
    args: (u64, u64),
    /// Return value register.
    ret: u64,
    ip: u64,
    /// The first byte at ip, read through the task's memory.
    byte_at_ip: u8,
}

#[cfg(target_arch = "x86_64")]
fn regs_of(r: &Regs) -> ((u64, u64), u64, u64) {
    ((r.rdi, r.rsi), r.rax, r.rip)
}

#[cfg(target_arch = "aarch64")]
fn regs_of(r: &Regs) -> ((u64, u64), u64, u64) {
    ((r.regs[0], r.regs[1]), r.regs[0], r.pc)
}

fn probe(id: u32, file: &Path, symbol: &str, kind: ProbeKind) -> Probe {
    Probe {
        id,
        file: file.to_owned(),
        offset: symbol_offset(file, symbol),
        kind,
    }
}

type Hits = Arc<Mutex<Vec<Hit>>>;

fn start(target: Target, probes: Vec<Probe>) -> (unibpf_trace::TracerHandle, Hits) {
    let hits: Hits = Arc::default();
    let sink = Arc::clone(&hits);
    let interest = Interest {
        probes,
        ..Default::default()
    };
    let handle = Tracer::spawn_thread(target, interest, move |event, task| {
        let Event::Probe { id, kind } = *event else {
            return;
        };
        let regs = task.regs().expect("registers at a probe");
        let (args, ret, ip) = regs_of(&regs);
        let mut byte = [0u8];
        task.read_memory(ip, &mut byte).expect("read at ip");
        sink.lock().unwrap().push(Hit {
            id,
            kind,
            tid: task.tid(),
            tgid: task.tgid(),
            args,
            ret,
            ip,
            byte_at_ip: byte[0],
        });
    })
    .expect("start tracing");
    (handle, hits)
}

fn run(argv: &[&str], probes: Vec<Probe>) -> (TraceEnd, Vec<Hit>) {
    let argv = argv.iter().map(Into::into).collect();
    let (handle, hits) = start(Target::Spawn { argv }, probes);
    handle.release();
    let end = handle.join().expect("trace");
    let hits = hits.lock().unwrap().clone();
    (end, hits)
}

#[test]
fn entry_arguments_and_return_values_in_a_pie() {
    let prog = compile_c("probed");
    let exe = prog.path.as_path();
    // Two of each kind on one instruction: all fire, in the given order.
    let probes = vec![
        probe(1, exe, "add", ENTRY),
        probe(2, exe, "add", RETURN),
        probe(3, exe, "add", ENTRY),
        probe(4, exe, "add", RETURN),
    ];
    let (end, hits) = run(&[exe.to_str().unwrap(), "args", "50"], probes);
    assert_eq!(end.exit_code(), Some(0), "{hits:?}");
    assert_eq!(hits.len(), 50 * 4, "{hits:?}");
    let offset = symbol_offset(exe, "add");
    for (i, call) in hits.chunks(4).enumerate() {
        let i = i as u64;
        let ids: Vec<(u32, ProbeKind)> = call.iter().map(|h| (h.id, h.kind)).collect();
        assert_eq!(ids, [(1, ENTRY), (3, ENTRY), (2, RETURN), (4, RETURN)]);
        for entry in &call[..2] {
            assert_eq!(entry.args, (i, 2 * i));
            // ip is the probed instruction (page offset as in the file).
            assert_eq!(entry.ip % 4096, offset % 4096);
            assert_eq!(entry.byte_at_ip, TRAP_FIRST_BYTE, "ip at our breakpoint");
        }
        for ret in &call[2..] {
            assert_eq!(ret.ret, 3 * i);
            assert_ne!(ret.ip % 4096, offset % 4096, "ip is the return address");
        }
    }
}

#[test]
fn probe_in_libc_mapped_after_exec() {
    let prog = compile_c("probed");
    let libc = libc_path();
    let probes = vec![
        probe(7, &libc, "getpid", ENTRY),
        probe(8, &libc, "getpid", RETURN),
    ];
    let (end, hits) = run(&[prog.path.to_str().unwrap(), "libc", "20"], probes);
    assert_eq!(end.exit_code(), Some(0));
    let entries = hits.iter().filter(|h| h.id == 7).count();
    let returns: Vec<&Hit> = hits.iter().filter(|h| h.id == 8).collect();
    assert!(entries >= 20, "{hits:?}");
    assert_eq!(returns.len(), entries);
    assert!(
        returns.iter().all(|h| h.ret == h.tgid as u64),
        "{returns:?}"
    );
}

#[test]
fn missing_probe_file_is_a_clear_error() {
    let probes = vec![Probe {
        id: 1,
        file: "/no/such/lib.so".into(),
        offset: 0,
        kind: ENTRY,
    }];
    let interest = Interest {
        probes,
        ..Default::default()
    };
    let target = Target::Spawn {
        argv: vec!["true".into()],
    };
    let err = Tracer::spawn_thread(target, interest, |_, _| {}).err();
    let err = err.expect("a missing file is an error").to_string();
    assert!(err.contains("/no/such/lib.so"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

/// A child killed and reaped when dropped.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address `offset` of `file` has in process `pid`.
fn address_in(pid: i32, file: &Path, offset: u64) -> u64 {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let name = file.to_str().unwrap();
    maps.lines()
        .filter(|l| l.ends_with(name) && l.split_whitespace().nth(1).unwrap().contains('x'))
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (start, end) = f[0].split_once('-')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            let end = u64::from_str_radix(end, 16).ok()?;
            let off = u64::from_str_radix(f[2], 16).ok()?;
            (offset >= off && offset - off < end - start).then(|| start + offset - off)
        })
        .expect("the probed file mapped executable")
}

#[test]
fn seized_pid_is_left_clean_and_running() {
    let prog = compile_c("probed");
    let exe = prog.path.as_path();
    let child = Command::new(exe)
        .arg("loop")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the loop");
    let mut child = Reaped(child);
    let pid = child.0.id() as i32;
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    assert!(lines.next().is_some(), "the loop runs");

    let probes = vec![probe(1, exe, "add", ENTRY), probe(2, exe, "add", RETURN)];
    let (handle, hits) = start(Target::Pid(pid), probes);
    handle.release();
    assert!(wait_for(Duration::from_secs(10), || hits
        .lock()
        .unwrap()
        .len()
        >= 40));
    handle.stop();
    let end = handle.join().expect("trace");
    assert!(end.stopped);
    {
        let hits = hits.lock().unwrap();
        let entries: Vec<&Hit> = hits.iter().filter(|h| h.id == 1).collect();
        assert!(entries.windows(2).all(|w| w[1].args.0 == w[0].args.0 + 1));
        let returns: Vec<&Hit> = hits.iter().filter(|h| h.id == 2).collect();
        assert!(returns.len() + 1 >= entries.len());
        for (e, r) in entries.iter().zip(returns) {
            assert_eq!(r.ret, e.args.0 + 1);
        }
    }

    // Untraced, its text as in the file, and it goes on calling add.
    assert_eq!(proc_status(pid, "TracerPid").as_deref(), Some("0"));
    let offset = symbol_offset(exe, "add");
    let addr = address_in(pid, exe, offset);
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open mem");
    let file = std::fs::File::open(exe).expect("open exe");
    let (mut now, mut orig) = ([0u8; 16], [0u8; 16]);
    mem.read_exact_at(&mut now, addr).expect("read text");
    file.read_exact_at(&mut orig, offset).expect("read file");
    assert_eq!(now, orig, "breakpoint bytes left behind");
    let before: u64 = tick(lines.next());
    for _ in 0..3 {
        assert!(tick(lines.next()) > before, "the loop stopped");
    }
    assert!(child.0.try_wait().expect("try_wait").is_none(), "it died");
}

fn tick(line: Option<std::io::Result<String>>) -> u64 {
    let line = line.expect("a tick").expect("read a tick");
    line.strip_prefix("tick ")
        .and_then(|n| n.parse().ok())
        .expect("tick N")
}

#[test]
fn many_threads_each_hit_counted_exactly() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 300;
    let prog = compile_c("probed");
    let exe = prog.path.as_path();
    let probes = vec![probe(1, exe, "add", ENTRY), probe(2, exe, "add", RETURN)];
    let argv = [exe.to_str().unwrap(), "threads", "4", "300"];
    let (end, hits) = run(&argv, probes);
    assert_eq!(end.exit_code(), Some(0));
    let mut per_tid: BTreeMap<i32, Vec<Hit>> = BTreeMap::new();
    for h in hits {
        per_tid.entry(h.tid).or_default().push(h);
    }
    assert_eq!(per_tid.len(), THREADS as usize, "{:?}", per_tid.keys());
    for hits in per_tid.values() {
        assert_eq!(hits.len() as u64, 2 * CALLS);
        let t = hits[0].args.1;
        // Entry, return, entry, return...: each return right after its call.
        for (i, pair) in hits.chunks(2).enumerate() {
            let (entry, ret) = (pair[0], pair[1]);
            assert_eq!((entry.id, ret.id), (1, 2));
            assert_eq!(entry.args, (t * 100_000 + i as u64, t));
            assert_eq!(ret.ret, entry.args.0 + entry.args.1);
        }
    }
}

#[test]
fn recursion_returns_match_depth() {
    let prog = compile_c("probed");
    let exe = prog.path.as_path();
    let probes = vec![probe(1, exe, "fact", ENTRY), probe(2, exe, "fact", RETURN)];
    let (end, hits) = run(&[exe.to_str().unwrap(), "recurse", "10"], probes);
    assert_eq!(end.exit_code(), Some(0));
    let entries: Vec<u64> = hits
        .iter()
        .filter(|h| h.id == 1)
        .map(|h| h.args.0)
        .collect();
    let returns: Vec<u64> = hits.iter().filter(|h| h.id == 2).map(|h| h.ret).collect();
    assert_eq!(entries, (1..=10).rev().collect::<Vec<u64>>());
    let facts: Vec<u64> = (1..=10u64).map(|n| (1..=n).product()).collect();
    assert_eq!(returns, facts, "innermost first");
    // All entries come before the first return.
    assert!(hits[..10].iter().all(|h| h.id == 1));
}

#[test]
fn fork_child_reports_entries_and_returns() {
    let prog = compile_c("probed");
    let exe = prog.path.as_path();
    let probes = vec![
        probe(1, exe, "add", ENTRY),
        probe(2, exe, "add", RETURN),
        probe(3, exe, "forker", RETURN),
    ];
    let (end, hits) = run(&[exe.to_str().unwrap(), "fork"], probes);
    assert_eq!(end.exit_code(), Some(0), "{hits:?}");
    let parent = hits[0].tgid;
    let child_hits: Vec<&Hit> = hits.iter().filter(|h| h.tgid != parent).collect();
    let adds: Vec<(u64, u64)> = child_hits
        .iter()
        .filter(|h| h.id == 1)
        .map(|h| h.args)
        .collect();
    assert_eq!(adds, [(3, 4)], "{hits:?}");
    assert!(child_hits.iter().any(|h| h.id == 2 && h.ret == 7));
    // forker returns in both: the child pid in the parent, 0 in the child.
    let child = child_hits[0].tgid as u64;
    assert!(hits
        .iter()
        .any(|h| h.id == 3 && h.tgid == parent && h.ret == child));
    assert!(
        child_hits.iter().any(|h| h.id == 3 && h.ret == 0),
        "{hits:?}"
    );
    let parent_adds: Vec<(u64, u64)> = hits
        .iter()
        .filter(|h| h.id == 1 && h.tgid == parent)
        .map(|h| h.args)
        .collect();
    assert_eq!(parent_adds, [(1, 2), (5, 6)]);
}

#[test]
fn sigtrap_that_is_not_ours_reaches_the_tracee() {
    let prog = compile_c("probed");
    let exe = prog.path.as_path();
    let probes = vec![probe(1, exe, "add", ENTRY)];
    let (end, hits) = run(&[exe.to_str().unwrap(), "sigtrap"], probes);
    assert_eq!(end.exit_code(), Some(0), "the SIGTRAP handler did not run");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].args, (5, 6));
}

/// Starts `probed MODE` (it runs until its stdin ends), traces it by pid
/// and detaches 12 times, each after `hits` probe hits, and checks that
/// every detach leaves it running untraced and that it ends with 0 (all
/// results of add were right).
fn trace_and_detach_again_and_again(mode: &str, hits: usize) {
    let prog = compile_c("probed");
    let exe = prog.path.as_path();
    let child = Command::new(exe)
        .arg(mode)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("start the target");
    let mut child = Reaped(child);
    let pid = child.0.id() as i32;
    for round in 0..12 {
        let probes = vec![probe(1, exe, "add", ENTRY), probe(2, exe, "add", RETURN)];
        let (handle, seen) = start(Target::Pid(pid), probes);
        handle.release();
        let enough = wait_for(Duration::from_secs(20), || {
            seen.lock().unwrap().len() >= hits
        });
        handle.stop();
        let end = handle.join().expect("trace");
        assert!(enough, "round {round}: too few hits; {end:?}");
        assert!(end.status.is_none(), "round {round}: it ended: {end:?}");
        assert_eq!(proc_status(pid, "TracerPid").as_deref(), Some("0"));
        assert!(
            child.0.try_wait().expect("try_wait").is_none(),
            "round {round}: it died once detached"
        );
    }
    drop(child.0.stdin.take());
    let status = child.0.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn tracing_again_and_again_while_threads_start_and_hit() {
    // Threads start while we seize (some are attached for us through
    // their parent before we get to them, some are started by a thread
    // seized inside clone) and are inside add when we stop (some with the
    // trap taken but not yet reported): none of that may fail the attach,
    // kill the process or change a result of add.
    trace_and_detach_again_and_again("churn", 200);
}

#[test]
fn tracing_again_and_again_while_it_execs_itself() {
    // Some seizes land inside an execve: the exec is reported after the
    // probes went into the new image, which must not be probed twice.
    trace_and_detach_again_and_again("reexec", 20);
}
