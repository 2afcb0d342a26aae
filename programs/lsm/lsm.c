// lsm: refuses rmdir of directories called NAME until stopped; prints how
// many rmdir() calls named it and how many it refused.
//   lsm [--count-only] NAME
//   ATTEMPTS count=N
//   REFUSED count=N
// --count-only leaves the LSM program out of the object (autoload off), for
// hosts without BPF LSM: attempts are still counted, nothing is refused.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lsm.skel.h"

int main(int argc, char **argv)
{
	int count_only = argc == 3 && !strcmp(argv[1], "--count-only");
	const char *name = argv[argc - 1];
	if (argc != 2 + count_only || strlen(name) >= 64) {
		fprintf(stderr, "usage: lsm [--count-only] NAME (under 64 bytes)\n");
		return 2;
	}
	struct lsm_bpf *skel = lsm_bpf__open();
	if (!skel) {
		fprintf(stderr, "lsm: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	memcpy((char *)skel->rodata->protected_name, name, strlen(name) + 1);
	if (count_only)
		bpf_program__set_autoload(skel->progs.deny_rmdir, false);
	int err = lsm_bpf__load(skel);
	if (!err)
		err = lsm_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "lsm: load/attach failed: %s\n", strerror(-err));
		lsm_bpf__destroy(skel);
		return 1;
	}
	fprintf(stderr, "lsm: %s directories named %s\n", count_only ? "counting rmdirs of" : "protecting", name);
	struct timespec ts = {3600, 0};
	while (nanosleep(&ts, NULL) == 0)
		;
	int fd = bpf_map__fd(skel->maps.refused);
	uint32_t key = 1;
	uint64_t n = 0;
	bpf_map_lookup_elem(fd, &key, &n);
	printf("ATTEMPTS count=%llu\n", (unsigned long long)n);
	key = 0;
	n = 0;
	bpf_map_lookup_elem(fd, &key, &n);
	printf("REFUSED count=%llu\n", (unsigned long long)n);
	lsm_bpf__destroy(skel);
	return 0;
}
