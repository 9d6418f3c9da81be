/* SPDX-License-Identifier: GPL-2.0 */
/*
 * prefetch: the passes that warm a burst's per-SA state before the passes
 * that use it. With thousands of tunnels carrying traffic at once, each
 * packet's SA, tunnel, replay slot, counters and cipher context are cold:
 * a chain of dependent cache misses (slot -> SA -> context -> key
 * schedule) per packet. Walking the burst once per link of the chain,
 * prefetching, lets the misses of all its packets overlap instead of
 * following one another (VPP's dual/quad loops do the same).
 * Only hints: nothing here changes what the passes after it decide.
 */
#ifndef ESPRESSO_PREFETCH_H
#define ESPRESSO_PREFETCH_H

#include <stdint.h>

#include "core/worker.h"

struct pkt;
struct tunnel;
struct sa;

/*
 * The next burst, looked at while this one's packets are written to the
 * tun (rx_finish's last pass: a syscall each, time in which the memory
 * answers). Under load the RX ring already holds it: rx_ahead_start
 * peeks at its descriptors (taking none) and prefetches the frames; then,
 * one call per packet written, rx_ahead_step walks the chain rx_prefetch
 * walks (slot, SA, what the SA points at and the cipher context) for q
 * more of the next burst's packets, each link a few calls behind the one
 * before, so that a syscall's worth of misses is in flight at a time
 * (all at once, they would stall the writes: the line fill buffers are
 * few); rx_ahead_finish does what is left. The next rx_burst's prefetch
 * pass then finds the lines in cache. Nothing is kept past rx_burst: the
 * SAs are the table version w->tb's, alive until the worker's quiescent
 * point. Hints only.
 */
struct rx_ahead {
	uint32_t idx, n;
	uint32_t done[3]; /* packets past each link */
	uint32_t len[WORKER_BATCH_MAX];
	const uint8_t *data[WORKER_BATCH_MAX];
	struct sa *sa[WORKER_BATCH_MAX];
};

void rx_ahead_start(struct worker *w, struct rx_ahead *a);
void rx_ahead_step(struct worker *w, struct rx_ahead *a, uint32_t q);
void rx_ahead_finish(struct worker *w, struct rx_ahead *a);

/* RX, before pass 1: the slots the metadata names, their SAs, then the
 * SAs' tunnels, wire parameters, counters and replay slots. */
void rx_prefetch(struct worker *w, const struct pkt *pkts, uint32_t n);
/* RX, before pass 2: the cipher contexts of the packets still alive. */
void rx_prefetch_crypto(struct worker *w, const struct pkt *pkts, uint32_t n);
/* RX, after pass 2: the inner source check's FIB leaves. */
void rx_prefetch_inner(struct worker *w, const struct pkt *pkts, uint32_t n);
/* TX, as a packet's tunnel is found: the tunnel (MTU, next hop, the
 * outbound SA of the first pair). */
void tx_prefetch_tunnel(const struct tunnel *t);
/* TX, once the tunnel is read: its outbound SA (for worker w). */
void tx_prefetch_sa(struct worker *w, struct tunnel *t);
/* TX, before the crypto pass over w->txb: wire parameters, counters,
 * then cipher contexts. */
void tx_prefetch_burst(struct worker *w);

#endif
