//! unibpf against itself: the same .wasm under `unibpf run --backend
//! kernel` and `--backend userspace`, alternately round after round, the
//! medians compared.
//!
//! - map ops through the ABI: `bench maps N`, the lookups' sum checked;
//! - hook cost: a workload (bench.target) opens /dev/null or calls a probed
//!   function in chunks, timing each chunk itself: alone, beside a suite
//!   module attached on the kernel backend, and as the command the
//!   userspace backend traces (`--cmd`). The cost per iteration is
//!   (traced - alone) / iterations. The module's lines are counted, chunk
//!   by chunk, so a lost event fails the run instead of making it fast;
//! - event delivery: [`crate::packets`].

use std::process::Command;

use crate::guest::{field, Answers, Backend, Guests, Running};
use crate::measure::{self, ended_cleanly, median, Scale};
use crate::BenchError;

/// One median per backend.
#[derive(Debug, Clone, Copy)]
pub struct BackendPair {
    pub kernel: f64,
    pub userspace: f64,
}

/// Samples per backend, reduced to medians.
#[derive(Default)]
pub(crate) struct BackendSamples {
    kernel: Vec<f64>,
    userspace: Vec<f64>,
}

impl BackendSamples {
    pub(crate) fn push(&mut self, backend: Backend, v: f64) {
        match backend {
            Backend::Kernel => self.kernel.push(v),
            Backend::Userspace => self.userspace.push(v),
        }
    }

    pub(crate) fn medians(&self) -> BackendPair {
        BackendPair {
            kernel: median(&self.kernel),
            userspace: median(&self.userspace),
        }
    }
}

/// Both backends, alternating which goes first.
pub(crate) fn backends(round: usize) -> [Backend; 2] {
    if round % 2 == 0 {
        [Backend::Kernel, Backend::Userspace]
    } else {
        [Backend::Userspace, Backend::Kernel]
    }
}

/// Map access through the ABI on each backend, ns per operation.
pub struct BackendMaps {
    pub update: BackendPair,
    pub lookup: BackendPair,
}

pub fn maps(g: &Guests, scale: &Scale, mut tick: impl FnMut()) -> Result<BackendMaps, BenchError> {
    let (mut update, mut lookup) = (BackendSamples::default(), BackendSamples::default());
    let ops = scale.map_ops.to_string();
    for round in 0..scale.rounds {
        for backend in backends(round) {
            let what = format!("bench maps (unibpf, {} backend)", backend.label());
            let cmd = g.run_on(backend, &[], "bench", &["maps", &ops]);
            let (u, l) = measure::maps_once(cmd, &what, scale.map_ops)?;
            update.push(backend, u);
            lookup.push(backend, l);
            tick();
        }
    }
    Ok(BackendMaps {
        update: update.medians(),
        lookup: lookup.medians(),
    })
}

/// A hook measured with a suite module and a workload mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// opensnoop: sys_enter_open(at) and sys_exit_open(at) tracepoints.
    Syscall,
    /// uprobe: a uprobe and a uretprobe on uprobe_add.
    Uprobe,
}

impl Hook {
    pub fn module(self) -> &'static str {
        match self {
            Hook::Syscall => "opensnoop",
            Hook::Uprobe => "uprobe",
        }
    }

    fn mode(self) -> &'static str {
        match self {
            Hook::Syscall => "opens",
            Hook::Uprobe => "calls",
        }
    }

    fn per_chunk(self, scale: &Scale) -> u64 {
        match self {
            Hook::Syscall => scale.hook_opens,
            Hook::Uprobe => scale.hook_calls,
        }
    }

    /// Lines the module prints per iteration: one per open (at its exit),
    /// an ENTER and an EXIT per call.
    fn lines_per_iteration(self) -> u64 {
        match self {
            Hook::Syscall => 1,
            Hook::Uprobe => 2,
        }
    }

    /// Whether the module's `line` reports one of the workload's iterations
    /// (the workload's own start-up opens its libraries, too).
    fn is_event(self, line: &str) -> bool {
        match self {
            Hook::Syscall => line.starts_with("OPEN ") && line.ends_with(" path=/dev/null"),
            Hook::Uprobe => {
                line.starts_with("ENTER func=uprobe_add ")
                    || line.starts_with("EXIT func=uprobe_add ")
            }
        }
    }

    /// What the module prints on stderr once attached.
    fn ready(self) -> &'static str {
        match self {
            Hook::Syscall => "opensnoop: tracing",
            Hook::Uprobe => "uprobe: probing",
        }
    }

    /// The module's arguments. On the kernel backend opensnoop sees the
    /// whole machine, so it is told the workload's pid.
    fn module_args(self, g: &Guests, pid: Option<u32>) -> Vec<String> {
        match (self, pid) {
            (Hook::Syscall, Some(pid)) => vec!["-p".into(), pid.to_string()],
            (Hook::Syscall, None) => Vec::new(),
            (Hook::Uprobe, _) => vec![g.target("bench").display().to_string()],
        }
    }
}

/// One hook's numbers: ns per iteration of the workload.
pub struct HookResult {
    /// Iterations per run (chunks after the warm-up one).
    pub iterations: u64,
    pub alone: f64,
    pub traced: BackendPair,
}

impl HookResult {
    /// What tracing adds per iteration, on each backend.
    pub fn cost(&self) -> BackendPair {
        BackendPair {
            kernel: self.traced.kernel - self.alone,
            userspace: self.traced.userspace - self.alone,
        }
    }
}

/// How the workload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traced {
    Alone,
    By(Backend),
}

pub fn hook(
    g: &Guests,
    scale: &Scale,
    hook: Hook,
    mut tick: impl FnMut(),
) -> Result<HookResult, BenchError> {
    let mut alone = Vec::new();
    let mut traced = BackendSamples::default();
    let iterations = hook.per_chunk(scale) * scale.hook_chunks as u64;
    for round in 0..scale.rounds {
        let mut order = [
            Traced::Alone,
            Traced::By(Backend::Kernel),
            Traced::By(Backend::Userspace),
        ];
        order.rotate_left(round % 3);
        for how in order {
            let ns = match how {
                Traced::Alone => hook_alone(g, scale, hook)?,
                Traced::By(Backend::Kernel) => hook_kernel(g, scale, hook)?,
                Traced::By(Backend::Userspace) => hook_userspace(g, scale, hook)?,
            };
            let per_iteration = ns as f64 / iterations as f64;
            match how {
                Traced::Alone => alone.push(per_iteration),
                Traced::By(backend) => traced.push(backend, per_iteration),
            }
            tick();
        }
    }
    Ok(HookResult {
        iterations,
        alone: median(&alone),
        traced: traced.medians(),
    })
}

fn workload(g: &Guests, scale: &Scale, hook: Hook) -> Command {
    let mut cmd = Command::new(g.target("bench"));
    cmd.arg(hook.mode()).arg(hook.per_chunk(scale).to_string());
    cmd
}

/// The workload alone: ns of its timed chunks.
fn hook_alone(g: &Guests, scale: &Scale, hook: Hook) -> Result<u64, BenchError> {
    let what = format!("bench.target {} (alone)", hook.mode());
    let mut w = Running::spawn(workload(g, scale, hook), &what, true)?;
    let mut ns = 0;
    for chunk in 0..=scale.hook_chunks {
        w.send("go")?;
        let (_, line) = w.expect("CHUNK ")?;
        // Chunk 0 warms up (page cache, first breakpoint, lazy binding).
        if chunk > 0 {
            ns += field(&line, "ns")?;
        }
    }
    ended_cleanly(w, &what)?;
    Ok(ns)
}

/// The workload beside the module on the kernel backend, attached before
/// the first chunk.
fn hook_kernel(g: &Guests, scale: &Scale, hook: Hook) -> Result<u64, BenchError> {
    let what = format!("bench.target {} (under {})", hook.mode(), hook.module());
    let mut w = Running::spawn(workload(g, scale, hook), &what, true)?;
    let args = hook.module_args(g, Some(w.pid()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let module_what = format!("{} (unibpf, kernel backend)", hook.module());
    let cmd = g.run_on(Backend::Kernel, &[], hook.module(), &args);
    let mut m = Running::spawn(cmd, &module_what, false)?;
    m.wait_stderr(hook.ready())?;
    let want = hook.per_chunk(scale) * hook.lines_per_iteration();
    let mut ns = 0;
    for chunk in 0..=scale.hook_chunks {
        w.send("go")?;
        let (_, line) = w.expect("CHUNK ")?;
        if chunk > 0 {
            ns += field(&line, "ns")?;
        }
        // Before the next chunk: the buffer never holds more than one.
        read_chunk(&mut m, hook, want, false)?;
    }
    ended_cleanly(w, &what)?;
    m.interrupt();
    no_more_events(&mut m, hook)?;
    ended_cleanly(m, &module_what)?;
    Ok(ns)
}

/// The workload as the command the userspace backend traces; its CHUNK
/// lines come out on unibpf's stderr, the module's events on its stdout.
fn hook_userspace(g: &Guests, scale: &Scale, hook: Hook) -> Result<u64, BenchError> {
    let target = g.target("bench").display().to_string();
    if target.contains('\'') {
        return Err(BenchError::Setup(format!(
            "{target}: a quote in the path cannot be passed to --cmd"
        )));
    }
    let command = format!("'{target}' {} {}", hook.mode(), hook.per_chunk(scale));
    let args = hook.module_args(g, None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let what = format!("{} (unibpf, userspace backend)", hook.module());
    let cmd = g.run_on(
        Backend::Userspace,
        &["--cmd", &command],
        hook.module(),
        &args,
    );
    let mut m = Running::spawn_from(cmd, &what, Answers::Both)?;
    let want = hook.per_chunk(scale) * hook.lines_per_iteration();
    let mut ns = 0;
    for chunk in 0..=scale.hook_chunks {
        // The command reads unibpf's stdin.
        m.send("go")?;
        let chunk_ns = read_chunk(&mut m, hook, want, true)?;
        if chunk > 0 {
            ns += chunk_ns.unwrap_or(0);
        }
    }
    // End of input ends the command, and with it the module.
    m.close_stdin();
    no_more_events(&mut m, hook)?;
    ended_cleanly(m, &what)?;
    Ok(ns)
}

/// Reads `run`'s lines until `want` more events came and, with
/// `chunk_in_stream`, the workload's CHUNK line, whose ns it returns.
fn read_chunk(
    run: &mut Running,
    hook: Hook,
    want: u64,
    chunk_in_stream: bool,
) -> Result<Option<u64>, BenchError> {
    let (mut seen, mut ns) = (0, None);
    while seen < want || (chunk_in_stream && ns.is_none()) {
        let Some(line) = run.next_line()? else {
            return Err(run.failed(&format!(
                "its output ended after {seen} of a chunk's {want} events"
            )));
        };
        if hook.is_event(&line) {
            seen += 1;
        } else if chunk_in_stream && line.starts_with("CHUNK ") {
            ns = Some(field(&line, "ns")?);
        }
    }
    Ok(ns)
}

/// Reads the rest of the output: an event beyond those counted is one the
/// workload did not cause.
fn no_more_events(run: &mut Running, hook: Hook) -> Result<(), BenchError> {
    let mut extra = 0;
    while let Some(line) = run.next_line()? {
        extra += u64::from(hook.is_event(&line));
    }
    if extra > 0 {
        return Err(run.failed(&format!(
            "{extra} events more than the workload's iterations"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_the_workloads_only() {
        let open = "OPEN pid=1 tid=1 comm=bench.target ret=3 flags=0x0 path=/dev/null";
        assert!(Hook::Syscall.is_event(open));
        let lib = "OPEN pid=1 tid=1 comm=bench.target ret=3 flags=0x80000 path=/lib/libc.so.6";
        assert!(!Hook::Syscall.is_event(lib));
        assert!(Hook::Uprobe.is_event("ENTER func=uprobe_add pid=1 args=1,1"));
        assert!(Hook::Uprobe.is_event("EXIT func=uprobe_add pid=1 ret=2"));
        assert!(!Hook::Uprobe.is_event("ENTER func=uprobe_scale pid=1 args=1,1"));
        assert!(!Hook::Uprobe.is_event("CHUNK n=20 ns=100"));
    }

    #[test]
    fn backends_alternate_which_goes_first() {
        assert_eq!(backends(0), [Backend::Kernel, Backend::Userspace]);
        assert_eq!(backends(1), [Backend::Userspace, Backend::Kernel]);
    }
}
