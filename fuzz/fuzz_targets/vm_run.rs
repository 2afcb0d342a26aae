//! The userspace eBPF interpreter on arbitrary instruction bytes:
//! verification, then a run with a small context, a read-only region and a
//! tight budget. Nothing may panic; a bad access or opcode is an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unibpf_backend_userspace::vm::{Limits, Memory, NoHelpers, NoMaps, Program, Region};

fuzz_target!(|code: &[u8]| {
    let Ok(program) = Program::new(code, &NoMaps) else {
        return;
    };
    let mut context = [0u8; 64];
    let read_only = [0x5au8; 32];
    let mut memory = Memory::new(Region::ReadWrite(&mut context));
    memory.add_region(Region::ReadOnly(&read_only));
    let _ = program.run(
        &mut memory,
        &mut NoHelpers,
        Limits {
            instructions: 100_000,
        },
    );
});
