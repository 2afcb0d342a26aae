//! Bounds-checked access to a guest's linear memory.
//!
//! Guest pointers are 32-bit offsets. Every accessor checks `ptr + len` against the
//! memory size with overflow-safe arithmetic before it touches a byte.

use std::ops::Range;

/// Why a guest pointer or string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestFault {
    #[error("guest range {ptr:#x}+{len} is outside linear memory ({mem_size} bytes)")]
    OutOfBounds { ptr: u64, len: u64, mem_size: usize },
    #[error("guest string at {ptr:#x} has no NUL terminator before the end of linear memory")]
    RunsOffMemory { ptr: u64 },
    #[error("guest string at {ptr:#x} has no NUL terminator within {max} bytes")]
    Unterminated { ptr: u64, max: usize },
    #[error("guest string at {ptr:#x} is not valid UTF-8")]
    NotUtf8 { ptr: u64 },
}

impl GuestFault {
    /// The Linux errno for this fault (`EFAULT`, `ENAMETOOLONG` for an overlong
    /// string, `EILSEQ` for one that is not UTF-8); [`crate::guest_errno`]
    /// gives what the guest sees.
    pub fn errno(&self) -> i32 {
        match self {
            GuestFault::Unterminated { .. } => crate::errno::linux::ENAMETOOLONG,
            GuestFault::NotUtf8 { .. } => crate::errno::linux::EILSEQ,
            _ => crate::errno::linux::EFAULT,
        }
    }
}

fn checked_range(mem_size: usize, ptr: u64, len: u64) -> Result<Range<usize>, GuestFault> {
    let fault = || GuestFault::OutOfBounds { ptr, len, mem_size };
    let start = usize::try_from(ptr).map_err(|_| fault())?;
    let len = usize::try_from(len).map_err(|_| fault())?;
    let end = start.checked_add(len).ok_or_else(fault)?;
    if end > mem_size {
        return Err(fault());
    }
    Ok(start..end)
}

/// Read-only view of guest memory.
#[derive(Clone, Copy)]
pub struct GuestMemory<'a> {
    bytes: &'a [u8],
}

impl<'a> GuestMemory<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// `len` bytes at `ptr`.
    pub fn slice(&self, ptr: u64, len: u64) -> Result<&'a [u8], GuestFault> {
        let range = checked_range(self.bytes.len(), ptr, len)?;
        Ok(&self.bytes[range])
    }

    /// A NUL-terminated UTF-8 string at `ptr`, at most `max` bytes long (without the NUL).
    pub fn c_str(&self, ptr: u64, max: usize) -> Result<&'a str, GuestFault> {
        let start = checked_range(self.bytes.len(), ptr, 0)?.start;
        let window_end = self.bytes.len().min(start.saturating_add(max + 1));
        let window = &self.bytes[start..window_end];
        let Some(nul) = window.iter().position(|&b| b == 0) else {
            return Err(if window_end == self.bytes.len() && window.len() <= max {
                GuestFault::RunsOffMemory { ptr }
            } else {
                GuestFault::Unterminated { ptr, max }
            });
        };
        std::str::from_utf8(&window[..nul]).map_err(|_| GuestFault::NotUtf8 { ptr })
    }

    pub fn u16(&self, ptr: u64) -> Result<u16, GuestFault> {
        let b = self.slice(ptr, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&self, ptr: u64) -> Result<u32, GuestFault> {
        let b = self.slice(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&self, ptr: u64) -> Result<u64, GuestFault> {
        let b = self.slice(ptr, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// An input slice and a disjoint output slice of the same guest memory.
pub type InputOutput<'m> = (&'m [u8], &'m mut [u8]);

/// Mutable view of guest memory.
pub struct GuestMemoryMut<'a> {
    bytes: &'a mut [u8],
}

impl<'a> GuestMemoryMut<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        Self { bytes }
    }

    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    pub fn as_ref(&self) -> GuestMemory<'_> {
        GuestMemory::new(self.bytes)
    }

    pub fn slice_mut(&mut self, ptr: u64, len: u64) -> Result<&mut [u8], GuestFault> {
        let range = checked_range(self.bytes.len(), ptr, len)?;
        Ok(&mut self.bytes[range])
    }

    /// An input range and an output range at once, when they do not overlap
    /// (`None` when they do: the caller copies the input first). Both are
    /// bounds-checked either way.
    pub fn input_and_output(
        &mut self,
        input: u64,
        input_len: u64,
        output: u64,
        output_len: u64,
    ) -> Result<Option<InputOutput<'_>>, GuestFault> {
        let i = checked_range(self.bytes.len(), input, input_len)?;
        let o = checked_range(self.bytes.len(), output, output_len)?;
        if i.end <= o.start {
            let (head, tail) = self.bytes.split_at_mut(o.start);
            Ok(Some((&head[i], &mut tail[..o.len()])))
        } else if o.end <= i.start {
            let (head, tail) = self.bytes.split_at_mut(i.start);
            Ok(Some((&tail[..i.len()], &mut head[o])))
        } else {
            Ok(None)
        }
    }

    /// Copies `data` to `ptr`.
    pub fn write(&mut self, ptr: u64, data: &[u8]) -> Result<(), GuestFault> {
        self.slice_mut(ptr, data.len() as u64)?
            .copy_from_slice(data);
        Ok(())
    }

    pub fn write_u32(&mut self, ptr: u64, v: u32) -> Result<(), GuestFault> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u64, v: u64) -> Result<(), GuestFault> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub fn write_u16(&mut self, ptr: u64, v: u16) -> Result<(), GuestFault> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub fn write_u8(&mut self, ptr: u64, v: u8) -> Result<(), GuestFault> {
        self.write(ptr, &[v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_bounds_checked_without_overflow() {
        let mem = [0u8; 16];
        let m = GuestMemory::new(&mem);
        assert!(m.slice(0, 16).is_ok());
        assert!(m.slice(16, 0).is_ok());
        assert!(m.slice(15, 2).is_err());
        assert!(m.slice(u64::MAX, 2).is_err());
        assert!(m.slice(8, u64::MAX).is_err());
    }

    #[test]
    fn strings_must_end_within_memory_and_limit() {
        let mut mem = *b"hello\0world!";
        let m = GuestMemory::new(&mem);
        assert_eq!(m.c_str(0, 64).unwrap(), "hello");
        assert!(matches!(
            m.c_str(6, 64),
            Err(GuestFault::RunsOffMemory { .. })
        ));
        assert!(matches!(
            m.c_str(0, 3),
            Err(GuestFault::Unterminated { .. })
        ));
        assert!(m.c_str(100, 3).is_err());
        mem[0] = 0xff;
        let m = GuestMemory::new(&mem);
        assert!(matches!(m.c_str(0, 64), Err(GuestFault::NotUtf8 { .. })));
    }

    #[test]
    fn input_and_output_split_only_when_disjoint() {
        let mut mem: Vec<u8> = (0..32).collect();
        let mut m = GuestMemoryMut::new(&mut mem);
        let (i, o) = m.input_and_output(0, 4, 8, 4).unwrap().unwrap();
        assert_eq!(i, &[0, 1, 2, 3]);
        o.copy_from_slice(i);
        let (i, o) = m.input_and_output(20, 2, 4, 2).unwrap().unwrap();
        assert_eq!((i, &*o), (&[20u8, 21][..], &[4u8, 5][..]));
        assert!(m.input_and_output(0, 8, 4, 8).unwrap().is_none());
        assert!(m.input_and_output(30, 4, 0, 1).is_err());
        assert_eq!(&mem[8..12], &[0, 1, 2, 3]);
    }
}
