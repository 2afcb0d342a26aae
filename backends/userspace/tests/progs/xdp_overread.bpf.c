// An XDP program that reads the byte at data_end: the kernel's verifier
// refuses it; the VM refuses the load.
struct xdp_md {
	unsigned int data, data_end, data_meta;
	unsigned int ingress_ifindex, rx_queue_index, egress_ifindex;
};

__attribute__((section("prog"), used)) int overread(struct xdp_md *ctx)
{
	return *(volatile unsigned char *)(long)ctx->data_end;
}
