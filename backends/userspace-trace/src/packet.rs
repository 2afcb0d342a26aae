//! A raw packet socket (AF_PACKET, SOCK_RAW, every protocol) bound to one
//! network interface: each frame the interface receives or sends, whole
//! from its Ethernet header, with the kernel's packet type. Opening one
//! needs CAP_NET_RAW. unibpf's userspace backend feeds XDP, tc and socket
//! filter programs from it.
//!
//! nix wraps all of it but `bind(2)` with a `sockaddr_ll` it lets us fill;
//! that one call is the unsafe code here.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, setsockopt, socket, sockopt, AddressFamily, LinkAddr, MsgFlags, SockFlag, SockType,
};

/// `sll_pkttype` of a frame this host sends (libc's PACKET_OUTGOING).
pub const PACKET_OUTGOING: u8 = libc::PACKET_OUTGOING;

/// One frame as the socket saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// Bytes of the whole frame (more than `len` when the buffer was short).
    pub wire_len: usize,
    /// PACKET_HOST, PACKET_BROADCAST, ..., [`PACKET_OUTGOING`].
    pub pkt_type: u8,
    /// The EtherType, in network byte order (as `sll_protocol` has it).
    pub protocol: u16,
}

/// A packet socket on one interface; closed on drop.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSocket {
    /// Opens a non-blocking packet socket on interface `ifindex` and asks
    /// for a receive buffer of `rcvbuf` bytes (the kernel caps it at
    /// `net.core.rmem_max`). EPERM means no CAP_NET_RAW.
    pub fn open(ifindex: u32, rcvbuf: usize) -> Result<Self, Errno> {
        let index = i32::try_from(ifindex).map_err(|_| Errno::ENODEV)?;
        // Protocol 0 receives nothing until bind names the protocol and
        // the interface: no frame of another interface slips in between.
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        if let Err(e) = setsockopt(&fd, sockopt::RcvBuf, &rcvbuf) {
            tracing::debug!("packet socket: SO_RCVBUF {rcvbuf}: {e}");
        }
        bind_to_interface(&fd, index)?;
        Ok(Self { fd, ifindex })
    }

    /// The next queued frame, copied into `buf`; None when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<Frame>, Errno> {
        let capacity = buf.len();
        loop {
            let mut iov = [IoSliceMut::new(buf)];
            // MSG_TRUNC: the result is the frame's length even when the
            // buffer is shorter.
            let msg =
                match recvmsg::<LinkAddr>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::MSG_TRUNC)
                {
                    Ok(m) => m,
                    Err(Errno::EAGAIN) => return Ok(None),
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(e),
                };
            let Some(from) = msg.address else {
                continue;
            };
            // Bound to one interface, the socket sees no other; checked
            // all the same, as it costs nothing.
            if from.ifindex() != self.ifindex as usize {
                continue;
            }
            return Ok(Some(Frame {
                len: msg.bytes.min(capacity),
                wire_len: msg.bytes,
                pkt_type: from.pkttype(),
                protocol: from.protocol(),
            }));
        }
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Binds `fd` to every protocol on interface `ifindex`.
fn bind_to_interface(fd: &OwnedFd, ifindex: i32) -> Result<(), Errno> {
    // SAFETY: sockaddr_ll is plain old data, for which all zeroes is a
    // valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = ifindex;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_ll that outlives the call, `len`
    // is its size, and `fd` is an open socket we own.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            len,
        )
    };
    Errno::result(r).map(drop)
}
