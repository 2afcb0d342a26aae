//! `wasm_bpf_buffer_poll`: waits for records on a ring buffer or perf event array
//! and hands each one to a guest callback.
//!
//! All records available after the wait are collected first (up to the
//! `event-batch` limit); then, outside any libbpf code, each is copied into the
//! guest's buffer and the callback is called with `(ctx, data, size)`. A
//! negative return from the callback stops delivery and is returned; the
//! records not yet delivered are kept and delivered first on the next call, so
//! nothing is dropped.
//!
//! Each record is truncated to the buffer of the call that delivers it, which
//! is not always the call that collected it: a callback may poll again (the
//! inner call delivers the next records into its own buffer), or a later call
//! may pass a smaller buffer. Callbacks nest at most `call-depth` deep; past
//! that the poll returns `-ELOOP`.

use std::time::Duration;

use unibpf_backend::Errno;
use unibpf_hostcall::{call_guest, guest_errno, killed_trap, Control, Limit};
use wasmi::{Caller, Func, Linker, Ref, Val, ValType};

use crate::handles::MapEntry;
use crate::BpfView;

/// How the guest wants to be called back.
#[derive(Clone, Copy)]
enum Callback {
    /// An index into `__indirect_function_table` (C and Rust guests).
    Table(u32),
    /// The configured export, `go-callback` by default (TinyGo guests).
    Export,
}

struct Request {
    obj: u64,
    fd: i32,
    callback: Callback,
    ctx: u32,
    data: u32,
    max_size: u32,
    timeout_ms: i32,
}

fn resolve_callback<T: BpfView>(caller: &mut Caller<'_, T>, cb: Callback) -> Result<Func, i32> {
    let func = match cb {
        Callback::Table(index) => {
            let Some(table) = caller.data_mut().bpf().table else {
                tracing::error!(
                    "the module does not export __indirect_function_table, so callbacks cannot be called: link it with -Wl,--export-table"
                );
                return Err(guest_errno(Errno::EINVAL.0));
            };
            match table.get(&*caller, u64::from(index)) {
                Some(Ref::Func(wasmi::Nullable::Val(f))) => f,
                _ => {
                    tracing::warn!(
                        "wasm_bpf_buffer_poll: callback index {index} is not a function"
                    );
                    return Err(guest_errno(Errno::EINVAL.0));
                }
            }
        }
        Callback::Export => {
            let name = caller.data_mut().bpf().callbacks.callback_export.clone();
            match caller.get_export(&name).and_then(|e| e.into_func()) {
                Some(f) => f,
                None => {
                    tracing::error!(
                        "the module has no exported function {name:?} to receive events"
                    );
                    return Err(guest_errno(Errno::EINVAL.0));
                }
            }
        }
    };
    let ty = func.ty(&*caller);
    let ok = ty.params() == [ValType::I32, ValType::I32, ValType::I32]
        && (ty.results().is_empty() || ty.results() == [ValType::I32]);
    if !ok {
        tracing::warn!(
            "wasm_bpf_buffer_poll: callback has type {ty:?}, expected (i32, i32, i32) -> i32"
        );
        return Err(guest_errno(Errno::EINVAL.0));
    }
    Ok(func)
}

fn owned_entry(maps: &mut [MapEntry], obj: u64, fd: i32) -> Option<&mut MapEntry> {
    maps.iter_mut().find(|m| m.map.id == fd && m.owner == obj)
}

/// Waits and collects records into the map's pending batch. Returns a negative
/// errno to hand back to the guest, or `Ok` when there is something to deliver
/// (possibly nothing, on timeout).
fn collect<T: BpfView>(caller: &mut Caller<'_, T>, req: &Request) -> Result<(), i32> {
    let state = caller.data_mut().bpf();
    let mem_size = state.memory.map(|m| m.data_size(&*caller)).unwrap_or(0);
    let state = caller.data_mut().bpf();
    if u64::from(req.data) + u64::from(req.max_size) > mem_size as u64 {
        tracing::debug!(
            "wasm_bpf_buffer_poll: buffer {:#x}+{} is outside guest memory",
            req.data,
            req.max_size
        );
        return Err(guest_errno(Errno::EFAULT.0));
    }
    let budget = usize::try_from(state.limits.event_batch).unwrap_or(usize::MAX);
    let Some(object) = state.objects.get_mut(&req.obj).map(|e| &mut e.object) else {
        return Err(guest_errno(Errno::EINVAL.0));
    };
    let Some(entry) = owned_entry(&mut state.maps, req.obj, req.fd) else {
        tracing::debug!(
            "wasm_bpf_buffer_poll: fd {} is not a map of object {}",
            req.fd,
            req.obj
        );
        return Err(guest_errno(Errno::EBADF.0));
    };
    if !entry.map.info.kind.is_event_source() {
        tracing::warn!(
            "wasm_bpf_buffer_poll: map {} is not a ring buffer or perf event array",
            entry.name
        );
        return Err(guest_errno(Errno::EINVAL.0));
    }
    if entry.delivered < entry.pending.len() {
        return Ok(());
    }
    if state.control.stop_requested() {
        if entry.drained_for_stop {
            return Err(guest_errno(Errno::EINTR.0));
        }
        entry.drained_for_stop = true;
    }
    entry.delivered = 0;
    entry.pending.reset(budget);
    let timeout = u64::try_from(req.timeout_ms)
        .ok()
        .map(Duration::from_millis);
    let wake = state.control.wake_fd();
    if let Err(e) = object.poll_events(req.fd, timeout, wake, &mut entry.pending) {
        if e.errno() != Errno::EINTR {
            tracing::warn!("polling map {}: {e}", entry.name);
        }
        return Err(guest_errno(e.errno().0));
    }
    let lost = entry.pending.lost();
    if lost > 0 {
        entry.lost_total += lost;
        tracing::warn!(
            "map {}: the kernel dropped {lost} perf samples ({} so far); the guest is not keeping up",
            entry.name,
            entry.lost_total
        );
    }
    Ok(())
}

/// Copies the next pending record into this call's buffer, truncated to its
/// `max_size`; returns the size copied, or `None` when all are delivered (or
/// the map went away inside a callback).
fn stage_next<T: BpfView>(caller: &mut Caller<'_, T>, req: &Request) -> Option<u32> {
    let memory = caller.data_mut().bpf().memory?;
    let (mem, data) = memory.data_and_store_mut(&mut *caller);
    let entry = owned_entry(&mut data.bpf().maps, req.obj, req.fd)?;
    let record = entry.pending.get(entry.delivered)?;
    let record = &record[..record.len().min(req.max_size as usize)];
    let start = req.data as usize;
    let dest = mem.get_mut(start..start.checked_add(record.len())?)?;
    dest.copy_from_slice(record);
    entry.delivered += 1;
    u32::try_from(record.len()).ok()
}

fn poll<T: BpfView>(caller: &mut Caller<'_, T>, req: Request) -> Result<i32, wasmi::Error> {
    let control = caller.data_mut().bpf().control.clone();
    control.checkpoint().map_err(killed_trap)?;
    let func = match resolve_callback(caller, req.callback) {
        Ok(f) => f,
        Err(e) => return Ok(e),
    };
    // Each callback runs on a fresh interpreter stack on top of this host
    // call's native frames: nesting is what bounds the module thread's stack.
    let depth = caller.data_mut().bpf().depth;
    if let Err(e) = caller.data_mut().bpf().within(
        Limit::CallDepth,
        depth + 1,
        "a callback polling again from inside a callback",
        Errno::ELOOP,
    ) {
        return Ok(e);
    }
    if let Err(e) = collect(caller, &req) {
        return Ok(e);
    }
    caller.data_mut().bpf().depth += 1;
    let outcome = deliver(caller, &req, &func, &control);
    caller.data_mut().bpf().depth -= 1;
    outcome
}

/// Calls the guest once per pending record; the count delivered, or the
/// callback's negative return.
fn deliver<T: BpfView>(
    caller: &mut Caller<'_, T>,
    req: &Request,
    func: &Func,
    control: &Control,
) -> Result<i32, wasmi::Error> {
    let returns_value = !func.ty(&*caller).results().is_empty();
    let fuel_slice = caller.data_mut().bpf().limits.fuel_slice;
    let mut delivered = 0i32;
    let mut result = [Val::I32(0)];
    while let Some(size) = stage_next(caller, req) {
        let params = [
            Val::I32(req.ctx as i32),
            Val::I32(req.data as i32),
            Val::I32(size as i32),
        ];
        let results: &mut [Val] = if returns_value { &mut result } else { &mut [] };
        call_guest(&mut *caller, func, &params, results, control, fuel_slice)?;
        delivered = delivered.saturating_add(1);
        if let (Callback::Table(_), Some(Val::I32(ret))) = (req.callback, results.first()) {
            if *ret < 0 {
                return Ok(*ret);
            }
        }
    }
    Ok(delivered)
}

pub(crate) fn define<T: BpfView + 'static>(
    l: &mut Linker<T>,
    ns: &str,
) -> Result<(), wasmi::Error> {
    l.func_wrap(
        ns,
        "wasm_bpf_buffer_poll",
        |mut c: Caller<'_, T>,
         obj: u64,
         fd: i32,
         sample: u32,
         ctx: u32,
         data: u32,
         max_size: u32,
         timeout_ms: i32| {
            let req = Request {
                obj,
                fd,
                callback: Callback::Table(sample),
                ctx,
                data,
                max_size,
                timeout_ms,
            };
            poll(&mut c, req)
        },
    )?;
    Ok(())
}

/// The TinyGo variant: no callback argument; records go to the named export.
pub(crate) fn define_wrapper<T: BpfView + 'static>(
    l: &mut Linker<T>,
    ns: &str,
) -> Result<(), wasmi::Error> {
    l.func_wrap(
        ns,
        "wasm_bpf_buffer_poll",
        |mut c: Caller<'_, T>,
         obj: u64,
         fd: i32,
         ctx: u32,
         data: u32,
         max_size: u32,
         timeout_ms: i32| {
            let req = Request {
                obj,
                fd,
                callback: Callback::Export,
                ctx,
                data,
                max_size,
                timeout_ms,
            };
            poll(&mut c, req)
        },
    )?;
    Ok(())
}
