// exit_code N: exits with status N.  exit_code trap: executes an unreachable.
// exit_code sleep: says so, sleeps up to 60 s (the runtime's sleep ends
// early when a stop is requested), then says how it woke and exits 3.
// exit_code stubborn: the same, but after waking it spins forever, for
// the stop's kill to end.
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "trap")) {
		printf("about to trap\n");
		fflush(stdout);
		__builtin_trap();
	}
	if (argc > 1 && !strcmp(argv[1], "stubborn")) {
		printf("sleeping\n");
		fflush(stdout);
		sleep(60);
		printf("woke, ignoring it\n");
		fflush(stdout);
		for (volatile unsigned long i = 0;; i++)
			;
	}
	if (argc > 1 && !strcmp(argv[1], "sleep")) {
		printf("sleeping\n");
		fflush(stdout);
		unsigned left = sleep(60);
		printf("woke with %s\n", left ? "time left: stopped" : "no time left");
		return 3;
	}
	return argc > 1 ? atoi(argv[1]) : 0;
}
