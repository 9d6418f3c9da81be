/* SPDX-License-Identifier: GPL-2.0 */
/*
 * epoch: quiescent-state-based reclamation (QSBR, liburcu's "qsbr" flavour)
 * for the tables the packet path reads without locks. One control thread
 * (the writer) builds a new version of a table, publishes it with one
 * release store of a pointer, and hands the old version to epoch_retire();
 * the old version is freed once every worker (reader) has passed a
 * quiescent point since, i.e. can no longer hold a pointer into it.
 *
 * Reader protocol, worker thread `id` (0..nreaders-1):
 *
 *	epoch_online(e, id);            before the first read of a table
 *	for (;;) {
 *		t = atomic_load_explicit(&tables, memory_order_acquire);
 *		... use t; keep no pointer into it past the next line ...
 *		epoch_quiescent(e, id);  once per loop iteration
 *		if (idle) {
 *			epoch_offline(e, id);
 *			poll(...);       holds no table pointer while offline
 *			epoch_online(e, id);
 *		}
 *	}
 *	epoch_offline(e, id);           before the thread exits
 *
 * Readers start offline: a worker that never starts never blocks reclaim.
 * A reader that is online and never calls epoch_quiescent() blocks every
 * reclaim; a reader that is offline costs the writer nothing.
 *
 * Writer (one thread only; nothing here is safe for two writers):
 *
 *	atomic_store_explicit(&tables, new, memory_order_release);
 *	epoch_retire(e, table_free, old);
 *	...
 *	epoch_reclaim(e);               now and then, e.g. on a timer
 *
 * The protocol and why its memory orderings suffice:
 *
 *   gp      a counter, only the writer bumps it (every retire and every
 *           synchronize), starting at 1.
 *   seen[i] reader i's copy of gp at its last quiescent point; 0 while
 *           offline. Only reader i writes it; the writer only reads it.
 *
 * epoch_retire() bumps gp to T (release RMW, sequenced after the caller's
 * release store of the new pointer) and queues (T, fn, arg). fn may run
 * once every reader has seen[i] == 0 or seen[i] >= T:
 *
 *  (a) seen[i] >= T: reader i stored a value it had loaded from gp with
 *      acquire, so it synchronized with the bump to T, and every pointer
 *      load it made after that quiescent point returns the new pointer or
 *      a later one, never the retired one. Every access it made before that
 *      point is ordered before the writer's acquire load of seen[i] by the
 *      release store of seen[i]; so before fn. (seen[i] only grows while
 *      online: gp only grows and reader i reads it in coherence order, so a
 *      later value also satisfies the test.)
 *  (b) seen[i] == 0: epoch_offline() stored 0 with release after the
 *      reader's last access, as in (a). The danger is the way back:
 *      epoch_online() stores seen[i] and then loads table pointers, while
 *      the writer stores a pointer and then loads seen[i]. That is the
 *      store-buffering (Dekker) pattern, which acquire/release does not
 *      order: both could read the old values, the writer seeing "offline"
 *      while the reader picks up the pointer about to be freed. A seq_cst
 *      fence on both sides (after the store of seen[i] in epoch_online(),
 *      before the loads of seen[] in the writer) forbids it: either the
 *      writer sees the reader online (then (a) applies to the value it
 *      stored) or the reader's loads see the new pointer.
 *
 * epoch_quiescent() needs no fence: it moves seen[i] from one non-zero
 * value to a larger one, and the writer only asks "is it >= T"; a stale
 * smaller value only delays fn. Its fast path stores nothing when seen[i]
 * already equals gp: the reader's earlier store of that value already
 * covered every version retired up to it, and whatever it read since was
 * published before that value. Called while offline it does nothing (it
 * must not bring the reader online without epoch_online()'s fence).
 */
#ifndef ESPRESSO_EPOCH_H
#define ESPRESSO_EPOCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cacheline.h"

#define EPOCH_MAX_READERS 64

struct epoch_cb;  /* a retired object: epoch.c's, owned by the writer */

/* one reader's slot: a line of its own, written only by that reader */
struct epoch_reader {
	_Alignas(CACHELINE) _Atomic uint64_t seen; /* 0: offline */
};

/*
 * Embed it (static or on the stack) or allocate it with aligned_alloc /
 * calloc_lines: it is cache-line aligned.
 */
struct epoch {
	/* read by every reader once per loop, written on retire */
	_Alignas(CACHELINE) _Atomic uint64_t gp;
	int nreaders;
	/* the writer's own: FIFO of retired objects, oldest first; their
	 * targets never decrease */
	_Alignas(CACHELINE) struct epoch_cb *head;
	struct epoch_cb **tail;
	size_t npending;
	struct epoch_reader reader[EPOCH_MAX_READERS];
};

/* 0, or -EINVAL when nreaders is not in 0..EPOCH_MAX_READERS. All readers
 * start offline. */
int epoch_init(struct epoch *e, int nreaders);

/*
 * Reader side. Each takes the reader's own id; calls for one id come from
 * one thread. No locks, no syscalls: a load and at most a store (plus a
 * full fence in epoch_online).
 */

/* Once per loop: "I hold no pointer I read before now". Online only. */
static inline void epoch_quiescent(struct epoch *e, int id)
{
	_Atomic uint64_t *seen = &e->reader[id].seen;
	uint64_t g = atomic_load_explicit(&e->gp, memory_order_acquire);
	uint64_t s = atomic_load_explicit(seen, memory_order_relaxed);

	if (s == g)
		return;
	if (__builtin_expect(s == 0, 0))
		return; /* offline: only epoch_online() may end that */
	atomic_store_explicit(seen, g, memory_order_release);
}

/* Before sleeping (poll()): holds nothing until epoch_online(). */
static inline void epoch_offline(struct epoch *e, int id)
{
	atomic_store_explicit(&e->reader[id].seen, 0, memory_order_release);
}

/* After waking, before reading (again) any published pointer. */
static inline void epoch_online(struct epoch *e, int id)
{
	uint64_t g = atomic_load_explicit(&e->gp, memory_order_acquire);

	atomic_store_explicit(&e->reader[id].seen, g, memory_order_release);
	/* pairs with the writer's fence before it loads seen[] (see top) */
	atomic_thread_fence(memory_order_seq_cst);
}

/*
 * Writer side: one control thread only.
 */

/*
 * fn(arg) runs, from epoch_reclaim/synchronize/destroy in the writer's
 * thread, once every reader has passed a quiescent point (or been offline)
 * after this call. Callbacks run in retire order; fn may call
 * epoch_retire(). Call it after publishing the replacement of arg.
 * Always 0: when the queue entry cannot be allocated it falls back to
 * epoch_synchronize() and runs fn(arg) before returning (blocks, as long as
 * one grace period).
 */
int epoch_retire(struct epoch *e, void (*fn)(void *), void *arg);

/* Non-blocking: runs the callbacks whose grace period is over; how many. */
unsigned int epoch_reclaim(struct epoch *e);

/*
 * Blocks until every reader online now has passed a quiescent point (or
 * gone offline), sleeping 1 ms between checks, then runs every callback
 * retired before the call. Use it also before freeing something unpublished
 * without epoch_retire. Never call it from a reader thread that is online:
 * it would wait for itself.
 */
void epoch_synchronize(struct epoch *e);

/* The readers are gone: runs every pending callback, leaves e empty. */
void epoch_destroy(struct epoch *e);

/* Retired objects not yet freed. */
size_t epoch_pending(const struct epoch *e);

#endif
