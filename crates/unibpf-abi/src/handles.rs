//! Object handles: load, attach, map lookup by name, close.

use std::collections::HashMap;
use std::sync::Arc;

use unibpf_backend::{AttachTarget, Errno, EventBatch, Loaded, LoadedObject, Loader, MapHandle};
use unibpf_hostcall::{
    guest_errno, killed_trap, Control, GuestMemory, Limit, LimitExceeded, Limits,
};
use wasmi::{Caller, Linker};

use crate::{BpfView, CallbackNames};

/// Longest program or map name we read from the guest.
pub(crate) const MAX_NAME: usize = 256;
/// Longest attach target (a path) we read from the guest.
pub(crate) const MAX_TARGET: usize = 4096;

/// A loaded object and how many programs the guest attached from it.
pub(crate) struct ObjectEntry {
    pub(crate) object: Box<dyn LoadedObject>,
    links: u64,
}

/// A map the guest obtained through `wasm_bpf_map_fd_by_name`.
pub(crate) struct MapEntry {
    pub(crate) owner: u64,
    pub(crate) name: String,
    pub(crate) map: MapHandle,
    /// Records polled but not yet delivered (a callback asked to stop early).
    pub(crate) pending: EventBatch,
    pub(crate) delivered: usize,
    pub(crate) lost_total: u64,
    /// After a stop request the guest gets one last drain of what is
    /// already there, then -EINTR, even if records keep coming.
    pub(crate) drained_for_stop: bool,
}

/// Per-instance state of the ABI.
pub struct BpfCtx {
    /// Where objects go: the runtime's pipeline (selection, passes, a backend).
    pub(crate) loader: Box<dyn Loader>,
    pub(crate) objects: HashMap<u64, ObjectEntry>,
    next_handle: u64,
    pub(crate) limits: Limits,
    /// Programs attached, over every open object.
    links: u64,
    /// Host calls into the guest in progress (callbacks inside polls).
    pub(crate) depth: u64,
    /// Limits already reported: a module spinning against one must not
    /// flood the log.
    reported: Vec<Limit>,
    /// The allow-list of map fds: a module may only name maps of its own objects.
    pub(crate) maps: Vec<MapEntry>,
    pub(crate) control: Arc<Control>,
    pub(crate) memory: Option<wasmi::Memory>,
    pub(crate) table: Option<wasmi::Table>,
    pub(crate) callbacks: CallbackNames,
}

pub(crate) fn new_ctx(
    loader: Box<dyn Loader>,
    control: Arc<Control>,
    callbacks: CallbackNames,
    limits: Limits,
) -> BpfCtx {
    BpfCtx {
        loader,
        objects: HashMap::new(),
        next_handle: 1,
        limits,
        links: 0,
        depth: 0,
        reported: Vec::new(),
        maps: Vec::new(),
        control,
        memory: None,
        table: None,
        callbacks,
    }
}

impl BpfCtx {
    /// Binds the instance's exported `memory` and `__indirect_function_table`.
    pub fn bind(&mut self, memory: wasmi::Memory, table: Option<wasmi::Table>) {
        self.memory = Some(memory);
        self.table = table;
    }

    /// Closes every object: detaches links, frees pollers, closes fds.
    pub fn close_all(&mut self) {
        self.maps.clear();
        self.objects.clear();
    }

    /// Number of objects currently loaded.
    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    pub(crate) fn map_entry(&mut self, id: i32) -> Option<&mut MapEntry> {
        self.maps.iter_mut().find(|m| m.map.id == id)
    }

    /// Checks `requested` against `limit`; past it, reports the limit once
    /// per module and gives the error the guest sees.
    pub(crate) fn within(
        &mut self,
        limit: Limit,
        requested: u64,
        what: &str,
        errno: Errno,
    ) -> Result<(), i32> {
        let allowed = self.limits.get(limit);
        if requested <= allowed {
            return Ok(());
        }
        let exceeded = LimitExceeded {
            limit,
            what: what.to_string(),
            requested,
            allowed,
        };
        if self.reported.contains(&limit) {
            tracing::debug!("{exceeded}");
        } else {
            self.reported.push(limit);
            tracing::error!("{exceeded}");
        }
        Err(guest_errno(errno.0))
    }

    fn load(&mut self, elf: &[u8]) -> u64 {
        let open = self.objects.len() as u64;
        if self
            .within(
                Limit::Objects,
                open + 1,
                "loading another BPF object",
                Errno::EMFILE,
            )
            .is_err()
        {
            return 0;
        }
        match self.loader.load(elf) {
            Ok(Loaded { object, backend }) => {
                let handle = self.next_handle;
                self.next_handle += 1;
                let programs: Vec<String> = object
                    .programs()
                    .into_iter()
                    .map(|p| format!("{} ({})", p.name, p.section))
                    .collect();
                tracing::info!(
                    "loaded BPF object {handle} ({} bytes) on the {} backend: {}",
                    elf.len(),
                    backend,
                    programs.join(", ")
                );
                self.objects
                    .insert(handle, ObjectEntry { object, links: 0 });
                handle
            }
            Err(e) => {
                tracing::error!("{e}");
                0
            }
        }
    }

    fn attach(&mut self, handle: u64, program: &str, target: Option<&str>) -> i32 {
        if !self.objects.contains_key(&handle) {
            tracing::warn!("attach {program:?}: no BPF object with handle {handle}");
            return guest_errno(Errno::EINVAL.0);
        }
        let links = self.links;
        if let Err(e) = self.within(
            Limit::Links,
            links + 1,
            "attaching another program",
            Errno::EMFILE,
        ) {
            return e;
        }
        let Some(entry) = self.objects.get_mut(&handle) else {
            return guest_errno(Errno::EINVAL.0);
        };
        match entry
            .object
            .attach(program, AttachTarget::from_guest(target))
        {
            Ok(()) => {
                entry.links += 1;
                self.links += 1;
                match target {
                    Some(t) if !t.is_empty() => {
                        tracing::info!("attached program {program:?} to {t:?}")
                    }
                    _ => tracing::info!("attached program {program:?}"),
                }
                0
            }
            Err(e) => {
                tracing::error!("{e}");
                guest_errno(e.errno().0)
            }
        }
    }

    fn map_fd_by_name(&mut self, handle: u64, name: &str) -> i32 {
        if let Some(entry) = self
            .maps
            .iter()
            .find(|m| m.owner == handle && m.name == name)
        {
            return entry.map.id;
        }
        if !self.objects.contains_key(&handle) {
            tracing::warn!("map {name:?}: no BPF object with handle {handle}");
            return guest_errno(Errno::EINVAL.0);
        }
        let held = self.maps.len() as u64;
        if let Err(e) = self.within(Limit::Maps, held + 1, "another map handle", Errno::EMFILE) {
            return e;
        }
        let Some(entry) = self.objects.get_mut(&handle) else {
            return guest_errno(Errno::EINVAL.0);
        };
        match entry.object.map_by_name(name) {
            Ok(map) => {
                let id = map.id;
                self.maps.push(MapEntry {
                    owner: handle,
                    name: name.to_string(),
                    map,
                    pending: EventBatch::new(),
                    delivered: 0,
                    lost_total: 0,
                    drained_for_stop: false,
                });
                id
            }
            Err(e) => {
                tracing::warn!("{e}");
                guest_errno(e.errno().0)
            }
        }
    }

    fn close(&mut self, handle: u64) -> i32 {
        match self.objects.remove(&handle) {
            Some(entry) => {
                self.maps.retain(|m| m.owner != handle);
                self.links -= entry.links;
                drop(entry);
                tracing::info!("closed BPF object {handle}");
                0
            }
            None => guest_errno(Errno::EINVAL.0),
        }
    }
}

/// Runs `f` with guest memory and the ABI state, after honoring pause/kill.
pub(crate) fn with_bpf<T: BpfView, R>(
    caller: &mut Caller<'_, T>,
    fault: R,
    f: impl FnOnce(&mut [u8], &mut BpfCtx) -> R,
) -> Result<R, wasmi::Error> {
    let ctx = caller.data_mut().bpf();
    ctx.control.checkpoint().map_err(killed_trap)?;
    let Some(memory) = ctx.memory else {
        return Ok(fault);
    };
    let (bytes, data) = memory.data_and_store_mut(caller);
    Ok(f(bytes, data.bpf()))
}

fn read_name<'a>(mem: &'a [u8], ptr: u32, max: usize, what: &str) -> Result<&'a str, i32> {
    GuestMemory::new(mem)
        .c_str(u64::from(ptr), max)
        .map_err(|fault| {
            tracing::warn!("guest passed a bad {what}: {fault}");
            guest_errno(fault.errno())
        })
}

pub(crate) fn define<T: BpfView + 'static>(
    l: &mut Linker<T>,
    ns: &str,
) -> Result<(), wasmi::Error> {
    l.func_wrap(
        ns,
        "wasm_load_bpf_object",
        |mut c: Caller<'_, T>, buf: u32, len: u32| -> Result<i64, wasmi::Error> {
            with_bpf(&mut c, 0, |mem, ctx| {
                if ctx
                    .within(
                        Limit::ObjectSize,
                        u64::from(len),
                        "a BPF object",
                        Errno::E2BIG,
                    )
                    .is_err()
                {
                    return 0;
                }
                match GuestMemory::new(mem).slice(u64::from(buf), u64::from(len)) {
                    Ok(elf) => ctx.load(elf) as i64,
                    Err(fault) => {
                        tracing::error!("wasm_load_bpf_object: {fault}");
                        0
                    }
                }
            })
        },
    )?;
    l.func_wrap(
        ns,
        "wasm_attach_bpf_program",
        |mut c: Caller<'_, T>, obj: u64, name: u32, target: u32| {
            with_bpf(&mut c, guest_errno(Errno::EFAULT.0), |mem, ctx| {
                let name = match read_name(mem, name, MAX_NAME, "program name") {
                    Ok(n) => n,
                    Err(e) => return e,
                };
                let target = if target == 0 {
                    None
                } else {
                    match read_name(mem, target, MAX_TARGET, "attach target") {
                        Ok(t) => Some(t),
                        Err(e) => return e,
                    }
                };
                ctx.attach(obj, name, target)
            })
        },
    )?;
    l.func_wrap(
        ns,
        "wasm_bpf_map_fd_by_name",
        |mut c: Caller<'_, T>, obj: u64, name: u32| {
            with_bpf(
                &mut c,
                guest_errno(Errno::EFAULT.0),
                |mem, ctx| match read_name(mem, name, MAX_NAME, "map name") {
                    Ok(name) => ctx.map_fd_by_name(obj, name),
                    Err(e) => e,
                },
            )
        },
    )?;
    l.func_wrap(
        ns,
        "wasm_close_bpf_object",
        |mut c: Caller<'_, T>, obj: u64| {
            with_bpf(&mut c, guest_errno(Errno::EFAULT.0), |_, ctx| {
                ctx.close(obj)
            })
        },
    )?;
    Ok(())
}

impl BpfCtx {
    /// The guest's memory, once bound.
    pub fn memory_handle(&self) -> Option<wasmi::Memory> {
        self.memory
    }
}
