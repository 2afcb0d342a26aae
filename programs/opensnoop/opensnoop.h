#ifndef OPENSNOOP_H
#define OPENSNOOP_H

#define OPENSNOOP_PATH_LEN 128

struct event {
	unsigned long long ts_ns;
	int pid;
	int tid;
	int ret; /* fd, or -errno */
	int flags;
	char comm[16];
	char path[OPENSNOOP_PATH_LEN];
};

#endif
