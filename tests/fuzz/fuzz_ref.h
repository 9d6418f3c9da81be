/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reference helpers for the fuzz targets: byte-order accessors and the
 * Internet checksum (RFC 1071) as a plain byte loop, independent of
 * user/proto/csum.c, so a target checks the project's sums against it.
 */
#ifndef ESPRESSO_FUZZ_REF_H
#define ESPRESSO_FUZZ_REF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The harness's own loops: no coverage feedback (it would only slow the
 * run and reward the harness, not the code under test). */
#define FZ_NOCOV __attribute__((no_sanitize("coverage")))

static inline uint16_t fz_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t fz_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void fz_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void fz_put32(uint8_t *p, uint32_t v)
{
	fz_put16(p, (uint16_t)(v >> 16));
	fz_put16(p + 2, (uint16_t)v);
}

/* Big-endian 16-bit words in memory order; an odd last byte is the high
 * half of a word. Start odd chunks only at the end. */
FZ_NOCOV static inline uint64_t fz_sum(uint64_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 4 <= n; i += 4)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]) +
		       (uint32_t)(p[i + 2] << 8 | p[i + 3]);
	for (; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static inline uint16_t fz_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The checksum to store (host order; put it with fz_put16). */
static inline uint16_t fz_finish(uint64_t sum)
{
	return (uint16_t)~fz_fold(sum);
}

/* One's complement values equal, 0 and 0xffff being the same zero. */
static inline int fz_csum_eq(uint16_t a, uint16_t b)
{
	if (a == 0xffff)
		a = 0;
	if (b == 0xffff)
		b = 0;
	return a == b;
}

/* Pseudo-header sum of the IP packet ip (version 4 or 6 from its first
 * nibble) carrying l4len bytes of protocol proto. */
static inline uint64_t fz_pseudo(const uint8_t *ip, uint8_t proto,
				 uint32_t l4len)
{
	uint8_t ph[40];

	memset(ph, 0, sizeof(ph));
	if ((ip[0] >> 4) == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = proto;
		fz_put16(ph + 10, (uint16_t)l4len);
		return fz_sum(0, ph, 12);
	}
	memcpy(ph, ip + 8, 32);
	fz_put32(ph + 32, l4len);
	ph[39] = proto;
	return fz_sum(0, ph, 40);
}

#endif
