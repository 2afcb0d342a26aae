#ifndef EXITSNOOP_H
#define EXITSNOOP_H

struct event {
	int pid;
	int ppid;
	int exit_code; /* status as wait() reports it */
	unsigned long long age_ns; /* since the process started */
	char comm[16];
};

#endif
