// bpf-to-bpf calls: a non-inlined subprogram in the same section, with
// values that must survive the calls in callee-saved registers.
struct ctx {
	long long a;
	long long b;
};

__attribute__((section("prog"), noinline))
static long long mix(long long x, long long y)
{
	volatile long long scratch[8];
	for (int i = 0; i < 8; i++)
		scratch[i] = x * i - y;
	return scratch[7] ^ scratch[3];
}

__attribute__((section("prog"), used))
int entry(struct ctx *c)
{
	long long a = c->a, b = c->b;
	long long first = mix(a, b);
	long long second = mix(b, a);
	return (int)(first + second + a - b);
}
