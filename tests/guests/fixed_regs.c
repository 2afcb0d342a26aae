// Loads an object whose uprobe reads arm64's registers at fixed offsets
// (bpf/fixed_regs.bpf.c) and, if that works, attaches it to this module's
// own runtime binary.
#include <stdio.h>

#include "wasm_bpf_abi.h"
#include "fixed_regs.bpf.h"

int main(void)
{
	bpf_object_handle obj = wasm_load_bpf_object(fixed_regs_bpf_o, (int)fixed_regs_bpf_o_len);
	printf("load=%d\n", obj != 0);
	if (!obj)
		return 1;
	printf("attach=%d\n", wasm_attach_bpf_program(obj, "unibpf_t_fixed", "/proc/self/exe:main"));
	return 0;
}
