//! A raw packet socket (AF_PACKET, SOCK_RAW, every protocol) bound to one
//! network interface: each frame the interface receives or sends, whole
//! from its Ethernet header, with the kernel's packet type. Opening one
//! needs CAP_NET_RAW. unibpf's userspace backend feeds XDP, tc and socket
//! filter programs from it.
//!
//! Frames arrive in a TPACKET_V3 ring shared with the kernel: it fills
//! blocks of frames and hands a block over when it is full or after
//! [`RingSize::retire_ms`], so a busy interface costs one wake-up per block
//! and no system call per frame (a `recvmsg` per frame made the userspace
//! backend's delivery cost twice the kernel backend's). The price is
//! latency: a lone frame waits up to the retire timeout.
//!
//! The unsafe code here: `bind(2)` with a `sockaddr_ll`, the two ring
//! socket options, the mapping, and reading the kernel's block and frame
//! headers out of it (each bounds-checked against its block first).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// `sll_pkttype` of a frame this host sends (libc's PACKET_OUTGOING).
pub const PACKET_OUTGOING: u8 = libc::PACKET_OUTGOING;

/// One frame as the socket saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Bytes of it in the ring (fewer than `wire_len` when it did not fit
    /// a block).
    pub len: usize,
    /// Bytes of the whole frame.
    pub wire_len: usize,
    /// PACKET_HOST, PACKET_BROADCAST, ..., [`PACKET_OUTGOING`].
    pub pkt_type: u8,
    /// The EtherType, in network byte order (as `sll_protocol` has it).
    pub protocol: u16,
}

/// The shape of a socket's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSize {
    /// Bytes per block: a multiple of the page size; a frame longer than
    /// a block's room is cut to it.
    pub block_size: u32,
    pub blocks: u32,
    /// Milliseconds after which the kernel hands over a block that is
    /// not full.
    pub retire_ms: u32,
}

impl RingSize {
    /// 8 blocks of 1 MiB (a 64 KiB GSO frame fits whole), handed over
    /// within a millisecond.
    pub const DEFAULT: RingSize = RingSize {
        block_size: 1 << 20,
        blocks: 8,
        retire_ms: 1,
    };
}

/// The nominal frame size TPACKET_V3 still asks for (frames are packed
/// at their real sizes; it only has to divide the block size).
const FRAME_SIZE: u32 = 2048;

/// A packet socket on one interface and its ring; both closed on drop.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    ring: Ring,
}

impl PacketSocket {
    /// Opens a non-blocking packet socket on interface `ifindex` with a
    /// receive ring of `size`. EPERM means no CAP_NET_RAW; EINVAL a size
    /// the kernel does not take.
    pub fn open(ifindex: u32, size: RingSize) -> Result<Self, Errno> {
        let index = i32::try_from(ifindex).map_err(|_| Errno::ENODEV)?;
        // SAFETY: sysconf has no preconditions.
        let page = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        if size.blocks == 0 || size.block_size < page || size.block_size % page != 0 {
            return Err(Errno::EINVAL);
        }
        // Protocol 0 receives nothing until bind names the protocol and
        // the interface: no frame of another interface slips in between.
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        let ring = Ring::new(&fd, size)?;
        bind_to_interface(&fd, index)?;
        Ok(Self { fd, ifindex, ring })
    }

    /// Hands each frame of the blocks the kernel has filled to `each`, in
    /// order, and gives the blocks back; how many frames there were.
    pub fn for_each_frame(&mut self, mut each: impl FnMut(&Frame, &[u8])) -> usize {
        let mut count = 0;
        while let Some(block) = self.ring.filled_block() {
            let index = block.index;
            for (frame, bytes) in block.frames() {
                // Bound to one interface, the socket sees no other; checked
                // all the same, as it costs nothing.
                if frame.1 == self.ifindex {
                    each(&frame.0, bytes);
                    count += 1;
                }
            }
            self.ring.release(index);
        }
        count
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The mapped ring: `blocks` blocks of `block_size` bytes, the next one
/// to look at being `next`.
#[derive(Debug)]
struct Ring {
    base: NonNull<libc::c_void>,
    block_size: usize,
    blocks: usize,
    next: usize,
}

// SAFETY: the mapping belongs to this Ring alone (it is unmapped on drop)
// and is only read through &mut self; the kernel's side synchronises
// through each block's status word.
unsafe impl Send for Ring {}

/// A block the kernel handed over, given back by [`Ring::release`].
struct Block<'a> {
    bytes: &'a [u8],
    index: usize,
}

/// Offset of a block's status word (`tpacket_block_desc.hdr.bh1.block_status`).
const BLOCK_STATUS: usize = 8;

impl Ring {
    fn new(fd: &OwnedFd, size: RingSize) -> Result<Self, Errno> {
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        set_option(fd, libc::PACKET_VERSION, &version)?;
        let request = libc::tpacket_req3 {
            tp_block_size: size.block_size,
            tp_block_nr: size.blocks,
            tp_frame_size: FRAME_SIZE,
            tp_frame_nr: size.block_size / FRAME_SIZE * size.blocks,
            tp_retire_blk_tov: size.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(fd, libc::PACKET_RX_RING, &request)?;
        let len = size.block_size as usize * size.blocks as usize;
        let length = std::num::NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
        // SAFETY: a fresh shared mapping of the socket's ring, of the size
        // the ring was just made with; nothing else maps it.
        let base = unsafe {
            mmap(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd,
                0,
            )?
        };
        Ok(Ring {
            base,
            block_size: size.block_size as usize,
            blocks: size.blocks as usize,
            next: 0,
        })
    }

    fn status(&self, index: usize) -> &AtomicU32 {
        // SAFETY: the status word is 4-byte aligned (blocks are page
        // aligned) inside block `index` of the mapping, which lives as long
        // as self; the kernel writes it concurrently, hence the atomic.
        unsafe {
            &*(self
                .base
                .as_ptr()
                .cast::<u8>()
                .add(index * self.block_size + BLOCK_STATUS)
                .cast::<AtomicU32>())
        }
    }

    /// The next block, if the kernel has handed it over.
    fn filled_block(&self) -> Option<Block<'_>> {
        let index = self.next;
        if self.status(index).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the block is ours until its status goes back to
        // TP_STATUS_KERNEL (release), so the kernel does not write it
        // meanwhile; it lies inside the mapping.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                self.base.as_ptr().cast::<u8>().add(index * self.block_size),
                self.block_size,
            )
        };
        Some(Block { bytes, index })
    }

    /// Gives block `index` (the last [`Ring::filled_block`]) back to the
    /// kernel.
    fn release(&mut self, index: usize) {
        self.status(index)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.next = (index + 1) % self.blocks;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in Ring::new, of that length; no slice
        // of it outlives &mut self.
        if let Err(e) = unsafe { munmap(self.base, self.block_size * self.blocks) } {
            tracing::warn!("unmapping a packet ring: {e}");
        }
    }
}

impl<'a> Block<'a> {
    /// The block's frames with their interface index, each checked to lie
    /// inside the block (a bad offset ends the walk).
    fn frames(&self) -> impl Iterator<Item = ((Frame, u32), &'a [u8])> + '_ {
        let bytes = self.bytes;
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        // tpacket_block_desc: version, offset_to_priv, then bh1:
        // block_status, num_pkts, offset_to_first_pkt.
        let count = word(12).unwrap_or(0);
        let mut at = word(16).unwrap_or(0) as usize;
        let mut left = count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let (frame, data, next) = parse_frame(bytes, at)?;
            if next == 0 {
                left = 0;
            }
            at += next as usize;
            Some((frame, data))
        })
    }
}

/// tpacket3_hdr fields: next offset, snaplen, len, mac offset.
const HDR_NEXT: usize = 0;
const HDR_SNAPLEN: usize = 12;
const HDR_LEN: usize = 16;
const HDR_MAC: usize = 24;
/// The sockaddr_ll after the header, at TPACKET_ALIGN(sizeof(tpacket3_hdr)).
const HDR_SOCKADDR: usize = (std::mem::size_of::<libc::tpacket3_hdr>() + 15) & !15;

/// The frame whose header starts at `at` in `block`: what it is, its
/// bytes, and the offset of the next header (0 for the last).
fn parse_frame(block: &[u8], at: usize) -> Option<((Frame, u32), &[u8], u32)> {
    let u32_at = |o: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(
            block.get(at + o..at + o + 4)?.try_into().ok()?,
        ))
    };
    let u16_at = |o: usize| -> Option<u16> {
        Some(u16::from_ne_bytes(
            block.get(at + o..at + o + 2)?.try_into().ok()?,
        ))
    };
    let next = u32_at(HDR_NEXT)?;
    let snaplen = u32_at(HDR_SNAPLEN)? as usize;
    let wire_len = u32_at(HDR_LEN)? as usize;
    let mac = usize::from(u16_at(HDR_MAC)?);
    // sockaddr_ll: family (2), protocol (2, big endian), ifindex (4),
    // hatype (2), pkttype (1).
    let protocol = u16::from_ne_bytes(
        block
            .get(at + HDR_SOCKADDR + 2..at + HDR_SOCKADDR + 4)?
            .try_into()
            .ok()?,
    );
    let ifindex = u32_at(HDR_SOCKADDR + 4)?;
    let pkt_type = *block.get(at + HDR_SOCKADDR + 10)?;
    let data = block.get(at + mac..at + mac + snaplen)?;
    Some((
        (
            Frame {
                len: snaplen,
                wire_len,
                pkt_type,
                protocol,
            },
            ifindex,
        ),
        data,
        next,
    ))
}

/// setsockopt(SOL_PACKET, `name`, `value`).
fn set_option<T>(fd: &OwnedFd, name: libc::c_int, value: &T) -> Result<(), Errno> {
    // SAFETY: `value` points to a live T of the size given; the kernel
    // only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    Errno::result(r).map(drop)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as the kernel lays one out, holding `frames` (bytes, type).
    fn block(frames: &[(&[u8], u8)]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[12..16].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        let first = 48usize;
        b[16..20].copy_from_slice(&(first as u32).to_ne_bytes());
        let mut at = first;
        for (i, (data, kind)) in frames.iter().enumerate() {
            let mac = HDR_SOCKADDR + 32;
            let size = (mac + data.len() + 15) & !15;
            let next = if i + 1 == frames.len() {
                0
            } else {
                size as u32
            };
            b[at..at + 4].copy_from_slice(&next.to_ne_bytes());
            b[at + HDR_SNAPLEN..at + HDR_SNAPLEN + 4]
                .copy_from_slice(&(data.len() as u32).to_ne_bytes());
            b[at + HDR_LEN..at + HDR_LEN + 4]
                .copy_from_slice(&(data.len() as u32 + 7).to_ne_bytes());
            b[at + HDR_MAC..at + HDR_MAC + 2].copy_from_slice(&(mac as u16).to_ne_bytes());
            b[at + HDR_SOCKADDR + 2..at + HDR_SOCKADDR + 4].copy_from_slice(&[0x08, 0x00]);
            b[at + HDR_SOCKADDR + 4..at + HDR_SOCKADDR + 8].copy_from_slice(&3u32.to_ne_bytes());
            b[at + HDR_SOCKADDR + 10] = *kind;
            b[at + mac..at + mac + data.len()].copy_from_slice(data);
            at += size;
        }
        b
    }

    #[test]
    fn frames_of_a_block_come_out_in_order_with_their_metadata() {
        let bytes = block(&[(b"first frame", 0), (b"second", PACKET_OUTGOING)]);
        let b = Block {
            bytes: &bytes,
            index: 0,
        };
        let got: Vec<_> = b.frames().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, b"first frame");
        assert_eq!(got[0].0 .0.wire_len, 11 + 7);
        assert_eq!(got[0].0 .0.protocol, 0x0800u16.to_be());
        assert_eq!(got[0].0 .1, 3);
        assert_eq!(got[1].1, b"second");
        assert_eq!(got[1].0 .0.pkt_type, PACKET_OUTGOING);
    }

    #[test]
    fn a_header_pointing_outside_its_block_ends_the_walk() {
        let mut bytes = block(&[(b"one", 0), (b"two", 0)]);
        // The first frame's snap length runs past the block.
        bytes[48 + HDR_SNAPLEN..48 + HDR_SNAPLEN + 4].copy_from_slice(&9000u32.to_ne_bytes());
        let b = Block {
            bytes: &bytes,
            index: 0,
        };
        assert_eq!(b.frames().count(), 0);
        // A count larger than the frames there stops at the last one.
        let mut bytes = block(&[(b"one", 0)]);
        bytes[12..16].copy_from_slice(&50u32.to_ne_bytes());
        let b = Block {
            bytes: &bytes,
            index: 0,
        };
        assert_eq!(b.frames().count(), 1);
    }
}
