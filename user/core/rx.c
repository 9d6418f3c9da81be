// SPDX-License-Identifier: GPL-2.0
/*
 * rx: the inbound path of a worker. ESP frames from the XSK, in three
 * passes over the burst (VPP's esp_decrypt_inline): prepare (metadata, SA,
 * outer addresses, replay pre-check; outer fragments to reassembly),
 * crypto (AES-GCM open for the whole burst), post (replay update once the
 * ICV passed, trailer, inner checks, MSS clamp, GRO toward the tun).
 * A packet of an SA owned by another worker is handed to it (handoff.h).
 */
#include <arpa/inet.h>
#include <linux/virtio_net.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/esp.h"
#include "proto/frag.h"
#include "proto/gro.h"
#include "core/fwd.h"
#include "core/handoff.h"
#include "proto/parse.h"
#include "core/pkt.h"
#include "core/prefetch.h"
#include "core/rx.h"
#include "core/tap.h"
#include "proto/reasm.h"
#include "tables/spdsnap.h"

/* Lend the frame to the worker that owns its SA. */
static void rx_hand(struct worker *w, struct pkt *p,
		    const struct espresso_meta *m)
{
	int o = p->sa->owner, n = w->env->nworkers;
	struct handoff_desc hd = {
		.addr = p->addr, .len = p->len, .from = w->id, .meta = *m,
	};

	if (w->handoff_out[o] >= HANDOFF_RING ||
	    !spsc_push(&w->env->hand[w->id * n + o], &hd)) {
		drop_rx(w, p, DROP_rx_handoff);
		return;
	}
	w->handoff_out[o]++;
	w->st.handoff_out++;
	w->kick_mask |= 1ull << o;
	p->handed = true;
	p->drop = -1; /* the owner does the rest */
	frame_move(&w->port, p->addr - p->addr % XSK_FRAME_SIZE, FRAME_HANDOFF);
}

/*
 * NAT-T: note where a UDP-encapsulated packet comes from when that is not
 * where the tunnel sends (the outbound SA of its pair). Nothing moves
 * here: rx_peer_seen does, for packets that authenticate.
 */
static inline void rx_peer(struct pkt *p, const struct sa *sa,
			   const struct iphdr *ip, const uint8_t *udp)
{
	struct sa *o = atomic_load_explicit(&sa->tunnel->out[sa->pair],
					    memory_order_acquire);
	const struct esp_sa_params *ow;
	uint16_t sport;
	uint64_t from;

	if (!o)
		return;
	ow = sa_wire(o);
	memcpy(&sport, udp, 2);
	from = sa_peer_pack(ip->saddr, sport);
	if (from != sa_peer_pack(ow->remote.s_addr,
				 htons(ow->dport ? ow->dport
						 : ESPRESSO_NATT_PORT)))
		p->peer = from;
}

/* The same for an IPv6 outer header: the source is noted by pointer (the
 * frame lives until rx_post), written into this worker's slot there. */
static inline void rx_peer6(struct pkt *p, const struct sa *sa,
			    const uint8_t *ip6, const uint8_t *udp)
{
	struct sa *o = atomic_load_explicit(&sa->tunnel->out[sa->pair],
					    memory_order_acquire);
	const struct esp_sa_params *ow;
	uint16_t sport;

	if (!o)
		return;
	ow = sa_wire(o);
	sport = (uint16_t)(udp[0] << 8 | udp[1]);
	if (sport != (ow->dport ? ow->dport : ESPRESSO_NATT_PORT) ||
	    memcmp(ip6 + 8, &ow->remote6, 16)) {
		p->peer = SA_PEER_V6 | sport;
		p->peer6 = ip6 + 8;
	}
}

/*
 * After the ICV and the replay window passed: hand the new source to the
 * control thread, for the newest packet of the SA only (a late one from
 * the old mapping must not move it back), and only when it changed (no
 * store per packet).
 */
static inline void rx_peer_seen(struct worker *w, struct pkt *p)
{
	struct sa *sa = p->sa;

	if (p->seq != atomic_load_explicit(&sa->replay.top,
					   memory_order_relaxed))
		return;
	if (p->peer & SA_PEER_V6) {
		peer6_put(&sa->pw[w->id].peer6, p->peer6, (uint16_t)p->peer,
			  p->seq);
		return;
	}
	if (atomic_load_explicit(&sa->peer_seen, memory_order_relaxed) !=
	    p->peer)
		atomic_store_explicit(&sa->peer_seen, p->peer,
				      memory_order_release);
}

/* SA, owner, outer addresses, ESP length, replay pre-check. */
static void rx_check(struct worker *w, struct pkt *p,
		     const struct espresso_meta *m, const struct iphdr *ip,
		     size_t l3_len)
{
	const struct esp_sa_params *wire;
	struct tunnel *t;
	struct sa *sa;
	uint32_t seq_lo;
	int r;

	if (m->l3_off + l3_len > p->len || m->esp_off > m->l3_off + l3_len) {
		drop_rx(w, p, DROP_rx_bad_meta);
		return;
	}
	sa = tables_sa_slot(w->tb, m->sa_index, m->spi);
	if (!sa) {
		drop_rx(w, p, DROP_rx_no_sa);
		return;
	}
	p->sa = sa;
	t = p->t = sa->tunnel;
	if (sa->owner >= 0 && sa->owner != w->id && !p->no_frame) {
		rx_hand(w, p, m);
		return;
	}
	/* NAT-T: to the tunnel's own port (the XDP program takes 4500 and
	 * every tunnel's local_port) */
	if (m->encap != (t->encap == ENCAP_UDP) ||
	    (m->encap &&
	     (p->data[m->esp_off - ESP_UDP_LEN + 2] << 8 |
	      p->data[m->esp_off - ESP_UDP_LEN + 3]) != t->local_port)) {
		drop_rx(w, p, DROP_rx_encap);
		return;
	}
	/* Behind NAT the source may differ: only raw ESP checks it. */
	wire = sa_wire(sa);
	if (m->l3_proto == 6 ?
		    !esp_outer6_match(wire, p->data + m->l3_off, m->encap) :
		    (wire->family == AF_INET6 || ip->daddr != wire->local.s_addr ||
		     (!m->encap && ip->saddr != wire->remote.s_addr))) {
		drop_rx(w, p, DROP_rx_outer_addr);
		return;
	}
	if (m->encap && m->l3_proto == 4) /* NAT-T following */
		rx_peer(p, sa, ip, p->data + m->esp_off - ESP_UDP_LEN);
	else if (m->encap)
		rx_peer6(p, sa, p->data + m->l3_off,
			 p->data + m->esp_off - ESP_UDP_LEN);
	p->esp = p->data + m->esp_off;
	p->esp_len = m->l3_off + l3_len - m->esp_off;
	if (p->esp_len < ESP_MIN_LEN) {
		drop_rx(w, p, DROP_rx_short);
		return;
	}
	memcpy(&seq_lo, p->esp + 4, 4);
	p->seq = replay_infer(&sa->replay, ntohl(seq_lo));
	r = replay_check(&sa->replay, p->seq);
	if (r == REPLAY_OLD)
		drop_rx(w, p, DROP_rx_window);
	else if (r == REPLAY_DUP)
		drop_rx(w, p, DROP_rx_replay);
}

static uint32_t sa_by_spi(const struct tables *tb, uint32_t spi)
{
	struct sa *sa = tables_sa_spi(tb, spi);

	return sa ? sa->slot : UINT32_MAX;
}

static void rx_post(struct worker *w, struct pkt *p);

static void rx_reassembled_run(struct worker *w, struct pkt *p);

/* A whole ESP packet out of reassembly: decrypt and deliver it now. */
static void rx_reassembled(struct worker *w, uint8_t *ip4, size_t len)
{
	struct pkt p = { .data = ip4, .len = len, .no_frame = true,
			 .from = w->id };

	rx_reassembled_run(w, &p);
	if (__builtin_expect(w->tap != NULL, 0))
		tap_rx_burst(w, &p, 1);
}

static void rx_reassembled_run(struct worker *w, struct pkt *p)
{
	struct espresso_meta m = { 0 };
	struct iphdr ip;

	w->st.rx_reassembled++;
	memcpy(&ip, p->data, sizeof(ip));
	/* IPv4 or IPv6, raw or UDP-encapsulated ESP */
	if (esp_outer_parse(p->data, p->len, &m)) {
		drop_rx(w, p, DROP_rx_bad_meta);
		return;
	}
	m.sa_index = sa_by_spi(w->tb, m.spi);
	rx_check(w, p, &m, &ip, p->len);
	if (p->drop)
		return;
	if (esp_open(&p->sa->pw[w->id].aead, p->seq, p->sa->esn, p->esp,
		     p->esp_len)) {
		drop_rx(w, p, DROP_rx_auth);
		return;
	}
	rx_post(w, p);
}

/* Pass 1. */
static void rx_prepare(struct worker *w, struct pkt *p)
{
	struct espresso_meta m, *mp = (void *)(p->data - sizeof(m));
	size_t l3_len, out_len;
	struct iphdr ip;
	uint8_t *out;
	int r;

	if (mp->magic == ESPRESSO_META_MAGIC &&
	    (mp->l3_proto == 4 || mp->l3_proto == 6) &&
	    (mp->verdict == ESPRESSO_V_ESP_IN || mp->verdict == ESPRESSO_V_FRAG) &&
	    mp->l3_off + (mp->l3_proto == 6 ? 40 : sizeof(ip)) <= p->len) {
		m = *mp;
		mp->magic = 0; /* a reused frame must not carry stale meta */
		memcpy(&ip, p->data + m.l3_off, sizeof(ip));
		l3_len = esp_outer_len(p->data + m.l3_off, m.l3_proto);
	} else {
		/* no metadata from the driver: parse the headers here */
		if (parse_outer(p->data, p->len, &m, &l3_len)) {
			drop_rx(w, p, DROP_rx_bad_meta);
			return;
		}
		m.sa_index = sa_by_spi(w->tb, m.spi);
		memcpy(&ip, p->data + m.l3_off, sizeof(ip));
	}
	if (m.verdict == ESPRESSO_V_FRAG) {
		if (m.l3_off + l3_len > p->len) {
			drop_rx(w, p, DROP_rx_bad_meta);
			return;
		}
		r = reasm_add(w->reasm, p->data + m.l3_off, l3_len,
			      worker_now_ms(), &out, &out_len);
		p->drop = -1; /* the frame's work is done either way */
		if (r < 0)
			w->st.drops[DROP_rx_fragment]++;
		else if (r == REASM_DONE)
			rx_reassembled(w, out, out_len);
		return;
	}
	rx_check(w, p, &m, &ip, l3_len);
}

/*
 * The inner source must route to t (tables_route_has). With thousands of
 * tunnels that lookup is a chain of cold lines (the trie's nodes, the
 * tunnel slot); a tunnel's packets mostly come from the few prefixes
 * behind it. So the SA remembers, per worker, the range of IPv4 sources
 * that the trie's leaf of the last lookup covers (every address in it has
 * the same route) and the table version it holds for (sa_src_cached).
 */
static bool rx_inner_src_ok(struct worker *w, struct sa_worker *sw,
			    const struct esp_inner *in, const struct tunnel *t)
{
	const struct fib *f;
	unsigned int nb;
	uint32_t v;

	if (in->family != AF_INET)
		return tables_route_has(w->tb, in->family, in->src, t);
	if (sa_src_cached(sw, w->tb->gen, in->src))
		return true;
	f = tables_fib(w->tb, t->vrf, AF_INET);
	v = f ? fib_lookup_span(f, in->src, &nb) : 0;
	if (!tables_value_has(w->tb, v, t))
		return false;
	memcpy(&sw->src_net, in->src, 4);
	sw->src_mask = htonl(nb >= 4 ? 0xffffffffu : ~(0xffffffffu >> (8 * nb)));
	sw->src_gen = w->tb->gen;
	return true;
}

/* Pass 3: replay update now that the ICV passed, trailer, inner checks. */
static void rx_post(struct worker *w, struct pkt *p)
{
	struct tunnel *t = p->t;
	uint8_t *inner = p->esp + ESP_HDR_LEN + ESP_GCM_IV_LEN;
	struct sa_worker *sw = &p->sa->pw[w->id];
	struct esp_inner in;
	size_t inner_len;
	int r;

	/* persisted SAs: only numbers already on disk as accepted-up-to
	 * (above them, this worker waits for the control thread's sync) */
	if (!sa_rx_limit_fast(p->sa, p->seq) &&
	    !sa_rx_limit_wait(p->sa, p->seq)) {
		drop_rx(w, p, DROP_rx_seq_unpersisted);
		return;
	}
	r = replay_update(&p->sa->replay, p->seq);
	if (r) {
		drop_rx(w, p, r == REPLAY_DUP ? DROP_rx_replay : DROP_rx_window);
		return;
	}
	sa_rx_note(p->sa, p->seq);
	if (__builtin_expect(p->peer != 0, 0))
		rx_peer_seen(w, p);
	r = esp_decap_inner(inner,
			    p->esp_len - ESP_HDR_LEN - ESP_GCM_IV_LEN -
				    ESP_GCM_ICV_LEN,
			    &in);
	if (r) {
		drop_rx(w, p, r);
		return;
	}
	/* router mode's SPD: the first rule the packet matches (reversed)
	 * decides, and only a protect by this tunnel accepts it; with no
	 * rule matching, the routes decide as below; the SPD is the
	 * default VRF's, as the LANs are */
	if (w->env->spd && in.family == AF_INET && !t->vrf) {
		const struct spd_snap *snap = atomic_load_explicit(
			w->env->spd, memory_order_acquire);
		const struct spd_in_rule *pr = snap ?
			spd_snap_match_in(snap, inner, in.len) : NULL;

		if (pr && (pr->action != ESPRESSO_SPD_PROTECT ||
			   pr->tunnel_id != t->id)) {
			drop_rx(w, p, DROP_rx_policy);
			return;
		}
		if (pr)
			goto inner_src_ok;
	}
	/* the inner source must be one the tunnel protects (the FIB's
	 * longest match), and the destination must not be sent back in */
	if (!rx_inner_src_ok(w, sw, &in, t)) { /* ECMP: a member */
		drop_rx(w, p, DROP_rx_inner_src);
		return;
	}
inner_src_ok:
	if (tables_route_has(w->tb, in.family, in.dst, t)) {
		drop_rx(w, p, DROP_rx_inner_dst);
		return;
	}
	inner_len = in.len;
	if (w->env->mss_clamp &&
	    frag_mss_clamp(inner, inner_len, t->mtu - 40, t->mtu - 60))
		w->st.mss_clamped++;
	if (__builtin_expect(t->vrf != w->cur_vrf, 0)) {
		/* another VRF's tun: what GRO holds goes to its own first */
		if (t->vrf >= w->nvrf_fd || w->vrf_fd[t->vrf] < 0) {
			drop_rx(w, p, DROP_rx_vrf_no_tun);
			return;
		}
		if (gro_flush(&w->gro, worker_tun_write, w))
			w->st.drops[DROP_rx_tun_write]++;
		w->tun_fd = w->vrf_fd[t->vrf];
		w->cur_vrf = t->vrf;
	}
	sw->packets++;
	sw->bytes += inner_len;
	sw->last_ms = w->now_ms;
	if (w->env->nlans) { /* router mode: for a host on a LAN (of t's VRF)? */
		r = fwd_lan_out(w, t, inner, inner_len);
		if (r > 0)
			drop_rx(w, p, r);
		if (r >= 0)
			return;
	}
	w->st.rx_decrypted++;
	if (__builtin_expect(w->tap != NULL, 0))
		tap_rx_inner(w, inner, inner_len);
	if (p->no_frame) {
		/* its buffer is reassembly's: write it now, after what GRO
		 * holds, so nothing is reordered */
		struct virtio_net_hdr vh = { 0 };
		struct iovec iov[2] = { { &vh, sizeof(vh) }, { inner, inner_len } };

		if (gro_flush(&w->gro, worker_tun_write, w) ||
		    worker_tun_write(w, iov, 2))
			drop_rx(w, p, DROP_rx_tun_write);
		return;
	}
	if (gro_add(&w->gro, inner, inner_len, worker_tun_write, w))
		drop_rx(w, p, DROP_rx_tun_write);
}

/* Passes 2 and 3 over a burst whose pass 1 is done. */
static void rx_finish(struct worker *w, struct pkt *pkts, uint32_t n)
{
	uint64_t t = pass_clock(w);
	uint32_t i;

	rx_prefetch_crypto(w, pkts, n);
	for (i = 0; i < n; i++) {
		struct pkt *p = &pkts[i];

		if (p->drop)
			continue;
		if (esp_open(&p->sa->pw[w->id].aead, p->seq, p->sa->esn,
			     p->esp, p->esp_len))
			drop_rx(w, p, DROP_rx_auth);
		else if (!sa_rx_limit_fast(p->sa, p->seq))
			/* a persisted SA's number above its limit (sa.h
			 * rx_limit): asked for now, before rx_post waits
			 * for the burst's first, so that one tick and one
			 * sync raise them all (one by one, a burst over
			 * many SAs took a tick and a sync per SA: 2 k
			 * packets/s against 250 k end to end over 1,000
			 * tunnels re-added with their keys) */
			(void)sa_rx_limit_slow(p->sa, p->seq);
	}
	pass_mark(w, PASS_RX_CRYPTO, &t);
	rx_prefetch_inner(w, pkts, n);
	pass_mark(w, PASS_RX_INNER, &t);
	for (i = 0; i < n; i++)
		if (!pkts[i].drop)
			rx_post(w, &pkts[i]);
	/* GRO points into the frames: write before giving them back */
	if (gro_flush(&w->gro, worker_tun_write, w))
		w->st.drops[DROP_rx_tun_write]++;
	pass_mark(w, PASS_RX_POST, &t);
	w->tun_fd = w->vrf_fd[0];
	w->cur_vrf = 0;
}

unsigned int rx_burst(struct worker *w)
{
	struct xsk_port *port = &w->port;
	struct pkt pkts[WORKER_BATCH_MAX];
	uint32_t idx, n, i;
	uint64_t t;

	n = xsk_ring_cons__peek(&port->rx, w->env->batch, &idx);
	if (!n) {
		if (xsk_ring_prod__needs_wakeup(&port->fill))
			recvfrom(port->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		return 0;
	}
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&port->rx,
								  idx + i);
		struct pkt *p = &pkts[i];

		memset(p, 0, sizeof(*p));
		p->addr = d->addr;
		p->data = xsk_port_frame(port, xsk_umem__add_offset_to_addr(d->addr));
		p->len = d->len;
		p->from = w->id;
		frame_move(port, d->addr - d->addr % XSK_FRAME_SIZE,
			   FRAME_WORKER);
		w->st.rx_frames++;
		w->st.rx_bytes += d->len;
	}
	xsk_ring_cons__release(&port->rx, n);

	t = pass_clock(w);
	rx_prefetch(w, pkts, n);
	pass_mark(w, PASS_RX_PREFETCH, &t);
	for (i = 0; i < n; i++)
		rx_prepare(w, &pkts[i]);
	pass_mark(w, PASS_RX_PREPARE, &t);
	if (w->kick_mask)
		worker_kick_peers(w);
	rx_finish(w, pkts, n);
	if (__builtin_expect(w->tap != NULL, 0))
		tap_rx_burst(w, pkts, n);
	for (i = 0; i < n; i++)
		if (!pkts[i].handed)
			xsk_port_free(port, pkts[i].addr);
	xsk_port_refill(port);
	return n;
}

/* Frames other workers handed to this one, the owner of their SAs. */
unsigned int rx_handoff_burst(struct worker *w)
{
	const struct worker_env *env = w->env;
	struct pkt pkts[WORKER_BATCH_MAX];
	struct handoff_desc hd[WORKER_BATCH_MAX];
	unsigned int total = 0;
	uint32_t n, i;
	int s;

	for (s = 0; s < env->nworkers; s++) {
		struct spsc_ring *in = &env->hand[s * env->nworkers + w->id];

		if (s == w->id || !spsc_count(in))
			continue;
		{
		struct xsk_port *port = &env->workers[s].port;

		for (n = 0; n < (uint32_t)env->batch && spsc_pop(in, &hd[n]); n++) {
			struct pkt *p = &pkts[n];
			struct iphdr ip;

			memset(p, 0, sizeof(*p));
			p->addr = hd[n].addr;
			p->data = xsk_port_frame(port, xsk_umem__add_offset_to_addr(hd[n].addr));
			p->len = hd[n].len;
			p->from = s;
			memcpy(&ip, p->data + hd[n].meta.l3_off, sizeof(ip));
			rx_check(w, p, &hd[n].meta, &ip,
				 esp_outer_len(p->data + hd[n].meta.l3_off,
					       hd[n].meta.l3_proto));
		}
		if (!n)
			continue;
		w->st.handoff_in += n;
		rx_finish(w, pkts, n);
		if (__builtin_expect(w->tap != NULL, 0))
			tap_rx_burst(w, pkts, n);
		/* back to their owner: the return ring cannot be full */
		for (i = 0; i < n; i++)
			spsc_push(&env->back[w->id * env->nworkers + s],
				  &hd[i].addr);
		w->kick_mask |= 1ull << s;
		total += n;
		}
	}
	if (w->kick_mask)
		worker_kick_peers(w);
	return total;
}

/* Frames this worker lent that came back. */
unsigned int rx_handoff_return(struct worker *w)
{
	const struct worker_env *env = w->env;
	unsigned int total = 0;
	uint64_t addr;
	int d;

	for (d = 0; d < env->nworkers; d++) {
		struct spsc_ring *r;

		if (d == w->id || !w->handoff_out[d])
			continue;
		r = &env->back[d * env->nworkers + w->id];
		while (spsc_pop(r, &addr)) {
			addr -= addr % XSK_FRAME_SIZE;
			frame_move(&w->port, addr, FRAME_WORKER);
			xsk_port_free(&w->port, addr);
			w->handoff_out[d]--;
			total++;
		}
	}
	if (total)
		xsk_port_refill(&w->port);
	return total;
}
