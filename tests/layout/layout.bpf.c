// The BPF side of the layout test: the types as clang lays them out for BPF,
// as initialized globals (their bytes land in .data) plus sizeof/offsetof
// values (in .rodata) that the wasm32 side must reproduce.
#include <stddef.h>
#define AS_PTR(v) ((int *)(v))
#include "layout_types.h"

struct padded layout_padded = PADDED_INIT;
struct nested layout_nested = NESTED_INIT;
struct bits layout_bits = BITS_INIT;
union number layout_number = NUMBER_INIT;

const volatile unsigned long long layout_facts[] = { LAYOUT_FACTS };

char LICENSE[] __attribute__((section("license"), used)) = "GPL";
