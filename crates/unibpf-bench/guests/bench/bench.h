/* What the bench programs send per event. The guest uses the wasm32 layout
 * that `unibpf gen types` derives from the object. */
#ifndef BENCH_H
#define BENCH_H

struct bench_event {
	unsigned long long seq;   /* 0, 1, 2... per buffer: gaps mean drops */
	unsigned long long ts_ns; /* bpf_ktime_get_ns() at production */
};

#endif
