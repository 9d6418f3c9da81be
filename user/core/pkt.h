/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pkt: a packet of a worker's burst between the passes, and what the
 * inbound (rx.c) and outbound (tx.c) paths share. Internal to the worker.
 */
#ifndef ESPRESSO_PKT_H
#define ESPRESSO_PKT_H

#include <stdbool.h>
#include <stdint.h>

#include "tables/sa.h"
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
	int drop;       /* enum espresso_drop, 0 while the packet lives */
};

static inline void drop_rx(struct worker *w, struct pkt *p, int reason)
{
	p->drop = reason;
	w->st.drops[reason]++;
	if (p->sa)
		w->sa_in[p->sa->index].errors[reason]++;
}

static inline void drop_tx(struct worker *w, struct pkt *p, int reason)
{
	p->drop = reason;
	w->st.drops[reason]++;
	if (p->t)
		w->sa_out[tunnel_out_sa(p->t, w->id)->index].errors[reason]++;
}

uint64_t worker_now_ms(void);
/* Wake the workers in w->kick_mask (handoff or returned frames). */
void worker_kick_peers(struct worker *w);
/* Write one packet to the tun: iov[0] the virtio_net_hdr, iov[1..] the
 * packet (the header is skipped when the tun has none). gro_out_fn. */
int worker_tun_write(void *w, const struct iovec *iov, int iovcnt);

/* rx.c: one burst from the XSK. Returns the frames taken. */
unsigned int rx_burst(struct worker *w);
/* rx.c: frames handed over by other workers, and frames given back. */
unsigned int rx_handoff_burst(struct worker *w);
unsigned int rx_handoff_return(struct worker *w);
/* tx.c: one burst from the tun. Returns the packets read. */
unsigned int tx_burst(struct worker *w);
/* tx.c: send the held packets whose next hop is known, expire others. */
unsigned int tx_hold_flush(struct worker *w);

#endif
