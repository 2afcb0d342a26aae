// Calls functions the embedding application offers under the import module
// "app": one with plain values, one that reads guest memory and one that writes it.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

__attribute__((import_module("app"), import_name("add"))) int32_t app_add(int32_t a, int32_t b);
__attribute__((import_module("app"), import_name("log"))) void app_log(const char *msg, uint32_t len);
__attribute__((import_module("app"), import_name("fill"))) int32_t app_fill(char *buf, uint32_t len);

int main(void)
{
	printf("add=%d\n", app_add(40, 2));
	const char *msg = "hello from the guest";
	app_log(msg, strlen(msg));
	char buf[64] = {0};
	int32_t n = app_fill(buf, sizeof(buf) - 1);
	printf("fill=%d,%s\n", n, buf);
	/* Out of bounds: the host answers with an error instead of trapping. */
	printf("fill_oob=%d\n", app_fill((char *)0xfffffff0u, 64));
	return 0;
}
