//! A plugin for eBPF conformance suites (the protocol of the
//! `bpf_conformance` runner): the program's bytes in base16 on stdin (or
//! after `--program`), the initial memory in base16 as the first other
//! argument (absent or empty: no memory). The memory becomes the context
//! region; r1 points at it, r2 holds its length, r10 is the stack top.
//! On success the final r0 is printed in lowercase hexadecimal without
//! `0x` or leading zeros, followed by a newline, and the exit status is
//! 0; a rejected or failed program prints its error on stderr and exits
//! with 1. No helpers are provided: a helper call fails the run.

use std::io::Read;
use std::process::ExitCode;

use unibpf_backend_userspace::vm::{
    memory::CONTEXT_BASE, Limits, Memory, NoHelpers, NoMaps, Program, Region,
};

fn main() -> ExitCode {
    match run() {
        Ok(r0) => {
            println!("{r0:x}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<u64, String> {
    let mut program_hex = None;
    let mut memory_hex = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--program" => program_hex = Some(args.next().ok_or("--program needs a value")?),
            // Other runners pass engine choices; there is only one engine.
            "--interpret" | "--jit" => {}
            _ if memory_hex.is_none() => memory_hex = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let program_hex = match program_hex {
        Some(hex) => hex,
        None => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| format!("reading the program from stdin: {e}"))?;
            input
        }
    };
    let code = decode_hex(&program_hex).map_err(|e| format!("program: {e}"))?;
    let mut memory =
        decode_hex(memory_hex.as_deref().unwrap_or("")).map_err(|e| format!("memory: {e}"))?;
    let program = Program::new(&code, &NoMaps).map_err(|e| e.to_string())?;
    let len = memory.len() as u64;
    let mut mem = Memory::new(Region::ReadWrite(&mut memory));
    program
        .run_with_args(
            &mut mem,
            &mut NoHelpers,
            Limits::default(),
            &[CONTEXT_BASE, len],
        )
        .map_err(|e| e.to_string())
}

/// Bytes from base16 text; whitespace between digits is ignored.
fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'0'..=b'9' => Ok(b - b'0'),
            b'a'..=b'f' => Ok(b - b'a' + 10),
            b'A'..=b'F' => Ok(b - b'A' + 10),
            _ => Err(format!("{:?} is not a hexadecimal digit", b as char)),
        })
        .collect::<Result<_, _>>()?;
    if digits.len() % 2 != 0 {
        return Err(format!(
            "odd number of hexadecimal digits ({})",
            digits.len()
        ));
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}
