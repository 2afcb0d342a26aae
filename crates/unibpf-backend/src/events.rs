/// Records collected by one poll, stored back to back in one reusable buffer so
/// that steady-state polling allocates nothing.
#[derive(Debug, Default)]
pub struct EventBatch {
    data: Vec<u8>,
    spans: Vec<(usize, usize)>,
    record_limit: usize,
    lost: u64,
}

impl EventBatch {
    pub fn new() -> Self {
        Self {
            record_limit: usize::MAX,
            ..Self::default()
        }
    }

    /// Empties the batch, keeping its capacity. Records pushed afterwards are
    /// truncated to `record_limit` bytes (the guest's buffer size).
    pub fn reset(&mut self, record_limit: usize) {
        self.data.clear();
        self.spans.clear();
        self.lost = 0;
        self.record_limit = record_limit;
    }

    pub fn push(&mut self, record: &[u8]) {
        let record = &record[..record.len().min(self.record_limit)];
        let start = self.data.len();
        self.data.extend_from_slice(record);
        self.spans.push((start, record.len()));
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

    pub fn record_limit(&self) -> usize {
        self.record_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_order_and_are_truncated() {
        let mut b = EventBatch::new();
        b.reset(3);
        b.push(b"abcdef");
        b.push(b"xy");
        assert_eq!(b.len(), 2);
        assert_eq!(b.get(0), Some(&b"abc"[..]));
        assert_eq!(b.get(1), Some(&b"xy"[..]));
        b.reset(100);
        assert!(b.is_empty());
    }
}
