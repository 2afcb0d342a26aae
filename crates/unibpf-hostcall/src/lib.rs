//! Plumbing shared by every host call a guest makes.
//!
//! - [`memory`]: bounds-checked views of a guest's linear memory. Every pointer a
//!   guest hands us goes through here, so a bad pointer becomes an error value
//!   instead of a panic or an out-of-bounds access.
//! - [`call`]: calling into the guest in fuel slices, so a running guest can be
//!   paused or killed.
//! - [`limits`]: every resource cap a module runs under, in one type.
//! - [`control`]: the run state of one guest instance (running, paused, stopping,
//!   killed), shared between the thread running the guest and whoever controls it.

pub mod call;
pub mod control;
pub mod errno;
pub mod limits;
pub mod memory;

pub use call::call_guest;
pub use control::{killed_trap, Control, Killed, RunState, SleepOutcome};
pub use errno::{guest_errno, linux_to_wasi, WasiErrno};
pub use limits::{Limit, LimitExceeded, LimitParseError, Limits};
pub use memory::{GuestFault, GuestMemory, GuestMemoryMut};
