//! The program's address space: virtual addresses mapped onto byte slices.
//!
//! Every region lives in its own 4 GiB slot: the upper 32 bits of an
//! address pick the slot, the lower 32 bits are the offset in it. Slot 1
//! is the stack, slot 2 the context, and slots from 3 on are the regions
//! the embedder adds (map values, helper buffers). Slot 0 holds at most
//! one region, at or above [`LOW_MIN`] (see [`Memory::map_low`]): packet
//! data, whose address programs keep in 32-bit context fields. Below it
//! nothing is ever mapped, so NULL and small integers fault. Finding a
//! region is one index; no host pointer is ever computed from a program's
//! value, so a bad access can only be refused, never reach host memory.

use super::error::{Access, AccessError, Reason};

/// Bytes of stack per call frame.
pub const FRAME_SIZE: usize = 512;
/// Call frames a run may hold at once (the main program's included).
pub const MAX_FRAMES: usize = 8;
/// Bytes of the whole stack: every frame's.
pub const STACK_SIZE: usize = FRAME_SIZE * MAX_FRAMES;

const SLOT_SHIFT: u32 = 32;
const STACK_SLOT: u64 = 1;
const CONTEXT_SLOT: u64 = 2;
const FIRST_USER_SLOT: u64 = 3;
/// The slot function references point into; never mapped.
const CODE_SLOT: u64 = u32::MAX as u64;
/// The lowest address a region of slot 0 may start at: NULL, and NULL
/// plus any offset a program adds to a struct pointer, always fault.
pub const LOW_MIN: u32 = 1 << 16;

/// Address of the stack's first byte.
pub const STACK_BASE: u64 = STACK_SLOT << SLOT_SHIFT;
/// Address one past the stack's last byte: r10 of the main program.
pub const STACK_TOP: u64 = STACK_BASE + STACK_SIZE as u64;
/// Address of the context region's first byte.
pub const CONTEXT_BASE: u64 = CONTEXT_SLOT << SLOT_SHIFT;
/// Base of the (unmapped) addresses standing for functions: see
/// [`function_address`].
pub const CODE_BASE: u64 = CODE_SLOT << SLOT_SHIFT;

/// The value a 64-bit immediate load of a function reference (src 4)
/// gives by default: an address in an unmapped slot naming the callee's
/// first instruction, so it can be passed to a helper but never read.
pub fn function_address(pc: usize) -> u64 {
    CODE_BASE + (pc as u64) * 8
}

/// The instruction index a [`function_address`] names, if it is one.
pub fn function_pc(addr: u64) -> Option<usize> {
    (addr >> SLOT_SHIFT == CODE_SLOT && addr % 8 == 0).then(|| ((addr - CODE_BASE) / 8) as usize)
}

/// The base address of the `n`-th region added to a [`Memory`] (from 0).
pub fn region_base(n: usize) -> u64 {
    (FIRST_USER_SLOT + n as u64) << SLOT_SHIFT
}

/// A span of bytes the program may touch, and how.
#[derive(Debug)]
pub enum Region<'a> {
    ReadWrite(&'a mut [u8]),
    ReadOnly(&'a [u8]),
}

impl Region<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Region::ReadWrite(b) => b,
            Region::ReadOnly(b) => b,
        }
    }
}

/// Where a checked access lands.
enum Place {
    Stack,
    /// An index into `Memory::regions`.
    Region(usize),
    /// The region of slot 0.
    Low,
}

/// A region mapped in slot 0 at `start` (see [`Memory::map_low`]).
#[derive(Debug)]
struct Low<'a> {
    start: u32,
    region: Region<'a>,
}

/// The memory of runs: the stack (owned, reused from run to run), the
/// context and the embedder's regions (borrowed).
#[derive(Debug)]
pub struct Memory<'a> {
    stack: Box<[u8; STACK_SIZE]>,
    /// Offset in the stack below which the current frame may not go.
    stack_floor: usize,
    /// Slot 2 (the context) first, then one per added region.
    regions: Vec<Region<'a>>,
    /// The region of slot 0, if one is mapped.
    low: Option<Low<'a>>,
}

impl Default for Memory<'_> {
    fn default() -> Self {
        Self::new(Region::ReadOnly(&[]))
    }
}

impl<'a> Memory<'a> {
    /// Memory whose context region (at [`CONTEXT_BASE`]) is `context`.
    pub fn new(context: Region<'a>) -> Self {
        Memory {
            stack: Box::new([0; STACK_SIZE]),
            stack_floor: STACK_SIZE - FRAME_SIZE,
            regions: vec![context],
            low: None,
        }
    }

    /// Maps `region` in slot 0 at address `start`, so that addresses of
    /// its bytes fit 32 bits (as `xdp_md.data` and `__sk_buff.data` hold
    /// them). Replaces the region mapped there before, if any.
    ///
    /// # Panics
    /// If `start` is below [`LOW_MIN`] or the region would end past 4 GiB.
    pub fn map_low(&mut self, start: u32, region: Region<'a>) -> u64 {
        assert!(start >= LOW_MIN, "slot 0 below {LOW_MIN:#x} stays unmapped");
        assert!(
            u64::from(start) + region.bytes().len() as u64 <= u64::from(u32::MAX),
            "a region of slot 0 ends below 4 GiB"
        );
        self.low = Some(Low { start, region });
        u64::from(start)
    }

    /// The address and length of the region of slot 0, if one is mapped.
    pub fn low(&self) -> Option<(u64, usize)> {
        self.low
            .as_ref()
            .map(|l| (u64::from(l.start), l.region.bytes().len()))
    }

    /// Maps `region` into a fresh slot and returns its base address.
    ///
    /// # Panics
    /// If the region is larger than 4 GiB (a slot), or after about four
    /// billion regions.
    pub fn add_region(&mut self, region: Region<'a>) -> u64 {
        let slot = FIRST_USER_SLOT + self.regions.len() as u64 - 1;
        assert!(slot < CODE_SLOT, "too many regions");
        assert!(
            region.bytes().len() <= u32::MAX as usize,
            "a region holds at most 4 GiB"
        );
        self.regions.push(region);
        slot << SLOT_SHIFT
    }

    /// The base address the next [`Memory::add_region`] returns: regions
    /// are placed in order, so an embedder can know an address (for a
    /// 64-bit immediate, or a struct pointing at itself) before it maps
    /// the bytes.
    pub fn next_region_base(&self) -> u64 {
        region_base(self.regions.len() - 1)
    }

    /// The context region's length.
    pub fn context_len(&self) -> usize {
        self.regions[0].bytes().len()
    }

    /// The bytes of the region mapped at `base`, to read after a run.
    pub fn region(&self, base: u64) -> Option<&[u8]> {
        if let Some(low) = self.low.as_ref().filter(|l| base == u64::from(l.start)) {
            return Some(low.region.bytes());
        }
        let slot = base >> SLOT_SHIFT;
        (slot >= CONTEXT_SLOT && base as u32 == 0)
            .then(|| self.regions.get((slot - CONTEXT_SLOT) as usize))
            .flatten()
            .map(Region::bytes)
    }

    /// The whole stack, every frame's.
    pub fn stack(&self) -> &[u8] {
        &self.stack[..]
    }

    /// Lets frame `depth` (0 for the main program) use its 512 bytes and
    /// its callers' frames, nothing below.
    pub(crate) fn set_frame(&mut self, depth: usize) {
        self.stack_floor = STACK_SIZE - (depth + 1) * FRAME_SIZE;
    }

    /// `len` bytes at `addr`, to read.
    pub fn read(&self, addr: u64, len: usize) -> Result<&[u8], AccessError> {
        let (place, range) = self.locate(Access::Load, addr, len)?;
        Ok(match place {
            Place::Stack => &self.stack[range],
            Place::Region(i) => &self.regions[i].bytes()[range],
            // locate finds the low region only where one is mapped.
            Place::Low => self
                .low
                .as_ref()
                .and_then(|l| l.region.bytes().get(range))
                .ok_or(AccessError {
                    access: Access::Load,
                    addr,
                    size: len,
                    reason: Reason::Unmapped,
                })?,
        })
    }

    /// `len` bytes at `addr`, to write.
    pub fn write_slice(&mut self, addr: u64, len: usize) -> Result<&mut [u8], AccessError> {
        let (place, range) = self.locate(Access::Store, addr, len)?;
        let region = match place {
            Place::Stack => return Ok(&mut self.stack[range]),
            Place::Region(i) => Some(&mut self.regions[i]),
            Place::Low => self.low.as_mut().map(|l| &mut l.region),
        };
        match region {
            Some(Region::ReadWrite(b)) => Ok(&mut b[range]),
            // locate refuses stores to read-only regions, and finds the
            // low region only where one is mapped.
            _ => Err(AccessError {
                access: Access::Store,
                addr,
                size: len,
                reason: Reason::ReadOnly,
            }),
        }
    }

    /// Where `len` bytes at `addr` are, checked for `access`: the one
    /// place every load and store is bounds-checked. A frame may not reach
    /// below its own; stores may not go to read-only regions.
    fn locate(
        &self,
        access: Access,
        addr: u64,
        len: usize,
    ) -> Result<(Place, std::ops::Range<usize>), AccessError> {
        let err = |reason| AccessError {
            access,
            addr,
            size: len,
            reason,
        };
        let (slot, off) = (addr >> SLOT_SHIFT, (addr as u32) as usize);
        let (place, size) = if slot == STACK_SLOT {
            if off < self.stack_floor {
                return Err(err(Reason::BelowFrame));
            }
            (Place::Stack, self.stack.len())
        } else if slot == 0 {
            let low = self
                .low
                .as_ref()
                .filter(|l| off >= l.start as usize)
                .ok_or(err(Reason::Unmapped))?;
            if access == Access::Store && matches!(low.region, Region::ReadOnly(_)) {
                return Err(err(Reason::ReadOnly));
            }
            let start = low.start as usize;
            let size = low.region.bytes().len();
            return match (off - start).checked_add(len) {
                Some(end) if end <= size => Ok((Place::Low, off - start..end)),
                _ => Err(err(Reason::PastEnd { len: size })),
            };
        } else {
            let i = slot
                .checked_sub(CONTEXT_SLOT)
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < self.regions.len())
                .ok_or(err(Reason::Unmapped))?;
            let region = &self.regions[i];
            if access == Access::Store && matches!(region, Region::ReadOnly(_)) {
                return Err(err(Reason::ReadOnly));
            }
            (Place::Region(i), region.bytes().len())
        };
        match off.checked_add(len) {
            Some(end) if end <= size => Ok((place, off..end)),
            _ => Err(err(Reason::PastEnd { len: size })),
        }
    }

    /// Copies `data` to `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), AccessError> {
        self.write_slice(addr, data.len())?.copy_from_slice(data);
        Ok(())
    }

    /// The little-endian value of `size` (1, 2, 4 or 8) bytes at `addr`,
    /// zero-extended.
    pub fn load(&self, addr: u64, size: usize) -> Result<u64, AccessError> {
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(self.read(addr, size)?);
        Ok(u64::from_le_bytes(buf))
    }

    /// Stores the low `size` (1, 2, 4 or 8) bytes of `value` at `addr`,
    /// little-endian.
    pub fn store(&mut self, addr: u64, size: usize, value: u64) -> Result<(), AccessError> {
        self.write(addr, &value.to_le_bytes()[..size])
    }
}
