use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use unibpf_abi::{BpfCtx, BpfView};
use unibpf_hostcall::{call_guest, Control, Killed, Limit, LimitExceeded};
use unibpf_wasi::{ProcExit, WasiCtx, WasiView};
use wasmi::{CompilationMode, Engine, Linker, Module, Store, TrapCode};

use unibpf_pipeline::Pipeline;

use crate::config::Config;
use crate::error::{Cause, RunError};
use crate::handle::{Done, Exit, ModuleHandle};
use crate::host_func::HostFuncContext;
use crate::limiter::GuestLimiter;
use crate::spec::ModuleSpec;

/// The store data of one instance.
struct Instance {
    wasi: WasiCtx,
    bpf: BpfCtx,
    limiter: GuestLimiter,
}

impl WasiView for Instance {
    fn wasi(&mut self) -> &mut WasiCtx {
        &mut self.wasi
    }
}

impl BpfView for Instance {
    fn bpf(&mut self) -> &mut BpfCtx {
        &mut self.bpf
    }
}

/// Runs modules. Cheap to clone; share one across threads.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    config: Arc<Config>,
    /// Modules spawned and not yet ended, for [`Limit::Modules`].
    running: Arc<AtomicU64>,
}

/// Counts one running module until dropped (on its thread, however it ends).
struct RunningSlot(Arc<AtomicU64>);

impl Drop for RunningSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Runtime {
    pub fn new(config: Config) -> Result<Self, RunError> {
        let mut wasm = wasmi::Config::default();
        wasm.consume_fuel(true)
            .wasm_bulk_memory(true)
            .wasm_sign_extension(true)
            .wasm_saturating_float_to_int(true)
            .wasm_mutable_global(true)
            .wasm_multi_value(true)
            // Functions are validated up front but translated on first call:
            // start-up cost stays proportional to the code that actually runs.
            .compilation_mode(CompilationMode::LazyTranslation);
        Ok(Self {
            engine: Engine::new(&wasm),
            config: Arc::new(config),
            running: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Starts `spec` on its own thread.
    pub fn spawn(&self, spec: ModuleSpec) -> Result<ModuleHandle, RunError> {
        let allowed = self.config.limits.modules;
        let claimed = self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < allowed).then_some(n + 1)
            });
        if let Err(running) = claimed {
            return Err(RunError::Limit(LimitExceeded {
                limit: Limit::Modules,
                what: "starting another module".to_string(),
                requested: running + 1,
                allowed,
            }));
        }
        let slot = RunningSlot(self.running.clone());
        let control = Arc::new(
            Control::new()
                .map_err(|e| RunError::setup("creating the control eventfd")(e.into()))?,
        );
        let done = Arc::new(Done::default());
        let engine = self.engine.clone();
        let config = self.config.clone();
        let (c, d) = (control.clone(), done.clone());
        let thread = std::thread::Builder::new()
            .name(format!("unibpf:{}", spec.name))
            // Host calls nest (guest -> poll -> callback -> host), and the
            // interpreter keeps native frames per call: room for the
            // call-depth limit.
            .stack_size(self.config.limits.thread_stack())
            .spawn(move || {
                let _slot = slot;
                let result = run_module(&engine, &config, spec, &c);
                d.set();
                result
            })
            .map_err(|e| RunError::setup("spawning the module thread")(e.into()))?;
        Ok(ModuleHandle {
            control,
            done,
            thread,
            grace: self.config.grace,
        })
    }

    /// Runs `spec` to completion on this thread's behalf.
    pub fn run(&self, spec: ModuleSpec) -> Result<Exit, RunError> {
        self.spawn(spec)?.join()
    }
}

fn run_module(
    engine: &Engine,
    config: &Config,
    spec: ModuleSpec,
    control: &Arc<Control>,
) -> Result<Exit, RunError> {
    let module = compile(engine, &spec.wasm)?;
    let linker = link(engine, config, &module)?;

    let backends = config
        .backends
        .iter()
        .map(|make| make())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RunError::setup("creating the backends")(e.into()))?;
    let pipeline = Box::new(Pipeline::new(
        backends,
        config.pipeline.clone(),
        config.host.clone(),
        spec.wasm.clone(),
    ));
    if let Some(f) = &config.on_guest_sleep {
        let f = Arc::clone(f);
        control.on_sleep(move || f());
    }
    let wasi = WasiCtx::new(spec.wasi, control.clone())
        .map_err(|e| RunError::setup("granting the module's directories")(e.into()))?;
    let limits = config.limits;
    let bpf = BpfCtx::new(pipeline, control.clone(), config.callbacks.clone(), limits);
    let limiter = GuestLimiter::new(limits);
    let mut store = Store::new(engine, Instance { wasi, bpf, limiter });
    store.limiter(|i| &mut i.limiter);
    // The start function (if any) runs inside instantiation, in one go: its
    // fuel is its whole budget.
    store
        .set_fuel(limits.start_fuel)
        .map_err(|e| RunError::setup("setting the start function's fuel")(e.into()))?;
    let instance = match linker.instantiate_and_start(&mut store, &module) {
        Ok(instance) => instance,
        Err(e) => {
            let failure = instantiation_failure(e, &mut store, limits.start_fuel, control);
            store.data_mut().bpf.close_all();
            return failure;
        }
    };
    let memory = instance
        .get_memory(&store, "memory")
        .ok_or(RunError::NoMemory)?;
    let table = instance.get_table(&store, "__indirect_function_table");
    store.data_mut().wasi.set_memory(memory);
    store.data_mut().bpf.bind(memory, table);
    let start = instance
        .get_func(&store, "_start")
        .ok_or(RunError::NoStart)?;

    tracing::info!("starting {} ({} bytes)", spec.name, spec.wasm.len());
    let outcome = call_guest(&mut store, &start, &[], &mut [], control, limits.fuel_slice);
    let leftover = store.data().bpf.object_count();
    if leftover > 0 {
        tracing::debug!("closing {leftover} BPF object(s) the guest left open");
    }
    store.data_mut().bpf.close_all();
    drop(store);
    let exit = classify(outcome, control);
    if let Ok(exit) = &exit {
        tracing::info!("{} {exit}", spec.name);
    }
    exit
}

/// Parses and validates the module, and checks it is a WASI command.
fn compile(engine: &Engine, wasm: &[u8]) -> Result<Module, RunError> {
    if !wasm.starts_with(b"\0asm") {
        return Err(RunError::NotWasm);
    }
    let module = Module::new(engine, wasm).map_err(RunError::InvalidModule)?;
    let start = module.exports().find(|e| e.name() == "_start");
    match start.map(|e| e.ty().clone()) {
        Some(wasmi::ExternType::Func(ty)) if ty.params().is_empty() && ty.results().is_empty() => {}
        _ => return Err(RunError::NoStart),
    }
    if !module
        .exports()
        .any(|e| e.name() == "memory" && matches!(e.ty(), wasmi::ExternType::Memory(_)))
    {
        return Err(RunError::NoMemory);
    }
    Ok(module)
}

/// A linker with WASI, the wasm_bpf ABI and the embedder's host functions.
fn link(engine: &Engine, config: &Config, module: &Module) -> Result<Linker<Instance>, RunError> {
    let mut linker = Linker::<Instance>::new(engine);
    let link = |e: Cause| RunError::Link(e);
    unibpf_wasi::add_to_linker(&mut linker).map_err(|e| link(e.into()))?;
    unibpf_wasi::define_missing_as_enosys(&mut linker, module).map_err(|e| link(e.into()))?;
    unibpf_abi::add_to_linker(&mut linker, module, &config.callbacks)
        .map_err(|e| link(e.into()))?;
    for hf in &config.host_funcs {
        let func = hf.func.clone();
        linker
            .func_new(
                &hf.module,
                &hf.name,
                hf.ty.clone(),
                move |mut caller, params, results| {
                    let memory = caller.data_mut().bpf.memory_handle();
                    let bytes = memory.map(|m| m.data_mut(&mut caller));
                    let mut ctx = HostFuncContext { memory: bytes };
                    func(&mut ctx, params, results).map_err(wasmi::Error::host)
                },
            )
            .map_err(|e| link(e.into()))?;
    }
    Ok(linker)
}

/// Why instantiation failed: a limit the module's declared sizes went over, a
/// trap, exit or stop in its start function (the guest's own doing, reported
/// as such), or a link error.
fn instantiation_failure(
    err: wasmi::Error,
    store: &mut Store<Instance>,
    start_fuel: u64,
    control: &Control,
) -> Result<Exit, RunError> {
    if let Some(denied) = store.data_mut().limiter.take_denial() {
        return Err(RunError::Limit(denied));
    }
    if err.as_trap_code() == Some(TrapCode::OutOfFuel) {
        return Err(RunError::Trap(format!(
            "the start function ran out of fuel: {}",
            LimitExceeded {
                limit: Limit::StartFuel,
                what: "the start function".to_string(),
                requested: start_fuel.saturating_add(1),
                allowed: start_fuel,
            }
        )));
    }
    let from_guest = err.as_trap_code().is_some()
        || err.i32_exit_status().is_some()
        || matches!(err.kind(), wasmi::errors::ErrorKind::Host(_));
    if from_guest {
        return classify(Err(err), control).map_err(|e| match e {
            RunError::Trap(msg) => RunError::Trap(format!("in the start function: {msg}")),
            other => other,
        });
    }
    Err(RunError::Link(err.into()))
}

fn classify(outcome: Result<(), wasmi::Error>, control: &Control) -> Result<Exit, RunError> {
    let stopping = control.stop_requested();
    let err = match outcome {
        Ok(()) if stopping => return Ok(Exit::Stopped { forced: false }),
        Ok(()) => return Ok(Exit::Code(0)),
        Err(e) => e,
    };
    if let Some(ProcExit(code)) = err.downcast_ref::<ProcExit>() {
        return Ok(if stopping {
            Exit::Stopped { forced: false }
        } else {
            Exit::Code(*code)
        });
    }
    if let Some(code) = err.i32_exit_status() {
        return Ok(if stopping {
            Exit::Stopped { forced: false }
        } else {
            Exit::Code(code as u32)
        });
    }
    if err.downcast_ref::<Killed>().is_some() {
        return Ok(Exit::Stopped { forced: true });
    }
    Err(RunError::Trap(err.to_string()))
}
