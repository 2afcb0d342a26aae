// The wasm32 side of the layout test: the generated definitions, initialized
// with the same values as on the BPF side. Prints each variable's bytes and
// the sizeof/offsetof facts; the test compares them with the BPF object.
#include <stdio.h>
#include "layout.types.h"
#define LAYOUT_VALUES_ONLY
#define AS_PTR(v) (v)
#include "layout_types.h"

static const struct padded layout_padded = PADDED_INIT;
static const struct nested layout_nested = NESTED_INIT;
static const struct bits layout_bits = BITS_INIT;
static const union number layout_number = NUMBER_INIT;
static const unsigned long long layout_facts[] = { LAYOUT_FACTS };

static void hex(const char *name, const void *p, size_t n)
{
	const unsigned char *b = p;
	printf("%s=", name);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

int main(void)
{
	hex("layout_padded", &layout_padded, sizeof(layout_padded));
	hex("layout_nested", &layout_nested, sizeof(layout_nested));
	hex("layout_bits", &layout_bits, sizeof(layout_bits));
	hex("layout_number", &layout_number, sizeof(layout_number));
	hex("layout_facts", layout_facts, sizeof(layout_facts));
	return 0;
}
