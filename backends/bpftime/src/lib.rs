//! unibpf on bpftime, when it is installed.
//!
//! bpftime is a userspace eBPF runtime: its syscall server, preloaded into
//! a loader, answers libbpf's `bpf()` and `perf_event_open()` calls from a
//! shared-memory runtime instead of the kernel; its agent, preloaded into
//! (or injected in) a target process, runs the programs found there on
//! uprobes (frida) and, with the agent transformer, syscall tracepoints.
//!
//! `unibpf run --backend bpftime` therefore re-executes itself as that
//! loader ([`LoaderEnv`]), with the kernel backend unchanged, wrapped in
//! [`BpftimeBackend`] so that the target is started with the agent (or the
//! agent attached to a pid, [`Launcher`]) once the module has attached its
//! programs: at its first poll or map read, as the userspace backend does.
//!
//! Nothing here has run against a real bpftime (it cannot be built on the
//! machines this is developed on); README says what is verified.

mod backend;
mod session;
mod target;

pub use backend::BpftimeBackend;
pub use session::{LoaderEnv, Session, ShmSource, LOADER_VAR, SHM_DEFAULT, SHM_VAR};
pub use target::{Launcher, Target};
pub use unibpf_host::bpftime::{BpftimeError, Install, Part};
