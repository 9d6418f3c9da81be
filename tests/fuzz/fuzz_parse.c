// SPDX-License-Identifier: GPL-2.0
/* libFuzzer target: parse_outer on any frame (the userspace header parser). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct espresso_meta m;
	size_t l3_len;
	uint8_t *copy = malloc(size ? size : 1);

	/* an exact-size heap copy, so ASan sees any read past the end */
	memcpy(copy, data, size);
	if (!parse_outer(copy, size, &m, &l3_len)) {
		if (m.l3_off + l3_len > size || m.esp_off + 8 > m.l3_off + l3_len)
			abort();
	}
	free(copy);
	return 0;
}
