// SPDX-License-Identifier: GPL-2.0
/*
 * tap: the worker's side of espressoctl trace and pcap (tap.h). Runs only
 * while the control thread has published a struct tap_cfg: copies fixed
 * fields of each packet into a trace slot, or its bytes into a packet
 * slot, of the worker's own rings. No lock, no allocation, no system call
 * (clock_gettime is the vDSO's, once per loop turn).
 */
#include <string.h>
#include <time.h>

#include "espresso/common.h"
#include "proto/esp.h"
#include "core/pkt.h"
#include "core/tap.h"
#include "core/worker.h"

void tap_turn(struct worker *w)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	w->tap_ns = ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static bool match(const struct tap_filter *f, uint8_t dir, uint32_t spi,
		  const struct tunnel *t, int drop)
{
	if (f->dir && f->dir != dir)
		return false;
	if (f->drops_only && drop <= 0)
		return false;
	if (f->has_spi && f->spi != spi)
		return false;
	if (f->tunnel[0] && (!t || strncmp(f->tunnel, t->name, TAP_NAME_MAX)))
		return false;
	return true;
}

/* A trace slot with the fields every record has, or NULL (ring full:
 * counted). */
static struct tap_trace *trace_slot(struct worker *w, uint8_t dir)
{
	struct tap_trace *r = tap_ring_slot(&w->tap->trace[w->id]);

	if (!r) {
		w->st.trace_lost++;
		return NULL;
	}
	memset(r, 0, offsetof(struct tap_trace, hdr));
	r->ns = w->tap_ns;
	r->dir = dir;
	r->worker = (uint8_t)w->id;
	return r;
}

static void trace_tunnel(struct tap_trace *r, const struct tunnel *t)
{
	if (t)
		memcpy(r->tunnel, t->name, TAP_NAME_MAX);
	r->tunnel[TAP_NAME_MAX - 1] = '\0';
}

/* The ESP packet was decrypted: its trailer says the inner length. */
static bool rx_opened(int drop)
{
	switch (drop) {
	case 0:
	case DROP_rx_padding:
	case DROP_rx_next_hdr:
	case DROP_rx_dummy:
	case DROP_rx_inner_len:
	case DROP_rx_inner_src:
	case DROP_rx_inner_dst:
	case DROP_rx_tun_write:
		return true;
	default:
		return false;
	}
}

static void trace_rx(struct worker *w, const struct pkt *p)
{
	const struct espresso_meta *m = (const void *)(p->data - sizeof(*m));
	struct tap_trace *r;
	uint32_t spi = p->sa ? p->sa->spi : 0;
	int drop = p->drop;

	/* a frame's metadata stays in its headroom (only magic is cleared):
	 * the SPI of a packet dropped before its SA was found */
	if (!spi && !p->no_frame)
		spi = m->spi;
	if (!match(&w->tap->filter, TAP_DIR_IN, spi, p->t, drop))
		return;
	r = trace_slot(w, TAP_DIR_IN);
	if (!r)
		return;
	r->spi = spi;
	r->seq = p->seq;
	r->drop = (int16_t)(drop > 0 ? drop : 0);
	r->from = (uint8_t)p->from;
	r->len = p->len;
	if (p->handed) {
		r->flags |= TAP_F_HANDED;
		r->owner = (uint8_t)p->sa->owner;
	}
	else if (drop < 0)
		r->flags |= TAP_F_FRAG;
	if (p->no_frame)
		r->flags |= TAP_F_REASM;
	trace_tunnel(r, p->t);
	if ((p->esp || p->handed) && !p->no_frame) {
		/* the SA was found from this metadata: its offsets hold */
		const uint8_t *ip = p->data + m->l3_off;

		if (m->l3_proto == 4 && m->l3_off + 20u <= p->len) {
			memcpy(&r->outer_src, ip + 12, 4);
			memcpy(&r->outer_dst, ip + 16, 4);
			r->flags |= TAP_F_OUTER;
		}
	}
	if (p->esp && !p->handed && drop >= 0 && rx_opened(drop) &&
	    p->esp_len >= ESP_MIN_LEN) {
		const uint8_t *inner = p->esp + ESP_HDR_LEN + ESP_GCM_IV_LEN;
		uint32_t pt = p->esp_len - ESP_HDR_LEN - ESP_GCM_IV_LEN -
			      ESP_GCM_ICV_LEN;
		uint32_t pad = inner[pt - 2];

		/* the trailer, which GRO leaves alone (it rewrites the
		 * length of a merged packet's first header) */
		r->inner_len = pt >= pad + 2 ? pt - pad - 2 : 0;
		r->hdr_len = r->inner_len < TAP_HDR_MAX ? r->inner_len
							 : TAP_HDR_MAX;
		memcpy(r->hdr, inner, r->hdr_len);
		r->flags |= TAP_F_INNER;
	}
	tap_ring_push(&w->tap->trace[w->id]);
}

void tap_rx_burst(struct worker *w, const struct pkt *pkts, unsigned int n)
{
	unsigned int i;

	if (!(w->tap->flags & TAP_TRACE))
		return;
	for (i = 0; i < n; i++)
		trace_rx(w, &pkts[i]);
}

static void pcap_copy(struct worker *w, uint8_t dir, const uint8_t *pkt,
		      uint32_t len)
{
	struct spsc_ring *ring = &w->tap->pcap[w->id];
	struct tap_pkt *s = tap_ring_slot(ring);

	if (!s) {
		w->st.pcap_lost++;
		return;
	}
	s->ns = w->tap_ns;
	s->len = len;
	s->caplen = len < w->tap->snaplen ? len : w->tap->snaplen;
	s->dir = dir;
	memcpy(s->data, pkt, s->caplen);
	tap_ring_push(ring);
}

void tap_rx_inner(struct worker *w, const uint8_t *inner, uint32_t len)
{
	if (w->tap->flags & TAP_PCAP_IN)
		pcap_copy(w, TAP_DIR_IN, inner, len);
}

void tap_tx_pre(struct worker *w)
{
	uint32_t flags = w->tap->flags;
	unsigned int i;

	for (i = 0; i < w->ntx; i++) {
		const struct pkt *p = &w->txb[i];
		struct tap_snap *s = &w->tap_tx[i];

		/* an outer fragment is already ciphertext */
		if (p->raw)
			continue;
		if (flags & TAP_TRACE) {
			s->len = p->len < TAP_HDR_MAX ? p->len : TAP_HDR_MAX;
			memcpy(s->hdr, p->data, s->len);
		}
		if ((flags & TAP_PCAP_OUT) && !p->drop && !p->hold)
			pcap_copy(w, TAP_DIR_OUT, p->data, p->len);
	}
}

/* One TX record; hdr: the inner packet's first bytes (NULL: none). */
static void trace_tx(struct worker *w, const struct pkt *p, const uint8_t *hdr,
		     unsigned int hlen)
{
	struct tap_trace *r;
	uint32_t spi = p->sa ? p->sa->spi : 0;

	if (!match(&w->tap->filter, TAP_DIR_OUT, spi, p->t, p->drop))
		return;
	r = trace_slot(w, TAP_DIR_OUT);
	if (!r)
		return;
	r->spi = spi;
	r->seq = p->seq;
	r->drop = (int16_t)(p->drop > 0 ? p->drop : 0);
	r->from = (uint8_t)w->id;
	r->len = p->raw ? p->esp_len : p->len;
	memcpy(r->mac, p->mac, 6);
	if (p->hold && !p->drop)
		r->flags |= TAP_F_HELD;
	if (p->raw)
		r->flags |= TAP_F_RAW;
	if (p->drop < 0)
		r->flags |= TAP_F_SPLIT;
	trace_tunnel(r, p->t);
	if (hdr) {
		r->hdr_len = hlen < TAP_HDR_MAX ? hlen : TAP_HDR_MAX;
		memcpy(r->hdr, hdr, r->hdr_len);
		r->flags |= TAP_F_INNER;
	}
	tap_ring_push(&w->tap->trace[w->id]);
}

void tap_tx_post(struct worker *w)
{
	unsigned int i;

	if (!(w->tap->flags & TAP_TRACE))
		return;
	for (i = 0; i < w->ntx; i++) {
		const struct pkt *p = &w->txb[i];

		if (p->raw)
			trace_tx(w, p, NULL, 0);
		else
			trace_tx(w, p, w->tap_tx[i].hdr, w->tap_tx[i].len);
	}
}

void tap_tx_lone(struct worker *w, const struct pkt *p)
{
	if (w->tap->flags & TAP_TRACE)
		trace_tx(w, p, p->data, p->data ? p->len : 0);
}
