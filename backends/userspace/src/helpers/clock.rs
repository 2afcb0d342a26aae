//! The clocks of the time helpers: the kernel's, read from user space.

use nix::time::{clock_gettime, ClockId};

fn ns(clock: ClockId) -> u64 {
    // These clocks exist on every Linux; a failure would leave 0, which
    // programs treat as "no time", never a crash.
    clock_gettime(clock)
        .map(|t| (t.tv_sec() as u64).wrapping_mul(1_000_000_000) + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// `bpf_ktime_get_ns`: CLOCK_MONOTONIC.
pub fn monotonic_ns() -> u64 {
    ns(ClockId::CLOCK_MONOTONIC)
}

/// `bpf_ktime_get_boot_ns`: CLOCK_BOOTTIME (counts suspend).
pub fn boot_ns() -> u64 {
    ns(ClockId::CLOCK_BOOTTIME)
}

/// `bpf_ktime_get_tai_ns`: CLOCK_TAI.
pub fn tai_ns() -> u64 {
    ns(ClockId::CLOCK_TAI)
}
