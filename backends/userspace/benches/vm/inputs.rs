//! What each suite program runs on: the record its hook would give, built
//! by the backend's own record builders, and a task whose user memory
//! holds the strings and arrays the programs read.

use unibpf_backend_userspace::emulated::layout::regs;
use unibpf_backend_userspace::helpers::task::{Fault, Task};
use unibpf_backend_userspace::hooks::context;
use unibpf_backend_userspace::hooks::packet::PacketHook;
use unibpf_trace::packet::Frame;
use unibpf_trace::Event;

const PID: u32 = 4242;
const EXECUTABLE: u64 = 0x10000;
const ARGUMENT: u64 = 0x10100;
const ARGV: u64 = 0x10200;
const OPENED: u64 = 0x10300;

/// A traced process as the programs see it.
pub struct BenchTask {
    memory: Vec<(u64, Vec<u8>)>,
}

impl BenchTask {
    pub fn new() -> Self {
        let argv: Vec<u8> = [EXECUTABLE, ARGUMENT, 0]
            .iter()
            .flat_map(|p| p.to_le_bytes())
            .collect();
        BenchTask {
            memory: vec![
                (EXECUTABLE, b"/usr/bin/true\0".to_vec()),
                (ARGUMENT, b"--version\0".to_vec()),
                (ARGV, argv),
                (OPENED, b"/etc/passwd\0".to_vec()),
            ],
        }
    }

    fn at(&self, addr: u64) -> Option<&[u8]> {
        self.memory.iter().find_map(|(base, bytes)| {
            let off = usize::try_from(addr.checked_sub(*base)?).ok()?;
            bytes.get(off..)
        })
    }
}

impl Task for BenchTask {
    fn tid(&self) -> u32 {
        PID
    }
    fn tgid(&self) -> u32 {
        PID
    }
    fn parent_tgid(&self) -> u32 {
        1
    }
    fn uid_gid(&self) -> (u32, u32) {
        (1000, 1000)
    }
    fn comm(&self) -> [u8; 16] {
        *b"bench\0\0\0\0\0\0\0\0\0\0\0"
    }
    fn start_ns(&self) -> (u64, u64) {
        (1_000_000, 1_000_000)
    }
    fn exit_status(&self) -> i32 {
        3 << 8
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let bytes = self.at(addr).ok_or(Fault)?;
        buf.copy_from_slice(bytes.get(..buf.len()).ok_or(Fault)?);
        Ok(())
    }
    fn read_str(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Fault> {
        let bytes = self.at(addr).ok_or(Fault)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let n = bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(bytes.len())
            .min(buf.len() - 1);
        buf[..n].copy_from_slice(&bytes[..n]);
        buf[n] = 0;
        Ok(n + 1)
    }
}

/// What a program runs on.
#[derive(Clone, Copy)]
pub enum Input {
    Exec,
    Exit,
    SysEnter(i64),
    SysExit(i64, i64),
    /// uprobe entry with these first two arguments.
    Call(u64, u64),
    /// uretprobe with this return value.
    Return(u64),
    Packet(PacketHook),
}

impl Input {
    /// The context and, for packet programs, the frame.
    pub fn build(self, task: &BenchTask) -> (Vec<u8>, Option<Vec<u8>>) {
        let record = |event: Event<'_>| (context::record(&event, task), None);
        match self {
            Input::Exec => record(Event::Exec {
                filename: "/usr/bin/true",
                old_tid: PID as i32,
            }),
            Input::Exit => record(Event::Exit { status: 3 << 8 }),
            Input::SysEnter(id) => {
                let args = match id {
                    libc::SYS_execve => [EXECUTABLE, ARGV, 0, 0, 0, 0],
                    _ => [(-100i64) as u64, OPENED, 0, 0, 0, 0],
                };
                record(Event::SysEnter { id, args })
            }
            Input::SysExit(id, ret) => record(Event::SysExit { id, ret }),
            Input::Call(a, b) => (registers(&[("di", a), ("si", b)]), None),
            Input::Return(v) => (registers(&[("ax", v)]), None),
            Input::Packet(hook) => {
                let frame = udp_frame(300);
                let meta = Frame {
                    len: frame.len(),
                    wire_len: frame.len(),
                    pkt_type: 0,
                    protocol: u16::from_ne_bytes([0x08, 0x00]),
                };
                (hook.context(&meta, 2), Some(frame))
            }
        }
    }
}

/// `pt_regs` with the named registers set.
#[cfg(target_arch = "x86_64")]
fn registers(set: &[(&str, u64)]) -> Vec<u8> {
    let mut b = vec![0u8; regs::SIZE as usize];
    for (name, value) in set {
        if let Some(i) = regs::NAMES.iter().position(|n| n == name) {
            b[8 * i..8 * i + 8].copy_from_slice(&value.to_le_bytes());
        }
    }
    b
}

/// `user_pt_regs`: x0 and x1 are the arguments, x0 the return value.
#[cfg(not(target_arch = "x86_64"))]
fn registers(set: &[(&str, u64)]) -> Vec<u8> {
    let mut b = vec![0u8; regs::SIZE as usize];
    for (name, value) in set {
        let i = match *name {
            "si" => 1,
            _ => 0,
        };
        b[8 * i..8 * i + 8].copy_from_slice(&value.to_le_bytes());
    }
    b
}

/// An Ethernet/IPv4/UDP frame with `payload` bytes, to port 9317.
fn udp_frame(payload: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(42 + payload);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00]);
    let total = (20 + 8 + payload) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&9317u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(42 + payload, 0xab);
    f
}

/// One measured case: programs of one object run in turn (a pair such as
/// a syscall's enter and exit does the work the pair does together).
pub struct Case {
    pub object: &'static str,
    pub steps: Vec<(&'static str, Input)>,
}

/// The suite programs the userspace backend runs, on their inputs.
pub fn suite() -> Vec<Case> {
    let case = |object, steps| Case { object, steps };
    vec![
        case(
            "bootstrap",
            vec![("handle_exec", Input::Exec), ("handle_exit", Input::Exit)],
        ),
        case(
            "execve",
            vec![("trace_execve", Input::SysEnter(libc::SYS_execve))],
        ),
        case(
            "opensnoop",
            vec![
                ("enter_openat", Input::SysEnter(libc::SYS_openat)),
                ("exit_openat", Input::SysExit(libc::SYS_openat, 3)),
            ],
        ),
        case("exitsnoop", vec![("on_exit", Input::Exit)]),
        case(
            "uprobe",
            vec![
                ("enter_add", Input::Call(40, 2)),
                ("exit_add", Input::Return(42)),
            ],
        ),
        case(
            "xdp",
            vec![("count_packets", Input::Packet(PacketHook::Xdp))],
        ),
        case(
            "tc",
            vec![(
                "count_ingress",
                Input::Packet(PacketHook::Tc { egress: false }),
            )],
        ),
        case(
            "sockfilter",
            vec![("count_by_protocol", Input::Packet(PacketHook::Socket))],
        ),
    ]
}
