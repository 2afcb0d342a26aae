// optional.bpf.c without the optional mark: its missing tracepoint must fail
// the load.
#define UNIBPF_TEST_REQUIRED
#include "optional.bpf.c"
