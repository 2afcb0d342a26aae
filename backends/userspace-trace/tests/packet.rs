//! A packet socket on the loopback interface sees a UDP datagram sent to
//! 127.0.0.1 twice: going out and coming in. Needs CAP_NET_RAW; without
//! it opening the socket must fail with EPERM.

use std::time::{Duration, Instant};

use unibpf_trace::packet::{PacketSocket, PACKET_OUTGOING};
use unibpf_trace::Errno;

#[test]
fn loopback_frames_arrive_whole_with_their_direction() {
    let lo = nix::net::if_::if_nametoindex("lo").expect("lo");
    let sock = match PacketSocket::open(lo, 1 << 20) {
        Ok(s) => s,
        Err(Errno::EPERM) => {
            eprintln!("no CAP_NET_RAW: EPERM, as expected");
            return;
        }
        Err(e) => panic!("opening a packet socket on lo: {e}"),
    };
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = rx.local_addr().expect("addr").port();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let payload = [0x5au8; 100];
    tx.send_to(&payload, ("127.0.0.1", port)).expect("send");

    let mut buf = [0u8; 2048];
    let (mut outgoing, mut incoming) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && (outgoing == 0 || incoming == 0) {
        let Some(f) = sock.recv(&mut buf).expect("recv") else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let frame = &buf[..f.len];
        // Ethernet (14) + IPv4 (20) + UDP (8), to our port.
        let ours = f.protocol == 0x0800u16.to_be()
            && frame.len() == 14 + 20 + 8 + payload.len()
            && frame[23] == 17
            && frame[36..38] == port.to_be_bytes();
        if ours {
            assert_eq!(f.wire_len, f.len);
            if f.pkt_type == PACKET_OUTGOING {
                outgoing += 1;
            } else {
                incoming += 1;
            }
        }
    }
    assert_eq!((outgoing, incoming), (1, 1));
}

#[test]
fn a_short_buffer_still_reports_the_frame_s_length() {
    let lo = nix::net::if_::if_nametoindex("lo").expect("lo");
    let Ok(sock) = PacketSocket::open(lo, 1 << 20) else {
        return;
    };
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = rx.local_addr().expect("addr").port();
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .send_to(&[1u8; 300], ("127.0.0.1", port))
        .expect("send");
    let mut buf = [0u8; 40];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match sock.recv(&mut buf).expect("recv") {
            Some(f) if f.wire_len == 14 + 20 + 8 + 300 => {
                assert_eq!(f.len, 40);
                return;
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("the datagram was not seen");
}
