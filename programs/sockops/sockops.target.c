// The workload sockops's test observes: joins the cgroup whose cgroup.procs
// is given, then makes one TCP connection to itself over loopback, exchanges
// a message each way, and prints both ports.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	FILE *procs = fopen(argv[1], "w");
	if (!procs || fprintf(procs, "%d\n", getpid()) < 0 || fclose(procs) != 0) {
		perror("joining the cgroup");
		return 1;
	}
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 1))
		return 1;
	socklen_t len = sizeof(addr);
	getsockname(lfd, (struct sockaddr *)&addr, &len);
	int cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(cfd, (struct sockaddr *)&addr, sizeof(addr)))
		return 1;
	int sfd = accept(lfd, NULL, NULL);
	char buf[8];
	if (write(cfd, "ping", 4) != 4 || read(sfd, buf, 4) != 4 || write(sfd, "pong", 4) != 4 ||
	    read(cfd, buf, 4) != 4)
		return 1;
	printf("PORTS client=%u server=%u\n", port_of(cfd), port_of(sfd));
	close(cfd);
	close(sfd);
	close(lfd);
	return 0;
}
