// An XDP program reading the frame through xdp_md's 32-bit pointers, with
// the bounds checks the kernel's verifier demands: XDP_DROP (1) for a
// frame too short, XDP_PASS (2) for anything but IPv4/UDP, else
// 1000 + the UDP destination port.
struct xdp_md {
	unsigned int data, data_end, data_meta;
	unsigned int ingress_ifindex, rx_queue_index, egress_ifindex;
};

__attribute__((section("prog"), used)) int parse(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	if (data + 14 + 20 > end)
		return 1;
	if (data[12] != 0x08 || data[13] != 0x00 || data[23] != 17)
		return 2;
	unsigned char *udp = data + 14 + (data[14] & 0xf) * 4;
	if (udp + 8 > end)
		return 1;
	return 1000 + (udp[2] << 8 | udp[3]);
}
