/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmap: a hash map from a 64-bit hash to a pointer, open addressing with
 * linear probing and backward-shift deletion. The caller compares keys
 * (several entries may share a hash). Control thread only: the packet path
 * reads published tables, never this.
 */
#ifndef ESPRESSO_HMAP_H
#define ESPRESSO_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap_ent {
	uint64_t hash;
	void *ptr; /* NULL: empty */
};

struct hmap {
	struct hmap_ent *ent;
	size_t mask; /* capacity - 1, capacity a power of 2 */
	size_t n;
};

/* Iterate over the entries whose hash is h: start with *i = 0. */
void *hmap_next(const struct hmap *m, uint64_t h, size_t *i);
int hmap_add(struct hmap *m, uint64_t h, void *ptr); /* 0 or -ENOMEM */
bool hmap_del(struct hmap *m, uint64_t h, const void *ptr);
void hmap_free(struct hmap *m);

static inline uint64_t hmap_hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static inline uint64_t hmap_hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

#endif
