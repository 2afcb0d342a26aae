// Pure computation on the context: a loop, division and modulo, 32-bit
// arithmetic, a byte swap. No maps, no helpers, no relocations.
struct ctx {
	unsigned long long n;
	unsigned long long divisor;
	unsigned int word;
	unsigned int swapped;
	unsigned long long hash;
	unsigned long long quotient;
	unsigned long long remainder;
};

__attribute__((section("prog"), used))
int compute(struct ctx *c)
{
	unsigned long long hash = 5381;
	for (unsigned long long i = 0; i < c->n && i < 1000; i++)
		hash = hash * 33 + (i ^ (hash >> 7));
	c->hash = hash;
	c->quotient = hash / c->divisor;
	c->remainder = hash % c->divisor;
	c->swapped = __builtin_bswap32(c->word);
	return (int)(hash & 0x7fffffff);
}
