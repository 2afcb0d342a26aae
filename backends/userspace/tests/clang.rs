//! Real clang-compiled BPF programs (tests/progs/*.bpf.c) run by the VM:
//! the instructions of the `prog` section, which must have no
//! relocations. Compiled with `-mcpu=v4` when clang knows it, else
//! `-mcpu=v3` (clang before 18 stops there); without clang the tests say
//! so and pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use goblin::elf::{section_header::SHT_REL, Elf};
use unibpf_backend_userspace::vm::{
    Limits, Memory, NoHelpers, NoMaps, Program, Reason, Region, VmError,
};

/// The instructions of `name`.bpf.c's `prog` section, or None without clang.
fn compile(name: &str) -> Option<Vec<u8>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/progs/{name}.bpf.c"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.bpf.o"));
    let mut last_error = String::new();
    for cpu in ["v4", "v3"] {
        let built = match Command::new("clang")
            .args(["-O2", "-target", "bpf", "-Wall", "-Werror"])
            .arg(format!("-mcpu={cpu}"))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .output()
        {
            Ok(built) => built,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("skipped: clang is not installed");
                return None;
            }
            Err(e) => panic!("running clang: {e}"),
        };
        if built.status.success() {
            eprintln!("{name}: compiled with -mcpu={cpu}");
            return Some(prog_section(&std::fs::read(&out).unwrap()));
        }
        last_error = String::from_utf8_lossy(&built.stderr).into_owned();
    }
    panic!("clang failed on {name}: {last_error}");
}

fn prog_section(bytes: &[u8]) -> Vec<u8> {
    let elf = Elf::parse(bytes).expect("clang's output parses");
    let index = elf
        .section_headers
        .iter()
        .position(|s| elf.shdr_strtab.get_at(s.sh_name) == Some("prog"))
        .expect("a prog section");
    assert!(
        !elf.section_headers
            .iter()
            .any(|s| s.sh_type == SHT_REL && s.sh_info as usize == index),
        "the prog section must need no relocation"
    );
    let s = &elf.section_headers[index];
    bytes[s.sh_offset as usize..(s.sh_offset + s.sh_size) as usize].to_vec()
}

/// Runs `code` on `ctx` as the context; returns r0.
fn run(code: &[u8], ctx: &mut [u8]) -> u64 {
    let prog = Program::new(code, &NoMaps).expect("clang's program verifies");
    let mut mem = Memory::new(Region::ReadWrite(ctx));
    prog.run(&mut mem, &mut NoHelpers, Limits::default())
        .expect("clang's program runs")
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn loop_with_division_and_byte_swap() {
    let Some(code) = compile("loop") else { return };
    for (n, divisor) in [(0u64, 7u64), (10, 7), (5000, 1_000_003), (3, 0)] {
        let mut ctx = [0u8; 48];
        ctx[0..8].copy_from_slice(&n.to_le_bytes());
        ctx[8..16].copy_from_slice(&divisor.to_le_bytes());
        ctx[16..20].copy_from_slice(&0x1122_3344u32.to_le_bytes());
        let r0 = run(&code, &mut ctx);
        let mut hash: u64 = 5381;
        for i in 0..n.min(1000) {
            hash = hash.wrapping_mul(33).wrapping_add(i ^ (hash >> 7));
        }
        assert_eq!(u64_at(&ctx, 24), hash, "n {n}");
        // eBPF division by zero gives 0; clang computes the remainder as
        // hash - q * d, so it is then the dividend.
        let q = hash.checked_div(divisor).unwrap_or(0);
        assert_eq!(u64_at(&ctx, 32), q);
        assert_eq!(u64_at(&ctx, 40), hash.wrapping_sub(q.wrapping_mul(divisor)));
        assert_eq!(u32_at(&ctx, 20), 0x4433_2211);
        assert_eq!(r0, hash & 0x7fff_ffff);
    }
}

#[test]
fn sync_fetch_and_add_and_compare_and_swap() {
    let Some(code) = compile("atomic") else {
        return;
    };
    for (counter, cas) in [(0u64, 7u32), (41, 8), (u64::MAX, 7)] {
        let mut ctx = [0u8; 16];
        ctx[0..8].copy_from_slice(&counter.to_le_bytes());
        ctx[8..12].copy_from_slice(&10u32.to_le_bytes());
        ctx[12..16].copy_from_slice(&cas.to_le_bytes());
        let r0 = run(&code, &mut ctx);
        assert_eq!(u64_at(&ctx, 0), counter.wrapping_add(5));
        assert_eq!(u32_at(&ctx, 8), 11);
        assert_eq!(u32_at(&ctx, 12), if cas == 7 { 9 } else { cas });
        let local = 100u64.wrapping_add(counter);
        let want = local.wrapping_add(100).wrapping_add(cas as u64 * 1000) as u32;
        assert_eq!(r0, want as u64, "counter {counter} cas {cas}");
    }
}

#[test]
fn bpf_to_bpf_calls_with_callee_saved_registers() {
    let Some(code) = compile("calls") else { return };
    let mix = |x: i64, y: i64| (7i64.wrapping_mul(x) - y) ^ (3i64.wrapping_mul(x) - y);
    for (a, b) in [(1i64, 2i64), (-5, 1000), (123_456_789, -987)] {
        let mut ctx = [0u8; 16];
        ctx[0..8].copy_from_slice(&a.to_le_bytes());
        ctx[8..16].copy_from_slice(&b.to_le_bytes());
        let r0 = run(&code, &mut ctx);
        let want = mix(a, b)
            .wrapping_add(mix(b, a))
            .wrapping_add(a)
            .wrapping_sub(b) as u32;
        assert_eq!(r0, want as u64, "a {a} b {b}");
    }
}

/// A UDP/IPv4 frame to `port` with `payload` bytes.
fn udp_frame(port: u16, payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + payload];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[23] = 17;
    f[36..38].copy_from_slice(&port.to_be_bytes());
    f
}

/// Runs `code` as XDP on `frame`, as the packet hook does: the frame low
/// in slot 0, `xdp_md` pointing at it.
fn run_xdp(code: &[u8], frame: &mut [u8]) -> Result<u64, VmError> {
    use unibpf_backend_userspace::emulated::net::PACKET_ADDR;
    use unibpf_backend_userspace::hooks::packet::PacketHook;
    let seen = unibpf_trace::packet::Frame {
        len: frame.len(),
        wire_len: frame.len(),
        pkt_type: 0,
        protocol: 0x0800u16.to_be(),
    };
    let mut ctx = PacketHook::Xdp.context(&seen, 3);
    let prog = Program::new(code, &NoMaps).expect("clang's program verifies");
    let mut mem = Memory::new(Region::ReadWrite(&mut ctx));
    mem.map_low(PACKET_ADDR, Region::ReadWrite(frame));
    prog.run(&mut mem, &mut NoHelpers, Limits::default())
}

#[test]
fn xdp_reads_the_frame_through_32_bit_pointers_within_data_end() {
    let Some(code) = compile("xdp_parse") else {
        return;
    };
    assert_eq!(
        run_xdp(&code, &mut udp_frame(9317, 10)).unwrap(),
        1000 + 9317
    );
    // Too short for the UDP header the IP header announces: the program's
    // own check, against data_end, drops it.
    let mut short = udp_frame(9317, 0);
    short[14] = 0x4f; // IHL 15: options would run past the end
    assert_eq!(run_xdp(&code, &mut short).unwrap(), 1);
    let mut arp = udp_frame(1, 30);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(run_xdp(&code, &mut arp).unwrap(), 2);
}

#[test]
fn xdp_reading_at_data_end_is_refused() {
    let Some(code) = compile("xdp_overread") else {
        return;
    };
    match run_xdp(&code, &mut udp_frame(9317, 10)) {
        Err(VmError::Access { source, .. }) => {
            assert_eq!(source.reason, Reason::PastEnd { len: 52 })
        }
        other => panic!("a read at data_end must fail, got {other:?}"),
    }
}
