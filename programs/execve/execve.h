#ifndef EXECVE_H
#define EXECVE_H

#define EXECVE_MAX_ARGS 8
#define EXECVE_ARG_LEN 64

struct event {
	int pid;
	int ppid;
	int argc; /* arguments read, at most EXECVE_MAX_ARGS */
	bool truncated; /* more arguments than that */
	char comm[16];
	char filename[EXECVE_ARG_LEN];
	char args[EXECVE_MAX_ARGS][EXECVE_ARG_LEN];
};

#endif
