/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A reference Internet checksum (RFC 1071) written byte by byte, for the
 * unit tests to check user/proto/csum.c's users against something independent.
 */
#ifndef ESPRESSO_TEST_REFCSUM_H
#define ESPRESSO_TEST_REFCSUM_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t ref_add(uint32_t s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static inline uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

#endif
