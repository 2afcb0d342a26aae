// exit_code N: exits with status N.  exit_code trap: executes an unreachable.
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "trap")) {
		printf("about to trap\n");
		fflush(stdout);
		__builtin_trap();
	}
	return argc > 1 ? atoi(argv[1]) : 0;
}
