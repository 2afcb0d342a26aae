// The workload the hook measurements trace (built natively, not a guest):
// the same loop run alone, under the kernel backend and under the
// userspace backend (as `--cmd`), timed by itself.
//   bench.target opens|calls CHUNK
//     for each line read on stdin, runs CHUNK iterations and prints
//     CHUNK n=CHUNK ns=T on stderr (under --cmd, stdout is the module's,
//     whose lines may be written in pieces); ends at end of input.
//     opens: open("/dev/null") and close, the syscalls opensnoop traces;
//     calls: uprobe_add(i, 1), the function uprobe traces (uprobe_scale is
//     there because uprobe attaches to both).
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) int uprobe_add(int a, int b)
{
	return a + b;
}

__attribute__((noinline)) long long uprobe_scale(long long value, int factor)
{
	return value * factor;
}

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static int opens(long n)
{
	for (long i = 0; i < n; i++) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0) {
			perror("bench.target: /dev/null");
			return 1;
		}
		close(fd);
	}
	return 0;
}

static volatile long long sink;

static int calls(long n)
{
	long long sum = 0;
	for (long i = 0; i < n; i++)
		sum += uprobe_add((int)i, 1);
	sink = sum;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "opens") && strcmp(argv[1], "calls"))) {
		fprintf(stderr, "usage: bench.target opens|calls CHUNK\n");
		return 2;
	}
	int (*loop)(long) = !strcmp(argv[1], "opens") ? opens : calls;
	long n = atol(argv[2]);
	char line[16];
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long long t0 = now_ns();
		if (loop(n))
			return 1;
		fprintf(stderr, "CHUNK n=%ld ns=%llu\n", n, now_ns() - t0);
	}
	return 0;
}
