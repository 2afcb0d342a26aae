//! Records from a ring buffer callback into an [`EventBatch`]: what the
//! callback does with each record, free of FFI so it is tested anywhere.

use unibpf_backend::EventBatch;

/// What the callback returns to stop the poll once the batch holds its
/// budget (libbpf-style ring buffers stop on a negative return, having
/// consumed that record, which the batch keeps whole).
pub const STOP: i32 = -1;

/// The records one poll collects: the callback's context.
#[derive(Debug, Default)]
pub struct Collector {
    pending: EventBatch,
    full: bool,
}

impl Collector {
    pub fn new() -> Self {
        Self {
            pending: EventBatch::new(),
            full: false,
        }
    }

    /// Starts a poll that takes records up to `budget` bytes.
    pub fn start(&mut self, budget: usize) {
        self.pending.reset(budget);
        self.full = false;
    }

    /// One record from the callback: 0 to go on, [`STOP`] once full.
    pub fn record(&mut self, data: &[u8]) -> i32 {
        if self.full {
            // A poller that ignores a stop: keep nothing more than
            // asked, but keep the record rather than lose it.
            self.pending.push(data);
            return STOP;
        }
        if self.pending.push(data) {
            0
        } else {
            self.full = true;
            STOP
        }
    }

    /// Whether the callback stopped the poll (so a negative return of the
    /// poll is ours, not an error).
    pub fn stopped(&self) -> bool {
        self.full
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Hands the records over, in the order they came.
    pub fn finish(&mut self, out: &mut EventBatch) {
        out.take_from(&mut self.pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_arrive_in_order_until_the_budget() {
        let mut c = Collector::new();
        c.start(6);
        assert_eq!(c.record(b"abc"), 0);
        assert_eq!(c.record(b"defg"), STOP, "the budget is reached");
        assert!(c.stopped());
        let mut out = EventBatch::new();
        c.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out.get(0), Some(&b"abc"[..]));
        assert_eq!(out.get(1), Some(&b"defg"[..]));
        c.start(100);
        assert!(!c.stopped() && c.is_empty());
    }
}
