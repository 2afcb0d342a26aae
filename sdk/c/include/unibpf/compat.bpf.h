/* unibpf BPF-side compat header: event output that works with and without
 * BPF ring buffers, from one object; programs that may be left out where
 * their hook is missing, and alternatives for the same event.
 *
 * Declare the two maps, then reserve/submit through the helpers:
 *
 *     UNIBPF_EVENT_MAPS(events, heap, struct event, 256 * 1024);
 *
 *     struct event *e = unibpf_event_reserve(&events, &heap, sizeof(*e));
 *     if (!e)
 *         return 0;
 *     ... fill e ...
 *     unibpf_event_submit(ctx, &events, e, sizeof(*e));
 *
 * Where the kernel has ring buffers, `events` is a ring buffer and records are
 * reserved in it directly. Where it does not, unibpf turns `events` into a
 * perf event array before load; records are then built in the one-entry
 * per-CPU `heap` and sent with bpf_perf_event_output. The choice is made at
 * load time by a CO-RE check for `struct bpf_ringbuf` in the kernel's BTF, so
 * the branch not taken is dead code the verifier never looks at. The guest
 * side is the same either way: bpf_buffer__new(skel->maps.events,
 * skel->maps.heap) and bpf_buffer__poll.
 *
 * Include after vmlinux.h and <bpf/bpf_helpers.h>.
 */
#ifndef UNIBPF_COMPAT_BPF_H
#define UNIBPF_COMPAT_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

/* Ring buffer size must be a power of two multiple of the page size. */
#define UNIBPF_EVENT_MAPS(events_name, heap_name, record_type, ringbuf_bytes) \
	struct {                                                              \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                           \
		__uint(max_entries, ringbuf_bytes);                           \
	} events_name SEC(".maps");                                           \
	struct {                                                              \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                      \
		__uint(max_entries, 1);                                       \
		/* marks the heap for unibpf: not created where ring buffers \
		 * exist */                                                   \
		__uint(pinning, LIBBPF_PIN_NONE);                             \
		__type(key, __u32);                                           \
		__type(value, record_type);                                   \
	} heap_name SEC(".maps")

/* True when the running kernel has BPF ring buffers (decided at load). */
static __always_inline int unibpf_has_ringbuf(void)
{
	return bpf_core_type_exists(struct bpf_ringbuf);
}

/* Space for one record: in the ring buffer, or in this CPU's heap slot.
 * NULL when the ring buffer is full. */
static __always_inline void *unibpf_event_reserve(void *events, void *heap, __u64 size)
{
	if (unibpf_has_ringbuf())
		return bpf_ringbuf_reserve(events, size, 0);
	__u32 zero = 0;
	return bpf_map_lookup_elem(heap, &zero);
}

/* Sends a record from unibpf_event_reserve. */
static __always_inline void unibpf_event_submit(void *ctx, void *events, void *record, __u64 size)
{
	if (unibpf_has_ringbuf())
		bpf_ringbuf_submit(record, 0);
	else
		bpf_perf_event_output(ctx, events, BPF_F_CURRENT_CPU, record, size);
}

/* Drops a record from unibpf_event_reserve without sending it. */
static __always_inline void unibpf_event_discard(void *record)
{
	if (unibpf_has_ringbuf())
		bpf_ringbuf_discard(record, 0);
}

/* Marks program `prog` optional: on a host where its attach point does not
 * exist (sys_enter_open on arm64, say), unibpf leaves it out with a warning
 * instead of failing the whole object. Use at file scope after the program:
 *
 *     UNIBPF_OPTIONAL(enter_open);
 */
#define UNIBPF_OPTIONAL(prog) \
	const volatile char unibpf_optional__##prog SEC(".rodata") __attribute__((used)) = 1

/* Declares program `fallback` an alternative to program `prog`: the same
 * event through another mechanism (a kprobe for an fentry program, a raw
 * tracepoint for a tp_btf one). unibpf loads `prog` where the host can run
 * it and `fallback` where it cannot, leaves the other out, and says which
 * with --explain; attaching the one left out is a no-op, so control planes
 * attach both. Chains try each in turn:
 *
 *     UNIBPF_ALTERNATIVE(on_wakeup, on_wakeup_raw);
 *     UNIBPF_ALTERNATIVE(on_wakeup_raw, on_wakeup_tp);
 *
 * Plain libbpf knows no such mark and loads both. Use at file scope after
 * both programs. */
#define UNIBPF_ALTERNATIVE(prog, fallback) \
	const volatile char unibpf_alternative__##prog[] SEC(".rodata") __attribute__((used)) = #fallback

#endif /* UNIBPF_COMPAT_BPF_H */
