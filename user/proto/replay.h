/* SPDX-License-Identifier: GPL-2.0 */
/*
 * replay: the anti-replay window of an inbound SA (RFC 4303 3.4.3) with
 * extended sequence numbers (RFC 4303 appendix A, RFC 4304).
 *
 * An RFC 6479 ring of bitmap blocks, made lock-free so that several workers
 * may decrypt for one SA: each 64-bit slot holds the low 32 bits of a block
 * number (seq >> 5) and the 32 bits of that block, and only moves forward
 * with a compare-and-swap. A sequence number is accepted at most once, ever:
 * the bit is set after the ICV passed (replay_update), and of two threads
 * racing with the same number only one wins the CAS.
 */
#ifndef ESPRESSO_REPLAY_H
#define ESPRESSO_REPLAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum replay_result {
	REPLAY_OK = 0,
	REPLAY_DUP = -1, /* seen before */
	REPLAY_OLD = -2, /* left of the window */
};

struct replay_window {
	uint32_t size;   /* W, 32..4096, multiple of 32 */
	uint32_t mask;   /* nslots - 1 */
	uint8_t shift;   /* slot i is at slots[i << shift] (0, or 3: a line each) */
	bool esn;
	bool own;        /* slots allocated here (replay_free frees them) */
	_Atomic uint64_t top; /* highest authenticated sequence number */
	_Atomic uint64_t *slots;
};

int replay_init(struct replay_window *w, uint32_t size, bool esn);
/*
 * The same; spread: each slot on a cache line of its own (8 times the
 * memory), for an SA that several workers update at once (a fat tunnel:
 * their bursts of sequence numbers fall in neighbouring slots).
 */
int replay_init_spread(struct replay_window *w, uint32_t size, bool esn,
		       bool spread);
/*
 * The same with the slots in memory the caller owns: replay_slots_size()
 * bytes at mem, zeroed and cache-line aligned (an SA's own block); 0 when
 * size is invalid. replay_free leaves such slots alone.
 */
size_t replay_slots_size(uint32_t size, bool spread);
int replay_init_at(struct replay_window *w, uint32_t size, bool esn,
		   bool spread, void *mem);
void replay_free(struct replay_window *w);
/*
 * The full 64-bit sequence number for the 32 bits on the wire (ESN): of the
 * numbers with these low bits, the closest to the highest one received.
 */
uint64_t replay_infer(const struct replay_window *w, uint32_t seq_lo);
/* Before decryption: could seq be accepted? Reads only. */
int replay_check(const struct replay_window *w, uint64_t seq);
/* After the ICV passed: record seq. REPLAY_OK exactly once per number. */
int replay_update(struct replay_window *w, uint64_t seq);
/* Warm the slot that seq's check and update read (a burst's prefetch
 * pass, core/prefetch.h). */
#define REPLAY_BLOCK_SHIFT 5 /* 32 sequence numbers per slot */
static inline void replay_prefetch(const struct replay_window *w, uint64_t seq)
{
	__builtin_prefetch(
		&w->slots[((seq >> REPLAY_BLOCK_SHIFT) & w->mask) << w->shift],
		1, 3);
}

/*
 * After a restart: every number up to top counts as received (top is the
 * SA's persisted accept limit, control/live.c: nothing above it was ever
 * accepted, anything up to it may have been, so it is all refused). Before
 * any update.
 */
void replay_restore(struct replay_window *w, uint64_t top);

#endif
