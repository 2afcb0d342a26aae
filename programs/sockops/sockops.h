#ifndef SOCKOPS_H
#define SOCKOPS_H

/* An established connection seen by the sock_ops program. */
struct established {
	unsigned int active; /* 1: we connected, 0: we accepted */
	unsigned int local_port; /* host byte order */
	unsigned int remote_port; /* host byte order */
};

#endif
