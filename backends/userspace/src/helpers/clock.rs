//! The clocks of the time helpers: the kernel's, read from user space on
//! Linux; elsewhere the closest the standard library offers.

#[cfg(target_os = "linux")]
mod imp {
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
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::sync::OnceLock;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    /// TAI is ahead of UTC by this much since 2017 (no leap second since).
    const TAI_MINUS_UTC_NS: u64 = 37_000_000_000;

    /// `bpf_ktime_get_ns`: monotonic, counted from the first reading in
    /// this process (std has no clock since boot). Starts at 1, not 0,
    /// which programs may read as "no time".
    pub fn monotonic_ns() -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX) + 1
    }

    /// `bpf_ktime_get_boot_ns`: the same clock.
    pub fn boot_ns() -> u64 {
        monotonic_ns()
    }

    /// `bpf_ktime_get_tai_ns`: the wall clock moved to TAI.
    pub fn tai_ns() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
            .saturating_add(TAI_MINUS_UTC_NS)
    }
}

pub use imp::{boot_ns, monotonic_ns, tai_ns};
