// SPDX-License-Identifier: GPL-2.0
/*
 * tx: the outbound path of a worker. Packets from the tun queue, read
 * straight into UMEM frames (super-packets through a staging buffer and
 * gso_segment), prepared one by one as they are read (route, MSS clamp,
 * size, next hop), then for the whole batch: sequence numbers and
 * encryption, then Ethernet headers and the XSK TX ring.
 *
 * A packet too big for its tunnel: ICMP "fragmentation needed" / "packet
 * too big" back through the tun when DF is set or it is IPv6; otherwise
 * fragmented before encryption, or the ESP packet after it (fragment =
 * "outer").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "proto/esp.h"
#include "proto/frag.h"
#include "proto/gso.h"
#include "core/fwd.h"
#include "core/pkt.h"
#include "core/prefetch.h"
#include "core/tap.h"
#include "core/tx.h"

#define FRAME_CAP (XSK_FRAME_SIZE - WORKER_TX_INNER_OFF - ESP_TAILROOM)
/* TX ring slots wanted free before reading one more packet from the tun */
#define TX_ROOM (GSO_MAX_PACKET / 1280 + 2 * WORKER_BATCH_MAX / 4)

static void tx_flush(struct worker *w);

/* A new packet in the batch; cap leaves room for outer fragments. */
static struct pkt *tx_slot(struct worker *w, unsigned int cap)
{
	struct pkt *p;

	if (w->ntx >= cap)
		return NULL;
	p = &w->txb[w->ntx++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* A new frame with hdr + payload copied at off; the packet's slot. */
static struct pkt *tx_copy(struct worker *w, unsigned int cap, size_t off,
			   const uint8_t *hdr, size_t hlen, const uint8_t *pl,
			   size_t plen)
{
	struct pkt *p;
	uint64_t addr;

	if (hlen + plen > FRAME_CAP || !xsk_port_alloc(&w->port, &addr)) {
		w->st.drops[DROP_tx_no_frame]++;
		return NULL;
	}
	p = tx_slot(w, cap);
	if (!p) {
		xsk_port_free(&w->port, addr);
		w->st.drops[DROP_tx_no_frame]++;
		return NULL;
	}
	p->addr = addr;
	p->data = xsk_port_frame(&w->port, addr) + off;
	memcpy(p->data, hdr, hlen);
	memcpy(p->data + hlen, pl, plen);
	p->len = hlen + plen;
	return p;
}

/*
 * The ICMP error comes from the packet's destination, arriving on the tun
 * that routes to it: the host's reverse-path and martian checks accept it
 * (a local address as source would be dropped as martian).
 */
static void tx_icmp(struct worker *w, struct pkt *p)
{
	struct virtio_net_hdr vh = { 0 };
	uint8_t buf[1280];
	struct iovec iov[2] = { { &vh, sizeof(vh) }, { buf, 0 } };

	if (p->lan) { /* router mode: back out of the LAN it came from */
		fwd_lan_icmp_needed(w, p->lan - 1, p->lan_mac, p->data, p->len,
				    p->t->mtu);
		return;
	}
	if ((p->data[0] >> 4) == 4)
		iov[1].iov_len = frag_icmp4_needed(
			buf, sizeof(buf), p->data, p->len, p->t->mtu,
			&((const struct iphdr *)p->data)->daddr);
	else
		iov[1].iov_len = frag_icmp6_too_big(
			buf, sizeof(buf), p->data, p->len, p->t->mtu,
			&((const struct ip6_hdr *)p->data)->ip6_dst);
	if (iov[1].iov_len && !worker_tun_write(w, iov, 2))
		w->st.icmp_sent++;
}

static int emit_inner(void *arg, const uint8_t *hdr, size_t hlen,
		      const uint8_t *pl, size_t plen);

/*
 * Too big for the tunnel: ICMP back, or fragment before encryption.
 * Returns p, or where it moved: its fragments go into the batch behind it,
 * and the batch is never flushed while they are cut (a flush would seal
 * the packet whole and free its frame under frag_ip4), so when they may
 * not fit, what is before p is flushed first and p becomes the first.
 */
static struct pkt *tx_too_big(struct worker *w, struct pkt *p)
{
	const struct iphdr *ip = (const void *)p->data;
	unsigned int step, nfrag = 1;

	if ((p->data[0] >> 4) == 6 || (ip->frag_off & htons(IP_DF))) {
		tx_icmp(w, p);
		drop_tx(w, p, DROP_tx_too_big);
		return p;
	}
	/* an outer IPv6 packet is never fragmented: inner fragments */
	if (p->t->fragment == FRAG_OUTER && p->t->family != AF_INET6 &&
	    p->len + p->t->overhead <= FRAME_CAP)
		return p; /* encrypted whole, the ESP packet is cut in tx_crypto */
	/* at most this many (a header of 60 bytes, 8-byte steps) */
	if (p->t->mtu > 68) {
		step = (p->t->mtu - 60) & ~7u;
		nfrag = (p->len + step - 1) / step + 1;
	}
	if (w->ntx + nfrag > WORKER_BATCH_MAX && w->ntx &&
	    p == &w->txb[w->ntx - 1]) {
		struct pkt saved = *p;

		w->ntx--;
		tx_flush(w);
		p = tx_slot(w, WORKER_BATCH_MAX);
		*p = saved;
	}
	w->cur_t = p->t;
	if (frag_ip4(p->data, p->len, p->t->mtu, emit_inner, w) < 0) {
		drop_tx(w, p, DROP_tx_too_big);
		return p;
	}
	p->drop = -1; /* replaced by its fragments */
	return p;
}

/* Pass 1 for a packet whose tunnel is known: MSS, size, next hop. */
static void tx_check(struct worker *w, struct pkt *p)
{
	struct tunnel *t = p->t;

	if (w->env->mss_clamp &&
	    frag_mss_clamp(p->data, p->len, t->mtu - 40, t->mtu - 60))
		w->st.mss_clamped++;
	if (p->len > t->mtu) {
		p = tx_too_big(w, p);
		if (p->drop)
			return;
	}
	if (!tunnel_nh_mac(t, p->mac)) {
		tunnel_nh_want(t);
		p->hold = true;
	}
	tx_prefetch_sa(w, t);
}

static struct tunnel *tx_route(struct worker *w, const uint8_t *pkt,
			       size_t len)
{
	/* an ECMP prefix: the member the inner 5-tuple hashes to */
	/* in the VRF of the tun it came from, and only there */
	if ((pkt[0] >> 4) == 4 && len >= sizeof(struct iphdr))
		return tables_route_pkt_vrf(w->tb, w->cur_vrf, AF_INET,
					    &((const struct iphdr *)pkt)->daddr,
					    pkt, len);
	if ((pkt[0] >> 4) == 6 && len >= sizeof(struct ip6_hdr))
		return tables_route_pkt_vrf(w->tb, w->cur_vrf, AF_INET6,
					    &((const struct ip6_hdr *)pkt)->ip6_dst,
					    pkt, len);
	return NULL;
}

static bool ip_ok(const uint8_t *pkt, size_t len)
{
	return len && (((pkt[0] >> 4) == 4 && len >= sizeof(struct iphdr)) ||
		       ((pkt[0] >> 4) == 6 && len >= sizeof(struct ip6_hdr)));
}

/* A segment or fragment of a packet whose tunnel is w->cur_t. */
static int emit_inner(void *arg, const uint8_t *hdr, size_t hlen,
		      const uint8_t *pl, size_t plen)
{
	struct worker *w = arg;
	struct pkt *p;

	if (w->ntx >= WORKER_BATCH_MAX)
		tx_flush(w);
	p = tx_copy(w, WORKER_BATCH_MAX, WORKER_TX_INNER_OFF, hdr, hlen, pl,
		    plen);
	if (!p)
		return 0; /* counted; the others may still go */
	p->t = w->cur_t;
	w->st.gso_segments++;
	tx_check(w, p);
	return 0;
}

/*
 * With thousands of tunnels the one a packet routes to is not in cache: its
 * lines are prefetched when the route is found, and the checks that read
 * them (tx_check) run when the next packet has been read from the tun (one
 * syscall later), or before the batch is flushed, whichever comes first.
 * Nothing is appended to the batch in between: the order stays the
 * order of reading.
 */
static void tx_pending(struct worker *w)
{
	unsigned int i = w->tx_pend;

	if (!i)
		return;
	w->tx_pend = 0;
	tx_check(w, &w->txb[i - 1]);
}

/*
 * Routing across tun reads. Each read takes about as long as a miss to
 * memory, and a route is a chain of them with many tunnels (the FIB's
 * entries, the value, the tunnel slot, the tunnel): so a packet read
 * takes one step of that chain per later read, each step's line
 * prefetched by the one before, and joins the batch when its tunnel is
 * known, in the order read (routing_done). The chain's misses are then
 * hidden behind the reads instead of following each.
 */
enum route_stage { ROUTE_FIB, ROUTE_SLOT, ROUTE_DONE };
#define TX_ROUTE_SMALL_NODES 16     /* 16 KiB of trie */
#define TX_ROUTE_SMALL_TUNNELS 256  /* 2 KiB of tunnel slots */

_Static_assert(!(TX_ROUTE_MAX & (TX_ROUTE_MAX - 1)), "a power of 2");

/* The slot of a packet read (frame addr, its inner packet at data, len
 * bytes), after the pending one's checks (which may add its inner
 * fragments up to a full batch: flushed then). */
static struct pkt *tx_take(struct worker *w, uint64_t addr, uint8_t *data,
			   uint32_t len)
{
	struct pkt *p;

	tx_pending(w);
	if (w->ntx >= WORKER_BATCH_MAX)
		tx_flush(w);
	p = tx_slot(w, WORKER_BATCH_MAX);
	p->addr = addr;
	p->data = data;
	p->len = len;
	return p;
}

/* p's route is known (p->t, NULL: none): its checks wait one read, for
 * its tunnel's lines (tx_pending). */
static void tx_routed(struct worker *w, struct pkt *p)
{
	if (!p->t) {
		drop_tx(w, p, DROP_tx_no_route);
		return;
	}
	w->tx_pend = w->ntx; /* p is the last */
}

static struct tx_routing *routing_at(struct worker *w, unsigned int i)
{
	return &w->routing[(w->routing_head + i) & (TX_ROUTE_MAX - 1)];
}

/* One load further for r. */
static void route_step(const struct tables *tb, struct tx_routing *r)
{
	if (r->stage == ROUTE_FIB) {
		if (!fib_walk_step(r->f, r->dst, &r->k)) {
			__builtin_prefetch(fib_walk_next(&r->k));
			return;
		}
		r->slot = tables_route_member(tb, r->k.value, r->pkt, r->len);
		r->stage = r->slot ? ROUTE_SLOT : ROUTE_DONE;
		if (r->slot)
			__builtin_prefetch(&tb->tun[r->slot - 1]);
	} else if (r->stage == ROUTE_SLOT) {
		r->t = tb->tun[r->slot - 1];
		if (r->t)
			tx_prefetch_tunnel(r->t);
		r->stage = ROUTE_DONE;
	}
}

/* One load further for every packet being routed. */
static void routing_step(struct worker *w)
{
	unsigned int i;

	for (i = 0; i < w->nrouting; i++)
		route_step(w->tb, routing_at(w, i));
}

/* Whether the tables are small enough to be in cache: the default VRF's
 * IPv4 FIB of at most TX_ROUTE_SMALL_NODES nodes, and few tunnels (a
 * heuristic for every VRF and family: a wrong guess costs speed only). */
static bool tx_route_small(const struct worker *w)
{
	const struct tables *tb = w->tb;

	return (!tb->fib4 || tb->fib4->nnodes <= TX_ROUTE_SMALL_NODES) &&
	       tb->ntun <= TX_ROUTE_SMALL_TUNNELS;
}

/* The packet just read (frame addr, len bytes, a plain IP packet) starts
 * its route: its first entry is prefetched. */
static void routing_add(struct worker *w, uint64_t addr, uint32_t len)
{
	const uint8_t *pkt = xsk_port_frame(&w->port, addr) + WORKER_TX_INNER_OFF;
	int v6 = (pkt[0] >> 4) == 6;
	struct tx_routing *r = routing_at(w, w->nrouting++);

	r->addr = addr;
	r->pkt = pkt;
	r->len = len;
	r->t = NULL;
	r->slot = 0;
	r->dst = pkt + (v6 ? offsetof(struct ip6_hdr, ip6_dst)
			   : offsetof(struct iphdr, daddr));
	r->f = tables_fib(w->tb, w->cur_vrf, v6 ? AF_INET6 : AF_INET);
	r->stage = r->f ? ROUTE_FIB : ROUTE_DONE;
	if (r->f) {
		fib_walk_begin(r->f, r->dst, &r->k);
		route_step(w->tb, r); /* the root's entry: every packet's */
	}
}

/* The routed packets at the head of the ring into the batch, in the order
 * read; all: every packet, stepping until each is routed. */
static void routing_done(struct worker *w, bool all)
{
	while (w->nrouting) {
		struct tx_routing *r = routing_at(w, 0);
		struct pkt *p;

		if (r->stage != ROUTE_DONE) {
			if (!all)
				return;
			routing_step(w);
			continue;
		}
		p = tx_take(w, r->addr, (uint8_t *)r->pkt, r->len);
		p->t = r->t;
		w->routing_head = (w->routing_head + 1) & (TX_ROUTE_MAX - 1);
		w->nrouting--;
		tx_routed(w, p);
	}
}

/* One packet read from the tun. */
static void tx_input(struct worker *w, uint64_t addr, const struct virtio_net_hdr *vh,
		     size_t len)
{
	uint8_t *frame = xsk_port_frame(&w->port, addr) + WORKER_TX_INNER_OFF;
	struct tunnel *t;
	struct pkt *p;
	int r;

	if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE && len <= FRAME_CAP) {
		if (!ip_ok(frame, len) || gso_csum_complete(vh, frame, len)) {
			routing_done(w, true); /* the drop in its place */
			p = tx_take(w, addr, frame, len);
			drop_tx(w, p, DROP_tx_malformed);
			return;
		}
		/* small tables, in cache: no miss to hide, only the steps'
		 * own cost; routed at once, as soon as nothing waits */
		if (!w->nrouting && tx_route_small(w)) {
			p = tx_take(w, addr, frame, len);
			p->t = tx_route(w, frame, len);
			if (p->t)
				tx_prefetch_tunnel(p->t);
			tx_routed(w, p);
			return;
		}
		/* full (long walks: IPv6): step them all until the head
		 * is routed */
		while (w->nrouting == TX_ROUTE_MAX) {
			routing_step(w);
			routing_done(w, false);
		}
		routing_add(w, addr, len);
		return;
	}
	/* A super-packet: what was read before goes first. The part read
	 * into the frame joins the rest in the staging buffer, and
	 * gso_segment copies segments into new frames. */
	routing_done(w, true);
	tx_pending(w);
	memcpy(w->big, frame, FRAME_CAP);
	xsk_port_free(&w->port, addr);
	w->st.gso_super++;
	t = ip_ok(w->big, len) ? tx_route(w, w->big, len) : NULL;
	if (!t) {
		struct pkt dummy = { .data = w->big, .len = len };

		drop_tx(w, &dummy, ip_ok(w->big, len) ? DROP_tx_no_route
						       : DROP_tx_malformed);
		if (__builtin_expect(w->tap != NULL, 0))
			tap_tx_lone(w, &dummy);
		return;
	}
	w->cur_t = t;
	r = gso_segment(vh, w->big, len, t->mtu, emit_inner, w);
	if (r < 0) {
		struct pkt dummy = { .t = t, .data = w->big, .len = len };

		drop_tx(w, &dummy, DROP_tx_malformed);
		if (__builtin_expect(w->tap != NULL, 0))
			tap_tx_lone(w, &dummy);
	}
}

/* Pass 2 for one packet: sequence number, encryption, outer fragments. */
static int emit_outer(void *arg, const uint8_t *hdr, size_t hlen,
		      const uint8_t *pl, size_t plen)
{
	struct worker *w = arg;
	struct pkt *p = tx_copy(w, 2 * WORKER_BATCH_MAX, WORKER_TX_INNER_OFF,
				hdr, hlen, pl, plen);

	if (!p)
		return 0;
	p->raw = true;
	p->t = w->out_t;
	memcpy(p->mac, w->out_mac, 6);
	p->esp = p->data;
	p->esp_len = p->len;
	w->st.frag_out++;
	return 0;
}

/*
 * Sequence numbers for the batch: one reservation (one atomic operation on
 * the SA's counter, a line every worker writes when a fat tunnel's pair
 * serves them all) per run of consecutive packets of one tunnel, handed
 * out in batch order.
 */
struct seq_run {
	struct sa *sa;
	uint64_t next;
	uint32_t left;
};

static uint64_t tx_seq(struct worker *w, struct seq_run *r, struct sa *sa,
		       unsigned int i)
{
	uint32_t n = 0;
	unsigned int j;

	if (r->sa != sa || !r->left) {
		/* this packet and those after it for the same tunnel */
		for (j = i; j < w->ntx; j++) {
			const struct pkt *q = &w->txb[j];

			if (q->drop || q->hold || q->raw)
				continue;
			if (q->t != w->txb[i].t)
				break;
			n++;
		}
		r->sa = sa;
		r->next = sa_seq_reserve(sa, n);
		r->left = n;
		if (!r->next && n > 1) {
			/* near the end of the space: what is left, one by one */
			r->next = sa_seq_reserve(sa, 1);
			r->left = 1;
		}
		if (!r->next) {
			r->left = 0;
			return 0;
		}
	}
	r->left--;
	return r->next++;
}

/* tx_crypto for an outer IPv6 header: never fragmented (tx_too_big sent
 * the ICMP error or cut the inner packet already). */
static void tx_crypto6(struct worker *w, struct pkt *p, struct sa *sa)
{
	size_t outer_len;
	uint8_t *outer;
	int r;

	r = esp_encap6(sa_wire(sa), &sa->pw[w->id].aead, p->seq, p->data,
		       p->len, &outer, &outer_len);
	if (!r && outer_len > (size_t)w->env->uplink_mtu)
		r = DROP_tx_too_big;
	if (r) {
		drop_tx(w, p, r);
		return;
	}
	p->esp = outer; /* from here: the outer IPv6 header */
	p->esp_len = outer_len;
}

static void tx_crypto(struct worker *w, struct seq_run *run, unsigned int i)
{
	struct pkt *p = &w->txb[i];
	struct tunnel *t = p->t;
	struct sa *sa = p->sa = tunnel_out_sa(t, w->id);
	uint8_t *outer;
	size_t outer_len;
	int r;

	if (!sa) {
		drop_tx(w, p, DROP_tx_no_sa);
		/* a load first: no cache line bounced per packet */
		if (!atomic_load_explicit(&t->sa_wanted, memory_order_relaxed))
			atomic_store_explicit(&t->sa_wanted, 1,
					      memory_order_relaxed);
		return;
	}
	p->seq = tx_seq(w, run, sa, i);
	if (!p->seq) {
		drop_tx(w, p, atomic_load_explicit(&sa->blocked,
						   memory_order_relaxed) ?
				      DROP_tx_seq_unreserved :
				      DROP_tx_seq_exhausted);
		return;
	}
	if (sa_wire(sa)->family == AF_INET6) {
		tx_crypto6(w, p, sa);
		return;
	}
	r = esp_encap4(sa_wire(sa), &sa->pw[w->id].aead, p->seq, w->ip_id++,
		       p->data, p->len, &outer, &outer_len);
	if (r) {
		drop_tx(w, p, r);
		return;
	}
	p->esp = outer; /* from here: the outer IPv4 header */
	p->esp_len = outer_len;
	if (outer_len > (size_t)w->env->uplink_mtu) {
		/* fragment = "outer": cut the ESP packet (DF is clear) */
		((struct iphdr *)outer)->frag_off = 0;
		((struct iphdr *)outer)->check = 0;
		((struct iphdr *)outer)->check = esp_ip_csum(outer, 20);
		w->out_t = t;
		memcpy(w->out_mac, p->mac, 6);
		if (frag_ip4(outer, outer_len, w->env->uplink_mtu, emit_outer,
			     w) < 0)
			drop_tx(w, p, DROP_tx_too_big);
		else
			p->drop = -1;
	}
}

/* Keep a packet until its next hop resolves (as the kernel's arp_queue). */
static void hold_add(struct worker *w, struct pkt *p)
{
	struct held_pkt *h;

	if (w->nhold == WORKER_HOLD_MAX) {
		drop_tx(w, p, DROP_tx_no_neigh);
		xsk_port_free(&w->port, p->addr);
		return;
	}
	h = &w->hold[w->nhold++];
	h->addr = p->addr;
	h->len = p->len;
	h->tslot = p->t->slot;
	h->tid = p->t->id;
	h->since_ms = worker_now_ms();
	frame_move(&w->port, p->addr, FRAME_HELD);
	w->st.neigh_held++;
}

/* Pass 3: Ethernet headers and the TX ring, for w->txb[0..ntx). */
static void tx_post(struct worker *w)
{
	struct xsk_port *port = &w->port;
	unsigned int i, good = 0, sent = 0, n = w->ntx;
	struct pkt *pkts = w->txb;
	uint32_t idx = 0;

	for (i = 0; i < n; i++)
		good += !pkts[i].drop && !pkts[i].hold;
	if (good && xsk_prod_nb_free(&port->tx, good) < good) {
		/* make room: let the kernel send what is queued */
		xsk_port_kick(port);
		w->st.tx_completed += xsk_port_complete(port);
	}
	if (good)
		good = xsk_ring_prod__reserve(&port->tx, good, &idx);
	for (i = 0; i < n; i++) {
		struct pkt *p = &pkts[i];
		struct xdp_desc *d;
		struct ethhdr *eth;

		if (p->hold && !p->drop) {
			hold_add(w, p);
			continue;
		}
		if (!p->drop && sent == good)
			drop_tx(w, p, DROP_tx_ring_full);
		if (p->drop) {
			xsk_port_free(port, p->addr);
			continue;
		}
		eth = (struct ethhdr *)(p->esp - ETH_HLEN);
		memcpy(eth->h_dest, p->mac, ETH_ALEN);
		memcpy(eth->h_source, w->env->uplink_mac, ETH_ALEN);
		eth->h_proto = htons((p->esp[0] >> 4) == 6 ? ETH_P_IPV6
							    : ETH_P_IP);
		d = xsk_ring_prod__tx_desc(&port->tx, idx + sent++);
		d->addr = p->addr + ((uint8_t *)eth - xsk_port_frame(port, p->addr));
		d->len = p->esp_len + ETH_HLEN;
		frame_move(port, p->addr, FRAME_TX);
		w->st.tx_frames++;
		w->st.tx_bytes += d->len;
		if (!p->raw) {
			struct sa_worker *sw = &p->sa->pw[w->id];

			sw->packets++;
			sw->bytes += p->len;
			sw->last_ms = w->now_ms;
		}
	}
	if (sent) {
		xsk_ring_prod__submit(&port->tx, sent);
		if (xsk_port_kick(port))
			w->st.wakeups++;
	}
}

static void tx_flush(struct worker *w)
{
	struct seq_run run = { 0 };
	unsigned int i;
	uint64_t t;

	tx_pending(w);
	if (!w->ntx)
		return;
	if (__builtin_expect(w->tap != NULL, 0))
		tap_tx_pre(w);
	t = pass_clock(w);
	tx_prefetch_burst(w);
	/* sequence numbers in batch order, then encryption */
	for (i = 0; i < w->ntx; i++) {
		struct pkt *p = &w->txb[i];

		if (!p->drop && !p->hold && !p->raw)
			tx_crypto(w, &run, i);
	}
	pass_mark(w, PASS_TX_CRYPTO, &t);
	tx_post(w);
	pass_mark(w, PASS_TX_POST, &t);
	if (__builtin_expect(w->tap != NULL, 0))
		tap_tx_post(w);
	w->ntx = 0;
}

static unsigned int tx_burst_tun(struct worker *w)
{
	struct virtio_net_hdr vh = { 0 };
	unsigned int n = 0;
	uint64_t addr, t = pass_clock(w), flushed = 0;
	ssize_t r;

	if (w->pass_ticks) /* the flushes' own passes are not reading */
		flushed = w->pass_ticks[PASS_TX_CRYPTO] +
			  w->pass_ticks[PASS_TX_POST];

	while (n < (unsigned int)w->env->batch) {
		struct iovec iov[3];
		uint32_t room;
		int k = 0;

		if (w->ntx >= WORKER_BATCH_MAX)
			tx_flush(w);
		/*
		 * Backpressure: read only what the TX ring can take (a
		 * super-packet may make 45 segments). What stays in the tun
		 * queue slows the host down, instead of being dropped here.
		 */
		room = TX_ROOM + w->ntx + w->nrouting;
		/* (nb_free looks at the consumer again only below what it
		 * is asked for: ask for all that is needed) */
		if (xsk_prod_nb_free(&w->port.tx, room) < room) {
			tx_flush(w);
			xsk_port_kick(&w->port);
			w->st.tx_completed += xsk_port_complete(&w->port);
			room = TX_ROOM + w->nrouting;
			if (xsk_prod_nb_free(&w->port.tx, room) < room)
				break;
		}
		if (!xsk_port_alloc(&w->port, &addr))
			break; /* the packets wait in the tun for frames */
		if (w->vnet)
			iov[k++] = (struct iovec){ &vh, sizeof(vh) };
		iov[k++] = (struct iovec){ xsk_port_frame(&w->port, addr) +
						   WORKER_TX_INNER_OFF,
					   FRAME_CAP };
		if (w->vnet)
			iov[k++] = (struct iovec){ w->big + FRAME_CAP,
						   GSO_MAX_PACKET };
		r = readv(w->tun_fd, iov, k);
		if (r <= 0) {
			xsk_port_free(&w->port, addr);
			break;
		}
		w->st.tun_rx++;
		n++;
		if (w->vnet)
			r -= sizeof(vh);
		if (r <= 0) {
			struct pkt dummy = { 0 };

			xsk_port_free(&w->port, addr);
			drop_tx(w, &dummy, DROP_tx_malformed);
			continue;
		}
		routing_step(w); /* the lines asked for before this read */
		routing_done(w, false);
		tx_input(w, addr, &vh, r);
	}
	routing_done(w, true);
	tx_flush(w);
	if (w->pass_ticks) {
		pass_mark(w, PASS_TX_READ, &t);
		w->pass_ticks[PASS_TX_READ] -= w->pass_ticks[PASS_TX_CRYPTO] +
					      w->pass_ticks[PASS_TX_POST] -
					      flushed;
	}
	return n;
}

/* Each tun in turn (the default's, then each VRF's), each routed in its
 * own VRF; ICMP errors go back into the tun being read (tun_fd). */
unsigned int tx_burst(struct worker *w)
{
	unsigned int n = tx_burst_tun(w);
	int v;

	for (v = 1; v < w->nvrf_fd; v++) {
		if (w->vrf_fd[v] < 0)
			continue;
		w->tun_fd = w->vrf_fd[v];
		w->cur_vrf = (uint16_t)v;
		n += tx_burst_tun(w);
	}
	w->tun_fd = w->vrf_fd[0];
	w->cur_vrf = 0;
	return n;
}

void tx_lan_input(struct worker *w, struct tunnel *t, const uint8_t *ip,
		  size_t len, int lan, const uint8_t src_mac[6])
{
	struct pkt *p;

	if (w->ntx >= WORKER_BATCH_MAX)
		tx_flush(w);
	p = tx_copy(w, WORKER_BATCH_MAX, WORKER_TX_INNER_OFF, ip, len, ip + len,
		    0);
	if (!p)
		return; /* counted */
	p->t = t;
	p->lan = lan;
	if (src_mac)
		memcpy(p->lan_mac, src_mac, 6);
	tx_check(w, p);
}

void tx_flush_now(struct worker *w)
{
	tx_flush(w);
}

/* Send the held packets whose next hop is known; drop the expired ones. */
unsigned int tx_hold_flush(struct worker *w)
{
	uint64_t now = worker_now_ms();
	unsigned int i, keep = 0, n = 0;

	tx_flush(w);
	for (i = 0; i < w->nhold; i++) {
		struct held_pkt *h = &w->hold[i];
		struct tunnel *t = tables_tunnel_id(w->tb, h->tslot, h->tid);
		struct pkt *p;
		uint8_t mac[6];

		if (!t) {
			struct pkt dummy = {
				.data = xsk_port_frame(&w->port, h->addr) +
					WORKER_TX_INNER_OFF,
				.len = h->len,
			};

			frame_move(&w->port, h->addr, FRAME_WORKER);
			drop_tx(w, &dummy, DROP_tx_no_route);
			if (__builtin_expect(w->tap != NULL, 0))
				tap_tx_lone(w, &dummy);
			xsk_port_free(&w->port, h->addr);
		} else if (tunnel_nh_mac(t, mac)) {
			p = tx_slot(w, WORKER_BATCH_MAX);
			frame_move(&w->port, h->addr, FRAME_WORKER);
			p->addr = h->addr;
			p->t = t;
			memcpy(p->mac, mac, 6);
			p->data = xsk_port_frame(&w->port, h->addr) +
				  WORKER_TX_INNER_OFF;
			p->len = h->len;
			w->st.neigh_released++;
			n++;
		} else if (now - h->since_ms > WORKER_HOLD_MS) {
			struct pkt dummy = {
				.t = t, .len = h->len,
				.data = xsk_port_frame(&w->port, h->addr) +
					WORKER_TX_INNER_OFF,
			};

			frame_move(&w->port, h->addr, FRAME_WORKER);
			drop_tx(w, &dummy, DROP_tx_no_neigh);
			if (__builtin_expect(w->tap != NULL, 0))
				tap_tx_lone(w, &dummy);
			xsk_port_free(&w->port, h->addr);
		} else {
			w->hold[keep++] = *h;
		}
	}
	w->nhold = keep;
	tx_flush(w);
	return n;
}
