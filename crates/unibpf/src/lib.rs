//! unibpf: run eBPF applications packaged as WebAssembly modules.
//!
//! A module is a wasm32-wasi program (the control plane) that carries its BPF
//! objects and drives them through the upstream `wasm_bpf` import ABI. This crate
//! embeds the runtime: build a [`Runtime`] from a [`Config`], then [`spawn`] any
//! number of modules, each isolated in its own thread, store and backend state,
//! and control each one through its [`ModuleHandle`].
//!
//! ```no_run
//! use std::time::Duration;
//! use unibpf::{Config, ModuleSpec, OutputBuffer, Runtime};
//!
//! let runtime = Runtime::new(Config::default())?;
//! let stdout = OutputBuffer::new();
//! let wasm = std::fs::read("bootstrap.wasm")?;
//! let handle = runtime.spawn(
//!     ModuleSpec::new("bootstrap.wasm", wasm)
//!         .arg("-d")
//!         .arg("10")
//!         .stdout(stdout.sink()),
//! )?;
//! std::thread::sleep(Duration::from_secs(2));
//! let exit = handle.terminate(Duration::from_secs(1))?;
//! println!("{exit:?}: {}", String::from_utf8_lossy(&stdout.contents()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`spawn`]: Runtime::spawn

mod config;
mod error;
mod handle;
mod host_func;
mod limiter;
mod output;
mod run;
mod spec;

pub use config::{BackendFactory, Config};
pub use error::RunError;
pub use handle::{Exit, ModuleHandle};
pub use host_func::{HostFunc, HostFuncContext, HostFuncError};
pub use output::{OutputBuffer, OutputCallback};
pub use run::Runtime;
pub use spec::ModuleSpec;

pub use unibpf_abi::CallbackNames;
pub use unibpf_backend::{one_line, Backend, BackendKind};
#[cfg(target_os = "linux")]
pub use unibpf_backend_userspace::{ProcessHooks, Target as TraceTarget};
pub use unibpf_host::{HostReport, Mask};
pub use unibpf_hostcall::{limits, Control, Limit, LimitExceeded, LimitParseError, Limits};
pub use unibpf_select::BackendChoice;
pub use unibpf_wasi::{Input, Output, OutputSink};
/// Value and type definitions used by [`HostFunc`].
pub use wasmi::{FuncType, Val, ValType};
