#ifndef UPROBE_H
#define UPROBE_H

enum probe_kind { PROBE_ENTER = 1, PROBE_EXIT = 2 };
enum probe_func { FUNC_ADD = 1, FUNC_SCALE = 2 };

struct event {
	int pid;
	int kind; /* enum probe_kind */
	int func; /* enum probe_func */
	long long args[2];
	long long ret;
};

#endif
