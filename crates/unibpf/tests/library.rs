//! The embedding API on the real kernel: concurrent isolated modules, pause and
//! resume, output capture, extra host functions.

use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unibpf::{
    Config, Exit, FuncType, HostFunc, HostFuncError, ModuleSpec, OutputBuffer, OutputCallback,
    Runtime, Val, ValType,
};
use unibpf_test_guests::{exec_true, field, guest, possible_cpus};

/// Grace for stops that must be graceful: the guest ends as soon as it can,
/// so a long one costs nothing, and a loaded machine cannot turn the stop
/// into a forced one.
const GRACE: Duration = Duration::from_secs(30);

/// Waits until a paused module is suspended.
fn wait_parked(handle: &unibpf::ModuleHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !handle.is_parked() {
        assert!(Instant::now() < deadline, "the paused module never parked");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// WASI errno, as guests see it.
const EBADF: i32 = -8;
const EFAULT: i32 = -21;

fn spec(file: &str) -> ModuleSpec {
    let wasm = std::fs::read(guest(file)).expect("reading the guest");
    ModuleSpec::new(file, wasm)
}

/// An output that sends every complete line to a channel.
fn line_channel() -> (unibpf::Output, Receiver<String>) {
    let (tx, rx) = channel();
    let partial = Mutex::new(String::new());
    let output = OutputCallback::output(move |bytes: &[u8]| {
        let mut partial = partial.lock().unwrap_or_else(|e| e.into_inner());
        partial.push_str(&String::from_utf8_lossy(bytes));
        while let Some(end) = partial.find('\n') {
            let line: String = partial.drain(..=end).collect();
            let _ = tx.send(line.trim_end().to_string());
        }
    });
    (output, rx)
}

/// Waits for a line satisfying `pred`; returns it.
fn wait_line(rx: &Receiver<String>, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if pred(&line) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no matching line within {timeout:?}; saw {seen:?}");
}

/// execsnoop.wasm with line-buffered stdout and stderr as line channels,
/// once it says it is attached.
fn start_execsnoop(
    runtime: &Runtime,
) -> (unibpf::ModuleHandle, Receiver<String>, Receiver<String>) {
    let (stdout, lines) = line_channel();
    let (stderr, err_lines) = line_channel();
    let handle = runtime
        .spawn(
            spec("execsnoop.wasm")
                .stdout(stdout)
                .stderr(stderr)
                .line_buffered(true),
        )
        .expect("spawn");
    wait_line(&err_lines, Duration::from_secs(20), |l| {
        l.contains("attached")
    });
    (handle, lines, err_lines)
}

#[test]
fn concurrent_modules_are_isolated_from_each_others_maps() {
    let runtime = Runtime::new(Config::default()).expect("runtime");
    let cpus = possible_cpus().to_string();
    let (holder_out, holder_lines) = line_channel();
    let holder = runtime
        .spawn(
            spec("maps.wasm")
                .args([cpus.as_str(), "--hold"])
                .stdout(holder_out)
                .line_buffered(true),
        )
        .expect("spawning the holder");
    let line = wait_line(&holder_lines, Duration::from_secs(20), |l| {
        l.starts_with("hold_fd=")
    });
    let foreign: i32 = line["hold_fd=".len()..].parse().expect("fd number");
    assert!(foreign > 2, "{line}");

    // The second module runs while the first holds its map open, in the same
    // process: the fd number is live here, and must still be refused.
    let out = OutputBuffer::new();
    let hostile = runtime
        .spawn(
            spec("hostile.wasm")
                .args([cpus.clone(), foreign.to_string()])
                .stdout(out.sink()),
        )
        .expect("spawning the hostile guest");
    assert_eq!(hostile.join().expect("hostile run"), Exit::Code(0));
    let text = out.text();
    assert_eq!(field(&text, "op_foreign_fd"), EBADF.to_string());
    assert_eq!(field(&text, "still_works"), "0,0,99");

    assert!(!holder.is_finished(), "the holder must still be running");
    assert_eq!(
        holder.terminate(GRACE).expect("holder"),
        Exit::Stopped { forced: false }
    );
}

#[test]
fn a_paused_module_delivers_nothing_until_resumed() {
    let runtime = Runtime::new(Config::default()).expect("runtime");
    let (handle, lines, err_lines) = start_execsnoop(&runtime);

    handle.pause();
    assert!(handle.is_paused());
    // It parks at its next host call (its polls time out every 100 ms).
    wait_parked(&handle);
    while lines.try_recv().is_ok() {}
    let pid = exec_true();
    let want = format!("exec pid={pid} comm=true file=/bin/true");
    // Parked, it cannot take the event however long we look.
    std::thread::sleep(Duration::from_millis(300));
    assert!(handle.is_parked());
    let during_pause: Vec<String> = lines.try_iter().collect();
    assert!(
        !during_pause.contains(&want),
        "delivered while paused: {during_pause:?}"
    );

    // The event waited in the ring buffer and arrives after resume.
    handle.resume();
    assert!(!handle.is_paused());
    wait_line(&lines, Duration::from_secs(10), |l| l == want);

    assert_eq!(
        handle.terminate(GRACE).expect("stop"),
        Exit::Stopped { forced: false }
    );
    wait_line(&err_lines, Duration::from_secs(1), |l| {
        l.contains("stopped")
    });
}

#[test]
fn a_paused_module_can_still_be_stopped() {
    let runtime = Runtime::new(Config::default()).expect("runtime");
    let (handle, _lines, err_lines) = start_execsnoop(&runtime);
    handle.pause();
    wait_parked(&handle);
    // A graceful stop releases the pause: the guest sees -EINTR and ends itself.
    assert_eq!(
        handle.terminate(GRACE).expect("terminate"),
        Exit::Stopped { forced: false }
    );
    wait_line(&err_lines, Duration::from_secs(1), |l| {
        l.contains("stopped")
    });
}

#[test]
fn extra_host_functions_are_callable_and_see_guest_memory() {
    let logged = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = logged.clone();
    let two_i32 = |params: &[Val]| match params {
        [Val::I32(a), Val::I32(b)] => Ok((*a, *b)),
        _ => Err(HostFuncError("expected two i32 arguments".into())),
    };
    let config = Config::default()
        .host_func(HostFunc::new(
            "app",
            "add",
            FuncType::new([ValType::I32, ValType::I32], [ValType::I32]),
            move |_ctx, params, results| {
                let (a, b) = two_i32(params)?;
                results[0] = Val::I32(a + b);
                Ok(())
            },
        ))
        .host_func(HostFunc::new(
            "app",
            "log",
            FuncType::new([ValType::I32, ValType::I32], []),
            move |ctx, params, _results| {
                let (ptr, len) = two_i32(params)?;
                let bytes = ctx
                    .read(ptr as u32, len as u32)
                    .map_err(|e| HostFuncError(e.to_string()))?;
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(bytes).into_owned());
                Ok(())
            },
        ))
        .host_func(HostFunc::new(
            "app",
            "fill",
            FuncType::new([ValType::I32, ValType::I32], [ValType::I32]),
            move |ctx, params, results| {
                let (ptr, len) = two_i32(params)?;
                let text = b"from the host";
                let n = text.len().min(len as usize);
                results[0] = Val::I32(match ctx.write(ptr as u32, &text[..n]) {
                    Ok(()) => n as i32,
                    Err(_) => EFAULT,
                });
                Ok(())
            },
        ));
    let runtime = Runtime::new(config).expect("runtime");
    let out = OutputBuffer::new();
    let exit = runtime
        .run(spec("host_func.wasm").stdout(out.sink()))
        .expect("run");
    assert_eq!(exit, Exit::Code(0));
    let text = out.text();
    assert_eq!(field(&text, "add"), "42");
    assert_eq!(field(&text, "fill"), "13,from the host");
    assert_eq!(field(&text, "fill_oob"), EFAULT.to_string());
    assert_eq!(*logged.lock().unwrap(), vec!["hello from the guest"]);
}

#[test]
fn a_module_importing_an_unknown_host_function_fails_to_link() {
    let runtime = Runtime::new(Config::default()).expect("runtime");
    let err = runtime
        .run(spec("host_func.wasm").stdout(OutputBuffer::new().sink()))
        .expect_err("app.add is not offered");
    let msg = err.chain();
    assert!(msg.contains("app") && msg.contains("add"), "{msg}");
}

#[test]
fn a_graceful_stop_still_delivers_records_already_waiting() {
    let runtime = Runtime::new(Config::default()).expect("runtime");
    let (handle, lines, _err_lines) = start_execsnoop(&runtime);
    // Park the guest, let an event wait in the ring buffer, then stop: the
    // guest's last poll hands it over before -EINTR ends its loop.
    handle.pause();
    wait_parked(&handle);
    let pid = exec_true();
    let want = format!("exec pid={pid} comm=true file=/bin/true");
    assert_eq!(
        handle.terminate(GRACE).expect("terminate"),
        Exit::Stopped { forced: false }
    );
    wait_line(&lines, Duration::from_secs(1), |l| l == want);
}
