// __sync_fetch_and_add on a context variable and a stack variable, and
// a compare-and-swap.
struct ctx {
	unsigned long long counter;
	unsigned int small;
	unsigned int cas;
};

__attribute__((section("prog"), used))
int atomics(struct ctx *c)
{
	volatile unsigned long long local = 100;
	unsigned long long old = __sync_fetch_and_add(&c->counter, 5);
	unsigned long long before = __sync_fetch_and_add(&local, old);
	__sync_fetch_and_add(&c->small, 1);
	unsigned int seen = __sync_val_compare_and_swap(&c->cas, 7, 9);
	return (int)(local + before + seen * 1000);
}
