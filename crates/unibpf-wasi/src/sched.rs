//! Clocks, sleeping, randomness and exit.

use std::time::Duration;

use unibpf_hostcall::{GuestMemory, GuestMemoryMut, SleepOutcome};
use wasmi::{Caller, Linker};

use crate::ctx::WasiCtx;
use crate::errno::{WasiErrno, WasiResult};
use crate::host::{now_ns, resolution_ns, Clock};
use crate::{with_ctx, ProcExit, WasiView, MODULE};

const EVENTTYPE_CLOCK: u8 = 0;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
const MAX_SUBSCRIPTIONS: u32 = 4096;

/// Sleeps for the earliest clock subscription and reports every subscription as
/// an event. Descriptor subscriptions are reported ready at once: our descriptors
/// are files and terminals, which never block for long.
fn poll_oneoff(
    mem: &mut [u8],
    ctx: &mut WasiCtx,
    input: u32,
    output: u32,
    count: u32,
    nevents: u32,
) -> WasiResult<()> {
    if count == 0 || count > MAX_SUBSCRIPTIONS {
        return Err(WasiErrno::INVAL);
    }
    struct Sub {
        userdata: u64,
        tag: u8,
        deadline_ns: Option<u64>,
    }
    let subs: Vec<Sub> = {
        let m = GuestMemory::new(mem);
        (0..u64::from(count))
            .map(|i| {
                let at = u64::from(input) + 48 * i;
                let userdata = m.u64(at)?;
                let tag = m.slice(at + 8, 1)?[0];
                let deadline_ns = if tag == EVENTTYPE_CLOCK {
                    let id = Clock::from_wasi(m.u32(at + 16)?)?;
                    let timeout = m.u64(at + 24)?;
                    let flags = m.u16(at + 40)?;
                    let now = now_ns(id)?;
                    Some(if flags & SUBCLOCKFLAGS_ABSTIME != 0 {
                        timeout.saturating_sub(now)
                    } else {
                        timeout
                    })
                } else {
                    None
                };
                Ok(Sub {
                    userdata,
                    tag,
                    deadline_ns,
                })
            })
            .collect::<WasiResult<_>>()?
    };
    let has_fd_subs = subs.iter().any(|s| s.deadline_ns.is_none());
    let wait = if has_fd_subs {
        0
    } else {
        subs.iter().filter_map(|s| s.deadline_ns).min().unwrap_or(0)
    };
    if wait > 0 && ctx.control.sleep(Duration::from_nanos(wait)) == SleepOutcome::Interrupted {
        return Err(WasiErrno::INTR);
    }
    let mut m = GuestMemoryMut::new(mem);
    let mut n = 0u64;
    for s in &subs {
        let fired = match s.deadline_ns {
            Some(d) => d <= wait,
            None => true,
        };
        if !fired {
            continue;
        }
        let at = u64::from(output) + 32 * n;
        m.slice_mut(at, 32)?.fill(0);
        m.write_u64(at, s.userdata)?;
        m.write_u8(at + 10, s.tag)?;
        n += 1;
    }
    m.write_u32(u64::from(nevents), n as u32)?;
    Ok(())
}

pub(crate) fn add_to_linker<T: WasiView + 'static>(l: &mut Linker<T>) -> Result<(), wasmi::Error> {
    l.func_wrap(
        MODULE,
        "clock_res_get",
        |mut c: Caller<'_, T>, id: u32, out: u32| {
            with_ctx(&mut c, |m, _| {
                let ns = resolution_ns(Clock::from_wasi(id)?)?;
                Ok(GuestMemoryMut::new(m).write_u64(u64::from(out), ns)?)
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "clock_time_get",
        |mut c: Caller<'_, T>, id: u32, _precision: u64, out: u32| {
            with_ctx(&mut c, |m, _| {
                let ns = now_ns(Clock::from_wasi(id)?)?;
                Ok(GuestMemoryMut::new(m).write_u64(u64::from(out), ns)?)
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "poll_oneoff",
        |mut c: Caller<'_, T>, input: u32, output: u32, n: u32, nevents: u32| {
            with_ctx(&mut c, |m, ctx| {
                poll_oneoff(m, ctx, input, output, n, nevents)
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "random_get",
        |mut c: Caller<'_, T>, buf: u32, len: u32| {
            with_ctx(&mut c, |m, _| {
                let mut mem = GuestMemoryMut::new(m);
                let dest = mem.slice_mut(u64::from(buf), u64::from(len))?;
                getrandom::fill(dest).map_err(|_| WasiErrno::IO)?;
                Ok(())
            })
        },
    )?;
    l.func_wrap(MODULE, "sched_yield", |mut c: Caller<'_, T>| {
        with_ctx(&mut c, |_, _| {
            std::thread::yield_now();
            Ok(())
        })
    })?;
    l.func_wrap(
        MODULE,
        "proc_exit",
        |_c: Caller<'_, T>, status: u32| -> Result<(), wasmi::Error> {
            Err(wasmi::Error::host(ProcExit(status)))
        },
    )?;
    Ok(())
}
