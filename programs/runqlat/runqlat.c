// runqlat: run queue latency histogram, printed at exit (and every -i
// seconds). The histogram is read by iterating the BPF hash map.
//   runqlat [-p PID] [-i SECONDS]
//   BUCKET usecs=LO..HI count=N    (one line per non-empty slot)
//   TOTAL samples=N
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runqlat.skel.h"

#define MAX_SLOTS 32

static int print_histogram(int fd)
{
	uint64_t counts[MAX_SLOTS] = {0};
	uint32_t key, next;
	uint64_t total = 0;
	int err = bpf_map_get_next_key(fd, NULL, &next);
	while (err == 0) {
		uint64_t count = 0;
		if (bpf_map_lookup_elem(fd, &next, &count) == 0 && next < MAX_SLOTS)
			counts[next] = count;
		key = next;
		err = bpf_map_get_next_key(fd, &key, &next);
	}
	if (err != -ENOENT)
		return err;
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (!counts[i])
			continue;
		uint64_t lo = i ? 1ULL << i : 0, hi = (1ULL << (i + 1)) - 1;
		printf("BUCKET usecs=%llu..%llu count=%llu\n", (unsigned long long)lo, (unsigned long long)hi,
		       (unsigned long long)counts[i]);
		total += counts[i];
	}
	printf("TOTAL samples=%llu\n", (unsigned long long)total);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int pid = 0, interval = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-p") && i + 1 < argc)
			pid = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-i") && i + 1 < argc)
			interval = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: runqlat [-p PID] [-i SECONDS]\n");
			return 2;
		}
	}
	struct runqlat_bpf *skel = runqlat_bpf__open();
	if (!skel) {
		fprintf(stderr, "runqlat: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->target_tgid = pid;
	int err = runqlat_bpf__load(skel);
	if (!err)
		err = runqlat_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "runqlat: load/attach failed: %s\n", strerror(-err));
		runqlat_bpf__destroy(skel);
		return 1;
	}
	int fd = bpf_map__fd(skel->maps.hist);
	fprintf(stderr, "runqlat: sampling run queue latency\n");
	/* nanosleep returns EINTR once the runtime asks the module to stop. */
	for (;;) {
		struct timespec ts = {interval ? interval : 3600, 0};
		if (nanosleep(&ts, NULL) != 0)
			break;
		if (interval && print_histogram(fd) < 0)
			break;
	}
	err = print_histogram(fd);
	runqlat_bpf__destroy(skel);
	return err ? 1 : 0;
}
