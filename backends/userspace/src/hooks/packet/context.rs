//! What a packet program sees and returns: which frames its hook gets, the
//! context the kernel would give it (`struct xdp_md`, `struct __sk_buff`,
//! laid out by [`crate::emulated::net`]) and what its return value means.

use std::borrow::Cow;

use unibpf_object::{Direction, Hook, ProgramSection};
use unibpf_trace::packet::{Frame, PACKET_OUTGOING};

use crate::emulated::net::{sk_buff, xdp_md, PACKET_ADDR};
use crate::emulated::put;

/// Where on an interface a program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketHook {
    /// Received frames, as XDP sees them (before the stack).
    Xdp,
    /// A tc classifier on one direction.
    Tc { egress: bool },
    /// A socket filter on a packet socket: both directions.
    Socket,
}

impl PacketHook {
    /// The hook of a packet program's section, or None for other sections.
    pub fn of_section(section: &ProgramSection) -> Option<Self> {
        match section.hook {
            Hook::Xdp { .. } => Some(PacketHook::Xdp),
            Hook::Tc { direction, .. } => Some(PacketHook::Tc {
                egress: direction == Some(Direction::Egress),
            }),
            Hook::SocketFilter => Some(PacketHook::Socket),
            _ => None,
        }
    }

    /// The interface named by the attach target, and the hook there: as
    /// the kernel backend reads targets, `IFNAME` for XDP and socket
    /// filters, `IFNAME[:ingress|:egress]` for tc (without a suffix the
    /// section's direction, else ingress).
    pub fn at(self, target: &str) -> (&str, Self) {
        match (self, target.rsplit_once(':')) {
            (PacketHook::Tc { .. }, Some((ifname, "egress"))) => {
                (ifname, PacketHook::Tc { egress: true })
            }
            (PacketHook::Tc { .. }, Some((ifname, "ingress"))) => {
                (ifname, PacketHook::Tc { egress: false })
            }
            _ => (target, self),
        }
    }

    /// Whether a frame of kernel packet type `pkt_type` reaches the hook.
    pub fn sees(self, pkt_type: u8) -> bool {
        let outgoing = pkt_type == PACKET_OUTGOING;
        match self {
            PacketHook::Xdp => !outgoing,
            PacketHook::Tc { egress } => egress == outgoing,
            PacketHook::Socket => true,
        }
    }

    /// How `--explain` and the report name it.
    pub fn words(self) -> &'static str {
        match self {
            PacketHook::Xdp => "XDP",
            PacketHook::Tc { egress: false } => "tc ingress",
            PacketHook::Tc { egress: true } => "tc egress",
            PacketHook::Socket => "socket filter",
        }
    }

    /// The context a program of this hook gets for `frame`, received or
    /// sent on interface `ifindex`; the frame's bytes are mapped at
    /// [`PACKET_ADDR`].
    pub fn context(self, frame: &Frame, ifindex: u32) -> Vec<u8> {
        let len = frame.len as u32;
        match self {
            PacketHook::Xdp => {
                let mut b = vec![0u8; xdp_md::SIZE as usize];
                put(&mut b, xdp_md::DATA, &PACKET_ADDR.to_le_bytes());
                put(&mut b, xdp_md::DATA_END, &(PACKET_ADDR + len).to_le_bytes());
                // No metadata in front of the frame: data_meta == data.
                put(&mut b, xdp_md::DATA_META, &PACKET_ADDR.to_le_bytes());
                put(&mut b, xdp_md::INGRESS_IFINDEX, &ifindex.to_le_bytes());
                b
            }
            PacketHook::Tc { egress } => {
                let mut b = skb(frame, ifindex);
                // Only tc programs may read the packet directly.
                put(&mut b, sk_buff::DATA, &PACKET_ADDR.to_le_bytes());
                put(
                    &mut b,
                    sk_buff::DATA_END,
                    &(PACKET_ADDR + len).to_le_bytes(),
                );
                // A sent frame has not been classified as received.
                let pkt_type = if egress { 0 } else { frame.pkt_type };
                put(
                    &mut b,
                    sk_buff::PKT_TYPE,
                    &u32::from(pkt_type).to_le_bytes(),
                );
                if egress {
                    put(&mut b, sk_buff::INGRESS_IFINDEX, &0u32.to_le_bytes());
                }
                b
            }
            PacketHook::Socket => {
                let mut b = skb(frame, ifindex);
                if frame.pkt_type == PACKET_OUTGOING {
                    put(&mut b, sk_buff::INGRESS_IFINDEX, &0u32.to_le_bytes());
                }
                b
            }
        }
    }

    /// The verdict's name for the report: XDP and tc actions by their
    /// kernel names, a socket filter's by how much of the frame it keeps.
    pub fn verdict(self, r0: u64, frame_len: usize) -> Cow<'static, str> {
        let known = |names: &[&'static str], v: i64| {
            usize::try_from(v)
                .ok()
                .and_then(|i| names.get(i))
                .map(|&n| Cow::Borrowed(n))
        };
        let r = r0 as u32 as i32 as i64;
        let name = match self {
            PacketHook::Xdp => known(&["ABORTED", "DROP", "PASS", "TX", "REDIRECT"], r),
            PacketHook::Tc { .. } if r == -1 => Some("UNSPEC".into()),
            PacketHook::Tc { .. } => known(
                &[
                    "OK",
                    "RECLASSIFY",
                    "SHOT",
                    "PIPE",
                    "STOLEN",
                    "QUEUED",
                    "REPEAT",
                    "REDIRECT",
                    "TRAP",
                ],
                r,
            ),
            PacketHook::Socket => Some(match r0 as u32 {
                0 => "DROP".into(),
                n if n as usize >= frame_len => "KEEP".into(),
                _ => "TRIM".into(),
            }),
        };
        name.unwrap_or_else(|| format!("unknown({r})").into())
    }
}

/// The `__sk_buff` fields every skb program reads alike.
fn skb(frame: &Frame, ifindex: u32) -> Vec<u8> {
    let mut b = vec![0u8; sk_buff::SIZE as usize];
    let len = frame.len as u32;
    put(&mut b, sk_buff::LEN, &len.to_le_bytes());
    put(
        &mut b,
        sk_buff::PKT_TYPE,
        &u32::from(frame.pkt_type).to_le_bytes(),
    );
    // Network byte order in the low 16 bits, as the kernel keeps it.
    let protocol = u32::from(frame.protocol);
    put(&mut b, sk_buff::PROTOCOL, &protocol.to_le_bytes());
    put(&mut b, sk_buff::INGRESS_IFINDEX, &ifindex.to_le_bytes());
    put(&mut b, sk_buff::IFINDEX, &ifindex.to_le_bytes());
    put(
        &mut b,
        sk_buff::WIRE_LEN,
        &(frame.wire_len as u32).to_le_bytes(),
    );
    put(&mut b, sk_buff::GSO_SEGS, &1u32.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(name: &str) -> ProgramSection {
        ProgramSection::parse(name).expect("section")
    }

    fn udp_frame(pkt_type: u8) -> Frame {
        Frame {
            len: 242,
            wire_len: 242,
            pkt_type,
            protocol: 0x0800u16.to_be(),
        }
    }

    fn word(b: &[u8], at: u32) -> u32 {
        let at = at as usize;
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn targets_read_as_the_kernel_backend_reads_them() {
        let tc = PacketHook::of_section(&section("tc")).unwrap();
        assert_eq!(tc.at("eth0"), ("eth0", PacketHook::Tc { egress: false }));
        assert_eq!(
            tc.at("eth0:egress"),
            ("eth0", PacketHook::Tc { egress: true })
        );
        let tc_egress = PacketHook::of_section(&section("tc/egress")).unwrap();
        assert_eq!(tc_egress.at("eth0"), ("eth0", tc_egress));
        assert_eq!(
            tc_egress.at("veth:0:ingress"),
            ("veth:0", PacketHook::Tc { egress: false })
        );
        let xdp = PacketHook::of_section(&section("xdp")).unwrap();
        assert_eq!(xdp.at("eth0:egress"), ("eth0:egress", PacketHook::Xdp));
        assert_eq!(
            PacketHook::of_section(&section("socket")),
            Some(PacketHook::Socket)
        );
        assert_eq!(PacketHook::of_section(&section("kprobe/f")), None);
    }

    #[test]
    fn each_hook_sees_its_direction() {
        let (host, broadcast) = (0, 1);
        assert!(PacketHook::Xdp.sees(host) && PacketHook::Xdp.sees(broadcast));
        assert!(!PacketHook::Xdp.sees(PACKET_OUTGOING));
        assert!(PacketHook::Tc { egress: false }.sees(host));
        assert!(!PacketHook::Tc { egress: false }.sees(PACKET_OUTGOING));
        assert!(PacketHook::Tc { egress: true }.sees(PACKET_OUTGOING));
        assert!(!PacketHook::Tc { egress: true }.sees(host));
        assert!(PacketHook::Socket.sees(host) && PacketHook::Socket.sees(PACKET_OUTGOING));
    }

    #[test]
    fn xdp_md_points_at_the_frame() {
        let ctx = PacketHook::Xdp.context(&udp_frame(0), 7);
        assert_eq!(ctx.len(), 24);
        assert_eq!(word(&ctx, xdp_md::DATA), PACKET_ADDR);
        assert_eq!(word(&ctx, xdp_md::DATA_END), PACKET_ADDR + 242);
        assert_eq!(word(&ctx, xdp_md::DATA_META), PACKET_ADDR);
        assert_eq!(word(&ctx, xdp_md::INGRESS_IFINDEX), 7);
        assert_eq!(word(&ctx, xdp_md::EGRESS_IFINDEX), 0);
    }

    #[test]
    fn sk_buff_has_the_kernel_s_fields() {
        let ctx = PacketHook::Tc { egress: false }.context(&udp_frame(1), 7);
        assert_eq!(ctx.len(), 192);
        assert_eq!(word(&ctx, sk_buff::LEN), 242);
        assert_eq!(word(&ctx, sk_buff::PKT_TYPE), 1);
        // bpf_htons(ETH_P_IP) as the program compares it.
        assert_eq!(word(&ctx, sk_buff::PROTOCOL), 0x0008);
        assert_eq!(word(&ctx, sk_buff::IFINDEX), 7);
        assert_eq!(word(&ctx, sk_buff::INGRESS_IFINDEX), 7);
        assert_eq!(word(&ctx, sk_buff::DATA), PACKET_ADDR);
        assert_eq!(word(&ctx, sk_buff::DATA_END), PACKET_ADDR + 242);
        let out = PacketHook::Tc { egress: true }.context(&udp_frame(PACKET_OUTGOING), 7);
        assert_eq!(word(&out, sk_buff::PKT_TYPE), 0);
        assert_eq!(word(&out, sk_buff::INGRESS_IFINDEX), 0);
        // Socket filters read packets with helpers, not directly.
        let sock = PacketHook::Socket.context(&udp_frame(PACKET_OUTGOING), 7);
        assert_eq!(word(&sock, sk_buff::PKT_TYPE), u32::from(PACKET_OUTGOING));
        assert_eq!(word(&sock, sk_buff::DATA), 0);
        assert_eq!(word(&sock, sk_buff::DATA_END), 0);
    }

    #[test]
    fn verdicts_have_the_kernel_s_names() {
        assert_eq!(PacketHook::Xdp.verdict(2, 60), "PASS");
        assert_eq!(PacketHook::Xdp.verdict(1, 60), "DROP");
        assert_eq!(PacketHook::Xdp.verdict(9, 60), "unknown(9)");
        let tc = PacketHook::Tc { egress: false };
        assert_eq!(tc.verdict(0, 60), "OK");
        assert_eq!(tc.verdict(2, 60), "SHOT");
        assert_eq!(tc.verdict(u64::from(u32::MAX), 60), "UNSPEC");
        assert_eq!(tc.verdict(u64::MAX, 60), "UNSPEC");
        assert_eq!(PacketHook::Socket.verdict(0, 60), "DROP");
        assert_eq!(PacketHook::Socket.verdict(0xffff_ffff, 60), "KEEP");
        assert_eq!(PacketHook::Socket.verdict(20, 60), "TRIM");
    }
}
