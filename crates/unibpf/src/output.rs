use std::sync::{Arc, Mutex};

use unibpf_wasi::{Output, OutputSink};

/// Collects a guest's output in memory.
#[derive(Clone, Default)]
pub struct OutputBuffer {
    bytes: Arc<Mutex<Vec<u8>>>,
}

struct BufferSink(Arc<Mutex<Vec<u8>>>);

impl OutputSink for BufferSink {
    fn write(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
    }
}

impl OutputBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// An [`Output`] that appends to this buffer.
    pub fn sink(&self) -> Output {
        Output::Sink(Arc::new(BufferSink(self.bytes.clone())))
    }

    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.bytes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Everything written so far, as lossy UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.contents()).into_owned()
    }
}

/// Hands each write of a guest's output to a closure.
pub struct OutputCallback<F>(pub F);

impl<F: Fn(&[u8]) + Send + Sync> OutputSink for OutputCallback<F> {
    fn write(&self, bytes: &[u8]) {
        (self.0)(bytes)
    }
}

impl<F: Fn(&[u8]) + Send + Sync + 'static> OutputCallback<F> {
    /// An [`Output`] that calls `f` with every chunk the guest writes.
    pub fn output(f: F) -> Output {
        Output::Sink(Arc::new(OutputCallback(f)))
    }
}
