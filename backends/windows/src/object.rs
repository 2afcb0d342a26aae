//! Loading an object into eBPF for Windows and serving the guest's calls
//! on it: open (from memory, or a native `.sys` from a file), load,
//! enumerate programs and maps, attach, poll ring buffers, and undo it all
//! on drop.

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CString};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use unibpf_backend::{
    wait_readable, AttachTarget, Backend, BackendError, BackendKind, Errno, EventBatch,
    HostFeatures, LoadRequest, LoadedObject, MapHandle, MapInfo, ProgramDesc, Result, Unsupported,
    Wake,
};

use crate::delivery::Collector;
use crate::errno::{check, from_crt, map_kind};
use crate::ffi::{self, Api, EXECUTION_ANY};
use crate::hooks::{compartment_of, hook_of};
use crate::map::EfwMap;
use crate::DllError;

/// How long one `ring_buffer__poll` may wait before the stop request is
/// checked again.
const POLL_SLICE: Duration = Duration::from_millis(50);

/// eBPF for Windows through ebpfapi.dll.
pub struct WindowsBackend {
    api: Rc<Api>,
}

impl WindowsBackend {
    /// Loads ebpfapi.dll and resolves its calls: a missing DLL or call is
    /// one line naming it.
    pub fn new() -> std::result::Result<Self, DllError> {
        Ok(Self {
            api: Rc::new(Api::load()?),
        })
    }
}

impl Backend for WindowsBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Windows
    }

    fn supports(
        &self,
        program: &unibpf_object::Program,
        _host: &dyn HostFeatures,
    ) -> std::result::Result<String, Unsupported> {
        crate::hooks::supports(program)
    }

    fn load_object(&mut self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedObject>> {
        let api = Rc::clone(&self.api);
        let (obj, native_file) = open(&api, request.elf)?;
        let mut loaded = EfwObject {
            api,
            obj,
            native_file,
            programs: Vec::new(),
            maps: Vec::new(),
            links: Vec::new(),
            compartments: Vec::new(),
            pollers: HashMap::new(),
        };
        // SAFETY: obj is the open, not yet loaded object this owns.
        let r = unsafe { (loaded.api.bpf_object__load)(loaded.obj) };
        check(r).map_err(|e| {
            BackendError::new(e, format!("eBPF for Windows refused the object: {e}"))
        })?;
        loaded.enumerate();
        Ok(Box::new(loaded))
    }
}

/// The errno of the last failed call that returned NULL.
pub(crate) fn last_error(api: &Api) -> Errno {
    // SAFETY: libbpf_get_error only reads its argument's value (NULL here)
    // and ebpfapi.dll's errno.
    let r = unsafe { (api.libbpf_get_error)(std::ptr::null()) };
    if r < 0 {
        from_crt(-r)
    } else {
        Errno::EIO
    }
}

/// Opens `bytes`: a BPF ELF from memory (run as system policy allows, JIT
/// or interpreter), or a native image from a file (efW loads drivers from
/// paths only), which the caller deletes when done.
fn open(api: &Api, bytes: &[u8]) -> Result<(*mut ffi::Object, Option<PathBuf>)> {
    let native = bytes.starts_with(b"MZ");
    let (obj, file) = if native {
        let path = std::env::temp_dir().join(format!(
            "unibpf-{}-{}.sys",
            std::process::id(),
            NEXT_FILE.with(|n| n.replace(n.get() + 1))
        ));
        std::fs::write(&path, bytes).map_err(|e| {
            BackendError::new(
                Errno::EIO,
                format!("writing the native image {}: {e}", path.display()),
            )
        })?;
        let c_path = CString::new(path.to_string_lossy().into_owned())
            .map_err(|_| BackendError::new(Errno::EINVAL, "a temporary path with a NUL"))?;
        // SAFETY: c_path is NUL-terminated and outlives the call.
        (
            unsafe { (api.bpf_object__open)(c_path.as_ptr()) },
            Some(path),
        )
    } else {
        // SAFETY: the pointer and length are one live slice; NULL options
        // are allowed; efW copies what it keeps.
        let obj = unsafe {
            (api.bpf_object__open_mem)(
                bytes.as_ptr() as *const c_void,
                bytes.len(),
                std::ptr::null(),
            )
        };
        (obj, None)
    };
    if obj.is_null() {
        let e = last_error(api);
        if let Some(f) = &file {
            let _ = std::fs::remove_file(f);
        }
        return Err(BackendError::new(
            e,
            format!("eBPF for Windows cannot open the object: {e}"),
        ));
    }
    if !native {
        // SAFETY: obj is open and not loaded yet.
        let r = unsafe { (api.ebpf_object_set_execution_type)(obj, EXECUTION_ANY) };
        if r != ffi::EBPF_SUCCESS {
            tracing::debug!("ebpf_object_set_execution_type: ebpf_result_t {r}");
        }
    }
    Ok((obj, file))
}

thread_local! {
    static NEXT_FILE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

struct Prog {
    ptr: *mut ffi::Program,
    name: String,
    section: String,
    fd: c_int,
}

struct MapEntry {
    ptr: *mut ffi::Map,
    name: String,
    fd: c_int,
}

/// A ring buffer being polled, and the records its callback collects.
struct Poller {
    rb: *mut ffi::RingBuffer,
    /// Owned (from Box::into_raw); the callback's context until `rb` is
    /// freed, so only ever used through this pointer.
    collector: *mut Collector,
}

struct EfwObject {
    api: Rc<Api>,
    obj: *mut ffi::Object,
    native_file: Option<PathBuf>,
    programs: Vec<Prog>,
    maps: Vec<MapEntry>,
    links: Vec<*mut ffi::Link>,
    /// `bpf_prog_attach` attachments: (program fd, compartment, attach type).
    compartments: Vec<(c_int, c_int, c_int)>,
    pollers: HashMap<i32, Poller>,
}

impl EfwObject {
    fn enumerate(&mut self) {
        let api = &self.api;
        let mut prog: *mut ffi::Program = std::ptr::null_mut();
        loop {
            // SAFETY: obj is loaded; prog is NULL or the previous program.
            prog = unsafe { (api.bpf_object__next_program)(self.obj, prog) };
            if prog.is_null() {
                break;
            }
            // SAFETY: prog is a program of obj, alive as long as obj;
            // names are NUL-terminated strings it owns.
            let (name, section, fd) = unsafe {
                (
                    ffi::string((api.bpf_program__name)(prog)),
                    ffi::string((api.bpf_program__section_name)(prog)),
                    (api.bpf_program__fd)(prog),
                )
            };
            self.programs.push(Prog {
                ptr: prog,
                name: name.unwrap_or_default(),
                section: section.unwrap_or_default(),
                fd,
            });
        }
        let mut map: *mut ffi::Map = std::ptr::null_mut();
        loop {
            // SAFETY: as for programs.
            map = unsafe { (api.bpf_object__next_map)(self.obj, map) };
            if map.is_null() {
                break;
            }
            // SAFETY: map is a map of obj, alive as long as obj.
            let (name, fd) = unsafe {
                (
                    ffi::string((api.bpf_map__name)(map)),
                    (api.bpf_map__fd)(map),
                )
            };
            self.maps.push(MapEntry {
                ptr: map,
                name: name.unwrap_or_default(),
                fd,
            });
        }
    }

    fn poller(&mut self, map_id: i32) -> Result<&mut Poller> {
        if !self.pollers.contains_key(&map_id) {
            let map = self.maps.iter().find(|m| m.fd == map_id).ok_or_else(|| {
                BackendError::new(
                    Errno::ENOENT,
                    format!("fd {map_id} is not a map of this object"),
                )
            })?;
            // SAFETY: map.ptr is a map of the loaded object.
            let kind = map_kind(unsafe { (self.api.bpf_map__type)(map.ptr) });
            if kind != unibpf_backend::MapKind::RingBuf {
                return Err(BackendError::new(
                    Errno::EOPNOTSUPP,
                    format!(
                        "map {}: only ring buffers deliver events on eBPF for Windows here",
                        map.name
                    ),
                ));
            }
            let collector = Box::into_raw(Box::new(Collector::new()));
            // SAFETY: sample matches ring_buffer_sample_fn; its context is
            // the collector, which lives until after ring_buffer__free.
            let rb = unsafe {
                (self.api.ring_buffer__new)(
                    map.fd,
                    sample,
                    collector as *mut c_void,
                    std::ptr::null(),
                )
            };
            if rb.is_null() {
                // SAFETY: made by Box::into_raw above and never handed out.
                drop(unsafe { Box::from_raw(collector) });
                let e = last_error(&self.api);
                return Err(BackendError::new(
                    e,
                    format!("map {}: ring_buffer__new: {e}", map.name),
                ));
            }
            self.pollers.insert(map_id, Poller { rb, collector });
        }
        self.pollers
            .get_mut(&map_id)
            .ok_or_else(|| BackendError::new(Errno::ENOENT, "poller vanished"))
    }
}

/// The ring buffer callback: each record goes to the collector.
unsafe extern "C" fn sample(ctx: *mut c_void, data: *mut c_void, size: usize) -> c_int {
    if ctx.is_null() {
        return crate::delivery::STOP;
    }
    // SAFETY: ctx is the Poller's collector, alive while its ring buffer
    // is; ebpfapi.dll calls back only from inside ring_buffer__poll, when
    // nothing else holds a reference to it.
    let collector = unsafe { &mut *(ctx as *mut Collector) };
    let record: &[u8] = if data.is_null() || size == 0 {
        &[]
    } else {
        // SAFETY: efW hands a record of `size` bytes valid for the call.
        unsafe { std::slice::from_raw_parts(data as *const u8, size) }
    };
    collector.record(record)
}

impl LoadedObject for EfwObject {
    fn programs(&self) -> Vec<ProgramDesc> {
        self.programs
            .iter()
            .map(|p| ProgramDesc {
                name: p.name.clone(),
                section: p.section.clone(),
            })
            .collect()
    }

    fn attach(&mut self, program: &str, target: AttachTarget<'_>) -> Result<()> {
        let prog = self
            .programs
            .iter()
            .find(|p| p.name == program)
            .ok_or_else(|| {
                BackendError::new(Errno::ENOENT, format!("no program {program} in the object"))
            })?;
        let hook = hook_of(&prog.section).ok_or_else(|| {
            BackendError::new(
                Errno::EOPNOTSUPP,
                format!(
                    "program {program}: section {} is no eBPF for Windows hook",
                    prog.section
                ),
            )
        })?;
        match target {
            AttachTarget::Auto => {
                // SAFETY: prog.ptr is a program of the loaded object.
                let link = unsafe { (self.api.bpf_program__attach)(prog.ptr) };
                if link.is_null() {
                    let e = last_error(&self.api);
                    return Err(BackendError::new(
                        e,
                        format!("program {program}: attach: {e}"),
                    ));
                }
                self.links.push(link);
            }
            AttachTarget::Named(t) => {
                let id = compartment_of(hook, t).map_err(|why| {
                    BackendError::new(Errno::EINVAL, format!("program {program}: {why}"))
                })?;
                // SAFETY: plain integers; efW checks them.
                let r = unsafe { (self.api.bpf_prog_attach)(prog.fd, id, hook.attach_type, 0) };
                check(r).map_err(|e| {
                    BackendError::new(
                        e,
                        format!("program {program}: attach to compartment {id}: {e}"),
                    )
                })?;
                self.compartments.push((prog.fd, id, hook.attach_type));
            }
        }
        Ok(())
    }

    fn map_by_name(&mut self, name: &str) -> Result<MapHandle> {
        let map = self.maps.iter().find(|m| m.name == name).ok_or_else(|| {
            BackendError::new(Errno::ENOENT, format!("no map {name} in the object"))
        })?;
        // SAFETY: map.ptr is a map of the loaded object; these only read it.
        let (kind, key, value, max, cpus) = unsafe {
            (
                map_kind((self.api.bpf_map__type)(map.ptr)),
                (self.api.bpf_map__key_size)(map.ptr),
                (self.api.bpf_map__value_size)(map.ptr),
                (self.api.bpf_map__max_entries)(map.ptr),
                (self.api.libbpf_num_possible_cpus)(),
            )
        };
        let info = MapInfo::new(kind, key, value, max, cpus.max(1) as u32);
        let ops = EfwMap::new(
            Rc::clone(&self.api),
            map.fd,
            info.key_size as usize,
            info.value_buffer_size as usize,
        )
        .map_err(|e| BackendError::new(e, format!("map {name}: duplicating its fd: {e}")))?;
        Ok(MapHandle {
            id: map.fd,
            info,
            ops: Rc::new(ops),
        })
    }

    fn poll_events(
        &mut self,
        map_id: i32,
        timeout: Option<Duration>,
        wake: Wake<'_>,
        out: &mut EventBatch,
    ) -> Result<()> {
        let api = Rc::clone(&self.api);
        let poller = self.poller(map_id)?;
        let budget = out.budget();
        out.reset(budget);
        // SAFETY (this and the uses below): the collector is alive until
        // the poller is dropped; no callback runs outside ring_buffer__poll.
        unsafe { (*poller.collector).start(budget) };
        let deadline = timeout.map(|t| Instant::now() + t);
        let woken = loop {
            let woken = wait_readable(&[wake], Some(Duration::ZERO));
            let left = deadline.map_or(POLL_SLICE, |d| d.saturating_duration_since(Instant::now()));
            let slice = if woken {
                Duration::ZERO
            } else {
                left.min(POLL_SLICE)
            };
            // SAFETY: rb is this poller's live ring buffer.
            let r = unsafe { (api.ring_buffer__poll)(poller.rb, slice.as_millis() as c_int) };
            // SAFETY: as above.
            let (stopped, empty) = unsafe {
                (
                    (*poller.collector).stopped(),
                    (*poller.collector).is_empty(),
                )
            };
            if r < 0 && !stopped {
                let e = from_crt(-r);
                return Err(BackendError::new(e, format!("ring_buffer__poll: {e}")));
            }
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if !empty || woken || expired {
                break woken;
            }
        };
        // SAFETY: as above.
        unsafe { (*poller.collector).finish(out) };
        if woken && out.is_empty() {
            return Err(BackendError::new(Errno::EINTR, "stop requested"));
        }
        Ok(())
    }
}

impl Drop for EfwObject {
    fn drop(&mut self) {
        let api = &self.api;
        for (_, p) in self.pollers.drain() {
            // SAFETY: rb is live and freed once; after it no callback can
            // run, so the collector is freed after it.
            unsafe {
                (api.ring_buffer__free)(p.rb);
                drop(Box::from_raw(p.collector));
            }
        }
        for link in self.links.drain(..) {
            // SAFETY: each link came from bpf_program__attach, destroyed once.
            let r = unsafe { (api.bpf_link__destroy)(link) };
            if r < 0 {
                tracing::debug!("bpf_link__destroy: {}", from_crt(-r));
            }
        }
        for (fd, compartment, attach_type) in self.compartments.drain(..) {
            // SAFETY: plain integers naming what bpf_prog_attach attached.
            let r = unsafe { (api.bpf_prog_detach2)(fd, compartment, attach_type) };
            if r < 0 {
                tracing::debug!("bpf_prog_detach2: {}", from_crt(-r));
            }
        }
        // SAFETY: obj is open, closed once; its programs' and maps' fds
        // go with it (the maps' duplicates are the EfwMaps' own).
        unsafe { (api.bpf_object__close)(self.obj) };
        if let Some(f) = &self.native_file {
            let _ = std::fs::remove_file(f);
        }
    }
}
