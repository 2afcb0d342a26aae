//! Helpers shared by the tests: run a trace and keep what the callback saw,
//! compile small C helpers, look at /proc.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unibpf_trace::{
    Event, Interest, ProbeKind, Target, Task, TraceEnd, TraceError, Tracer, TracerHandle,
};

/// An event as the callback saw it, with what it read about the task.
#[derive(Debug, Clone)]
pub struct Seen {
    pub kind: Kind,
    pub tid: i32,
    pub tgid: i32,
    pub ppid: i32,
    pub comm: String,
    pub uid_gid: (u32, u32),
    pub start_time_ns: u64,
    /// The syscall number register, read with Task::regs.
    pub regs_nr: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `path`: args[1] read as a C string (openat's path).
    Enter {
        id: i64,
        path: Option<String>,
    },
    Exit {
        id: i64,
        ret: i64,
    },
    Exec {
        filename: String,
        old_tid: i32,
    },
    Gone {
        status: i32,
    },
    Fork {
        child: i32,
        thread: bool,
    },
    Probe {
        id: u32,
        kind: ProbeKind,
    },
}

pub fn record(event: &Event<'_>, task: &Task<'_>) -> Seen {
    let kind = match *event {
        Event::SysEnter { id, args } => {
            let mut buf = [0u8; 256];
            let path = task
                .read_c_string(args[1], &mut buf)
                .ok()
                .map(|n| String::from_utf8_lossy(&buf[..n.saturating_sub(1)]).into_owned());
            Kind::Enter { id, path }
        }
        Event::SysExit { id, ret } => Kind::Exit { id, ret },
        Event::Exec { filename, old_tid } => Kind::Exec {
            filename: filename.to_owned(),
            old_tid,
        },
        Event::Exit { status } => Kind::Gone { status },
        Event::Fork { child_tid, thread } => Kind::Fork {
            child: child_tid,
            thread,
        },
        Event::Probe { id, kind } => Kind::Probe { id, kind },
    };
    let comm = task.comm();
    let len = comm.iter().position(|&b| b == 0).unwrap_or(16);
    Seen {
        kind,
        tid: task.tid(),
        tgid: task.tgid(),
        ppid: task.ppid(),
        comm: String::from_utf8_lossy(&comm[..len]).into_owned(),
        uid_gid: task.uid_gid(),
        start_time_ns: task.start_time_ns(),
        regs_nr: task.regs().ok().map(|r| syscall_nr_register(&r)),
    }
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

/// Starts tracing `target` on its own thread, recording every event.
pub fn start(target: Target, interest: Interest) -> Result<(TracerHandle, Log), TraceError> {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let handle = Tracer::spawn_thread(target, interest, move |event, task| {
        let seen = record(event, task);
        sink.lock().unwrap().push(seen);
    })?;
    Ok((handle, log))
}

/// Traces `argv` to its end.
pub fn trace_command(argv: &[&str], interest: Interest) -> (TraceEnd, Vec<Seen>) {
    let argv = argv.iter().map(OsString::from).collect();
    let (handle, log) = start(Target::Spawn { argv }, interest).expect("start tracing");
    handle.release();
    let end = handle.join().expect("trace");
    let seen = log.lock().unwrap().clone();
    (end, seen)
}

pub fn everything(syscalls: unibpf_trace::SyscallSet) -> Interest {
    Interest {
        syscalls,
        exec: true,
        exit: true,
        fork: true,
        probes: Vec::new(),
    }
}

/// The file offset of symbol `name` in the ELF file at `path` (its symbol
/// table, or the dynamic one), as a uprobe wants it.
pub fn symbol_offset(path: &std::path::Path, name: &str) -> u64 {
    let bytes = std::fs::read(path).expect("read the ELF file");
    let elf = goblin::elf::Elf::parse(&bytes).expect("parse the ELF file");
    let vaddr = elf
        .syms
        .iter()
        .map(|s| (s, &elf.strtab))
        .chain(elf.dynsyms.iter().map(|s| (s, &elf.dynstrtab)))
        .find(|(s, tab)| s.is_function() && s.st_value != 0 && tab.get_at(s.st_name) == Some(name))
        .map(|(s, _)| s.st_value)
        .unwrap_or_else(|| panic!("no function {name} in {}", path.display()));
    elf.program_headers
        .iter()
        .filter(|ph| ph.p_type == goblin::elf::program_header::PT_LOAD)
        .find(|ph| vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz)
        .map(|ph| vaddr - ph.p_vaddr + ph.p_offset)
        .expect("symbol in a loaded segment")
}

/// The C library this process uses (the helpers use the same one).
pub fn libc_path() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .map(PathBuf::from)
        .expect("libc in /proc/self/maps")
}

/// A compiled helper; its temporary directory goes when this is dropped.
pub struct Compiled {
    pub path: PathBuf,
    dir: PathBuf,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Compiles a C helper from tests/progs/NAME.c into a temporary directory
/// that the unprivileged test run can write to as well.
pub fn compile_c(name: &str) -> Compiled {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/progs/{name}.c"));
    // One directory per call: tests running at once compile the same helper.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("unibpf-trace-{}-{}-{n}", std::process::id(), name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O1", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc {}", src.display());
    Compiled { path: out, dir }
}

/// Waits until `cond` holds, up to `timeout`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A field of /proc/PID/status, e.g. "TracerPid".
pub fn proc_status(pid: i32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

pub fn gone(pid: i32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// CLOCK_BOOTTIME now, in ns (what Task::start_time_ns counts from).
pub fn boot_time_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).expect("clock");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

#[cfg(target_arch = "x86_64")]
fn syscall_nr_register(regs: &unibpf_trace::Regs) -> u64 {
    regs.orig_rax
}

#[cfg(target_arch = "aarch64")]
fn syscall_nr_register(regs: &unibpf_trace::Regs) -> u64 {
    regs.regs[8]
}
