// The workload of the matrix's tc and sockfilter cases: writes COUNT
// Ethernet/IPv4/UDP frames with PAYLOAD bytes to PORT straight onto IFNAME
// (one end of a veth pair) through a packet socket, 20 ms apart, so they
// arrive at the other end's ingress. Needs no addresses, routes or network
// namespace, so it works in the matrix's busybox VMs.
//   tc.target IFNAME COUNT PAYLOAD PORT
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t ip_checksum(const uint8_t *hdr, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)hdr[i] << 8 | hdr[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: tc.target IFNAME COUNT PAYLOAD PORT\n");
		return 2;
	}
	int ifindex = (int)if_nametoindex(argv[1]);
	int count = atoi(argv[2]);
	size_t payload = (size_t)atoi(argv[3]);
	int port = atoi(argv[4]);
	if (!ifindex || count < 0 || payload > 1400 || port <= 0 || port > 65535) {
		fprintf(stderr, "tc.target: bad arguments\n");
		return 2;
	}
	size_t len = 14 + 20 + 8 + payload;
	uint8_t *frame = calloc(1, len);
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (!frame || fd < 0) {
		perror("tc.target");
		return 1;
	}
	/* Ethernet: broadcast destination, a locally administered source. */
	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6);
	frame[12] = 0x08, frame[13] = 0x00;
	/* IPv4 10.211.9.2 -> 10.211.9.1, UDP. */
	uint8_t *ip = frame + 14;
	uint16_t total = (uint16_t)(20 + 8 + payload);
	ip[0] = 0x45;
	ip[2] = total >> 8, ip[3] = total & 0xff;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, "\x0a\xd3\x09\x02\x0a\xd3\x09\x01", 8);
	uint16_t sum = ip_checksum(ip, 20);
	ip[10] = sum >> 8, ip[11] = sum & 0xff;
	/* UDP without a checksum (0 is allowed over IPv4). */
	uint8_t *udp = ip + 20;
	udp[0] = 0x9c, udp[1] = 0x40; /* source port 40000 */
	udp[2] = (uint8_t)(port >> 8), udp[3] = (uint8_t)port;
	udp[4] = (uint8_t)((8 + payload) >> 8), udp[5] = (uint8_t)(8 + payload);
	memset(udp + 8, 0x5a, payload);

	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
	memset(to.sll_addr, 0xff, 6);
	for (int i = 0; i < count; i++) {
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)len) {
			perror("tc.target: sendto");
			return 1;
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	close(fd);
	free(frame);
	return 0;
}
