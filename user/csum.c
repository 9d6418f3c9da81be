// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <string.h>

#include "csum.h"

uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t s = sum;

	for (; len >= 8; len -= 8, p += 8) {
		uint32_t a, b;

		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		s += a;
		s += b;
	}
	for (; len >= 2; len -= 2, p += 2) {
		uint16_t w;

		memcpy(&w, p, 2);
		s += w;
	}
	if (len) {
		uint16_t w = 0;

		memcpy(&w, p, 1);
		s += w;
	}
	while (s >> 32)
		s = (s & 0xffffffff) + (s >> 32);
	/* the words were added in host order: a byte-swapped sum, which is
	 * the same swap of the true sum; csum_fold keeps memory order */
	return (uint32_t)s;
}

uint32_t csum_pseudo4(const void *saddr, const void *daddr, uint8_t proto,
		      uint32_t l4_len)
{
	uint16_t w[2] = { htons(proto), htons((uint16_t)l4_len) };
	uint32_t s = csum_add(0, saddr, 4);

	s = csum_add(s, daddr, 4);
	return csum_add(s, w, sizeof(w));
}

uint32_t csum_pseudo6(const void *saddr, const void *daddr, uint8_t proto,
		      uint32_t l4_len)
{
	uint32_t w[2] = { htonl(l4_len), htonl(proto) };
	uint32_t s = csum_add(0, saddr, 16);

	s = csum_add(s, daddr, 16);
	return csum_add(s, w, sizeof(w));
}

void csum_replace16(uint16_t *check, uint16_t old, uint16_t new_)
{
	/* HC' = ~(~HC + ~m + m') */
	uint32_t s = (uint16_t)~*check;

	s += (uint16_t)~old;
	s += new_;
	*check = (uint16_t)~csum_fold(s);
}
