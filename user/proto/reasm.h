/* SPDX-License-Identifier: GPL-2.0 */
/*
 * reasm: reassembly of outer IPv4 and IPv6 fragments (ESP that arrived in pieces)
 * before decryption, per worker, with bounds on memory, on fragments per
 * packet and on time. Overlapping, duplicate, oversized and incomplete
 * trains are dropped and counted; nothing is leaked. All the memory is taken
 * by reasm_new (a pool of the whole bound): reasm_add and reasm_expire never
 * allocate, and a fragment the pool cannot hold is dropped and counted.
 */
#ifndef ESPRESSO_REASM_H
#define ESPRESSO_REASM_H

#include <stddef.h>
#include <stdint.h>

#define REASM_MAX_PACKET 65535
/* the pool's unit: a train holds one for itself and one per REASM_BLOCK
 * bytes of payload [0, its highest end) */
#define REASM_BLOCK 256

/* X(name, help) */
#define REASM_COUNTERS(X)                                                     \
	X(fragments, "fragments received")                                   \
	X(reassembled, "packets completed")                                  \
	X(drop_overlap, "train dropped: overlapping or duplicate fragment")  \
	X(drop_oversize, "train dropped: would exceed 65535 bytes")          \
	X(drop_too_many, "train dropped: more fragments than allowed")       \
	X(drop_timeout, "train dropped: incomplete when its time ran out")   \
	X(drop_no_memory, "fragment dropped: memory bound reached")          \
	X(drop_malformed, "fragment dropped: bad header or length")

#define REASM_X_FIELD(name, help) uint64_t name;
struct reasm_stats {
	REASM_COUNTERS(REASM_X_FIELD)
};
#undef REASM_X_FIELD

struct reasm_table;

/*
 * mem_limit: bytes held for all trains, taken (and touched) here as a pool
 * of mem_limit / REASM_BLOCK blocks; max_frags: per packet. NULL when the
 * memory cannot be had.
 */
struct reasm_table *reasm_new(size_t mem_limit, unsigned int max_frags,
			      unsigned int timeout_ms);
void reasm_free(struct reasm_table *t);

enum { REASM_HELD = 0, REASM_DONE = 1 };
/*
 * Offer the IPv4 or IPv6 fragment at ip (len bytes, the IP packet, trailing
 * frame padding allowed). The bytes are copied: the caller keeps its buffer.
 * Returns REASM_HELD, REASM_DONE with *out, *out_len = the whole IP packet
 * (header of the first fragment, fragment fields cleared, lengths and
 * checksum right; IPv6: the fragment header removed, the extension
 * headers before it kept; in the table's own buffer, writable, valid
 * until the next call on t), or -1 when the
 * fragment or its train was dropped (counted in the stats).
 */
int reasm_add(struct reasm_table *t, const uint8_t *ip, size_t len,
	      uint64_t now_ms, uint8_t **out, size_t *out_len);
/* Drop the trains older than the timeout (counted). */
void reasm_expire(struct reasm_table *t, uint64_t now_ms);
const struct reasm_stats *reasm_stats(const struct reasm_table *t);
/* Bytes currently held (blocks of the pool in use). */
size_t reasm_mem(const struct reasm_table *t);
/* Bytes the table took in reasm_new, all told (pool, maps, output). */
size_t reasm_pool_size(const struct reasm_table *t);

#endif
