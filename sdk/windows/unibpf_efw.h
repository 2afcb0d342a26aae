/* unibpf_efw.h: what a BPF program built for eBPF for Windows (efW) needs,
 * written by us from efW's published facts. It is not efW's header and
 * copies none of its code: every number and layout below is named with the
 * efW file and symbol it comes from (microsoft/ebpf-for-windows, read at
 * commit 0be2d1c3f36c, version.json 1.6.0), so it can be checked there.
 *
 * Build with `clang -g -O2 -target bpf -I sdk/windows` and include nothing
 * from Linux: efW's helper ids, map type numbers, program types and
 * contexts are its own (efW promises source compatibility with libbpf for
 * some names, never binary compatibility). -g is needed: maps are defined
 * in BTF (see "Maps" below).
 */
#ifndef UNIBPF_EFW_H
#define UNIBPF_EFW_H

/* ---- Types (the BPF target is LP64, little-endian) ---- */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed int __s32;
typedef signed long long __s64;
typedef unsigned long __efw_size_t;
typedef long __efw_intptr_t;

#ifndef NULL
#define NULL ((void *)0)
#endif

/* ---- ELF conventions ---- */
#define SEC(name) __attribute__((section(name), used))

/* efW marks its BPF ELFs with a section named `.ebpf_for_windows` holding a
 * bool (include/bpf_helpers_platform.h, `__ebpf_for_windows_tag`); cilium/ebpf
 * asks Windows ELFs to carry it until efW has a platform marker (efW issue
 * 3956). One per object: include this header from one source file. */
const _Bool __ebpf_for_windows_tag SEC(".ebpf_for_windows") = 1;

/* ---- Maps ----
 * efW's loader (the PREVAIL ELF reader) takes BTF-defined maps in `.maps`,
 * declared with the libbpf convention below, and the legacy `maps` section
 * of `ebpf_map_definition_in_file_t` records. Its own samples and docs use
 * BTF maps (tests/sample/sockops.c, docs/tutorial.md "maps", docs/PinPaths.md,
 * docs/BindHook.md; docs/VerifierAssistedMapOptimization.md lists "BTF maps,
 * global vars, legacy maps" as what the map parser reads), so we do too.
 * The encoding: a number N is the array size of `int (*field)[N]`, a type T
 * is `T *field` (include/bpf_helpers.h, `__uint` and `__type`). */
#define __uint(name, val) int(*name)[val]
#define __type(name, val) __typeof__(val) *name

/* Map type numbers: include/ebpf_structs.h, `ebpf_map_type_t`. Not Linux's:
 * there RINGBUF is 27 and PERF_EVENT_ARRAY 4. */
enum {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PROG_ARRAY = 3,
	BPF_MAP_TYPE_PERCPU_HASH = 4,
	BPF_MAP_TYPE_PERCPU_ARRAY = 5,
	BPF_MAP_TYPE_HASH_OF_MAPS = 6,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 7,
	BPF_MAP_TYPE_LRU_HASH = 8,
	BPF_MAP_TYPE_LPM_TRIE = 9,
	BPF_MAP_TYPE_QUEUE = 10,
	BPF_MAP_TYPE_LRU_PERCPU_HASH = 11,
	BPF_MAP_TYPE_STACK = 12,
	BPF_MAP_TYPE_RINGBUF = 13,
	BPF_MAP_TYPE_PERF_EVENT_ARRAY = 14,
	BPF_MAP_TYPE_SAMPLE_HASH_MAP = 15,
	BPF_MAP_TYPE_XSKMAP = 16,
};

/* bpf_map_update_elem flags: include/ebpf_structs.h, `ebpf_map_option_t`. */
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

/* ---- Program types and attach types ----
 * For the loader's side (a program's type comes from its section, below):
 * include/ebpf_structs.h, `enum bpf_prog_type` and `enum bpf_attach_type`. */
enum {
	BPF_PROG_TYPE_UNSPEC = 0,
	BPF_PROG_TYPE_XDP = 1,
	BPF_PROG_TYPE_BIND = 2,
	BPF_PROG_TYPE_CGROUP_SOCK_ADDR = 3,
	BPF_PROG_TYPE_SOCK_OPS = 4,
	BPF_PROG_TYPE_NETEVENT = 5,
	BPF_PROG_TYPE_PROCESS = 6,
};
enum {
	BPF_ATTACH_TYPE_UNSPEC = 0,
	BPF_XDP = 1,
	BPF_ATTACH_TYPE_BIND = 2,
	BPF_CGROUP_INET4_CONNECT = 3,
	BPF_CGROUP_INET6_CONNECT = 4,
	BPF_CGROUP_INET4_RECV_ACCEPT = 5,
	BPF_CGROUP_INET6_RECV_ACCEPT = 6,
	BPF_CGROUP_SOCK_OPS = 7,
	BPF_ATTACH_TYPE_NETEVENT = 10,
	BPF_ATTACH_TYPE_PROCESS = 11,
	BPF_CGROUP_INET4_CONNECT_AUTHORIZATION = 12,
	BPF_CGROUP_INET6_CONNECT_AUTHORIZATION = 13,
	BPF_CGROUP_INET4_BIND = 14,
	BPF_CGROUP_INET6_BIND = 15,
	BPF_CGROUP_INET4_LISTEN = 16,
	BPF_CGROUP_INET6_LISTEN = 17,
};

/* Section names. efW maps a program's ELF section to its type by the
 * longest registered prefix that starts the name
 * (libs/api_common/windows_platform_common.cpp, `_get_section_definition`);
 * netebpfext registers "sockops" for BPF_PROG_TYPE_SOCK_OPS with attach type
 * BPF_CGROUP_SOCK_OPS (netebpfext/net_ebpf_ext_program_info.h,
 * `_ebpf_sock_ops_section_info`), and "bind", "cgroup/connect4", ... for
 * the others. */
#define EFW_SEC_SOCK_OPS "sockops"
#define EFW_SEC_BIND "bind"

/* ---- Helpers ----
 * Ids: include/ebpf_structs.h, `ebpf_helper_id_t`; signatures:
 * include/bpf_helper_defs.h. They are not Linux's ids (there
 * get_current_pid_tgid is 14 and ringbuf_output 130). Which a program may
 * call depends on its type: the verifier checks it against the program
 * info its extension registers. There is no bpf_ringbuf_reserve/submit:
 * bpf_ringbuf_output copies. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __s64 (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static __s64 (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static void *(*bpf_map_lookup_and_delete_elem)(void *map, const void *key) = (void *)4;
static __s64 (*bpf_tail_call)(const void *ctx, const void *prog_array_map, __u32 index) = (void *)5;
static __u32 (*bpf_get_prandom_u32)(void) = (void *)6;
static __u64 (*bpf_ktime_get_boot_ns)(void) = (void *)7;
static __u64 (*bpf_get_smp_processor_id)(void) = (void *)8;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)9;
static int (*bpf_csum_diff)(const void *from, int from_size, const void *to, int to_size, int seed) = (void *)10;
static int (*bpf_ringbuf_output)(void *ring_buffer, const void *data, __u64 size, __u64 flags) = (void *)11;
/* No varargs: one helper per argument count (bpf_printk in efW's header
 * picks among them). fmt_size counts the terminating NUL. */
static long (*bpf_trace_printk2)(const char *fmt, __u32 fmt_size) = (void *)12;
static long (*bpf_trace_printk3)(const char *fmt, __u32 fmt_size, __u64 arg3) = (void *)13;
static long (*bpf_trace_printk4)(const char *fmt, __u32 fmt_size, __u64 arg3, __u64 arg4) = (void *)14;
static long (*bpf_trace_printk5)(const char *fmt, __u32 fmt_size, __u64 arg3, __u64 arg4, __u64 arg5) = (void *)15;
static __s64 (*bpf_map_push_elem)(void *map, const void *value, __u64 flags) = (void *)16;
static __s64 (*bpf_map_pop_elem)(void *map, void *value) = (void *)17;
static __s64 (*bpf_map_peek_elem)(void *map, void *value) = (void *)18;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)19;
static __u64 (*bpf_get_current_logon_id)(const void *ctx) = (void *)20;
static __s32 (*bpf_is_current_admin)(const void *ctx) = (void *)21;
static long (*bpf_memcpy_s)(void *dst, __efw_size_t dst_size, const void *src, __efw_size_t src_size) = (void *)22;
static int (*bpf_memcmp_s)(const void *a, __efw_size_t a_size, const void *b, __efw_size_t b_size) = (void *)23;
static long (*bpf_memset)(void *mem, __efw_size_t size, int value) = (void *)24;
static long (*bpf_memmove_s)(void *dst, __efw_size_t dst_size, const void *src, __efw_size_t src_size) = (void *)25;
static __s64 (*bpf_get_socket_cookie)(const void *ctx) = (void *)26;
static int (*bpf_strncpy_s)(char *dst, __efw_size_t dst_size, const char *src, __efw_size_t count) = (void *)27;
static int (*bpf_strncat_s)(char *dst, __efw_size_t dst_size, const char *src, __efw_size_t count) = (void *)28;
static __efw_size_t (*bpf_strnlen_s)(const char *str, __efw_size_t str_size) = (void *)29;
static __u64 (*bpf_ktime_get_boot_ms)(void) = (void *)30;
static __u64 (*bpf_ktime_get_ms)(void) = (void *)31;
static int (*bpf_perf_event_output)(const void *ctx, void *perf_event_array, __u64 flags, const void *data,
				    __u64 size) = (void *)32;
static __u64 (*bpf_get_current_process_start_key)(void) = (void *)33;
static __s64 (*bpf_get_current_thread_create_time)(void) = (void *)34;
static __efw_intptr_t (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)35;

/* ---- Network facts ----
 * include/net/ip.h: Windows numbers its address families its own way
 * (AF_INET6 is 23, not Linux's 10). */
#define AF_INET 2
#define AF_INET6 23
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/* Byte order: efW's contexts hold addresses and ports in network order. */
#define efw_ntohs(x) __builtin_bswap16(x)
#define efw_ntohl(x) __builtin_bswap32(x)

/* ---- sock_ops ----
 * The context: include/ebpf_nethooks.h, `bpf_sock_ops_t` (struct
 * _bpf_sock_ops), its ops `bpf_sock_op_type_t`. Filled by netebpfext at
 * WFP's ALE flow-established layers, v4 and v6, and when such a flow is
 * deleted (netebpfext/net_ebpf_ext_sock_ops.c): for every protocol with a
 * flow there, UDP too, so check `protocol`. Ports are 16-bit values in
 * network order in the low half of their field (`htons` of WFP's host-order
 * port, same file). The program's return value decides the flow: its
 * flow-established classify callback (same file) permits the flow on 0 and
 * blocks it on anything else. No TCP header option callbacks,
 * no bpf_sock_ops_cb_flags_set, no bpf_{load,store,reserve}_hdr_opt. */
enum {
	BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB = 0,
	BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB = 1,
	BPF_SOCK_OPS_CONNECTION_DELETED_CB = 2,
};

typedef struct bpf_sock_ops {
	__u32 op; /* BPF_SOCK_OPS_*_CB (a C enum in efW's header: 4 bytes) */
	__u32 family; /* AF_INET or AF_INET6 */
	union {
		__u32 local_ip4;
		__u32 local_ip6[4];
	};
	__u32 local_port;
	union {
		__u32 remote_ip4;
		__u32 remote_ip6[4];
	};
	__u32 remote_port;
	__u8 protocol;
	__u32 compartment_id; /* network compartment: what attach takes for a cgroup */
	__u64 interface_luid;
} bpf_sock_ops_t;

/* efW nests each address union with its port in an anonymous struct; with
 * these sizes that lays out the same. Checked here, so a change to the
 * struct cannot silently move a field. */
_Static_assert(__builtin_offsetof(bpf_sock_ops_t, family) == 4, "bpf_sock_ops_t layout");
_Static_assert(__builtin_offsetof(bpf_sock_ops_t, local_ip4) == 8, "bpf_sock_ops_t layout");
_Static_assert(__builtin_offsetof(bpf_sock_ops_t, local_port) == 24, "bpf_sock_ops_t layout");
_Static_assert(__builtin_offsetof(bpf_sock_ops_t, remote_ip4) == 28, "bpf_sock_ops_t layout");
_Static_assert(__builtin_offsetof(bpf_sock_ops_t, remote_port) == 44, "bpf_sock_ops_t layout");
_Static_assert(__builtin_offsetof(bpf_sock_ops_t, protocol) == 48, "bpf_sock_ops_t layout");
_Static_assert(__builtin_offsetof(bpf_sock_ops_t, compartment_id) == 52, "bpf_sock_ops_t layout");
_Static_assert(__builtin_offsetof(bpf_sock_ops_t, interface_luid) == 56, "bpf_sock_ops_t layout");
_Static_assert(sizeof(bpf_sock_ops_t) == 64, "bpf_sock_ops_t layout");

/* The sock_ops program's own helper (netebpfext registers program-type
 * helpers from 0xFFFF + 1: include/ebpf_nethooks.h,
 * `SOCK_OPS_EXT_HELPER_FN_BASE`, `BPF_FUNC_sock_ops_get_flow_id`): the WFP
 * flow id of the connection. Added by efW PR #4763: an older install may
 * not have it. */
static __u64 (*bpf_sock_ops_get_flow_id)(bpf_sock_ops_t *ctx) = (void *)65536;

#endif
