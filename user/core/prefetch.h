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

struct worker;
struct pkt;
struct tunnel;

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
