//! Calling into the guest in fuel slices.
//!
//! wasmi has no epoch interruption; fuel is how a running guest hands control
//! back to us. Every guest call (the `_start` entry and every callback) runs with
//! a slice of fuel; when it runs out we check the instance's [`Control`] (block
//! while paused, unwind if killed), refill and resume. A guest spinning in a loop
//! therefore still stops within one slice of a kill.

use wasmi::{AsContextMut, Func, ResumableCall, Val};

use crate::control::{killed_trap, Control};

/// Calls `func` with `params`, writing `results`, checking `control` every
/// `fuel_slice` units of fuel ([`crate::Limits::fuel_slice`]; the default is
/// a few milliseconds of guest execution, which bounds how late a pause or
/// kill takes effect). Host errors (a trap, `proc_exit`, a kill) come back as
/// `Err`.
pub fn call_guest<T>(
    mut ctx: impl AsContextMut<Data = T>,
    func: &Func,
    params: &[Val],
    results: &mut [Val],
    control: &Control,
    fuel_slice: u64,
) -> Result<(), wasmi::Error> {
    let fuel_slice = fuel_slice.max(1);
    control.checkpoint().map_err(killed_trap)?;
    ctx.as_context_mut().set_fuel(fuel_slice)?;
    let mut call = func.call_resumable(ctx.as_context_mut(), params, results)?;
    loop {
        match call {
            ResumableCall::Finished => return Ok(()),
            ResumableCall::OutOfFuel(invocation) => {
                control.checkpoint().map_err(killed_trap)?;
                let need = invocation.required_fuel().max(fuel_slice);
                ctx.as_context_mut().set_fuel(need)?;
                call = invocation.resume(ctx.as_context_mut(), results)?;
            }
            // Our host functions never ask to be resumed: an error from one ends
            // the guest (a trap, proc_exit, a kill).
            ResumableCall::HostTrap(invocation) => return Err(invocation.into_host_error()),
        }
    }
}
