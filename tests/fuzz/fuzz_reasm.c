// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: a stream of IPv4 fragments into one reassembly table.
 * Input: records of [1-byte length][packet], time advancing by the first
 * byte of each. The table is checked to hold no memory after expiry.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/reasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reasm_table *t = reasm_new(64 * 1024, 16, 1000);
	uint64_t now = 0;
	size_t off = 0;

	while (off + 1 < size) {
		size_t n = data[off] * 4u;
		uint8_t *pkt, *out;
		size_t out_len;

		if (n > size - off - 1)
			n = size - off - 1;
		now += data[off];
		pkt = malloc(n ? n : 1);
		memcpy(pkt, data + off + 1, n);
		if (reasm_add(t, pkt, n, now, &out, &out_len) == REASM_DONE &&
		    (out_len < 20 || out_len > REASM_MAX_PACKET))
			abort();
		free(pkt);
		off += 1 + n;
	}
	reasm_expire(t, now + 100000);
	if (reasm_mem(t))
		abort();
	reasm_free(t);
	return 0;
}
