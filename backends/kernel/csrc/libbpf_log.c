/* libbpf's log callback, in C because it receives a va_list.
 *
 * libbpf-rs formats log messages through a crate that panics when the result
 * is not UTF-8; inside an extern "C" callback that panic aborts the process.
 * Program, map and section names come from the guest's ELF, so any byte can
 * appear there. This callback formats into bytes and hands them to Rust,
 * which converts them lossily. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* libbpf's public API, declared here so that this file needs no libbpf
 * headers: enum libbpf_print_level is an int-sized enum. */
typedef int (*unibpf_libbpf_print_fn)(int level, const char *fmt, va_list ap);
extern unibpf_libbpf_print_fn libbpf_set_print(unibpf_libbpf_print_fn fn);

/* Implemented in Rust (diagnose.rs). */
extern void unibpf_libbpf_log(int level, const char *msg, size_t len);

static int unibpf_libbpf_print(int level, const char *fmt, va_list ap)
{
	char small[1024];
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0) {
		va_end(again);
		return 0;
	}
	if ((size_t)n < sizeof(small)) {
		unibpf_libbpf_log(level, small, (size_t)n);
	} else {
		char *big = malloc((size_t)n + 1);
		if (big && vsnprintf(big, (size_t)n + 1, fmt, again) >= 0)
			unibpf_libbpf_log(level, big, (size_t)n);
		else
			unibpf_libbpf_log(level, small, sizeof(small) - 1);
		free(big);
	}
	va_end(again);
	return 0;
}

void unibpf_route_libbpf_log(void)
{
	libbpf_set_print(unibpf_libbpf_print);
}
