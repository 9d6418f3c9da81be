/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cacheline: allocations that share no cache line with anything else.
 * What one worker writes per packet (an SA's sequence number, a replay
 * window, its counters) must not sit in a line another worker reads or
 * writes: false sharing costs more than the crypto at 8 workers.
 */
#ifndef ESPRESSO_CACHELINE_H
#define ESPRESSO_CACHELINE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CACHELINE 64

/* n bytes rounded up to whole lines */
static inline size_t cacheline_round(size_t n)
{
	return (n + CACHELINE - 1) & ~(size_t)(CACHELINE - 1);
}

/* calloc, but 64-byte aligned and rounded up to whole lines. free() it. */
static inline void *calloc_lines(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (__builtin_mul_overflow(n, size, &bytes) || bytes > SIZE_MAX / 2)
		return NULL;
	bytes = bytes ? cacheline_round(bytes) : CACHELINE;
	p = aligned_alloc(CACHELINE, bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

#endif
