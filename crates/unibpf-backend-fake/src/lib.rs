//! A backend for tests that need no kernel and no root.
//!
//! Objects are parsed for real (`unibpf-object`), so programs and maps have
//! the names, types and sizes the ELF declares; maps live in memory with the
//! kernel's element semantics; attaching records the program and target;
//! events are records a test pushes with [`FakeWorld::push_event`]. A
//! [`FakeWorld`] is shared between the test and every backend it creates, so
//! the test can see what a module attached and whether it is still attached.

mod map;

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use unibpf_backend::{
    wait_readable, AttachTarget, Backend, BackendError, BackendKind, Errno, EventBatch,
    HostFeatures, LoadRequest, LoadedObject, MapHandle, MapInfo, MapKind, Program, ProgramDesc,
    ProgramSection, Result, Unsupported,
};
use unibpf_object::Hook;

pub use map::FakeMap;

/// Slots per per-CPU value: two, so per-CPU sizes differ from plain ones.
pub const FAKE_CPUS: u32 = 2;

/// One attachment a module made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub object: u64,
    pub program: String,
    /// The guest's target; empty for "by section".
    pub target: String,
}

#[derive(Debug, Default)]
struct WorldState {
    next_object: u64,
    open_objects: Vec<u64>,
    attachments: Vec<Attachment>,
    /// Records waiting per event map name.
    events: Vec<(String, VecDeque<Vec<u8>>)>,
    loads: u64,
}

/// What every fake backend of a test shares, and what the test inspects.
#[derive(Debug, Default)]
pub struct FakeWorld {
    state: Mutex<WorldState>,
}

impl FakeWorld {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn state(&self) -> MutexGuard<'_, WorldState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a record on every event map called `map`.
    pub fn push_event(&self, map: &str, record: &[u8]) {
        let mut s = self.state();
        match s.events.iter_mut().find(|(m, _)| m == map) {
            Some((_, q)) => q.push_back(record.to_vec()),
            None => s
                .events
                .push((map.to_string(), VecDeque::from([record.to_vec()]))),
        }
    }

    /// Records still queued on `map`.
    pub fn pending_events(&self, map: &str) -> usize {
        self.state()
            .events
            .iter()
            .find(|(m, _)| m == map)
            .map_or(0, |(_, q)| q.len())
    }

    /// Attachments currently in place.
    pub fn attachments(&self) -> Vec<Attachment> {
        self.state().attachments.clone()
    }

    /// Objects loaded and not yet dropped.
    pub fn open_objects(&self) -> usize {
        self.state().open_objects.len()
    }

    /// Objects loaded so far.
    pub fn loads(&self) -> u64 {
        self.state().loads
    }

    fn take_events(&self, map: &str, out: &mut EventBatch) -> usize {
        let mut s = self.state();
        let Some((_, queue)) = s.events.iter_mut().find(|(m, _)| m == map) else {
            return 0;
        };
        let mut taken = 0;
        while let Some(record) = queue.pop_front() {
            taken += 1;
            if !out.push(&record) {
                break;
            }
        }
        taken
    }
}

/// Loads objects into a [`FakeWorld`].
pub struct FakeBackend {
    world: Arc<FakeWorld>,
    kind: BackendKind,
    /// Map ids handed out, unique within this backend (one module).
    next_map_id: Rc<std::cell::Cell<i32>>,
    /// Which hooks it says it runs.
    runs: fn(&Hook) -> bool,
}

impl FakeBackend {
    /// A backend that reports itself as `kind` and runs every hook.
    pub fn new(world: Arc<FakeWorld>, kind: BackendKind) -> Self {
        Self {
            world,
            kind,
            next_map_id: Rc::new(std::cell::Cell::new(100)),
            runs: |_| true,
        }
    }

    /// The same, running only the hooks `runs` accepts.
    pub fn running(mut self, runs: fn(&Hook) -> bool) -> Self {
        self.runs = runs;
        self
    }
}

impl Backend for FakeBackend {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn supports(
        &self,
        program: &Program,
        _host: &dyn HostFeatures,
    ) -> std::result::Result<String, Unsupported> {
        if (self.runs)(&program.section.hook) {
            Ok(program.section.to_string())
        } else {
            Err(Unsupported::Hook {
                backend: self.kind,
                hook: program.section.to_string(),
            })
        }
    }

    fn load_object(&mut self, request: &LoadRequest<'_>) -> Result<Box<dyn LoadedObject>> {
        let (parsed, plan) = (request.object, request.plan);
        let id = {
            let mut s = self.world.state();
            s.next_object += 1;
            s.loads += 1;
            let id = s.next_object;
            s.open_objects.push(id);
            id
        };
        let programs = parsed
            .programs
            .iter()
            .filter(|p| !plan.skip_programs.contains(&p.name))
            .map(|p| (p.name.clone(), p.section.clone()))
            .collect();
        let maps = parsed
            .maps
            .iter()
            .filter(|m| !plan.skip_maps.contains(&m.name))
            .map(|m| {
                let kind = MapKind::from_raw(m.map_type.unwrap_or(1));
                let (key, value) = if kind.is_event_source() {
                    (4, 4)
                } else {
                    (m.key_size.unwrap_or(4), m.value_size.unwrap_or(8))
                };
                let info = MapInfo::new(kind, key, value, m.max_entries.unwrap_or(1), FAKE_CPUS);
                (m.name.clone(), Rc::new(FakeMap::new(info)))
            })
            .collect();
        Ok(Box::new(FakeObject {
            world: self.world.clone(),
            id,
            programs,
            maps,
            map_ids: Vec::new(),
            next_map_id: self.next_map_id.clone(),
        }))
    }
}

struct FakeObject {
    world: Arc<FakeWorld>,
    id: u64,
    programs: Vec<(String, ProgramSection)>,
    maps: Vec<(String, Rc<FakeMap>)>,
    /// Ids given out per map name.
    map_ids: Vec<(String, i32)>,
    next_map_id: Rc<std::cell::Cell<i32>>,
}

impl Drop for FakeObject {
    fn drop(&mut self) {
        let mut s = self.world.state();
        s.attachments.retain(|a| a.object != self.id);
        s.open_objects.retain(|&o| o != self.id);
    }
}

impl LoadedObject for FakeObject {
    fn programs(&self) -> Vec<ProgramDesc> {
        self.programs
            .iter()
            .map(|(name, section)| ProgramDesc {
                name: name.clone(),
                section: section.name.clone(),
            })
            .collect()
    }

    fn attach(&mut self, program: &str, target: AttachTarget<'_>) -> Result<()> {
        let Some((_, section)) = self.programs.iter().find(|(name, _)| name == program) else {
            return Err(BackendError::new(
                Errno::ENOENT,
                format!("no program named {program:?} in the object"),
            ));
        };
        // The same checks as the kernel backend, so tests of the ABI see
        // what a guest would see there.
        if let AttachTarget::Named(t) = target {
            section.check_target(t).map_err(|e| {
                BackendError::new(Errno::EINVAL, format!("program {program:?}: {e}"))
            })?;
        }
        let target = match target {
            AttachTarget::Auto => String::new(),
            AttachTarget::Named(t) => t.to_string(),
        };
        self.world.state().attachments.push(Attachment {
            object: self.id,
            program: program.to_string(),
            target,
        });
        Ok(())
    }

    fn map_by_name(&mut self, name: &str) -> Result<MapHandle> {
        let map = self
            .maps
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.clone())
            .ok_or_else(|| {
                BackendError::new(
                    Errno::ENOENT,
                    format!("no map named {name:?} in the object"),
                )
            })?;
        let id = match self.map_ids.iter().find(|(n, _)| n == name) {
            Some((_, id)) => *id,
            None => {
                let id = self.next_map_id.get();
                self.next_map_id.set(id + 1);
                self.map_ids.push((name.to_string(), id));
                id
            }
        };
        Ok(MapHandle {
            id,
            info: map.info(),
            ops: map,
        })
    }

    fn poll_events(
        &mut self,
        map_id: i32,
        timeout: Option<Duration>,
        wake: unibpf_backend::Wake<'_>,
        out: &mut EventBatch,
    ) -> Result<()> {
        let name = self
            .map_ids
            .iter()
            .find(|(_, id)| *id == map_id)
            .map(|(n, _)| n.clone())
            .ok_or_else(|| {
                BackendError::new(
                    Errno::ENOENT,
                    format!("fd {map_id} is not a map of this object"),
                )
            })?;
        let budget = out.budget();
        out.reset(budget);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if self.world.take_events(&name, out) > 0 {
                return Ok(());
            }
            if wait_readable(&[wake], Some(Duration::ZERO)) {
                return Err(BackendError::new(Errno::EINTR, "stop requested"));
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Ok(()),
                },
                None => Duration::from_secs(3600),
            };
            // Events come from another thread without a wake-up of their
            // own: look again every few milliseconds.
            wait_readable(&[wake], Some(left.min(Duration::from_millis(5))));
        }
    }
}
