//! Where tracefs is: the one place that knows its mount points. Tracepoint
//! programs need it (libbpf reads `events/CAT/NAME/id`), and some hosts boot
//! without it mounted.

use std::path::{Path, PathBuf};

/// Where tracefs is mounted when we mount it.
pub const MOUNT_POINT: &str = "/sys/kernel/tracing";

/// Where kernels have it: its own mount point, or under debugfs.
const PLACES: [&str; 2] = [MOUNT_POINT, "/sys/kernel/debug/tracing"];

/// The `events/` directory of a mounted tracefs.
pub fn events_dir() -> Option<PathBuf> {
    PLACES
        .iter()
        .map(|p| Path::new(p).join("events"))
        .find(|p| p.is_dir())
}

/// Mounts tracefs at [`MOUNT_POINT`] unless a tracefs with events is
/// already reachable; true when it mounted one (never off Linux).
pub fn ensure_mounted() -> bool {
    if events_dir().is_some() || cfg!(not(target_os = "linux")) {
        return false;
    }
    #[cfg(target_os = "linux")]
    match nix::mount::mount(
        Some("tracefs"),
        MOUNT_POINT,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    ) {
        Ok(()) => {
            tracing::info!("mounted tracefs at {MOUNT_POINT} (tracepoints need it)");
            true
        }
        Err(e) => {
            tracing::debug!("could not mount tracefs: {e}");
            false
        }
    }
    #[cfg(not(target_os = "linux"))]
    false
}
