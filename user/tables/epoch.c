// SPDX-License-Identifier: GPL-2.0
/*
 * epoch: the writer side of quiescent-state-based reclamation. The retire
 * queue, grace-period checks and synchronize; the protocol and the memory
 * orderings are explained in epoch.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "tables/epoch.h"

struct epoch_cb {
	struct epoch_cb *next;
	uint64_t target; /* gp after the retire: due when every reader saw it */
	void (*fn)(void *);
	void *arg;
};

int epoch_init(struct epoch *e, int nreaders)
{
	int i;

	if (nreaders < 0 || nreaders > EPOCH_MAX_READERS)
		return -EINVAL;
	atomic_init(&e->gp, 1);
	e->nreaders = nreaders;
	e->head = NULL;
	e->tail = &e->head;
	e->npending = 0;
	for (i = 0; i < EPOCH_MAX_READERS; i++)
		atomic_init(&e->reader[i].seen, 0);
	return 0;
}

/*
 * The oldest gp any online reader may still be short of: callbacks with a
 * target up to it are due. UINT64_MAX when every reader is offline.
 */
static uint64_t readers_min(struct epoch *e)
{
	uint64_t min = UINT64_MAX, s;
	int i;

	/* pairs with epoch_online()'s fence: orders the caller's pointer
	 * store and gp bump before the loads of seen[] (see epoch.h) */
	atomic_thread_fence(memory_order_seq_cst);
	for (i = 0; i < e->nreaders; i++) {
		s = atomic_load_explicit(&e->reader[i].seen,
					 memory_order_acquire);
		if (s && s < min)
			min = s;
	}
	return min;
}

/* Runs the queued callbacks with target <= upto, oldest first. */
static unsigned int run_due(struct epoch *e, uint64_t upto)
{
	struct epoch_cb *cb;
	unsigned int n = 0;

	while ((cb = e->head) && cb->target <= upto) {
		e->head = cb->next;
		if (!e->head)
			e->tail = &e->head;
		e->npending--;
		/* unlinked first: fn may retire more */
		cb->fn(cb->arg);
		free(cb);
		n++;
	}
	return n;
}

int epoch_retire(struct epoch *e, void (*fn)(void *), void *arg)
{
	struct epoch_cb *cb = malloc(sizeof(*cb));

	if (!cb) {
		/* no queue entry: wait here instead, then free */
		epoch_synchronize(e);
		fn(arg);
		return 0;
	}
	cb->next = NULL;
	cb->fn = fn;
	cb->arg = arg;
	cb->target = atomic_fetch_add_explicit(&e->gp, 1,
					       memory_order_seq_cst) + 1;
	*e->tail = cb;
	e->tail = &cb->next;
	e->npending++;
	return 0;
}

unsigned int epoch_reclaim(struct epoch *e)
{
	if (!e->head)
		return 0;
	return run_due(e, readers_min(e));
}

void epoch_synchronize(struct epoch *e)
{
	const struct timespec ms = { .tv_nsec = 1000000 };
	uint64_t target;

	/* a new value every reader online now must reach: those already at
	 * the old one may have read pointers before the caller's store */
	target = atomic_fetch_add_explicit(&e->gp, 1, memory_order_seq_cst) + 1;
	while (readers_min(e) < target)
		nanosleep(&ms, NULL);
	run_due(e, target);
}

void epoch_destroy(struct epoch *e)
{
	run_due(e, UINT64_MAX);
	e->nreaders = 0;
}

size_t epoch_pending(const struct epoch *e)
{
	return e->npending;
}
