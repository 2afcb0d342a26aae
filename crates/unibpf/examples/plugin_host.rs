//! A host application that runs eBPF plugins packaged as wasm modules.
//!
//! Each module given on the command line runs concurrently for DURATION; every
//! line a plugin prints is tagged with the plugin's name, and plugins can call
//! back into the host through `host.report(ptr, len)`. Then each is stopped
//! gracefully and its exit is reported.
//!
//! ```text
//! cargo run -p unibpf --example plugin_host -- 5s execsnoop.wasm [more.wasm ...]
//! ```
//! (needs root and a kernel with BPF; the repository's demo module is built by
//! `scripts/build-guests.sh` into `build/guests/execsnoop.wasm`).

use std::sync::Mutex;
use std::time::Duration;

use unibpf::{
    Config, FuncType, HostFunc, HostFuncError, ModuleSpec, OutputCallback, Runtime, Val, ValType,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: plugin_host DURATION MODULE.wasm [MODULE.wasm ...]";
    let duration = parse_secs(&args.next().ok_or(usage)?)?;
    let modules: Vec<String> = args.collect();
    if modules.is_empty() {
        return Err(usage.into());
    }

    // Plugins may report a message to the host: host.report(ptr, len).
    let report = HostFunc::new(
        "host",
        "report",
        FuncType::new([ValType::I32, ValType::I32], []),
        |ctx, params, _| {
            let [Val::I32(ptr), Val::I32(len)] = params else {
                return Err(HostFuncError("report(ptr, len) takes two i32".into()));
            };
            let text = ctx
                .read(*ptr as u32, *len as u32)
                .map_err(|e| HostFuncError(format!("report: {e}")))?;
            println!("[host] plugin reported: {}", String::from_utf8_lossy(text));
            Ok(())
        },
    );
    let runtime = Runtime::new(
        Config::default()
            .host_func(report)
            .stop_grace(Duration::from_secs(1)),
    )?;

    let mut running = Vec::new();
    for path in &modules {
        let wasm = std::fs::read(path)?;
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        let spec = ModuleSpec::new(path.clone(), wasm)
            .stdout(tagged(name.clone()))
            .stderr(tagged(format!("{name} (stderr)")))
            // Flush each line as it is printed rather than at exit.
            .line_buffered(true);
        running.push((name, runtime.spawn(spec)?));
    }

    std::thread::sleep(duration);
    for (name, handle) in running {
        match handle.stop() {
            Ok(exit) => println!("[host] {name}: {exit}"),
            Err(e) => println!("[host] {name}: failed: {e}"),
        }
    }
    Ok(())
}

/// An output that prints each complete line prefixed with `tag`.
fn tagged(tag: String) -> unibpf::Output {
    let partial = Mutex::new(Vec::new());
    OutputCallback::output(move |bytes: &[u8]| {
        let mut partial = partial.lock().unwrap_or_else(|e| e.into_inner());
        partial.extend_from_slice(bytes);
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            print!("[{tag}] {}", String::from_utf8_lossy(&line));
        }
    })
}

fn parse_secs(s: &str) -> Result<Duration, Box<dyn std::error::Error>> {
    let secs: f64 = s.trim_end_matches('s').parse()?;
    Ok(Duration::from_secs_f64(secs))
}
