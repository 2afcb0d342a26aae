//! The kernel objects the backend emulates for programs: tracepoint
//! contexts and tasks, packet contexts and headers, their layouts and the
//! BTF that describes them.

pub mod btf;
pub mod layout;
pub mod net;

/// Writes `value` at byte `at` of a record being built; the layouts are
/// ours and fit their records, so an out-of-range write is skipped.
pub(crate) fn put(record: &mut [u8], at: u32, value: &[u8]) {
    let at = at as usize;
    if let Some(dst) = record.get_mut(at..at + value.len()) {
        dst.copy_from_slice(value);
    }
}
