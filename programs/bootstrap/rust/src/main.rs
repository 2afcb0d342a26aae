//! bootstrap in Rust: the same BPF object and output as programs/bootstrap's
//! C control plane, on the unibpf-guest SDK.
//!   bootstrap_rs [-d MIN_DURATION_MS]

use std::process::ExitCode;

use unibpf_guest::{from_bytes, EventBuffer, OpenObject, Plain};

// The object and its wasm32 types (`unibpf gen types --lang rust`), from the
// program build.
static OBJECT: &[u8] = include_bytes!(env!("BOOTSTRAP_BPF_O"));
include!(env!("BOOTSTRAP_TYPES_RS"));

// SAFETY: generated plain-data struct: integers and byte arrays.
unsafe impl Plain for event {}

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn print(e: &event) {
    let (pid, ppid) = (e.pid, e.ppid);
    if e.exit_event != 0 {
        let (code, ns) = (e.exit_code, e.duration_ns);
        println!(
            "EXIT pid={pid} ppid={ppid} code={code} duration_ms={} comm={}",
            ns / 1_000_000,
            text(&e.comm)
        );
    } else {
        println!(
            "EXEC pid={pid} ppid={ppid} comm={} file={}",
            text(&e.comm),
            text(&e.filename)
        );
    }
}

fn run(min_ms: u64) -> unibpf_guest::Result<()> {
    let mut open = OpenObject::new(OBJECT);
    // Patched into .rodata before load: the verifier sees a constant.
    open.set_global("min_duration_ns", &(min_ms * 1_000_000).to_ne_bytes())?;
    let mut object = open.load()?;
    object.attach_all()?;
    let mut events = EventBuffer::new(&object, "rb", |record: &[u8]| {
        if let Some(e) = from_bytes::<event>(record) {
            print(&e);
        }
        0
    })?;
    eprintln!("bootstrap_rs: tracing process starts and ends (min duration {min_ms} ms)");
    loop {
        match events.poll(100) {
            Ok(_) => {}
            Err(e) if e.is_interrupted() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let min_ms = match args.as_slice() {
        [] => 0,
        [flag, ms] if flag == "-d" => match ms.parse() {
            Ok(ms) => ms,
            Err(_) => {
                eprintln!("bootstrap_rs: -d takes milliseconds");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: bootstrap_rs [-d MIN_DURATION_MS]");
            return ExitCode::from(2);
        }
    };
    match run(min_ms) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bootstrap_rs: {e}");
            ExitCode::FAILURE
        }
    }
}
