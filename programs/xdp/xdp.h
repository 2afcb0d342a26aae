#ifndef XDP_PROG_H
#define XDP_PROG_H

struct packet {
	unsigned int size; /* whole frame, Ethernet header included */
	unsigned short eth_proto; /* host byte order */
	unsigned char ip_proto; /* 0 when not IPv4 */
	unsigned short dport; /* UDP/TCP destination port, host byte order */
};

#endif
