/// Records collected by one poll, stored back to back in one reusable buffer so
/// that steady-state polling allocates nothing.
///
/// Records are kept whole: the ABI layer truncates each to the buffer of the
/// guest call that delivers it, which need not be the call that collected it
/// (a callback may stop delivery early, or poll again from inside).
#[derive(Debug, Default)]
pub struct EventBatch {
    data: Vec<u8>,
    spans: Vec<(usize, usize)>,
    budget: usize,
    lost: u64,
}

impl EventBatch {
    pub fn new() -> Self {
        Self {
            budget: usize::MAX,
            ..Self::default()
        }
    }

    /// Empties the batch, keeping its capacity. Pollers stop taking records
    /// once `budget` bytes are in (the rest wait in the kernel's buffer).
    pub fn reset(&mut self, budget: usize) {
        self.data.clear();
        self.spans.clear();
        self.lost = 0;
        self.budget = budget;
    }

    /// Appends a record; false once the batch holds its budget, so the
    /// poller should stop taking more.
    pub fn push(&mut self, record: &[u8]) -> bool {
        let start = self.data.len();
        self.data.extend_from_slice(record);
        self.spans.push((start, record.len()));
        !self.is_full()
    }

    /// True once the batch holds at least its budget in bytes.
    pub fn is_full(&self) -> bool {
        self.data.len() >= self.budget
    }

    /// Counts records the kernel dropped (perf buffer overflow).
    pub fn add_lost(&mut self, n: u64) {
        self.lost = self.lost.saturating_add(n);
    }

    pub fn lost(&self) -> u64 {
        self.lost
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.spans.get(i).map(|&(s, l)| &self.data[s..s + l])
    }

    /// Moves the records of `other` into `self` (swapping buffers: no copy).
    pub fn take_from(&mut self, other: &mut EventBatch) {
        std::mem::swap(&mut self.data, &mut other.data);
        std::mem::swap(&mut self.spans, &mut other.spans);
        self.lost = std::mem::take(&mut other.lost);
        other.data.clear();
        other.spans.clear();
    }

    pub fn budget(&self) -> usize {
        self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_order_and_length() {
        let mut b = EventBatch::new();
        b.reset(100);
        assert!(b.push(b"abcdef"));
        assert!(b.push(b"xy"));
        assert_eq!(b.len(), 2);
        assert_eq!(b.get(0), Some(&b"abcdef"[..]));
        assert_eq!(b.get(1), Some(&b"xy"[..]));
        b.reset(100);
        assert!(b.is_empty());
    }

    #[test]
    fn the_budget_says_when_to_stop_taking_records() {
        let mut b = EventBatch::new();
        b.reset(8);
        assert!(b.push(b"12345"));
        // The record that reaches the budget is kept whole.
        assert!(!b.push(b"6789"));
        assert!(b.is_full());
        assert_eq!(b.get(1), Some(&b"6789"[..]));
    }
}
