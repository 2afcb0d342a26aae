// The workload xdp's matrix case uses: sends COUNT UDP datagrams of SIZE
// bytes to ADDR:PORT, 20 ms apart.
//   xdp.target ADDR PORT COUNT SIZE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1)
		return 2;
	int count = atoi(argv[3]);
	size_t size = (size_t)atoi(argv[4]);
	char *buf = calloc(1, size ? size : 1);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || !buf)
		return 1;
	memset(buf, 0x5a, size);
	for (int i = 0; i < count; i++) {
		if (sendto(fd, buf, size, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)size)
			return 1;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}
