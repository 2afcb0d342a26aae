//! A loaded object: its programs built for the VM and its maps, shared
//! between the thread that runs programs (a hook's) and the guest's map
//! operations. One lock guards all maps of the object: a run takes it
//! once, for the whole run, so a program sees its maps consistently and
//! the guest never sees half a run.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use unibpf_backend::{BackendError, Errno, MapInfo, MapOps};
use unibpf_object::ProgramSection;

use crate::emulated::net::PACKET_ADDR;
use crate::helpers::task::{current_task, parent_task, Task};
use crate::helpers::{ids, map_handle, Env, RunMap};
use crate::hooks::Hooks;
use crate::load::{Image, MapSpec};
use crate::maps::{MapDef, MapLimits, UserMap};
use crate::vm::memory::{region_base, CONTEXT_BASE};
use crate::vm::{Limits, Memory, Program, Region, Resolver, VmError};
use crate::wake::Wake;

/// A program ready to run.
pub struct UserProgram {
    pub name: String,
    pub section: ProgramSection,
    program: Program,
    /// Whether it asks for the current task (then each run builds one).
    uses_task: bool,
}

impl UserProgram {
    /// The helpers it calls, each once.
    pub fn helper_ids(&self) -> Vec<u32> {
        self.program.helper_ids()
    }
}

/// What the object's lock guards: its maps, and the buffers helpers
/// reuse from run to run (runs hold the lock, so one set serves all).
struct Locked {
    maps: Vec<ObjectMap>,
    scratch: Vec<u8>,
    key: Vec<u8>,
}

/// A map with what the loader said about it.
struct ObjectMap {
    map: UserMap,
    spec: MapSpec,
}

/// Maps and programs of one loaded object.
pub struct ObjectCore {
    pub programs: Vec<UserProgram>,
    state: Mutex<Locked>,
    /// Ids the guest names maps by: unique in the process, so a module's
    /// objects never share one.
    map_ids: Vec<i32>,
    /// Signals pollers that records are queued.
    pub wake: Wake,
    random: AtomicU64,
    /// Runs that stopped with an error (reported once per program).
    failures: AtomicU64,
    /// Some program tail-calls and some program needs the current task:
    /// every run builds it, since a run may end in any program.
    task_for_all: bool,
    /// Instructions executed by all runs (see [`Self::instructions_executed`]).
    executed: AtomicU64,
}

static NEXT_MAP_ID: AtomicI32 = AtomicI32::new(0x1000);

/// Resolves map references to the handles and region addresses a run
/// uses: maps are mapped in order, so map `i` is region `i`.
struct MapResolver<'a>(&'a [MapSpec]);

impl Resolver for MapResolver<'_> {
    fn map_by_index(&self, index: i32) -> Option<u64> {
        let i = usize::try_from(index).ok()?;
        self.0.get(i).map(|_| map_handle(i))
    }
    fn map_value_by_index(&self, index: i32, offset: u32) -> Option<u64> {
        let i = usize::try_from(index).ok()?;
        let spec = self.0.get(i)?;
        (spec.initial.is_some() && offset < spec.value_size)
            .then(|| region_base(i) + u64::from(offset))
    }
}

impl ObjectCore {
    /// Creates the maps and builds the programs of `image`.
    pub fn new(image: &Image, limits: &MapLimits) -> Result<Self, BackendError> {
        let mut maps = Vec::with_capacity(image.maps.len());
        for spec in &image.maps {
            maps.push(ObjectMap {
                map: create_map(spec, limits)?,
                spec: spec.clone(),
            });
        }
        let resolver = MapResolver(&image.maps);
        let mut programs = Vec::new();
        for p in &image.programs {
            let program = Program::new(&p.code, &resolver).map_err(|e| {
                BackendError::new(Errno::EINVAL, format!("program {}: {e}", p.name))
            })?;
            let helpers = program.helper_ids();
            let uses_task = helpers
                .iter()
                .any(|&h| h == ids::GET_CURRENT_TASK || h == ids::GET_CURRENT_TASK_BTF);
            programs.push(UserProgram {
                name: p.name.clone(),
                section: p.section.clone(),
                program,
                uses_task,
            });
        }
        fill_prog_arrays(image, &programs, &mut maps)?;
        let task_for_all = programs.iter().any(|p| p.uses_task)
            && programs
                .iter()
                .any(|p| p.helper_ids().contains(&ids::TAIL_CALL));
        let map_ids = maps
            .iter()
            .map(|_| NEXT_MAP_ID.fetch_add(1, Ordering::Relaxed))
            .collect();
        Ok(Self {
            programs,
            state: Mutex::new(Locked {
                maps,
                scratch: Vec::new(),
                key: Vec::new(),
            }),
            map_ids,
            wake: Wake::new()
                .map_err(|e| BackendError::new(Errno::EMFILE, format!("a wake event: {e}")))?,
            random: AtomicU64::new(seed()),
            failures: AtomicU64::new(0),
            task_for_all,
            executed: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Locked> {
        // A panic while holding the lock would be a bug of ours; the maps
        // stay usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs program `index` on `context` for `task`; returns r0.
    pub fn run(
        &self,
        index: usize,
        context: &mut [u8],
        task: &dyn Task,
        print: &mut dyn FnMut(&str),
    ) -> Result<u64, VmError> {
        self.run_on(index, context, None, task, print)
    }

    /// [`Self::run`] with `packet` (when there is one) mapped at
    /// [`PACKET_ADDR`], where the context's data pointers point.
    pub fn run_on(
        &self,
        index: usize,
        context: &mut [u8],
        packet: Option<&mut [u8]>,
        task: &dyn Task,
        print: &mut dyn FnMut(&str),
    ) -> Result<u64, VmError> {
        let Some(p) = self.programs.get(index) else {
            return Ok(0);
        };
        let mut locked = self.lock();
        let Locked { maps, scratch, key } = &mut *locked;
        let n = maps.len();
        let with_task = p.uses_task || self.task_for_all;
        let task_addr = if with_task { region_base(n) } else { 0 };
        let empty = [0; crate::emulated::layout::task::SIZE as usize];
        let (me, parent) = if with_task {
            (
                current_task(task, task_addr, region_base(n + 1)),
                parent_task(task),
            )
        } else {
            (empty, empty)
        };
        let mut memory = Memory::new(Region::ReadWrite(context));
        if let Some(packet) = packet {
            memory.map_low(PACKET_ADDR, Region::ReadWrite(packet));
        }
        let mut run_maps = Vec::with_capacity(n);
        for m in maps.iter_mut() {
            let (key_size, value_size) = (m.spec.key_size as usize, m.spec.value_size as usize);
            let read_only = m.spec.read_only;
            let (arena, index) = m.map.split();
            let region = if read_only {
                Region::ReadOnly(arena)
            } else {
                Region::ReadWrite(arena)
            };
            let base = memory.add_region(region);
            run_maps.push(RunMap {
                index,
                base,
                key_size,
                value_size,
            });
        }
        if with_task {
            memory.add_region(Region::ReadOnly(&me));
            memory.add_region(Region::ReadOnly(&parent));
        }
        let mut random = self.random.load(Ordering::Relaxed);
        let mut env = Env {
            maps: run_maps,
            task,
            task_addr,
            cpu: 0,
            print,
            random: &mut random,
            wake: false,
            scratch,
            key,
            tail_calls: 0,
            programs: self.programs.len() as u32,
        };
        let result = self.run_chain(p, &mut memory, &mut env);
        let mut wake = env.wake;
        for m in env.maps.iter_mut() {
            m.index.end_run();
            wake |= m.index.ringbuf().is_some_and(|rb| rb.take_wakeup());
        }
        drop(env);
        drop(memory);
        drop(locked);
        self.random.store(random, Ordering::Relaxed);
        if wake {
            self.wake.signal_armed();
        }
        if let Err(e) = &result {
            if self.failures.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!("userspace program {} stopped: {e}", p.name);
            }
        }
        result
    }

    /// Runs `first` and the programs it tail-calls, counting the
    /// instructions they execute.
    fn run_chain(
        &self,
        first: &UserProgram,
        memory: &mut Memory<'_>,
        env: &mut Env<'_>,
    ) -> Result<u64, VmError> {
        let mut current = first;
        loop {
            let (result, executed) =
                current
                    .program
                    .run_counted(memory, env, Limits::default(), &[CONTEXT_BASE]);
            self.executed.fetch_add(executed, Ordering::Relaxed);
            match result {
                Err(VmError::TailCall { program, .. }) => match self.programs.get(program as usize)
                {
                    Some(next) => current = next,
                    // The helper checks the slot against our programs.
                    None => return Ok(0),
                },
                other => return other,
            }
        }
    }

    /// Instructions the object's programs have executed, all runs
    /// together: what benchmarks divide their time by.
    pub fn instructions_executed(&self) -> u64 {
        self.executed.load(Ordering::Relaxed)
    }

    /// The id and sizes of map `name`, for the guest.
    pub fn map_by_name(&self, name: &str) -> Option<(usize, i32, MapInfo)> {
        let maps = &self.lock().maps;
        let i = maps.iter().position(|m| m.spec.name == name)?;
        Some((i, self.map_ids[i], maps[i].map.info()))
    }

    /// Moves the queued records of event map `index` into `out`.
    pub fn drain(&self, index: usize, out: &mut unibpf_backend::EventBatch) -> Result<(), Errno> {
        let mut locked = self.lock();
        let m = locked.maps.get_mut(index).ok_or(Errno::EBADF)?;
        if !m.map.info().kind.is_event_source() {
            return Err(Errno::EINVAL);
        }
        m.map.drain(out);
        Ok(())
    }

    /// The map with guest id `id`.
    pub fn map_index(&self, id: i32) -> Option<usize> {
        self.map_ids.iter().position(|&m| m == id)
    }
}

fn create_map(spec: &MapSpec, limits: &MapLimits) -> Result<UserMap, BackendError> {
    let def = MapDef {
        name: spec.name.clone(),
        kind: unibpf_backend::MapKind::from_raw(spec.map_type),
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        flags: 0,
    };
    let mut map = UserMap::new(def, 1, limits).map_err(|e| {
        BackendError::new(
            e,
            format!(
                "map {}: the userspace backend cannot create a map of type {} with these sizes",
                spec.name, spec.map_type
            ),
        )
    })?;
    if let Some(initial) = &spec.initial {
        let mut value = initial.clone();
        value.resize(spec.value_size as usize, 0);
        map.update(&0u32.to_le_bytes(), &value, 0)
            .map_err(|e| BackendError::new(e, format!("map {}: initial value", spec.name)))?;
    }
    Ok(map)
}

fn seed() -> u64 {
    let t = crate::helpers::clock::monotonic_ns();
    (t ^ u64::from(std::process::id()) << 32) | 1
}

/// Map operations from the guest on one map of an object.
pub struct UserMapOps {
    pub core: Arc<ObjectCore>,
    pub index: usize,
    /// Released when the guest first reads a map: it has attached what it
    /// wanted by then.
    pub hooks: Option<Arc<Hooks>>,
}

impl UserMapOps {
    fn release(&self) {
        if let Some(h) = &self.hooks {
            if let Err(why) = h.release() {
                tracing::warn!("{why}");
            }
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut ObjectMap) -> Result<T, Errno>) -> Result<T, Errno> {
        let mut locked = self.core.lock();
        f(locked.maps.get_mut(self.index).ok_or(Errno::EBADF)?)
    }
}

impl MapOps for UserMapOps {
    fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        self.release();
        self.with(|m| m.map.lookup(key, value, flags))
    }
    fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        self.with(|m| {
            // libbpf freezes .rodata and .kconfig after load.
            if m.spec.read_only {
                return Err(Errno::EPERM);
            }
            m.map.update(key, value, flags)
        })
    }
    fn delete(&self, key: &[u8], _flags: u64) -> Result<(), Errno> {
        self.with(|m| {
            if m.spec.read_only {
                return Err(Errno::EPERM);
            }
            m.map.delete(key)
        })
    }
    fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        self.release();
        self.with(|m| m.map.next_key(key, next))
    }
}

/// Puts the programs the object names in its prog arrays' slots (by
/// their index among `programs`, what `bpf_tail_call` runs).
fn fill_prog_arrays(
    image: &Image,
    programs: &[UserProgram],
    maps: &mut [ObjectMap],
) -> Result<(), BackendError> {
    for (spec, m) in image.maps.iter().zip(maps.iter_mut()) {
        for (slot, name) in &spec.prog_slots {
            let fail = |why: String| {
                BackendError::new(
                    Errno::EINVAL,
                    format!("map {}: slot {slot}: {why}", spec.name),
                )
            };
            let index = programs
                .iter()
                .position(|p| p.name == *name)
                .ok_or_else(|| fail(format!("{name} is not a program that loaded")))?;
            m.map
                .update(&slot.to_le_bytes(), &(index as u32).to_le_bytes(), 0)
                .map_err(|e| fail(format!("cannot set it: {e}")))?;
        }
    }
    Ok(())
}
