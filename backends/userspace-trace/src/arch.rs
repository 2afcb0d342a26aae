//! What differs between architectures for software breakpoints: the trap
//! instruction, where the trap leaves the instruction pointer, how the
//! kernel marks the SIGTRAP it causes, and where a function just entered
//! finds its return address.

use nix::errno::Errno;

use crate::task::Regs;

/// `si_code` of a SIGTRAP from a single step (TRAP_TRACE, both arches).
pub(crate) const TRAP_TRACE: i32 = 2;

#[cfg(target_arch = "x86_64")]
mod imp {
    use super::{Errno, Regs};

    pub(crate) const SUPPORTED: bool = true;
    /// int3.
    pub(crate) const TRAP: [u8; 1] = [0xCC];
    /// int3 raises SIGTRAP with si_code SI_KERNEL.
    pub(crate) const TRAP_CODE: i32 = 0x80;

    pub(crate) fn ip(r: &Regs) -> u64 {
        r.rip
    }
    pub(crate) fn set_ip(r: &mut Regs, ip: u64) {
        r.rip = ip;
    }
    pub(crate) fn sp(r: &Regs) -> u64 {
        r.rsp
    }
    /// int3 traps after itself: ip is one past the breakpoint.
    pub(crate) fn trap_address(r: &Regs) -> u64 {
        r.rip.wrapping_sub(1)
    }
    /// At a function's first instruction, `call` has just pushed the return
    /// address: (return address, sp once `ret` has popped it).
    pub(crate) fn return_site(
        r: &Regs,
        read: impl Fn(u64, &mut [u8]) -> Result<(), Errno>,
    ) -> Option<(u64, u64)> {
        let mut word = [0u8; 8];
        read(r.rsp, &mut word).ok()?;
        Some((u64::from_le_bytes(word), r.rsp.wrapping_add(8)))
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    use super::{Errno, Regs};

    pub(crate) const SUPPORTED: bool = true;
    /// BRK #0, little-endian.
    pub(crate) const TRAP: [u8; 4] = 0xd420_0000u32.to_le_bytes();
    /// BRK raises SIGTRAP with si_code TRAP_BRKPT.
    pub(crate) const TRAP_CODE: i32 = 1;

    pub(crate) fn ip(r: &Regs) -> u64 {
        r.pc
    }
    pub(crate) fn set_ip(r: &mut Regs, ip: u64) {
        r.pc = ip;
    }
    pub(crate) fn sp(r: &Regs) -> u64 {
        r.sp
    }
    /// BRK traps with pc at itself.
    pub(crate) fn trap_address(r: &Regs) -> u64 {
        r.pc
    }
    /// At a function's first instruction the return address is in the link
    /// register (x30) and `ret` leaves sp as it is.
    pub(crate) fn return_site(
        r: &Regs,
        _read: impl Fn(u64, &mut [u8]) -> Result<(), Errno>,
    ) -> Option<(u64, u64)> {
        Some((r.regs[30], r.sp))
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use super::{Errno, Regs};

    pub(crate) const SUPPORTED: bool = false;
    pub(crate) const TRAP: [u8; 1] = [0];
    pub(crate) const TRAP_CODE: i32 = -1;

    pub(crate) fn ip(_: &Regs) -> u64 {
        0
    }
    pub(crate) fn set_ip(_: &mut Regs, _: u64) {}
    pub(crate) fn sp(_: &Regs) -> u64 {
        0
    }
    pub(crate) fn trap_address(_: &Regs) -> u64 {
        0
    }
    pub(crate) fn return_site(
        _: &Regs,
        _: impl Fn(u64, &mut [u8]) -> Result<(), Errno>,
    ) -> Option<(u64, u64)> {
        None
    }
}

pub(crate) use imp::*;

/// The length of the trap instruction, which is also how many original
/// bytes a breakpoint keeps.
pub(crate) const TRAP_LEN: usize = TRAP.len();
