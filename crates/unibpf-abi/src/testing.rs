//! Driving the ABI without a guest program (feature `testing`).
//!
//! [`Harness`] instantiates a small module whose exports are the six
//! `wasm_bpf` imports themselves, plus callbacks in its table, so a test or a
//! fuzzer can make any sequence of host calls with any arguments, against
//! any backend, and check what the ABI did. [`Call`] is one such call;
//! [`Harness::run`] makes it.

use std::sync::Arc;

use unibpf_backend::{Backend, DirectLoader};
use unibpf_hostcall::{Control, Limit, Limits};
use wasmi::{Engine, Func, Linker, Memory, Module, Store, TypedFunc};

use crate::{BpfCtx, BpfView, CallbackNames};

/// Table index of a callback that returns 0.
pub const CB_RETURN_0: u32 = 1;
/// Table index of a callback that returns -1 (stop delivering).
pub const CB_RETURN_NEG: u32 = 2;
/// Table index of a callback that polls again, with the arguments stored
/// at [`NESTED_ARGS`], then returns 0.
pub const CB_NESTED: u32 = 3;
/// Table index of a function of the wrong type for a callback.
pub const CB_BAD_TYPE: u32 = 4;
/// Where [`CB_NESTED`] reads its poll's arguments: the object handle (i64),
/// then fd, callback, ctx, data, max size and timeout (i32 each).
pub const NESTED_ARGS: u32 = 0x100;
/// Bytes of linear memory the module starts with (two pages).
pub const MEMORY_SIZE: u32 = 2 * 65536;

const MODULE: &str = r#"(module
  (import "wasm_bpf" "wasm_load_bpf_object" (func $load (param i32 i32) (result i64)))
  (import "wasm_bpf" "wasm_attach_bpf_program" (func $attach (param i64 i32 i32) (result i32)))
  (import "wasm_bpf" "wasm_bpf_buffer_poll"
    (func $poll (param i64 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasm_bpf" "wasm_bpf_map_fd_by_name" (func $fd (param i64 i32) (result i32)))
  (import "wasm_bpf" "wasm_bpf_map_operate"
    (func $operate (param i32 i32 i32 i32 i32 i64) (result i32)))
  (import "wasm_bpf" "wasm_close_bpf_object" (func $close (param i64) (result i32)))
  (memory (export "memory") 2 16)
  (table (export "__indirect_function_table") 5 funcref)
  (elem (i32.const 1) $return0 $return_neg $nested $bad_type)
  (func $return0 (param i32 i32 i32) (result i32) i32.const 0)
  (func $return_neg (param i32 i32 i32) (result i32) i32.const -1)
  (func $nested (param i32 i32 i32) (result i32)
    (drop (call $poll
      (i64.load (i32.const 0x100))
      (i32.load (i32.const 0x108))
      (i32.load (i32.const 0x10c))
      (i32.load (i32.const 0x110))
      (i32.load (i32.const 0x114))
      (i32.load (i32.const 0x118))
      (i32.load (i32.const 0x11c))))
    i32.const 0)
  (func $bad_type (param i32) (result i32) i32.const 0)
  (export "load" (func $load))
  (export "attach" (func $attach))
  (export "poll" (func $poll))
  (export "fd" (func $fd))
  (export "operate" (func $operate))
  (export "close" (func $close)))"#;

/// One host call, with the guest's arguments as they come.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Call {
    Load {
        ptr: u32,
        len: u32,
    },
    Attach {
        obj: u64,
        name: u32,
        target: u32,
    },
    MapFd {
        obj: u64,
        name: u32,
    },
    Operate {
        fd: i32,
        cmd: i32,
        key: u32,
        value: u32,
        next: u32,
        flags: u64,
    },
    Poll {
        obj: u64,
        fd: i32,
        callback: u32,
        ctx: u32,
        data: u32,
        max: u32,
        timeout: i32,
    },
    Close {
        obj: u64,
    },
    /// Writes bytes into guest memory (a name, a key, nested poll arguments).
    Write {
        at: u32,
        bytes: Vec<u8>,
    },
}

struct Data {
    bpf: BpfCtx,
}

impl BpfView for Data {
    fn bpf(&mut self) -> &mut BpfCtx {
        &mut self.bpf
    }
}

/// `wasm_bpf_buffer_poll`'s parameters: object, fd, callback, ctx, data,
/// max size, timeout.
type PollParams = (i64, i32, i32, i32, i32, i32, i32);

struct Exports {
    load: TypedFunc<(i32, i32), i64>,
    attach: TypedFunc<(i64, i32, i32), i32>,
    poll: TypedFunc<PollParams, i32>,
    fd: TypedFunc<(i64, i32), i32>,
    operate: TypedFunc<(i32, i32, i32, i32, i32, i64), i32>,
    close: TypedFunc<i64, i32>,
}

/// The ABI of one instance, with a backend, and no guest code of its own.
pub struct Harness {
    store: Store<Data>,
    memory: Memory,
    exports: Exports,
}

/// A host call failed the way only a broken host would: it trapped or
/// returned an error instead of an errno.
#[derive(Debug, thiserror::Error)]
#[error("{call:?} made the host fail: {error}")]
pub struct HostFailure {
    pub call: Call,
    pub error: wasmi::Error,
}

impl Harness {
    /// Panics if the fixed module does not instantiate: a bug in this file.
    pub fn new(backend: Box<dyn Backend>, limits: Limits) -> Self {
        // Callbacks run in fuel slices, as in the runtime.
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        let engine = Engine::new(&config);
        // Parsed once: fuzzers make a harness per input.
        static WASM: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let wasm =
            WASM.get_or_init(|| wat::parse_str(MODULE).expect("the harness module is valid"));
        let module = Module::new(&engine, &wasm[..]).expect("the harness module compiles");
        let mut linker = Linker::<Data>::new(&engine);
        crate::add_to_linker(&mut linker, &module, &CallbackNames::default())
            .expect("the ABI links");
        let control = Arc::new(Control::new().expect("an eventfd"));
        let loader = Box::new(DirectLoader::new(backend));
        let bpf = BpfCtx::new(loader, control, CallbackNames::default(), limits);
        let mut store = Store::new(&engine, Data { bpf });
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .expect("the harness module instantiates");
        let memory = instance.get_memory(&store, "memory").expect("memory");
        let table = instance.get_table(&store, "__indirect_function_table");
        store.data_mut().bpf.bind(memory, table);
        let func = |name: &str| -> Func {
            instance
                .get_func(&store, name)
                .unwrap_or_else(|| panic!("export {name}"))
        };
        let exports = Exports {
            load: func("load").typed(&store).expect("load"),
            attach: func("attach").typed(&store).expect("attach"),
            poll: func("poll").typed(&store).expect("poll"),
            fd: func("fd").typed(&store).expect("fd"),
            operate: func("operate").typed(&store).expect("operate"),
            close: func("close").typed(&store).expect("close"),
        };
        Self {
            store,
            memory,
            exports,
        }
    }

    /// The guest's linear memory.
    pub fn memory(&mut self) -> &mut [u8] {
        self.memory.data_mut(&mut self.store)
    }

    /// Makes `call`; the value the guest got back (a handle, a count, an fd
    /// or a negative errno; 0 for a write).
    pub fn run(&mut self, call: &Call) -> Result<i64, HostFailure> {
        let s = &mut self.store;
        let e = &self.exports;
        let result = match *call {
            Call::Load { ptr, len } => e.load.call(s, (ptr as i32, len as i32)),
            Call::Attach { obj, name, target } => e
                .attach
                .call(s, (obj as i64, name as i32, target as i32))
                .map(i64::from),
            Call::MapFd { obj, name } => e.fd.call(s, (obj as i64, name as i32)).map(i64::from),
            Call::Operate {
                fd,
                cmd,
                key,
                value,
                next,
                flags,
            } => e
                .operate
                .call(
                    s,
                    (fd, cmd, key as i32, value as i32, next as i32, flags as i64),
                )
                .map(i64::from),
            Call::Poll {
                obj,
                fd,
                callback,
                ctx,
                data,
                max,
                timeout,
            } => e
                .poll
                .call(
                    s,
                    (
                        obj as i64,
                        fd,
                        callback as i32,
                        ctx as i32,
                        data as i32,
                        max as i32,
                        timeout,
                    ),
                )
                .map(i64::from),
            Call::Close { obj } => e.close.call(s, obj as i64).map(i64::from),
            Call::Write { at, ref bytes } => {
                let mem = self.memory.data_mut(&mut self.store);
                let start = (at as usize).min(mem.len());
                let end = start.saturating_add(bytes.len()).min(mem.len());
                mem[start..end].copy_from_slice(&bytes[..end - start]);
                Ok(0)
            }
        };
        result.map_err(|error| HostFailure {
            call: call.clone(),
            error,
        })
    }

    /// Objects the instance holds open.
    pub fn object_count(&self) -> usize {
        self.store.data().bpf.object_count()
    }

    /// Closes everything, as the runtime does when a module ends.
    pub fn close_all(&mut self) {
        self.store.data_mut().bpf.close_all();
    }
}

/// Limits a scenario reaches within a few steps, so their edges get
/// exercised: two objects, three maps, two links, two nested callbacks,
/// 64-byte event batches, objects up to 8 KiB (the test objects fit).
pub fn tight_limits() -> Limits {
    let mut limits = Limits::default();
    for (limit, value) in [
        (Limit::Objects, 2),
        (Limit::Maps, 3),
        (Limit::Links, 2),
        (Limit::CallDepth, 2),
        (Limit::EventBatch, 64),
        (Limit::ObjectSize, 8192),
    ] {
        limits
            .set(limit, value)
            .expect("each of these is within range");
    }
    limits
}

/// Where a [`Scenario`] would take its decisions from: a PRNG in tests, the
/// fuzzer's input bytes in `cargo fuzz`.
pub trait Choices {
    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: u32) -> u32;
    /// Any 64-bit value.
    fn any(&mut self) -> u64;
}

/// A small deterministic PRNG (xorshift64*) as [`Choices`].
pub struct Prng(pub u64);

impl Choices for Prng {
    fn below(&mut self, n: u32) -> u32 {
        (self.any() % u64::from(n.max(1))) as u32
    }

    fn any(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// One step of a scenario: a host call, or an event the backend should
/// deliver on a map of that name.
#[derive(Debug, Clone)]
pub enum Step {
    Call(Call),
    Event { map: &'static str, record: Vec<u8> },
}

/// Where a scenario keeps things in guest memory.
const NAMES_AT: u32 = 0x400;
const BUFFERS_AT: u32 = 0x800;
const OBJECTS_AT: u32 = 0x1000;
/// Names the guest passes: real program and map names of the test
/// objects, attach targets good and hostile, and garbage.
const NAMES: [&str; 10] = [
    "unibpf_t_exec",
    "unibpf_t_rb",
    "t_hash",
    "t_pcpu",
    "unibpf_t_noop",
    "sched/sched_process_exec",
    "../../../../tmp/x",
    "nope\nunibpf: error: forged",
    "",
    "lo",
];
const EVENT_MAPS: [&str; 2] = ["unibpf_t_rb", "t_hash"];

/// Makes host calls that mostly make sense (real handles, fds, names and
/// buffers it has seen or placed) and sometimes do not (stale handles, wild
/// pointers and sizes, nested callbacks), so a run reaches deep states.
pub struct Scenario {
    objects: Vec<(u32, u32)>,
    handles: Vec<u64>,
    /// Map fds the guest got, with the object they belong to.
    fds: Vec<(i32, u64)>,
    setup: Vec<Call>,
}

impl Scenario {
    /// `objects` are BPF ELF files the guest may load; they are placed in
    /// guest memory, with the names, by the first steps.
    pub fn new(objects: &[&[u8]]) -> Self {
        let mut setup = Vec::new();
        let mut at = OBJECTS_AT;
        let mut placed = Vec::new();
        for obj in objects {
            setup.push(Call::Write {
                at,
                bytes: obj.to_vec(),
            });
            placed.push((at, obj.len() as u32));
            at += (obj.len() as u32).next_multiple_of(8) + 8;
        }
        let mut names = Vec::new();
        for n in NAMES {
            names.extend_from_slice(n.as_bytes());
            names.push(0);
        }
        setup.push(Call::Write {
            at: NAMES_AT,
            bytes: names,
        });
        // The last bytes of memory hold no NUL: strings there run off the end.
        setup.push(Call::Write {
            at: MEMORY_SIZE - 16,
            bytes: vec![b'A'; 16],
        });
        Self {
            objects: placed,
            handles: Vec::new(),
            fds: Vec::new(),
            setup,
        }
    }

    fn name(&self, c: &mut impl Choices) -> u32 {
        let mut at = NAMES_AT;
        let pick = c.below(NAMES.len() as u32 + 2) as usize;
        match NAMES.get(pick) {
            Some(_) => {
                for n in &NAMES[..pick] {
                    at += n.len() as u32 + 1;
                }
                at
            }
            None if pick == NAMES.len() => MEMORY_SIZE - 8,
            None => self.pointer(c),
        }
    }

    fn pointer(&self, c: &mut impl Choices) -> u32 {
        match c.below(4) {
            0 => BUFFERS_AT + c.below(0x400),
            1 => MEMORY_SIZE - c.below(64),
            2 => c.any() as u32,
            _ => 0,
        }
    }

    fn handle(&self, c: &mut impl Choices) -> u64 {
        match (c.below(8), self.handles.is_empty()) {
            (0, _) | (_, true) => c.any() % 8,
            _ => self.handles[c.below(self.handles.len() as u32) as usize],
        }
    }

    fn fd(&self, c: &mut impl Choices) -> i32 {
        self.fd_and_owner(c).0
    }

    /// A map fd and its object, mostly ones that belong together.
    fn fd_and_owner(&self, c: &mut impl Choices) -> (i32, u64) {
        match (c.below(8), self.fds.is_empty()) {
            (0, _) | (_, true) => (c.any() as i32 % 200, self.handle(c)),
            _ => self.fds[c.below(self.fds.len() as u32) as usize],
        }
    }

    /// The next step.
    pub fn next(&mut self, c: &mut impl Choices) -> Step {
        if !self.setup.is_empty() {
            return Step::Call(self.setup.remove(0));
        }
        let call = match c.below(11) {
            0 | 1 => {
                let (ptr, len) = match (c.below(6), self.objects.is_empty()) {
                    (0, _) | (_, true) => (self.pointer(c), c.any() as u32 % 0x20000),
                    _ => self.objects[c.below(self.objects.len() as u32) as usize],
                };
                Call::Load { ptr, len }
            }
            2 | 3 => Call::Attach {
                obj: self.handle(c),
                name: self.name(c),
                target: if c.below(2) == 0 { 0 } else { self.name(c) },
            },
            4 => Call::MapFd {
                obj: self.handle(c),
                name: self.name(c),
            },
            5 | 6 => Call::Operate {
                fd: self.fd(c),
                cmd: c.below(6) as i32,
                key: self.pointer(c),
                value: self.pointer(c),
                next: self.pointer(c),
                flags: u64::from(c.below(4)),
            },
            7 => {
                let (fd, obj) = self.fd_and_owner(c);
                Call::Poll {
                    obj,
                    fd,
                    callback: c.below(6),
                    ctx: c.any() as u32,
                    data: if c.below(4) == 0 {
                        self.pointer(c)
                    } else {
                        BUFFERS_AT
                    },
                    max: [0, 4, 16, 256, 1024, u32::MAX][c.below(6) as usize],
                    timeout: 0,
                }
            }
            8 => {
                // Arguments for the nested callback: often a poll of a real
                // map that calls itself again.
                let (fd, obj) = self.fd_and_owner(c);
                let mut bytes = obj.to_le_bytes().to_vec();
                let cb = [CB_NESTED, CB_RETURN_0, CB_RETURN_NEG][c.below(3) as usize];
                let max = [4u32, 16, 256][c.below(3) as usize];
                let data = BUFFERS_AT + 0x100 + c.below(0x100);
                for v in [fd as u32, cb, 0, data, max, 0] {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                Call::Write {
                    at: NESTED_ARGS,
                    bytes,
                }
            }
            9 => {
                let map = EVENT_MAPS[c.below(2) as usize];
                let len = c.below(300) as usize;
                let record = (0..len).map(|i| i as u8).collect();
                return Step::Event { map, record };
            }
            _ => Call::Close {
                obj: self.handle(c),
            },
        };
        Step::Call(call)
    }

    /// Learns handles and fds from what a call returned.
    pub fn saw(&mut self, call: &Call, result: i64) {
        match *call {
            Call::Load { .. } if result > 0 => self.handles.push(result as u64),
            Call::MapFd { obj, .. } if result > 0 => self.fds.push((result as i32, obj)),
            Call::Close { obj } if result == 0 => {
                self.handles.retain(|&h| h != obj);
                self.fds.retain(|&(_, owner)| owner != obj);
            }
            _ => {}
        }
    }
}

/// What the guest may get back from `call`: a handle from a load, an fd
/// from a map lookup by name, a record count from a poll, and otherwise 0
/// or a negative errno in WASI's numbering (1 to 76).
fn plausible(call: &Call, result: i64) -> bool {
    let errno = (-76..=-1).contains(&result);
    match call {
        Call::Load { .. } => result >= 0,
        Call::MapFd { .. } | Call::Poll { .. } => result >= 0 || errno,
        Call::Write { .. } => result == 0,
        _ => result == 0 || errno,
    }
}

/// How far a run got: calls that succeeded, by kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reached {
    pub loads: u32,
    pub attaches: u32,
    pub map_fds: u32,
    pub operations: u32,
    /// Polls that delivered at least one record.
    pub deliveries: u32,
    pub closes: u32,
}

/// Runs `steps` steps of `scenario` with decisions from `choices`; events
/// go to `push_event`. Fails on the first host failure or implausible
/// result; afterwards everything is closed.
pub fn drive(
    harness: &mut Harness,
    scenario: &mut Scenario,
    choices: &mut impl Choices,
    steps: usize,
    mut push_event: impl FnMut(&str, &[u8]),
) -> Result<Reached, String> {
    let mut reached = Reached::default();
    let outcome = (|| {
        for _ in 0..steps {
            match scenario.next(choices) {
                Step::Event { map, record } => push_event(map, &record),
                Step::Call(call) => {
                    let result = harness.run(&call).map_err(|e| e.to_string())?;
                    if !plausible(&call, result) {
                        return Err(format!("{call:?} returned {result}"));
                    }
                    let counter = match call {
                        Call::Load { .. } if result > 0 => Some(&mut reached.loads),
                        Call::Attach { .. } if result == 0 => Some(&mut reached.attaches),
                        Call::MapFd { .. } if result > 0 => Some(&mut reached.map_fds),
                        Call::Operate { .. } if result == 0 => Some(&mut reached.operations),
                        Call::Poll { .. } if result > 0 => Some(&mut reached.deliveries),
                        Call::Close { .. } if result == 0 => Some(&mut reached.closes),
                        _ => None,
                    };
                    if let Some(n) = counter {
                        *n += 1;
                    }
                    scenario.saw(&call, result);
                }
            }
        }
        Ok(())
    })();
    harness.close_all();
    outcome.map(|()| reached)
}
