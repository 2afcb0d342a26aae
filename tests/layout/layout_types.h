/* Types whose layout the generator must reproduce, and initial values for
 * each. Included by layout.bpf.c (the BPF side, with these definitions) and,
 * for LAYOUT_VALUES only, by layout_check.c (the wasm32 side, with the
 * generated definitions instead). */
#ifndef LAYOUT_TYPES_H
#define LAYOUT_TYPES_H

#ifndef LAYOUT_VALUES_ONLY
enum color { RED = 1, GREEN = 2, BLUE = -3 };
enum big { BIG_ONE = 0x100000000LL };

struct padded {
	char c;
	long l; /* 8 bytes on BPF, 4 on wasm32 */
	short s;
	int *ptr; /* 8 bytes on BPF, 4 on wasm32 */
	unsigned char tail;
};

struct inner {
	unsigned short a;
	unsigned long long b;
};

struct nested {
	int id;
	struct inner in;
	struct inner many[3];
	char name[5];
	union {
		unsigned int as_u32;
		unsigned char bytes[6];
	} u;
	struct {
		short x, y;
	} anon;
	enum color color;
	enum big big;
	long matrix[2][3];
};

struct bits {
	unsigned int a : 3;
	unsigned int b : 7;
	int neg : 5;
	unsigned char flag;
	unsigned long long wide : 40;
	unsigned long long top : 24;
	unsigned short after;
	unsigned int gap : 2;
	unsigned int : 0; /* forces the next field to a new unit */
	unsigned int next : 9;
};

union number {
	long long i;
	double d;
	char raw[12];
};
#endif

#define PADDED_INIT { .c = 'x', .l = -1234567890123LL, .s = -2, .ptr = AS_PTR(0x1122334455667788ULL), .tail = 0xfe }
#define NESTED_INIT { .id = 7, .in = { .a = 0xbeef, .b = 0x0102030405060708ULL }, \
	.many = { { .a = 1, .b = 2 }, { .a = 3, .b = 4 }, { .a = 5, .b = 6 } }, .name = "abcd", .u = { .as_u32 = 0xa1b2c3d4 }, \
	.anon = { .x = -5, .y = 6 }, .color = 2 /* GREEN */, .big = 0x100000000LL, \
	.matrix = { { 1, -2, 3 }, { -4, 5, -6 } } }
#define BITS_INIT { .a = 5, .b = 100, .neg = -7, .flag = 0x5a, .wide = 0x123456789aULL, \
	.top = 0xabcdef, .after = 0x7777, .gap = 3, .next = 300 }
/* The same expressions, evaluated by each side with its own definitions. */
#define LAYOUT_FACTS \
	sizeof(struct padded), offsetof(struct padded, l), offsetof(struct padded, s), \
	offsetof(struct padded, ptr), offsetof(struct padded, tail), \
	sizeof(struct inner), offsetof(struct inner, b), \
	sizeof(struct nested), offsetof(struct nested, in), offsetof(struct nested, many), \
	offsetof(struct nested, name), offsetof(struct nested, u), offsetof(struct nested, anon), \
	offsetof(struct nested, color), offsetof(struct nested, big), offsetof(struct nested, matrix), \
	sizeof(struct bits), offsetof(struct bits, flag), offsetof(struct bits, after), \
	sizeof(union number)

#define NUMBER_INIT { .raw = "hello world" }

#endif
