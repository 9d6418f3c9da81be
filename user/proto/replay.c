// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>

#include "lib/cacheline.h"
#include "proto/replay.h"

#define BLOCK_SHIFT REPLAY_BLOCK_SHIFT /* 32 sequence numbers per slot */
#define BLOCK_BITS (1u << BLOCK_SHIFT)

int replay_init(struct replay_window *w, uint32_t size, bool esn)
{
	return replay_init_spread(w, size, esn, false);
}

/* The slots of a window of size: one block more than the window (a power
 * of 2), so a slot is only reused once its block has left the window
 * entirely; 0 for a size out of range. */
static uint32_t nslots_for(uint32_t size)
{
	uint32_t nslots = 1;

	if (size < BLOCK_BITS || size > 4096 || size % BLOCK_BITS)
		return 0;
	while (nslots < size / BLOCK_BITS + 1)
		nslots <<= 1;
	return nslots;
}

size_t replay_slots_size(uint32_t size, bool spread)
{
	return cacheline_round(((size_t)nslots_for(size) << (spread ? 3 : 0)) *
			       sizeof(uint64_t));
}

int replay_init_at(struct replay_window *w, uint32_t size, bool esn,
		   bool spread, void *mem)
{
	uint32_t nslots = nslots_for(size);
	uint8_t shift = spread ? 3 : 0;

	if (!nslots)
		return -EINVAL;
	w->own = !mem;
	w->slots = mem ? mem : calloc_lines(1, replay_slots_size(size, spread));
	if (!w->slots)
		return -ENOMEM;
	w->size = size;
	w->mask = nslots - 1;
	w->shift = shift;
	w->esn = esn;
	atomic_init(&w->top, 0);
	return 0;
}

int replay_init_spread(struct replay_window *w, uint32_t size, bool esn,
		       bool spread)
{
	return replay_init_at(w, size, esn, spread, NULL);
}

void replay_free(struct replay_window *w)
{
	if (w->own)
		free(w->slots);
	w->slots = NULL;
}

uint64_t replay_infer(const struct replay_window *w, uint32_t seq_lo)
{
	uint64_t top = atomic_load_explicit(&w->top, memory_order_relaxed);
	int32_t d = (int32_t)(seq_lo - (uint32_t)top);

	if (!w->esn)
		return seq_lo;
	/*
	 * The candidate closest to top (serial number arithmetic, RFC 1982).
	 * Inside the window and for packets ahead of it this is RFC 4303
	 * appendix A's answer; for a packet further behind than the window,
	 * A2.1 would guess the next 2^32 block and fail the ICV, where this
	 * guesses the old one and the packet is counted as too old.
	 */
	if (d < 0 && (uint64_t)-(int64_t)d > top)
		return top + (uint32_t)(seq_lo - (uint32_t)top);
	return top + d;
}

/* Compare block numbers by their low 32 bits (valid within 2^31 blocks). */
static inline int32_t block_diff(uint64_t block, uint64_t slot)
{
	return (int32_t)((uint32_t)block - (uint32_t)(slot >> 32));
}

int replay_check(const struct replay_window *w, uint64_t seq)
{
	uint64_t top = atomic_load_explicit(&w->top, memory_order_acquire);
	uint64_t block = seq >> BLOCK_SHIFT, slot;
	int32_t d;

	if (seq == 0)
		return REPLAY_OLD; /* RFC 4303: the first packet is number 1 */
	if (seq > top)
		return REPLAY_OK;
	if (seq + w->size <= top)
		return REPLAY_OLD;
	slot = atomic_load_explicit(&w->slots[(block & w->mask) << w->shift],
				    memory_order_acquire);
	d = block_diff(block, slot);
	if (d < 0)
		return REPLAY_OLD;
	if (d == 0 && (slot & (1u << (seq & (BLOCK_BITS - 1)))))
		return REPLAY_DUP;
	return REPLAY_OK;
}

int replay_update(struct replay_window *w, uint64_t seq)
{
	uint64_t top = atomic_load_explicit(&w->top, memory_order_acquire);
	uint64_t block = seq >> BLOCK_SHIFT, old, new;
	uint32_t bit = 1u << (seq & (BLOCK_BITS - 1));
	_Atomic uint64_t *slot = &w->slots[(block & w->mask) << w->shift];
	int32_t d;

	if (seq == 0 || seq + w->size <= top)
		return REPLAY_OLD;
	old = atomic_load_explicit(slot, memory_order_acquire);
	do {
		d = block_diff(block, old);
		if (d < 0)
			return REPLAY_OLD; /* slot already holds a newer block */
		if (d == 0) {
			if (old & bit)
				return REPLAY_DUP;
			new = old | bit;
		} else {
			/* a stale block leaves the ring */
			new = (uint64_t)(uint32_t)block << 32 | bit;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		slot, &old, new, memory_order_acq_rel, memory_order_acquire));

	while (seq > top &&
	       !atomic_compare_exchange_weak_explicit(&w->top, &top, seq,
						      memory_order_acq_rel,
						      memory_order_acquire))
		;
	return REPLAY_OK;
}

void replay_restore(struct replay_window *w, uint64_t top)
{
	uint64_t last = top >> BLOCK_SHIFT, b, first;
	uint32_t n = w->size / BLOCK_BITS + 1;

	if (!top)
		return;
	first = last >= n ? last - n + 1 : 0;
	for (b = first; b <= last; b++) {
		uint64_t bits = b < last ? 0xffffffffull
					 : (2ull << (top & (BLOCK_BITS - 1))) - 1;

		atomic_store_explicit(&w->slots[(b & w->mask) << w->shift],
				      (uint64_t)(uint32_t)b << 32 | bits,
				      memory_order_relaxed);
	}
	atomic_store_explicit(&w->top, top, memory_order_release);
}
