// The workload runqlat's test observes: waits for one byte on stdin, then
// sleeps COUNT times for 2 ms (each sleep ends in exactly one wakeup).
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 10;
	char c;
	if (read(0, &c, 1) != 1)
		return 1;
	for (int i = 0; i < count; i++) {
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}
