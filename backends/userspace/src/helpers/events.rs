//! Ring buffer and perf event array helpers. Wakeups are collected after
//! the run from the maps themselves (`BPF_RB_NO_WAKEUP` and friends).

use super::{neg, Env, EINVAL};
use crate::vm::{HelperError, Memory};

/// `BPF_RB_AVAIL_DATA`: what `bpf_ringbuf_query` can answer here.
const RB_AVAIL_DATA: u64 = 0;

impl<'r> Env<'r> {
    pub(super) fn ringbuf_reserve(&mut self, handle: u64, size: u64, flags: u64) -> u64 {
        let Some(m) = self.map(handle) else { return 0 };
        let base = m.base;
        match m.index.ringbuf().and_then(|rb| rb.reserve(size, flags)) {
            Some(off) => base + off as u64,
            None => 0,
        }
    }

    /// Submits or discards the record at `addr`, found by the region it
    /// lies in. A pointer that is no reservation is ignored (the kernel's
    /// verifier would have refused the program).
    pub(super) fn ringbuf_commit(
        &mut self,
        addr: u64,
        flags: u64,
        discard: bool,
        memory: &Memory<'_>,
    ) -> u64 {
        let base = addr & !0xffff_ffff;
        let Some(m) = self.maps.iter_mut().find(|m| m.base == base) else {
            return 0;
        };
        let offset = (addr - base) as usize;
        if let Some(rb) = m.index.ringbuf() {
            let _ = if discard {
                rb.discard(offset, flags)
            } else {
                rb.submit(memory.region(base).unwrap_or(&[]), offset, flags)
            };
        }
        0
    }

    pub(super) fn ringbuf_output(
        &mut self,
        handle: u64,
        data: u64,
        size: u64,
        flags: u64,
        memory: &Memory<'_>,
    ) -> Result<u64, HelperError> {
        let bytes = memory.read(data, size as usize)?;
        let Some(rb) = self.map(handle).and_then(|m| m.index.ringbuf()) else {
            return Ok(EINVAL);
        };
        Ok(rb.output(bytes, flags).map_or_else(neg, |()| 0))
    }

    pub(super) fn ringbuf_query(&mut self, handle: u64, flags: u64) -> u64 {
        match self.map(handle).and_then(|m| m.index.ringbuf()) {
            Some(rb) if flags == RB_AVAIL_DATA => rb.used(),
            _ => 0,
        }
    }

    pub(super) fn perf_output(
        &mut self,
        handle: u64,
        flags: u64,
        data: u64,
        size: u64,
        memory: &Memory<'_>,
    ) -> Result<u64, HelperError> {
        let bytes = memory.read(data, size as usize)?;
        let cpu = self.cpu;
        let Some(perf) = self.map(handle).and_then(|m| m.index.perf()) else {
            return Ok(EINVAL);
        };
        match perf.output(flags, cpu, bytes) {
            Ok(()) => {
                self.wake = true;
                Ok(0)
            }
            Err(e) => Ok(neg(e)),
        }
    }
}
