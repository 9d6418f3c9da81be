/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pkt: a packet of a worker's burst between the passes, and the one
 * choke point for its drops (a counter per reason, per queue and per SA).
 * Internal to the worker; rx.h and tx.h are the two paths.
 */
#ifndef ESPRESSO_PKT_H
#define ESPRESSO_PKT_H

#include <stdbool.h>
#include <stdint.h>

#include "tables/tables.h"
#include "core/worker.h"

struct pkt {
	uint64_t addr;  /* frame address (RX: as the descriptor gave it) */
	uint8_t *data;  /* RX: Ethernet header (IP for reassembled); TX: inner */
	uint32_t len;
	uint8_t *esp;   /* RX: ESP header; TX after crypto: outer IPv4 */
	uint32_t esp_len;
	uint64_t seq;
	struct tunnel *t;
	struct sa *sa;
	uint8_t mac[6]; /* TX: the next hop's */
	bool hold;      /* TX: waits for the next hop's MAC */
	bool raw;       /* TX: already encapsulated (outer fragment) */
	bool no_frame;  /* RX: not in a UMEM frame (reassembled) */
	bool handed;    /* RX: lent to the SA's owner */
	int from;       /* RX: the worker whose frame it is (handoff) */
	uint64_t peer;  /* RX, NAT-T: outer source and port, when not where
			 * the tunnel sends (sa_peer_pack); else 0.
			 * IPv6: SA_PEER_V6 | the port, host order */
	const uint8_t *peer6; /* RX, NAT-T, IPv6: the outer source there */
	int drop;       /* enum espresso_drop, 0 while the packet lives */
	uint8_t lan;    /* TX: the LAN index + 1 it came in on (router mode) */
	uint8_t lan_mac[6]; /* TX from a LAN: the sender's, for ICMP errors */
};

static inline void drop_rx(struct worker *w, struct pkt *p, int reason)
{
	p->drop = reason;
	w->st.drops[reason]++;
	if (p->sa)
		p->sa->pw[w->id].errors[reason]++;
}

static inline void drop_tx(struct worker *w, struct pkt *p, int reason)
{
	struct sa *sa = p->sa;

	p->drop = reason;
	w->st.drops[reason]++;
	if (!sa && p->t)
		sa = tunnel_out_sa(p->t, w->id);
	if (sa)
		sa->pw[w->id].errors[reason]++;
}

#endif
