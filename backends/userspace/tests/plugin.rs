//! The conformance plugin end to end: program in base16 on stdin (or
//! `--program`), memory in base16 as the first argument, r0 in hex on
//! stdout, errors on stderr with status 1.

mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (status, stdout, stderr) of the plugin given `program` on stdin.
fn plugin(program: &str, args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unibpf-bpf-conformance"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the plugin starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(program.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn prints_r0_in_lowercase_hex() {
    let asm = Asm::new().lddw(0, 0xdead_beef_cafe).exit();
    assert_eq!(
        plugin(&hex(asm.bytes()), &[]),
        (0, "deadbeefcafe\n".into(), String::new())
    );
    let asm = Asm::new().mov(0, 0).exit();
    assert_eq!(plugin(&hex(asm.bytes()), &[""]).1, "0\n");
    let asm = Asm::new().mov(0, -1).exit();
    assert_eq!(plugin(&hex(asm.bytes()), &[]).1, "ffffffffffffffff\n");
}

#[test]
fn memory_is_the_context_with_r1_and_r2() {
    // r0 = *(u32 *)(r1 + 2) + r2 (the length), and a store into it.
    let asm = Asm::new()
        .i(LDX | MEM | W, 0, 1, 2, 0)
        .i(ALU64 | ADD | X, 0, 2, 0, 0)
        .i(ST | MEM | B, 1, 0, 0, 7)
        .exit();
    let (status, out, err) = plugin(&hex(asm.bytes()), &["aa bb 11 22 33 44"]);
    assert_eq!((status, out.as_str(), err.as_str()), (0, "44332217\n", ""));
    // Past the end of the memory: refused.
    let asm = Asm::new().i(LDX | MEM | DW, 0, 1, 0, 0).exit();
    let (status, out, err) = plugin(&hex(asm.bytes()), &["00112233"]);
    assert_eq!((status, out.as_str()), (1, ""));
    assert!(
        err.contains("pc 0: load of 8 bytes")
            && err.contains("past the end of a region of 4 bytes"),
        "{err}"
    );
}

#[test]
fn program_may_come_as_an_option_and_with_whitespace() {
    let asm = Asm::new().mov(0, 0x2a).exit();
    let spaced: String = hex(asm.bytes())
        .as_bytes()
        .chunks(16)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_eq!(plugin(&spaced, &[]).1, "2a\n");
    assert_eq!(plugin("", &["--program", &hex(asm.bytes()), ""]).1, "2a\n");
}

#[test]
fn bad_programs_and_input_fail_with_a_message() {
    let (status, out, err) = plugin(&hex(Asm::new().i(0xff, 0, 0, 0, 0).exit().bytes()), &[]);
    assert_eq!((status, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "pc 0: unknown or unsupported opcode 0xff (src 0, off 0, imm 0)\n"
    );
    let (status, _, err) = plugin("zz", &[]);
    assert_eq!(status, 1);
    assert_eq!(err, "program: 'z' is not a hexadecimal digit\n");
    let (status, _, err) = plugin(&hex(Asm::new().mov(0, 0).exit().bytes()), &["abc"]);
    assert_eq!(status, 1);
    assert_eq!(err, "memory: odd number of hexadecimal digits (3)\n");
    let (status, _, err) = plugin(&hex(Asm::new().call_helper(1).exit().bytes()), &[]);
    assert_eq!(
        (status, err.as_str()),
        (1, "pc 0: helper 1: no helper with id 1\n")
    );
    let endless = Asm::new().i(JMP | JA, 0, 0, -1, 0).exit();
    let (status, _, err) = plugin(&hex(endless.bytes()), &[]);
    assert_eq!(status, 1);
    assert!(err.contains("instruction budget"), "{err}");
}

#[test]
fn conformance_style_cases() {
    // (program, memory, r0): the shape of the suite's data files.
    let div_by_zero = Asm::new()
        .mov(0, 3)
        .mov(1, 0)
        .i(ALU64 | DIV | X, 0, 1, 0, 0)
        .exit();
    let mod32_by_zero = Asm::new()
        .lddw(0, 0x1_0000_0003)
        .mov(1, 0)
        .i(ALU | MOD | X, 0, 1, 0, 0)
        .exit();
    let lsh_masked = Asm::new()
        .mov(0, 1)
        .mov(1, 65)
        .i(ALU64 | LSH | X, 0, 1, 0, 0)
        .exit();
    let be16 = Asm::new()
        .i(LDX | MEM | H, 0, 1, 0, 0)
        .i(ALU | END | X, 0, 0, 0, 16)
        .exit();
    let ldxsb = Asm::new().i(LDX | MEMSX | B, 0, 1, 0, 0).exit();
    let cases: [(&Asm, &str, &str); 5] = [
        (&div_by_zero, "", "0"),
        (&mod32_by_zero, "", "3"),
        (&lsh_masked, "", "2"),
        (&be16, "1122", "1122"),
        (&ldxsb, "80", "ffffffffffffff80"),
    ];
    for (asm, memory, want) in cases {
        let (status, out, err) = plugin(&hex(asm.bytes()), &[memory]);
        assert_eq!((status, out.trim(), err.as_str()), (0, want, ""));
    }
}
