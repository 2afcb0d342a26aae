//! Helpers reading the packet a program runs on: `bpf_skb_load_bytes`
//! and `bpf_skb_load_bytes_relative`. The packet is the run's low region
//! (see [`crate::vm::Memory::map_low`]); its first byte is the Ethernet
//! header's, where a socket filter's and a tc program's `skb->data` is.

use crate::emulated::net::ETH_HLEN;
use crate::vm::{HelperError, Memory};

/// `start_header` of `bpf_skb_load_bytes_relative`: BPF_HDR_START_MAC.
const START_MAC: u64 = 0;
/// BPF_HDR_START_NET.
const START_NET: u64 = 1;

const EFAULT: u64 = (-14i64) as u64;

/// `bpf_skb_load_bytes(skb, offset, to, len)`: `len` bytes of the packet
/// from `offset` into `to`. Like the kernel: bytes that are not all in the
/// packet leave `to` zeroed and return -EFAULT; an offset above INT_MAX is
/// refused the same way.
pub(super) fn load_bytes(
    offset: u64,
    to: u64,
    len: u64,
    memory: &mut Memory<'_>,
    scratch: &mut Vec<u8>,
) -> Result<u64, HelperError> {
    let offset = offset as u32;
    if offset > i32::MAX as u32 {
        return zeroed(to, len, memory);
    }
    copy(u64::from(offset), to, len, memory, scratch)
}

/// `bpf_skb_load_bytes_relative(skb, offset, to, len, start_header)`:
/// from the MAC header (as [`load_bytes`]) or the network header, which
/// follows the Ethernet header. An unknown `start_header` or an offset
/// above 0xffff is -EFAULT, `to` zeroed, as in the kernel.
pub(super) fn load_bytes_relative(
    offset: u64,
    to: u64,
    len: u64,
    start: u64,
    memory: &mut Memory<'_>,
    scratch: &mut Vec<u8>,
) -> Result<u64, HelperError> {
    let offset = u64::from(offset as u32);
    let base = match start {
        START_MAC => 0,
        START_NET => u64::from(ETH_HLEN),
        _ => return zeroed(to, len, memory),
    };
    if offset > 0xffff {
        return zeroed(to, len, memory);
    }
    copy(base + offset, to, len, memory, scratch)
}

fn copy(
    from: u64,
    to: u64,
    len: u64,
    memory: &mut Memory<'_>,
    scratch: &mut Vec<u8>,
) -> Result<u64, HelperError> {
    let len = len as u32 as usize;
    let Some((packet, packet_len)) = memory.low() else {
        return zeroed(to, len as u64, memory);
    };
    let inside = from
        .checked_add(len as u64)
        .is_some_and(|end| end <= packet_len as u64);
    if !inside {
        return zeroed(to, len as u64, memory);
    }
    scratch.clear();
    scratch.extend_from_slice(memory.read(packet + from, len)?);
    memory.write(to, scratch)?;
    Ok(0)
}

fn zeroed(to: u64, len: u64, memory: &mut Memory<'_>) -> Result<u64, HelperError> {
    memory.write_slice(to, len as u32 as usize)?.fill(0);
    Ok(EFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::Region;

    /// A packet of 20 bytes 0..20 mapped low, and an 8-byte buffer.
    fn with_packet(f: impl FnOnce(&mut Memory<'_>, u64)) {
        let mut packet: Vec<u8> = (0..20).collect();
        let mut buf = [0xeeu8; 8];
        let mut memory = Memory::default();
        let to = memory.add_region(Region::ReadWrite(&mut buf));
        memory.map_low(0x1000_0000, Region::ReadWrite(&mut packet));
        f(&mut memory, to);
    }

    #[test]
    fn loads_bytes_inside_the_packet_and_zeroes_outside() {
        with_packet(|memory, to| {
            let mut scratch = Vec::new();
            assert_eq!(load_bytes(16, to, 4, memory, &mut scratch).unwrap(), 0);
            assert_eq!(&memory.region(to).unwrap()[..4], &[16, 17, 18, 19]);
            // One byte past the end: -EFAULT, the buffer zeroed.
            assert_eq!(load_bytes(17, to, 4, memory, &mut scratch).unwrap(), EFAULT);
            assert_eq!(&memory.region(to).unwrap()[..4], &[0; 4]);
            assert_eq!(
                load_bytes(u64::MAX, to, 1, memory, &mut scratch).unwrap(),
                EFAULT
            );
            // A destination the program may not write stops the run.
            assert!(load_bytes(0, 8, 1, memory, &mut scratch).is_err());
        });
    }

    #[test]
    fn relative_loads_start_at_the_mac_or_network_header() {
        with_packet(|memory, to| {
            let mut scratch = Vec::new();
            let mut rel = |off, start| load_bytes_relative(off, to, 2, start, memory, &mut scratch);
            assert_eq!(rel(0, START_NET).unwrap(), 0);
            assert_eq!(rel(1, START_MAC).unwrap(), 0);
            assert_eq!(rel(5, START_NET).unwrap(), EFAULT);
            assert_eq!(rel(0, 2).unwrap(), EFAULT);
        });
        with_packet(|memory, to| {
            let mut scratch = Vec::new();
            load_bytes_relative(2, to, 2, START_NET, memory, &mut scratch).unwrap();
            assert_eq!(&memory.region(to).unwrap()[..2], &[16, 17]);
        });
    }
}
