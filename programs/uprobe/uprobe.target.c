// The binary uprobe's test probes: waits for a byte on stdin, then calls
// uprobe_add(A, B) and uprobe_scale(V, F) with its arguments and prints the
// results.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline)) int uprobe_add(int a, int b)
{
	return a + b;
}

__attribute__((noinline)) long long uprobe_scale(long long value, int factor)
{
	return value * factor;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	char c;
	if (read(0, &c, 1) != 1)
		return 1;
	int sum = uprobe_add(atoi(argv[1]), atoi(argv[2]));
	long long scaled = uprobe_scale(atoll(argv[3]), atoi(argv[4]));
	printf("%d %lld\n", sum, scaled);
	return 0;
}
