//! Array-like maps (array, per-CPU array, prog array, perf event array):
//! every index below `max_entries` exists; the key is a little-endian u32.

use unibpf_backend::Errno;

/// The index a 4-byte key names (sizes were checked by the caller).
pub(crate) fn index(key: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(key.try_into().ok()?))
}

/// The kernel's `get_next_key` for arrays: no key or one past the end
/// restarts at 0; the last index has no next.
pub(crate) fn next_key(key: Option<&[u8]>, max_entries: u32, next: &mut [u8]) -> Result<(), Errno> {
    let following = match key.and_then(index) {
        Some(i) if i < max_entries => i.checked_add(1).filter(|&n| n < max_entries),
        _ => Some(0),
    };
    let following = following.ok_or(Errno::ENOENT)?;
    next.copy_from_slice(&following.to_le_bytes());
    Ok(())
}

/// Program ids a prog array holds (user space stores them by id).
#[derive(Debug)]
pub(crate) struct ProgSlots(Box<[Option<u32>]>);

impl ProgSlots {
    pub fn new(max_entries: u32) -> Self {
        Self(vec![None; max_entries as usize].into_boxed_slice())
    }

    pub fn get(&self, index: u32) -> Option<u32> {
        *self.0.get(index as usize)?
    }

    /// E2BIG past the end, as the kernel's update.
    pub fn set(&mut self, index: u32, id: u32) -> Result<(), Errno> {
        *self.0.get_mut(index as usize).ok_or(Errno::E2BIG)? = Some(id);
        Ok(())
    }

    /// E2BIG past the end, ENOENT for an empty entry, as the kernel's
    /// delete.
    pub fn clear(&mut self, index: u32) -> Result<(), Errno> {
        let slot = self.0.get_mut(index as usize).ok_or(Errno::E2BIG)?;
        slot.take().map(|_| ()).ok_or(Errno::ENOENT)
    }
}
