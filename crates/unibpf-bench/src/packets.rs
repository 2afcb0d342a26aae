//! Event delivery on both of unibpf's backends from the same record stream.
//! The userspace backend has no BPF_PROG_TEST_RUN, but it runs tc programs
//! on the frames of an interface: so bench_ring is attached to the egress
//! of one end of a veth pair made for the run, and the harness sends raw
//! frames on it at a fixed rate; each frame is one record on either
//! backend. (A dummy interface would do, but not every kernel has one.)
//!
//! What is measured is the unibpf process's CPU time per record (all
//! threads). On the kernel backend the program runs in the sender's
//! context and unibpf only consumes; on the userspace backend unibpf also
//! reads each frame from its packet socket and runs the program, so its
//! number is the whole cost of the record to the machine but the sender's.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use crate::guest::{field, Backend, Guests, Running};
use crate::measure::{cpu_ns, ended_cleanly, paced, Scale};
use crate::userspace::{backends, BackendPair, BackendSamples};
use crate::BenchError;

/// A broadcast frame of a local experimental EtherType (0x88B5): nothing on
/// the host handles it, so the peer drops it once received.
const FRAME: [u8; 60] = {
    let mut f = [0u8; 60];
    let mut i = 0;
    while i < 6 {
        f[i] = 0xff;
        i += 1;
    }
    f[6] = 0x02;
    f[11] = 0x01;
    f[12] = 0x88;
    f[13] = 0xb5;
    f
};

/// A veth pair, deleted on drop; frames go out of `name`.
pub struct Veth {
    name: String,
    ifindex: u32,
}

fn ip(args: &[&str]) -> Result<(), BenchError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| BenchError::Setup(format!("running ip: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Setup(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Veth {
    /// Makes `ubenchPID` and its peer `ubenchPIDp`, up, with nothing of
    /// their own to send.
    pub fn create() -> Result<Self, BenchError> {
        let name = format!("ubench{}", std::process::id() % 1_000_000);
        let peer = format!("{name}p");
        ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer])?;
        let mut veth = Veth { name, ifindex: 0 };
        for end in [veth.name.as_str(), peer.as_str()] {
            // Without IPv6 they send no router solicitations or MLD
            // reports: every frame is one the harness sent.
            let v6 = format!("/proc/sys/net/ipv6/conf/{end}/disable_ipv6");
            if Path::new(&v6).exists() {
                std::fs::write(&v6, "1").map_err(|e| BenchError::io(&v6, e))?;
            }
            ip(&["link", "set", end, "up"])?;
        }
        let index = format!("/sys/class/net/{}/ifindex", veth.name);
        let text = std::fs::read_to_string(&index).map_err(|e| BenchError::io(&index, e))?;
        veth.ifindex = text
            .trim()
            .parse()
            .map_err(|_| BenchError::Setup(format!("{index}: {text:?} is not an index")))?;
        Ok(veth)
    }

    /// Where bench_ring attaches.
    fn target(&self) -> String {
        format!("{}:egress", self.name)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // Deleting one end deletes the pair.
        if let Err(e) = ip(&["link", "del", &self.name]) {
            eprintln!("bench: {e}");
        }
    }
}

/// A raw packet socket that sends [`FRAME`] on one interface.
pub struct FrameSender {
    fd: OwnedFd,
}

impl FrameSender {
    pub fn open(ifindex: u32) -> Result<Self, BenchError> {
        let index = i32::try_from(ifindex)
            .map_err(|_| BenchError::Setup(format!("interface index {ifindex} out of range")))?;
        // SAFETY: a plain syscall wrapper; a negative return is an error.
        // Protocol 0: the socket receives nothing.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(last_error("opening a packet socket"));
        }
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain data; all zeros is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = index;
        // SAFETY: addr is a sockaddr_ll of the length given, alive for the call.
        let err = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if err < 0 {
            return Err(last_error("binding the packet socket"));
        }
        Ok(Self { fd })
    }

    /// Sends `n` frames.
    pub fn send(&self, n: u32) -> Result<(), BenchError> {
        for _ in 0..n {
            // SAFETY: FRAME is a static buffer of the length given.
            let sent =
                unsafe { libc::send(self.fd.as_raw_fd(), FRAME.as_ptr().cast(), FRAME.len(), 0) };
            if sent < 0 {
                return Err(last_error("sending a frame"));
            }
        }
        Ok(())
    }
}

fn last_error(what: &str) -> BenchError {
    BenchError::Setup(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// Consumer CPU per record, per backend, at `scale.frame_rate`.
pub fn delivery(
    g: &Guests,
    scale: &Scale,
    mut tick: impl FnMut(),
) -> Result<BackendPair, BenchError> {
    let veth = Veth::create()?;
    let sender = FrameSender::open(veth.ifindex)?;
    let mut cpu = BackendSamples::default();
    for round in 0..scale.rounds {
        for backend in backends(round) {
            cpu.push(backend, delivery_once(g, scale, &veth, &sender, backend)?);
            tick();
        }
    }
    Ok(cpu.medians())
}

/// One consumer process: ns of its CPU per record, once every record is
/// seen to have arrived, in order of production (the sequence numbers add up).
fn delivery_once(
    g: &Guests,
    scale: &Scale,
    veth: &Veth,
    sender: &FrameSender,
    backend: Backend,
) -> Result<f64, BenchError> {
    let what = format!("bench events ring (unibpf, {} backend)", backend.label());
    let target = veth.target();
    let cmd = g.run_on(backend, &[], "bench", &["events", "ring", &target]);
    let mut run = Running::spawn(cmd, &what, false)?;
    run.expect("READY")?;
    let n = (scale.frame_rate as f64 * scale.frame_seconds) as u64;
    run.send(&format!("live {n}"))?;
    let before = cpu_ns(run.pid())?;
    paced(n, scale.frame_rate, |b| sender.send(b))?;
    let (_, line) = run.expect("LIVE ")?;
    let used = cpu_ns(run.pid())?.saturating_sub(before);
    let got = field(&line, "n")?;
    if got != n {
        return Err(run.failed(&format!(
            "{got} of {n} records arrived at {}/s",
            scale.frame_rate
        )));
    }
    run.send("end 0")?;
    let (_, line) = run.expect("END ")?;
    let received = field(&line, "received")?;
    let seq_sum = field(&line, "seq_sum")?;
    let want = n * n.saturating_sub(1) / 2;
    if received != n || seq_sum != want {
        return Err(run.failed(&format!(
            "{received} of {n} records arrived (sequence sum {seq_sum}, expected {want})"
        )));
    }
    ended_cleanly(run, &what)?;
    Ok(used as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_is_a_broadcast_of_a_local_ethertype() {
        assert_eq!(&FRAME[..6], &[0xff; 6]);
        assert_eq!(&FRAME[12..14], &[0x88, 0xb5]);
        // Locally administered source address.
        assert_eq!(FRAME[6] & 0x02, 0x02);
    }
}
