//! Layouts of the kernel's packet contexts (`struct xdp_md`, `struct
//! __sk_buff`: the UAPI views programs read) and of the protocol headers
//! packet programs cast packet bytes to (`ethhdr`, `iphdr`, `ipv6hdr`,
//! `udphdr`, `tcphdr`), which CO-RE relocates like any kernel type.
//! Offsets are the kernel's (its BTF, `/sys/kernel/btf/vmlinux`, on 6.x).
//! Not emulated: `__sk_buff`'s two unnamed unions (`flow_keys`, `sk`) and
//! the IPv6 addresses (`struct in6_addr` is a union of arrays).

use super::layout::{field, FieldType, Struct, U16, U32, U64, U8};

/// `struct xdp_md`.
pub mod xdp_md {
    pub const DATA: u32 = 0;
    pub const DATA_END: u32 = 4;
    pub const DATA_META: u32 = 8;
    pub const INGRESS_IFINDEX: u32 = 12;
    pub const RX_QUEUE_INDEX: u32 = 16;
    pub const EGRESS_IFINDEX: u32 = 20;
    pub const SIZE: u32 = 24;
}

/// `struct __sk_buff`.
pub mod sk_buff {
    pub const LEN: u32 = 0;
    pub const PKT_TYPE: u32 = 4;
    pub const MARK: u32 = 8;
    pub const QUEUE_MAPPING: u32 = 12;
    /// The EtherType in network byte order.
    pub const PROTOCOL: u32 = 16;
    pub const VLAN_PRESENT: u32 = 20;
    pub const VLAN_TCI: u32 = 24;
    pub const VLAN_PROTO: u32 = 28;
    pub const PRIORITY: u32 = 32;
    pub const INGRESS_IFINDEX: u32 = 36;
    pub const IFINDEX: u32 = 40;
    pub const TC_INDEX: u32 = 44;
    /// `__u32 cb[5]`.
    pub const CB: u32 = 48;
    pub const HASH: u32 = 68;
    pub const TC_CLASSID: u32 = 72;
    pub const DATA: u32 = 76;
    pub const DATA_END: u32 = 80;
    pub const NAPI_ID: u32 = 84;
    pub const FAMILY: u32 = 88;
    pub const REMOTE_IP4: u32 = 92;
    pub const LOCAL_IP4: u32 = 96;
    /// `__u32 remote_ip6[4]`.
    pub const REMOTE_IP6: u32 = 100;
    pub const LOCAL_IP6: u32 = 116;
    pub const REMOTE_PORT: u32 = 132;
    pub const LOCAL_PORT: u32 = 136;
    pub const DATA_META: u32 = 140;
    pub const TSTAMP: u32 = 152;
    pub const WIRE_LEN: u32 = 160;
    pub const GSO_SEGS: u32 = 164;
    pub const GSO_SIZE: u32 = 176;
    pub const TSTAMP_TYPE: u32 = 180;
    pub const HWTSTAMP: u32 = 184;
    pub const SIZE: u32 = 192;
}

/// Where a run's packet data is mapped: low in the VM's slot 0, so the
/// 32-bit `data`/`data_end` fields can hold its address.
pub const PACKET_ADDR: u32 = 0x1000_0000;

/// Bytes of an Ethernet header.
pub const ETH_HLEN: u32 = 14;

const fn u32s(len: u32) -> FieldType {
    FieldType::Ints {
        size: 4,
        signed: false,
        len,
    }
}
const fn bytes(len: u32) -> FieldType {
    FieldType::Ints {
        size: 1,
        signed: false,
        len,
    }
}
const fn bits(size: u32, bits: u32) -> FieldType {
    FieldType::Bits { size, bits }
}

/// The network structs, for the emulated BTF.
pub const STRUCTS: &[Struct] = &[
    Struct {
        name: "xdp_md",
        size: xdp_md::SIZE,
        fields: &[
            field("data", xdp_md::DATA, U32),
            field("data_end", xdp_md::DATA_END, U32),
            field("data_meta", xdp_md::DATA_META, U32),
            field("ingress_ifindex", xdp_md::INGRESS_IFINDEX, U32),
            field("rx_queue_index", xdp_md::RX_QUEUE_INDEX, U32),
            field("egress_ifindex", xdp_md::EGRESS_IFINDEX, U32),
        ],
    },
    Struct {
        name: "__sk_buff",
        size: sk_buff::SIZE,
        fields: SK_BUFF_FIELDS,
    },
    Struct {
        name: "ethhdr",
        size: ETH_HLEN,
        fields: &[
            field("h_dest", 0, bytes(6)),
            field("h_source", 6, bytes(6)),
            field("h_proto", 12, U16),
        ],
    },
    Struct {
        name: "iphdr",
        size: 20,
        fields: &[
            field("ihl", 0, bits(1, 4)),
            field("version", 4, bits(1, 4)),
            field("tos", 1, U8),
            field("tot_len", 2, U16),
            field("id", 4, U16),
            field("frag_off", 6, U16),
            field("ttl", 8, U8),
            field("protocol", 9, U8),
            field("check", 10, U16),
            field("saddr", 12, U32),
            field("daddr", 16, U32),
        ],
    },
    Struct {
        name: "ipv6hdr",
        size: 40,
        fields: &[
            field("priority", 0, bits(1, 4)),
            field("version", 4, bits(1, 4)),
            field("flow_lbl", 1, bytes(3)),
            field("payload_len", 4, U16),
            field("nexthdr", 6, U8),
            field("hop_limit", 7, U8),
        ],
    },
    Struct {
        name: "udphdr",
        size: 8,
        fields: &[
            field("source", 0, U16),
            field("dest", 2, U16),
            field("len", 4, U16),
            field("check", 6, U16),
        ],
    },
    Struct {
        name: "tcphdr",
        size: 20,
        fields: TCPHDR_FIELDS,
    },
];

const SK_BUFF_FIELDS: &[super::layout::Field] = {
    use sk_buff::*;
    &[
        field("len", LEN, U32),
        field("pkt_type", PKT_TYPE, U32),
        field("mark", MARK, U32),
        field("queue_mapping", QUEUE_MAPPING, U32),
        field("protocol", PROTOCOL, U32),
        field("vlan_present", VLAN_PRESENT, U32),
        field("vlan_tci", VLAN_TCI, U32),
        field("vlan_proto", VLAN_PROTO, U32),
        field("priority", PRIORITY, U32),
        field("ingress_ifindex", INGRESS_IFINDEX, U32),
        field("ifindex", IFINDEX, U32),
        field("tc_index", TC_INDEX, U32),
        field("cb", CB, u32s(5)),
        field("hash", HASH, U32),
        field("tc_classid", TC_CLASSID, U32),
        field("data", DATA, U32),
        field("data_end", DATA_END, U32),
        field("napi_id", NAPI_ID, U32),
        field("family", FAMILY, U32),
        field("remote_ip4", REMOTE_IP4, U32),
        field("local_ip4", LOCAL_IP4, U32),
        field("remote_ip6", REMOTE_IP6, u32s(4)),
        field("local_ip6", LOCAL_IP6, u32s(4)),
        field("remote_port", REMOTE_PORT, U32),
        field("local_port", LOCAL_PORT, U32),
        field("data_meta", DATA_META, U32),
        field("tstamp", TSTAMP, U64),
        field("wire_len", WIRE_LEN, U32),
        field("gso_segs", GSO_SEGS, U32),
        field("gso_size", GSO_SIZE, U32),
        field("tstamp_type", TSTAMP_TYPE, U8),
        field("hwtstamp", HWTSTAMP, U64),
    ]
};

/// `tcphdr`: the flags are bits of the 16-bit word at byte 12.
const TCPHDR_FIELDS: &[super::layout::Field] = &[
    field("source", 0, U16),
    field("dest", 2, U16),
    field("seq", 4, U32),
    field("ack_seq", 8, U32),
    field("ae", 96, bits(2, 1)),
    field("res1", 97, bits(2, 3)),
    field("doff", 100, bits(2, 4)),
    field("fin", 104, bits(2, 1)),
    field("syn", 105, bits(2, 1)),
    field("rst", 106, bits(2, 1)),
    field("psh", 107, bits(2, 1)),
    field("ack", 108, bits(2, 1)),
    field("urg", 109, bits(2, 1)),
    field("ece", 110, bits(2, 1)),
    field("cwr", 111, bits(2, 1)),
    field("window", 14, U16),
    field("check", 16, U16),
    field("urg_ptr", 18, U16),
];

#[cfg(test)]
mod tests {
    use super::*;
    use unibpf_object::btf::Kind;
    use unibpf_object::{Btf, TypeId};

    /// The bit offset and bitfield size of member `name` of `id`, looked up
    /// through unnamed members as CO-RE does.
    fn member(btf: &Btf, id: TypeId, name: &str) -> Option<(u32, Option<u32>)> {
        let (Kind::Struct { members, .. } | Kind::Union { members, .. }) =
            &btf.ty(btf.resolve(id)).kind
        else {
            return None;
        };
        members.iter().find_map(|m| {
            if m.name == name {
                Some((m.bit_offset, m.bitfield_size))
            } else if m.name.is_empty() {
                member(btf, m.ty, name).map(|(off, bits)| (m.bit_offset + off, bits))
            } else {
                None
            }
        })
    }

    #[test]
    fn layouts_are_the_running_kernel_s() {
        let Ok(raw) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("no kernel BTF here: nothing to compare with");
            return;
        };
        let kernel = Btf::parse(&raw).expect("the kernel's BTF parses");
        for s in STRUCTS {
            let id = kernel.find_composite(s.name).expect(s.name);
            assert_eq!(kernel.size_of(id), Some(u64::from(s.size)), "{}", s.name);
            for f in s.fields {
                let want = match f.ty {
                    FieldType::Bits { bits, .. } => (f.offset, Some(bits)),
                    _ => (f.offset * 8, None),
                };
                assert_eq!(
                    member(&kernel, id, f.name),
                    Some(want),
                    "{}.{}",
                    s.name,
                    f.name
                );
            }
        }
    }
}
