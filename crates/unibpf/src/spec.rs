use std::path::PathBuf;
use std::sync::Arc;

use unibpf_wasi::{Input, Output, WasiConfig};

/// One module to run: its bytes, arguments and what it may touch.
#[derive(Clone)]
pub struct ModuleSpec {
    pub(crate) name: String,
    pub(crate) wasm: Arc<[u8]>,
    pub(crate) wasi: WasiConfig,
}

impl ModuleSpec {
    /// `name` becomes the guest's `argv[0]`.
    pub fn new(name: impl Into<String>, wasm: impl Into<Arc<[u8]>>) -> Self {
        let name = name.into();
        Self {
            wasi: WasiConfig {
                args: vec![name.clone()],
                ..WasiConfig::default()
            },
            name,
            wasm: wasm.into(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.wasi.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.wasi.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.wasi.env.push((key.into(), value.into()));
        self
    }

    /// Grants the host directory `host`, visible to the guest as `guest`.
    pub fn dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.wasi.preopens.push((host.into(), guest.into()));
        self
    }

    pub fn stdin(mut self, input: Input) -> Self {
        self.wasi.stdin = input;
        self
    }

    pub fn stdout(mut self, output: Output) -> Self {
        self.wasi.stdout = output;
        self
    }

    pub fn stderr(mut self, output: Output) -> Self {
        self.wasi.stderr = output;
        self
    }

    /// Whether the guest sees stdout as a terminal, so its libc flushes
    /// every line (the default). Turning it off lets the guest's libc fill a
    /// buffer before writing, which is faster for very chatty guests, but
    /// what is still in that buffer is lost if the guest is force-stopped.
    pub fn line_buffered(mut self, yes: bool) -> Self {
        self.wasi.stdout_block_buffered = !yes;
        self
    }
}
