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

/* The metadata the XDP program wrote in front of an inbound frame, or
 * NULL (rx_prepare decides what to do with such a frame). */
static inline const struct espresso_meta *rx_meta(const struct pkt *p)
{
	const struct espresso_meta *m = (const void *)(p->data - sizeof(*m));

	return m->magic == ESPRESSO_META_MAGIC &&
			       m->verdict == ESPRESSO_V_ESP_IN ?
		       m :
		       NULL;
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
		const struct espresso_meta *m = rx_meta(&pkts[i]);

		sas[i] = m && m->sa_index < tb->nsa ? tb->sa_in[m->sa_index]
						    : NULL;
		if (sas[i]) {
			pf_r(sa_line0(sas[i])); /* spi .. pw */
			pf_r(&sas[i]->replay); /* top, slots */
		}
	}
	for (i = 0; i < n; i++) {
		const struct pkt *p = &pkts[i];
		const struct espresso_meta *m = rx_meta(p);
		struct sa *sa = sas[i];
		uint32_t seq_lo;

		if (!sa || sa->spi != m->spi)
			continue;
		pf_r(tunnel_hot(sa->tunnel));
		pf_r(sa_wire(sa));
		if (w->id < sa->nworkers)
			pf_w(&sa->pw[w->id]);
		if ((uint32_t)m->esp_off + 8 <= p->len) {
			memcpy(&seq_lo, p->data + m->esp_off + 4, 4);
			replay_prefetch(&sa->replay,
					replay_infer(&sa->replay, ntohl(seq_lo)));
		}
		/* a persisted SA's exact top (tables/sa.h sa_rx_note) */
		if (sa->rx_exact)
			pf_w(sa->rx_exact);
	}
	/* the cipher contexts now, so they arrive during pass 1 */
	for (i = 0; i < n; i++) {
		const struct espresso_meta *m = rx_meta(&pkts[i]);
		struct sa *sa = sas[i];

		if (sa && sa->spi == m->spi && w->id < sa->nworkers)
			crypto_aead_prefetch(&sa->pw[w->id].aead,
					     esp_ct_len(pkts[i].len > m->esp_off ?
							pkts[i].len - m->esp_off :
							0));
	}
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
