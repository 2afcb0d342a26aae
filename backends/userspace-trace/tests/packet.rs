//! A packet socket on the loopback interface sees a UDP datagram sent to
//! 127.0.0.1 twice: going out and coming in. Needs CAP_NET_RAW; without
//! it opening the socket must fail with EPERM.

use std::time::{Duration, Instant};

use unibpf_trace::packet::{PacketSocket, RingSize, PACKET_OUTGOING};
use unibpf_trace::Errno;

#[test]
fn loopback_frames_arrive_whole_with_their_direction() {
    let lo = nix::net::if_::if_nametoindex("lo").expect("lo");
    let mut sock = match PacketSocket::open(lo, RingSize::DEFAULT) {
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

    let (mut outgoing, mut incoming) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && (outgoing == 0 || incoming == 0) {
        let seen = sock.for_each_frame(|f, frame| {
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
        });
        if seen == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!((outgoing, incoming), (1, 1));
}

#[test]
fn a_frame_longer_than_a_block_is_cut_and_keeps_its_length() {
    let lo = nix::net::if_::if_nametoindex("lo").expect("lo");
    let small = RingSize {
        block_size: 4096,
        blocks: 4,
        retire_ms: 1,
    };
    let Ok(mut sock) = PacketSocket::open(lo, small) else {
        return;
    };
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = rx.local_addr().expect("addr").port();
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .send_to(&[1u8; 6000], ("127.0.0.1", port))
        .expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut cut = None;
    while Instant::now() < deadline && cut.is_none() {
        sock.for_each_frame(|f, bytes| {
            if f.wire_len == 14 + 20 + 8 + 6000 {
                cut = Some((f.len, bytes.len()));
            }
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    let (len, bytes) = cut.expect("the datagram was not seen");
    assert_eq!(len, bytes);
    assert!(len < 4096, "cut to the block: {len}");
    assert!(len >= 14 + 20 + 8, "headers kept: {len}");
}

#[test]
fn ring_sizes_the_kernel_cannot_take_are_refused() {
    let lo = nix::net::if_::if_nametoindex("lo").expect("lo");
    let odd = RingSize {
        block_size: 1000,
        blocks: 2,
        retire_ms: 1,
    };
    assert_eq!(PacketSocket::open(lo, odd).err(), Some(Errno::EINVAL));
}
