/* SPDX-License-Identifier: GPL-2.0 */
/*
 * peer6: NAT-T peer following for IPv6 outer headers. An IPv6 address and
 * a port do not fit the one atomic word of sa->peer_seen, so each worker
 * has a slot of its own in each inbound SA (struct sa_worker) that only it
 * writes: a sequence counter around the words (odd while writing), the
 * control thread reads the words between two equal even counts and
 * retries at its next tick otherwise. The worker never waits nor locks;
 * it writes only when the source changes or the control thread took what
 * is there (as sa->peer_seen, which the control thread zeroes when it takes
 * it: a peer that comes back to a place it was at is seen again).
 * seq: the packet's ESP sequence number, so that of the slots of several
 * workers the control thread follows the newest.
 */
#ifndef ESPRESSO_PEER6_H
#define ESPRESSO_PEER6_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct peer6_slot {
	_Atomic uint32_t gen;    /* odd: being written; 0: never written */
	_Atomic uint32_t a[4];   /* the address, network order words */
	_Atomic uint32_t port;   /* host order */
	_Atomic uint64_t seq;
	_Atomic uint32_t taken;  /* written by the control thread: gen taken */
};

/* Worker (the slot's only writer): src (16 bytes), port host order. */
static inline void peer6_put(struct peer6_slot *s, const uint8_t *src,
			     uint16_t port, uint64_t seq)
{
	uint32_t w[4], g = atomic_load_explicit(&s->gen, memory_order_relaxed);
	int i;

	memcpy(w, src, 16);
	if (g && g != atomic_load_explicit(&s->taken, memory_order_relaxed) &&
	    atomic_load_explicit(&s->port, memory_order_relaxed) == port &&
	    atomic_load_explicit(&s->a[0], memory_order_relaxed) == w[0] &&
	    atomic_load_explicit(&s->a[1], memory_order_relaxed) == w[1] &&
	    atomic_load_explicit(&s->a[2], memory_order_relaxed) == w[2] &&
	    atomic_load_explicit(&s->a[3], memory_order_relaxed) == w[3])
		return; /* there, not taken yet: no store per packet */
	atomic_store_explicit(&s->gen, g + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (i = 0; i < 4; i++)
		atomic_store_explicit(&s->a[i], w[i], memory_order_relaxed);
	atomic_store_explicit(&s->port, port, memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq, memory_order_relaxed);
	atomic_store_explicit(&s->gen, g + 2, memory_order_release);
}

/* Control thread: a consistent copy of a slot written since it was last
 * taken (true), or nothing (false: nothing new, or a write under way). */
static inline bool peer6_peek(struct peer6_slot *s, struct in6_addr *a,
			      uint16_t *port, uint64_t *seq, uint32_t *gen)
{
	uint32_t g = atomic_load_explicit(&s->gen, memory_order_acquire), w[4];
	int i;

	if (!g || (g & 1) ||
	    g == atomic_load_explicit(&s->taken, memory_order_relaxed))
		return false;
	for (i = 0; i < 4; i++)
		w[i] = atomic_load_explicit(&s->a[i], memory_order_relaxed);
	*port = (uint16_t)atomic_load_explicit(&s->port, memory_order_relaxed);
	*seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->gen, memory_order_relaxed) != g)
		return false; /* torn: the next tick reads it again */
	memcpy(a, w, 16);
	*gen = g;
	return true;
}

#endif
