// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <string.h>

#include "core/pkt.h"
#include "proto/esp.h"
#include "core/prefetch.h"

#define pf_r(p) __builtin_prefetch((p), 0, 3)
#define pf_w(p) __builtin_prefetch((p), 1, 3)

/* every line [p, p + len) touches */
static inline void pf_lines(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(CACHELINE - 1);

	for (; a < (uintptr_t)p + len; a += CACHELINE)
		pf_r((const void *)a);
}

/* The metadata the XDP program wrote in front of an inbound frame's data,
 * or NULL (rx_prepare decides what to do with such a frame). */
static inline const struct espresso_meta *rx_meta_at(const uint8_t *data)
{
	const struct espresso_meta *m = (const void *)(data - sizeof(*m));

	return m->magic == ESPRESSO_META_MAGIC &&
			       m->verdict == ESPRESSO_V_ESP_IN ?
		       m :
		       NULL;
}

static inline const struct espresso_meta *rx_meta(const struct pkt *p)
{
	return rx_meta_at(p->data);
}

/* The ciphertext of an ESP packet of esp_len bytes (header, IV, ICV
 * off; at least 1: crypto_aead_prefetch reads 0 as "all"). */
static inline size_t esp_ct_len(size_t esp_len)
{
	const size_t over = ESP_HDR_LEN + ESP_GCM_IV_LEN + ESP_GCM_ICV_LEN;

	return esp_len > over ? esp_len - over : 1;
}

/* What is sealed of an inner packet of len bytes: it, the padding to 4
 * bytes and the trailer's two. */
static inline size_t esp_pt_len(size_t len)
{
	return (len + 2 + 3) & ~(size_t)3;
}

/* The SA a frame's metadata names in tb, or NULL. */
static inline struct sa *rx_meta_sa(const struct tables *tb,
				    const struct espresso_meta *m)
{
	return m && m->sa_index < tb->nsa ? tb->sa_in[m->sa_index] : NULL;
}

/* An inbound frame's SA (line 0 in cache) beyond its first lines: its
 * tunnel, wire parameters, this worker's counters, the replay slot of
 * the frame's sequence number, the exact top of a persisted SA. */
static void rx_pf_sa_rest(const struct worker *w, const struct sa *sa,
			  const uint8_t *data, uint32_t len,
			  const struct espresso_meta *m)
{
	uint32_t seq_lo;

	pf_r(tunnel_hot(sa->tunnel));
	pf_r(sa_wire(sa));
	if (w->id < sa->nworkers)
		pf_w(&sa->pw[w->id]);
	if ((uint32_t)m->esp_off + 8 <= len) {
		memcpy(&seq_lo, data + m->esp_off + 4, 4);
		replay_prefetch(&sa->replay,
				replay_infer(&sa->replay, ntohl(seq_lo)));
	}
	/* a persisted SA's exact top (tables/sa.h sa_rx_note) */
	if (sa->rx_exact)
		pf_w(sa->rx_exact);
}

/* The cipher context of an inbound frame's SA (its worker line in cache). */
static inline void rx_pf_ctx(const struct worker *w, const struct sa *sa,
			     uint32_t len, const struct espresso_meta *m)
{
	if (w->id < sa->nworkers)
		crypto_aead_prefetch(&sa->pw[w->id].aead,
				     esp_ct_len(len > m->esp_off ?
						len - m->esp_off : 0));
}

void rx_prefetch(struct worker *w, const struct pkt *pkts, uint32_t n)
{
	const struct tables *tb = w->tb;
	struct sa *sas[WORKER_BATCH_MAX];
	uint32_t i;

	for (i = 0; i < n; i++) {
		const struct espresso_meta *m = rx_meta(&pkts[i]);

		if (m && m->sa_index < tb->nsa)
			pf_r(&tb->sa_in[m->sa_index]);
	}
	for (i = 0; i < n; i++) {
		sas[i] = rx_meta_sa(tb, rx_meta(&pkts[i]));
		if (sas[i]) {
			pf_r(sa_line0(sas[i])); /* spi .. pw */
			pf_r(&sas[i]->replay); /* top, slots */
		}
	}
	for (i = 0; i < n; i++) {
		const struct espresso_meta *m = rx_meta(&pkts[i]);

		if (sas[i] && sas[i]->spi == m->spi)
			rx_pf_sa_rest(w, sas[i], pkts[i].data, pkts[i].len, m);
	}
	/* the cipher contexts now, so they arrive during pass 1 */
	for (i = 0; i < n; i++) {
		const struct espresso_meta *m = rx_meta(&pkts[i]);

		if (sas[i] && sas[i]->spi == m->spi)
			rx_pf_ctx(w, sas[i], pkts[i].len, m);
	}
}

void rx_ahead_start(struct worker *w, struct rx_ahead *a)
{
	struct xsk_ring_cons *rx = &w->port.rx;
	uint32_t i;

	a->done[0] = a->done[1] = a->done[2] = 0;
	a->n = xsk_ring_cons__peek(rx, w->env->batch, &a->idx);
	/* only looked at: the next rx_burst takes them */
	xsk_ring_cons__cancel(rx, a->n);
	for (i = 0; i < a->n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(rx, a->idx + i);

		a->data[i] = xsk_port_frame(&w->port,
				xsk_umem__add_offset_to_addr(d->addr));
		a->len[i] = d->len;
		pf_r(a->data[i] - sizeof(struct espresso_meta));
		pf_r(a->data[i]);
	}
}

/* Ahead, link 1: the packet's slot in the table. */
static void rx_ahead_slot(struct worker *w, struct rx_ahead *a, uint32_t i)
{
	const struct espresso_meta *m = rx_meta_at(a->data[i]);

	if (m && m->sa_index < w->tb->nsa)
		pf_r(&w->tb->sa_in[m->sa_index]);
}

/* Link 2: the slot's SA, its lines at their places in the block. */
static void rx_ahead_sa(struct worker *w, struct rx_ahead *a, uint32_t i)
{
	struct sa *sa = rx_meta_sa(w->tb, rx_meta_at(a->data[i]));

	a->sa[i] = sa;
	if (!sa)
		return;
	pf_r(sa_line0(sa));
	pf_r(&sa->replay);
	pf_r(sa_wire0_at(sa));
	pf_w(sa_pw_at(sa, w->id));
}

/* Link 3: what the SA points at, and the cipher context. */
static void rx_ahead_rest(struct worker *w, struct rx_ahead *a, uint32_t i)
{
	const struct espresso_meta *m = rx_meta_at(a->data[i]);
	struct sa *sa = a->sa[i];

	if (!sa || sa->spi != m->spi)
		return;
	rx_pf_sa_rest(w, sa, a->data[i], a->len[i], m);
	rx_pf_ctx(w, sa, a->len[i], m);
}

/* Each link RX_AHEAD_LAG steps behind the one before it. */
#define RX_AHEAD_LAG 2

void rx_ahead_step(struct worker *w, struct rx_ahead *a, uint32_t q)
{
	uint32_t t;

	t = a->done[0] + q < a->n ? a->done[0] + q : a->n;
	for (; a->done[0] < t; a->done[0]++)
		rx_ahead_slot(w, a, a->done[0]);
	t = a->done[0] > RX_AHEAD_LAG * q ? a->done[0] - RX_AHEAD_LAG * q : 0;
	for (; a->done[1] < t; a->done[1]++)
		rx_ahead_sa(w, a, a->done[1]);
	t = a->done[1] > RX_AHEAD_LAG * q ? a->done[1] - RX_AHEAD_LAG * q : 0;
	for (; a->done[2] < t; a->done[2]++)
		rx_ahead_rest(w, a, a->done[2]);
}

void rx_ahead_finish(struct worker *w, struct rx_ahead *a)
{
	for (; a->done[0] < a->n; a->done[0]++)
		rx_ahead_slot(w, a, a->done[0]);
	for (; a->done[1] < a->n; a->done[1]++)
		rx_ahead_sa(w, a, a->done[1]);
	for (; a->done[2] < a->n; a->done[2]++)
		rx_ahead_rest(w, a, a->done[2]);
}

void rx_prefetch_crypto(struct worker *w, const struct pkt *pkts, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!pkts[i].drop)
			crypto_aead_prefetch(&pkts[i].sa->pw[w->id].aead,
					     esp_ct_len(pkts[i].esp_len));
}

/*
 * The inner source check's FIB lookup (rx_post): with many tunnels the
 * trie's leaf and the tunnel slot it names are cold. Looking every
 * decrypted packet's source up once here, in a loop of independent
 * iterations, lets those misses overlap; rx_post's own lookup then finds
 * the lines in cache. The result is not kept: rx_post decides.
 */
void rx_prefetch_inner(struct worker *w, const struct pkt *pkts, uint32_t n)
{
	const struct tables *tb = w->tb;
	uint32_t i, v;

	for (i = 0; i < n; i++) {
		const struct pkt *p = &pkts[i];
		const uint8_t *in;
		const struct fib *f;
		int v6;

		if (p->drop || p->esp_len < ESP_HDR_LEN + ESP_GCM_IV_LEN + 40 +
						    ESP_GCM_ICV_LEN)
			continue;
		in = p->esp + ESP_HDR_LEN + ESP_GCM_IV_LEN;
		if ((in[0] >> 4) != 4 && (in[0] >> 4) != 6)
			continue;
		v6 = (in[0] >> 4) == 6;
		if (!v6 && sa_src_cached(&p->sa->pw[w->id], tb->gen, in + 12))
			continue; /* rx_post needs no lookup */
		f = tables_fib(tb, p->t->vrf, v6 ? AF_INET6 : AF_INET);
		if (!f)
			continue;
		v = fib_lookup(f, in + (v6 ? 8 : 12));
		if (v && v <= tb->ntun)
			pf_r(&tb->tun[v - 1]);
	}
}

_Static_assert(__builtin_offsetof(struct tunnel, out) + sizeof(void *) -
			       __builtin_offsetof(struct tunnel, id) <= CACHELINE,
	       "a tunnel's packet path fields and its first outbound SA in one line");

void tx_prefetch_tunnel(const struct tunnel *t)
{
	/* its line (the first pair's outbound SA with it) */
	pf_r(tunnel_hot(t));
}

/* the outbound SA of a packet in the batch still to be sealed, or NULL */
static struct sa *tx_sa(struct worker *w, const struct pkt *p)
{
	if (p->drop || p->hold || p->raw || !p->t)
		return NULL;
	return tunnel_out_sa(p->t, w->id);
}

/*
 * A pipeline across the tun reads (one syscall each): as packet j's
 * tunnel is read, its SA is prefetched; the SA of packet j - 1, in cache
 * by now, gives its counters and wire parameters; the counters of packet
 * j - 2 give its cipher context. By the crypto pass, little is missing.
 */
void tx_prefetch_sa(struct worker *w, struct tunnel *t)
{
	struct sa *sa = tunnel_out_sa(t, w->id);
	unsigned int j = w->ntx ? w->ntx - 1 : 0;

	if (sa) {
		pf_r(sa_line0(sa)); /* wire, pw */
		pf_w(&sa->seq);
	}
	if (j >= 1 && (sa = tx_sa(w, &w->txb[j - 1]))) {
		pf_r(sa_wire(sa));
		pf_w(&sa->pw[w->id]);
	}
	if (j >= 2 && (sa = tx_sa(w, &w->txb[j - 2])))
		crypto_aead_prefetch(&sa->pw[w->id].aead,
				     esp_pt_len(w->txb[j - 2].len));
}

void tx_prefetch_burst(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < w->ntx; i++) {
		const struct pkt *p = &w->txb[i];
		struct sa *sa;

		if (p->drop || p->hold || p->raw)
			continue;
		sa = tunnel_out_sa(p->t, w->id);
		if (sa) {
			pf_r(sa_wire(sa));
			pf_w(&sa->pw[w->id]);
		}
	}
	for (i = 0; i < w->ntx; i++) {
		const struct pkt *p = &w->txb[i];
		struct sa *sa;

		if (p->drop || p->hold || p->raw)
			continue;
		sa = tunnel_out_sa(p->t, w->id);
		if (sa)
			crypto_aead_prefetch(&sa->pw[w->id].aead,
					     esp_pt_len(p->len));
	}
}
