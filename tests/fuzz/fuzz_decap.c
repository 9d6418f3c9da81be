// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: esp_decap_inner on any decrypted payload (what a peer
 * holding the key could send): trailer, next header and inner length
 * checks. On success the inner packet and its addresses lie inside the
 * payload, before the trailer; on a drop *in is left alone.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/esp.h"

static volatile int sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *pt = malloc(size ? size : 1);
	struct esp_inner in = { .len = 0xdead, .family = -1 };
	size_t alen;
	int r;

	memcpy(pt, data, size);
	r = esp_decap_inner(pt, size, &in);
	if (r) {
		if (r >= DROP_MAX || in.len != 0xdead || in.family != -1 ||
		    in.src || in.dst)
			abort();
		goto out;
	}
	if (in.family != AF_INET && in.family != AF_INET6)
		abort();
	alen = in.family == AF_INET ? 4 : 16;
	if (size < 2 || in.len > size - 2 || !in.src || !in.dst ||
	    in.src < pt || in.src + alen > pt + in.len || in.dst < pt ||
	    in.dst + alen > pt + in.len)
		abort();
	/* read the addresses: ASan catches anything out of bounds */
	sink = memcmp(in.src, in.dst, alen);
out:
	free(pt);
	return 0;
}
