/* SPDX-License-Identifier: GPL-2.0 */
/*
 * handoff: lock-free single-producer/single-consumer rings between workers.
 * An XSK only receives from its own queue, and a NIC that cannot steer by
 * SPI puts an SA's packets wherever RSS says; the worker that received a
 * packet of an SA another worker owns hands the frame over (it stays in the
 * receiver's UMEM, in state FRAME_HANDOFF there), the owner decrypts and
 * delivers it, and gives the frame back on the return ring.
 *
 *   worker s --hand[s][d]--> worker d      (frame + metadata)
 *   worker s <--back[d][s]-- worker d      (frame address, when done)
 *
 * A worker never has more than HANDOFF_RING frames out to one owner, so the
 * return ring, as big, cannot overflow.
 */
#ifndef ESPRESSO_HANDOFF_H
#define ESPRESSO_HANDOFF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "espresso/common.h"

#define HANDOFF_RING 1024

struct handoff_desc {
	uint64_t addr; /* in the sender's UMEM, as the RX descriptor gave it */
	uint32_t len;
	uint32_t from; /* the sender's worker id */
	struct espresso_meta meta;
};

struct spsc_ring {
	_Atomic uint32_t head __attribute__((aligned(64))); /* producer */
	_Atomic uint32_t tail __attribute__((aligned(64))); /* consumer */
	uint32_t size __attribute__((aligned(64)));
	void *slots;
	uint32_t elem;
};

int spsc_init(struct spsc_ring *r, uint32_t size, uint32_t elem);
void spsc_free(struct spsc_ring *r);

/* Producer side. false when full. */
static inline bool spsc_push(struct spsc_ring *r, const void *e)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (h - t == r->size)
		return false;
	__builtin_memcpy((char *)r->slots + (size_t)(h & (r->size - 1)) * r->elem,
			 e, r->elem);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return true;
}

/* Consumer side. false when empty. */
static inline bool spsc_pop(struct spsc_ring *r, void *e)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);

	if (h == t)
		return false;
	__builtin_memcpy(e, (char *)r->slots + (size_t)(t & (r->size - 1)) * r->elem,
			 r->elem);
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return true;
}

static inline uint32_t spsc_count(struct spsc_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) -
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

#endif
