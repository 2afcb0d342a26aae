// bench: the guest side of `cargo bench`, built twice from this source: as
// bench.wasm for unibpf and as bench.native against libbpf. Each build
// times its own work, so both sides are measured the same way.
//
//   bench maps N
//     N updates, then N lookups, of the hash map kv from a plain loop:
//     MAPS ops=N update_ns=T lookup_ns=T sum=S
//   bench events ring|perf [TARGET]
//     opens the ring buffer or the perf buffer, prints READY, then obeys
//     commands on stdin, one per line, while the harness makes the kernel
//     produce records. Counts are cumulative: a record that arrives early
//     counts toward the next command. With TARGET (IFNAME:ingress|egress),
//     the buffer's program is attached there first, and each frame the
//     interface sees in that direction makes a record.
//       drain N  the N records are already there: times handing them over
//                                               DRAINED n=N ns=T
//       live N   sums, per record, the time from production in the kernel
//                to the callback                LIVE n=N latency_ns=T
//       end 0    END received=R seq_sum=S (the harness checks S)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.skel.h"
#include "bench.types.h"

/* A round gives up when no record came for this long (records were lost). */
#define STALL_MS 2000

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static int run_maps(struct bench_bpf *skel, long n)
{
	int fd = bpf_map__fd(skel->maps.kv);
	unsigned long long t0 = now_ns();
	for (long i = 0; i < n; i++) {
		unsigned int key = (unsigned int)i & 1023;
		unsigned long long value = (unsigned long long)i;
		int err = bpf_map_update_elem(fd, &key, &value, BPF_ANY);
		if (err) {
			fprintf(stderr, "bench: update %u: %s\n", key, strerror(-err));
			return 1;
		}
	}
	unsigned long long t1 = now_ns();
	unsigned long long sum = 0;
	for (long i = 0; i < n; i++) {
		unsigned int key = (unsigned int)i & 1023;
		unsigned long long value = 0;
		int err = bpf_map_lookup_elem(fd, &key, &value);
		if (err) {
			fprintf(stderr, "bench: lookup %u: %s\n", key, strerror(-err));
			return 1;
		}
		sum += value;
	}
	unsigned long long t2 = now_ns();
	printf("MAPS ops=%ld update_ns=%llu lookup_ns=%llu sum=%llu\n", n, t1 - t0, t2 - t1, sum);
	return 0;
}

struct consumer {
	unsigned long long received;
	unsigned long long expected; /* what the commands so far asked for */
	unsigned long long seq_sum;
	unsigned long long latency_sum;
	int live; /* take the clock per record only when measuring latency */
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;
	const struct bench_event *e = data;
	if (size < sizeof(*e))
		return 0;
	c->received++;
	c->seq_sum += e->seq;
	if (c->live)
		c->latency_sum += now_ns() - e->ts_ns;
	return 0;
}

/* Polls until all expected records arrived, or records stop coming (some
 * were lost: the harness sees the shortfall). */
static int wait_for_expected(struct bpf_buffer *buf, struct consumer *c)
{
	unsigned long long last_progress = now_ns();
	while (c->received < c->expected) {
		unsigned long long before = c->received;
		int err = bpf_buffer__poll(buf, 100);
		if (err < 0)
			return err;
		if (c->received != before)
			last_progress = now_ns();
		else if (now_ns() - last_progress > STALL_MS * 1000000ULL)
			break;
	}
	return 0;
}

static int run_events(struct bench_bpf *skel, const char *which, const char *target)
{
	struct bpf_map *map;
	struct bpf_program *prog;
	if (!strcmp(which, "ring")) {
		map = skel->maps.ring;
		prog = skel->progs.bench_ring;
	} else if (!strcmp(which, "perf")) {
		map = skel->maps.perf;
		prog = skel->progs.bench_perf;
	} else {
		fprintf(stderr, "bench: events ring|perf, not %s\n", which);
		return 2;
	}
	if (target) {
		bpf_set_prog_attach_target(prog, target);
		int err = bench_bpf__attach(skel);
		if (err) {
			fprintf(stderr, "bench: attaching %s to %s: %s\n", which, target, strerror(-err));
			return 1;
		}
	}
	struct consumer c = {0};
	struct bpf_buffer *buf = bpf_buffer__new(map, NULL);
	if (!buf || bpf_buffer__open(buf, on_event, &c) < 0) {
		fprintf(stderr, "bench: cannot open the %s buffer: %s\n", which, strerror(errno));
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	char line[64];
	int err = 0;
	while (!err && fgets(line, sizeof(line), stdin)) {
		char cmd[16];
		unsigned long long n;
		if (sscanf(line, "%15s %llu", cmd, &n) != 2) {
			fprintf(stderr, "bench: bad command %s", line);
			err = 2;
			break;
		}
		if (!strcmp(cmd, "end"))
			break;
		unsigned long long start = c.received;
		c.expected += n;
		if (!strcmp(cmd, "drain")) {
			unsigned long long t0 = now_ns();
			err = wait_for_expected(buf, &c);
			printf("DRAINED n=%llu ns=%llu\n", c.received - start, now_ns() - t0);
		} else if (!strcmp(cmd, "live")) {
			c.live = 1;
			c.latency_sum = 0;
			err = wait_for_expected(buf, &c);
			c.live = 0;
			printf("LIVE n=%llu latency_ns=%llu\n", c.received - start, c.latency_sum);
		} else {
			fprintf(stderr, "bench: unknown command %s\n", cmd);
			err = 2;
		}
		fflush(stdout);
	}
	if (err < 0)
		fprintf(stderr, "bench: polling: %s\n", strerror(-err));
	printf("END received=%llu seq_sum=%llu\n", c.received, c.seq_sum);
	bpf_buffer__free(buf);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	int maps = argc == 3 && !strcmp(argv[1], "maps");
	int events = (argc == 3 || argc == 4) && !strcmp(argv[1], "events");
	if (!maps && !events) {
		fprintf(stderr, "usage: bench maps N | bench events ring|perf [IFNAME:ingress|egress]\n");
		return 2;
	}
	struct bench_bpf *skel = bench_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "bench: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	int ret = maps ? run_maps(skel, atol(argv[2])) : run_events(skel, argv[2], argc == 4 ? argv[3] : NULL);
	bench_bpf__destroy(skel);
	return ret;
}
