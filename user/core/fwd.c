// SPDX-License-Identifier: GPL-2.0
/*
 * fwd: router mode (see fwd.h).
 *
 * Each LAN port has its own UMEM: a plaintext frame is copied once into a
 * frame of the uplink's UMEM (where the outbound path encrypts it in
 * place), a decrypted packet once into a frame of the LAN's. The copy is
 * what the tun path costs too, and it keeps each UMEM's frames in its own
 * rings (the accounting of xsk.h, the audit) with no shared fill or
 * completion ring to arbitrate.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/socket.h>

#include "core/fwd.h"
#include "core/handoff.h"
#include "core/pkt.h"
#include "core/tx.h"
#include "proto/csum.h"
#include "proto/frag.h"
#include "tables/lanneigh.h"

/* Where a LAN frame's Ethernet header starts (TX frames we build). */
#define LAN_TX_OFF 0
#define ICMP_MAX 576 /* an ICMP error quotes little: RFC 1812 4.3.2.3 */
#define ICMP6_MAX 1280 /* ICMPv6: as much as fits the minimum MTU (RFC 4443) */
#define IP6_HLEN 40

/* Whether LAN le has a global IPv6 address (its ICMPv6 source). */
static bool lan_has6(const struct lan_env *le)
{
	return le->nprefix6 > 0;
}

static void lan_drop(struct worker *w, struct tunnel *t, int reason)
{
	struct pkt dummy = { .t = t };

	drop_tx(w, &dummy, reason);
}

/*
 * The LAN whose on-link prefixes hold dst, or -1: also for our own
 * addresses and a prefix's broadcast address, which are the kernel's
 * (through the tun), as a router that does not forward directed
 * broadcasts (RFC 2644).
 */
static int lan_of(const struct worker_env *env, uint32_t dst, uint16_t vrf)
{
	int l, i;

	for (l = 0; l < env->nlans; l++) {
		const struct lan_env *le = &env->lans[l];

		if (le->vrf != vrf) /* another VRF's LAN: never */
			continue;
		for (i = 0; i < le->nprefix; i++)
			if (dst == le->own[i])
				return -1;
		for (i = 0; i < le->nprefix; i++) {
			uint32_t host = ~le->mask[i];

			if ((dst & le->mask[i]) != le->net[i])
				continue;
			if (ntohl(host) > 1 && (dst & host) == host)
				return -1;
			return l;
		}
	}
	return -1;
}

/* TTL - 1 with the header checksum updated (as the kernel's
 * ip_decrease_ttl), on the IPv4 header at ip: bytes, since a header in a
 * frame sits wherever the Ethernet header put it (2 bytes off 4). */
static void ttl_dec(uint8_t *ip)
{
	uint16_t c;
	uint32_t check;

	memcpy(&c, ip + offsetof(struct iphdr, check), 2);
	check = c;
	check += htons(0x0100);
	c = (uint16_t)(check + (check >= 0xffff));
	memcpy(ip + offsetof(struct iphdr, check), &c, 2);
	ip[offsetof(struct iphdr, ttl)]--;
}

/* Frame addr (len bytes from LAN_TX_OFF) onto LAN l's TX ring. */
static void lan_tx_one(struct worker *w, int l, uint64_t addr, uint32_t len)
{
	struct xsk_port *port = &w->lan[l].port;
	struct xdp_desc *d;
	uint32_t idx;

	if (xsk_ring_prod__reserve(&port->tx, 1, &idx) != 1) {
		xsk_port_kick(port);
		xsk_port_complete(port);
		if (xsk_ring_prod__reserve(&port->tx, 1, &idx) != 1) {
			lan_drop(w, NULL, DROP_lan_ring_full);
			xsk_port_free(port, addr);
			return;
		}
	}
	d = xsk_ring_prod__tx_desc(&port->tx, idx);
	d->addr = addr + LAN_TX_OFF;
	d->len = len;
	frame_move(port, addr, FRAME_TX);
	xsk_ring_prod__submit(&port->tx, 1);
	w->st.lan_tx++;
	w->st.lan_tx_bytes += len;
	w->lan[l].tx++;
	w->lan[l].tx_bytes += len;
}

/* A new LAN frame: Ethernet header (no destination yet) + pkt. */
static uint8_t *lan_frame(struct worker *w, int l, const uint8_t *pkt,
			  size_t len, uint64_t *addr)
{
	struct xsk_port *port = &w->lan[l].port;
	struct ethhdr *eth;
	uint8_t *f;

	if (len + ETH_HLEN > XSK_FRAME_SIZE - LAN_TX_OFF ||
	    !xsk_port_alloc(port, addr)) {
		lan_drop(w, NULL, DROP_lan_no_frame);
		return NULL;
	}
	f = xsk_port_frame(port, *addr) + LAN_TX_OFF;
	eth = (struct ethhdr *)f;
	memcpy(eth->h_source, w->env->lans[l].mac, ETH_ALEN);
	eth->h_proto = htons((pkt[0] >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP);
	memcpy(f + ETH_HLEN, pkt, len);
	return f;
}

/* An ICMP error built in buf (n bytes) to the LAN host at dst_mac. */
static void lan_icmp_send(struct worker *w, int l, const uint8_t dst_mac[6],
			  const uint8_t *buf, size_t n)
{
	uint64_t addr;
	uint8_t *f;

	if (!n || !w->lan[l].open)
		return;
	f = lan_frame(w, l, buf, n, &addr);
	if (!f)
		return;
	memcpy(((struct ethhdr *)f)->h_dest, dst_mac, ETH_ALEN);
	lan_tx_one(w, l, addr, n + ETH_HLEN);
	w->st.lan_icmp++;
}

void fwd_lan_icmp_needed(struct worker *w, int l, const uint8_t src_mac[6],
			 const uint8_t *pkt, size_t len, unsigned int mtu)
{
	uint8_t buf[ICMP6_MAX];

	if ((pkt[0] >> 4) == 6) {
		if (lan_has6(&w->env->lans[l]))
			lan_icmp_send(w, l, src_mac, buf, frag_icmp6_too_big(
				buf, sizeof(buf), pkt, len, mtu,
				w->env->lans[l].addr6));
		return;
	}
	lan_icmp_send(w, l, src_mac,
		      buf, frag_icmp4_needed(buf, ICMP_MAX, pkt, len, mtu,
					     &w->env->lans[l].addr));
}

/* An ICMP error from LAN l's address, back through the tunnel that routes
 * to the offending packet's source. */
static void tunnel_icmp(struct worker *w, uint16_t vrf, const uint8_t *buf,
			size_t n)
{
	struct tunnel *t;

	if (!n)
		return;
	t = (buf[0] >> 4) == 6 ?
		tables_route_vrf(w->tb, vrf, AF_INET6, buf + 24) :
		tables_route_vrf(w->tb, vrf, AF_INET, buf + 16); /* its dst */
	if (!t)
		return;
	tx_lan_input(w, t, buf, n, 0, NULL);
	w->st.lan_icmp++;
}

/*
 * An IPv6 plaintext frame of LAN l (the XDP program checked the header
 * against the frame): the FIB's tunnel, hop limit - 1 (no checksum in
 * IPv6), ICMPv6 time exceeded back to the host when it runs out. Read by
 * copy and byte offsets: the header sits 2 bytes off 4 in the frame.
 */
static void lan_input6(struct worker *w, int l, uint8_t *data, uint32_t len)
{
	struct espresso_meta m, *mp = (void *)(data - sizeof(m));
	const struct lan_env *le = &w->env->lans[l];
	uint8_t buf[ICMP6_MAX], *ip;
	struct tunnel *t;
	size_t tot;

	m = *mp;
	mp->magic = 0; /* a reused frame must not carry stale meta */
	if (m.verdict != ESPRESSO_V_PROTECT || m.lan != (uint32_t)l + 1 ||
	    m.l3_off + (size_t)IP6_HLEN > len) {
		lan_drop(w, NULL, DROP_lan_bad_ip);
		return;
	}
	ip = data + m.l3_off;
	tot = IP6_HLEN + ((size_t)ip[4] << 8 | ip[5]);
	if ((ip[0] >> 4) != 6 || m.l3_off + tot > (size_t)len) {
		lan_drop(w, NULL, DROP_lan_bad_ip);
		return;
	}
	t = le->vrf ? NULL : /* IPv6 on LANs: the default VRF's */
		tables_route_pkt(w->tb, AF_INET6, ip + 24, ip, tot);
	if (!t) {
		lan_drop(w, NULL, DROP_lan_no_route);
		return;
	}
	if (ip[7] <= 1) {
		if (lan_has6(le))
			lan_icmp_send(w, l, data + ETH_ALEN, buf,
				      frag_icmp6_time_exceeded(
					      buf, sizeof(buf), ip, tot,
					      le->addr6));
		lan_drop(w, t, DROP_lan_ttl);
		return;
	}
	ip[7]--;
	tx_lan_input(w, t, ip, tot, l + 1, data + ETH_ALEN);
}

/* One plaintext frame of LAN l: checks, TTL, into the outbound batch. */
static void lan_input(struct worker *w, int l, uint8_t *data, uint32_t len)
{
	struct espresso_meta m, *mp = (void *)(data - sizeof(m));
	uint8_t buf[ICMP_MAX], *ip;
	struct iphdr h; /* a copy: the header in the frame is not aligned */
	struct tunnel *t;
	size_t hlen, tot;

	if (mp->magic == ESPRESSO_META_MAGIC && mp->l3_proto == 6) {
		lan_input6(w, l, data, len);
		return;
	}
	if (mp->magic != ESPRESSO_META_MAGIC ||
	    (mp->verdict != ESPRESSO_V_PROTECT &&
	     mp->verdict != ESPRESSO_V_POLICY) || mp->l3_proto != 4 ||
	    mp->lan != (uint32_t)l + 1 ||
	    mp->l3_off + sizeof(h) > len) {
		lan_drop(w, NULL, DROP_lan_bad_ip);
		return;
	}
	m = *mp;
	mp->magic = 0; /* a reused frame must not carry stale meta */
	ip = data + m.l3_off;
	memcpy(&h, ip, sizeof(h));
	hlen = h.ihl * 4u;
	tot = ntohs(h.tot_len);
	if (h.version != 4 || hlen < sizeof(h) || tot < hlen ||
	    m.l3_off + tot > len ||
	    csum_fold(csum_add(0, ip, hlen)) != 0xffff) {
		lan_drop(w, NULL, DROP_lan_bad_ip);
		return;
	}
	/* a policy names its tunnel; else the FIB decides (the XDP copy
	 * of the routes may be a commit behind), by the flow's hash for an
	 * ECMP prefix */
	t = m.verdict == ESPRESSO_V_POLICY && !w->env->lans[l].vrf ?
		tables_tunnel(w->tb, m.tunnel) :
		tables_route_pkt_vrf(w->tb, w->env->lans[l].vrf, AF_INET,
				     ip + offsetof(struct iphdr, daddr), ip,
				     tot);
	if (!t) {
		lan_drop(w, NULL, DROP_lan_no_route);
		return;
	}
	if (h.ttl <= 1) {
		lan_icmp_send(w, l, data + ETH_ALEN, buf, /* its source MAC */
			      frag_icmp4_time_exceeded(buf, sizeof(buf),
						       ip, tot,
						       &w->env->lans[l].addr));
		lan_drop(w, t, DROP_lan_ttl);
		return;
	}
	ttl_dec(ip);
	tx_lan_input(w, t, ip, tot, l + 1, data + ETH_ALEN);
}

unsigned int fwd_lan_rx_burst(struct worker *w, int l)
{
	struct xsk_port *port = &w->lan[l].port;
	uint64_t addrs[WORKER_BATCH_MAX];
	uint32_t idx, n, i;

	n = xsk_ring_cons__peek(&port->rx, w->env->batch, &idx);
	if (!n) {
		if (xsk_ring_prod__needs_wakeup(&port->fill))
			recvfrom(port->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		return 0;
	}
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&port->rx,
								  idx + i);
		uint8_t *data = xsk_port_frame(port,
			xsk_umem__add_offset_to_addr(d->addr));

		addrs[i] = d->addr - d->addr % XSK_FRAME_SIZE;
		frame_move(port, addrs[i], FRAME_WORKER);
		w->st.lan_rx++;
		w->st.lan_rx_bytes += d->len;
		w->lan[l].rx++;
		w->lan[l].rx_bytes += d->len;
		lan_input(w, l, data, d->len);
	}
	xsk_ring_cons__release(&port->rx, n);
	/* copied: the LAN frames go back at once */
	for (i = 0; i < n; i++)
		xsk_port_free(port, addrs[i]);
	xsk_port_refill(port);
	tx_flush_now(w);
	return n;
}

/* dst6: an IPv6 destination (dst unused), or NULL for IPv4's dst. */
static void lan_hold(struct worker *w, int l, uint64_t addr, uint32_t len,
		     uint32_t dst, const uint8_t *dst6)
{
	struct lan_port *lp = &w->lan[l];
	struct lan_held *h;
	unsigned int i;
	bool asked = false;

	if (lp->nhold == WORKER_HOLD_MAX) {
		lan_drop(w, NULL, DROP_lan_no_neigh);
		xsk_port_free(&lp->port, addr);
		return;
	}
	for (i = 0; i < lp->nhold && !asked; i++)
		asked = dst6 ? lp->hold[i].v6 && !memcmp(lp->hold[i].ip6, dst6, 16)
			     : !lp->hold[i].v6 && lp->hold[i].ip == dst;
	/* ring full: the next packet for it asks again */
	if (!asked) {
		if (dst6)
			spsc_push(&w->env->lans[l].want6[w->id], dst6);
		else
			spsc_push(&w->env->lans[l].want[w->id], &dst);
	}
	h = &lp->hold[lp->nhold++];
	h->addr = addr;
	h->len = len;
	h->ip = dst;
	h->v6 = dst6 != NULL;
	if (dst6)
		memcpy(h->ip6, dst6, 16);
	h->since_ms = w->now_ms;
	frame_move(&lp->port, addr, FRAME_HELD);
	w->st.lan_held++;
}

/* Whether a is in the prefix net/len. */
static bool in_prefix6(const uint8_t *a, const uint8_t *net, int len)
{
	int b;

	for (b = 0; b < len; b++)
		if ((a[b / 8] ^ net[b / 8]) & (0x80 >> (b % 8)))
			return false;
	return true;
}

/* The LAN whose on-link IPv6 prefixes hold dst, or -1 (also for the
 * gateway's own addresses: the kernel's, through the tun). */
static int lan_of6(const struct worker_env *env, const uint8_t *dst)
{
	int l, i;

	for (l = 0; l < env->nlans; l++) {
		const struct lan_env *le = &env->lans[l];

		for (i = 0; i < le->nprefix6; i++)
			if (!memcmp(dst, le->own6[i], 16))
				return -1;
		for (i = 0; i < le->nprefix6; i++)
			if (in_prefix6(dst, le->net6[i], le->plen6[i]))
				return l;
	}
	return -1;
}

/* A decrypted IPv6 packet (pkt[0] >> 4 == 6, len >= 40): as fwd_lan_out. */
static int fwd_lan_out6(struct worker *w, const uint8_t *pkt, size_t len)
{
	const struct lan_env *le;
	uint8_t buf[ICMP6_MAX], *f;
	uint64_t addr;
	int l;

	l = lan_of6(w->env, pkt + 24);
	if (l < 0 || w->env->lans[l].vrf) /* the default VRF's LANs only */
		return -1;
	le = &w->env->lans[l];
	if (!w->lan[l].open)
		return DROP_lan_no_xsk;
	if (pkt[7] <= 1) {
		tunnel_icmp(w, 0, buf, frag_icmp6_time_exceeded(
			buf, sizeof(buf), pkt, len, le->addr6));
		return DROP_lan_ttl;
	}
	if (len > (size_t)le->mtu) {
		/* no fragmentation on the way in IPv6: always too big */
		tunnel_icmp(w, 0, buf, frag_icmp6_too_big(
			buf, sizeof(buf), pkt, len, (uint32_t)le->mtu,
			le->addr6));
		return DROP_lan_too_big;
	}
	f = lan_frame(w, l, pkt, len, &addr);
	if (!f)
		return DROP_lan_no_frame;
	f[ETH_HLEN + 7]--; /* hop limit: no checksum */
	if (lan_neigh6_mac(le->neigh6, pkt + 24, ((struct ethhdr *)f)->h_dest))
		lan_tx_one(w, l, addr, len + ETH_HLEN);
	else
		lan_hold(w, l, addr, len + ETH_HLEN, 0, pkt + 24);
	return 0;
}

int fwd_lan_out(struct worker *w, struct tunnel *t, const uint8_t *pkt,
		size_t len)
{
	const struct worker_env *env = w->env;
	const struct lan_env *le;
	uint8_t buf[ICMP_MAX], *f;
	struct iphdr ip;
	uint64_t addr;
	int l;

	/* IPv6 on the LANs: the default VRF's only */
	if (len >= IP6_HLEN && (pkt[0] >> 4) == 6)
		return t->vrf ? -1 : fwd_lan_out6(w, pkt, len);
	if (len < sizeof(ip) || (pkt[0] >> 4) != 4)
		return -1;
	memcpy(&ip, pkt, sizeof(ip));
	l = lan_of(env, ip.daddr, t->vrf);
	if (l < 0)
		return -1;
	le = &env->lans[l];
	if (!w->lan[l].open)
		return DROP_lan_no_xsk;
	if (ip.ttl <= 1) {
		tunnel_icmp(w, t->vrf, buf, frag_icmp4_time_exceeded(
			buf, sizeof(buf), pkt, len, &le->addr));
		return DROP_lan_ttl;
	}
	if (len > (size_t)le->mtu) {
		if (ip.frag_off & htons(IP_DF))
			tunnel_icmp(w, t->vrf, buf, frag_icmp4_needed(
				buf, sizeof(buf), pkt, len, le->mtu,
				&le->addr));
		return DROP_lan_too_big;
	}
	f = lan_frame(w, l, pkt, len, &addr);
	if (!f)
		return DROP_lan_no_frame;
	ttl_dec(f + ETH_HLEN);
	if (lan_neigh_mac(le->neigh, ip.daddr, ((struct ethhdr *)f)->h_dest))
		lan_tx_one(w, l, addr, len + ETH_HLEN);
	else
		lan_hold(w, l, addr, len + ETH_HLEN, ip.daddr, NULL);
	return 0;
}

unsigned int fwd_lan_hold_flush(struct worker *w, int l)
{
	struct lan_port *lp = &w->lan[l];
	unsigned int i, keep = 0, n = 0;

	for (i = 0; i < lp->nhold; i++) {
		struct lan_held *h = &lp->hold[i];
		uint8_t *f = xsk_port_frame(&lp->port, h->addr) + LAN_TX_OFF;

		if (h->v6 ? lan_neigh6_mac(w->env->lans[l].neigh6, h->ip6,
					   ((struct ethhdr *)f)->h_dest) :
			    lan_neigh_mac(w->env->lans[l].neigh, h->ip,
					  ((struct ethhdr *)f)->h_dest)) {
			frame_move(&lp->port, h->addr, FRAME_WORKER);
			lan_tx_one(w, l, h->addr, h->len);
			w->st.lan_released++;
			n++;
		} else if (w->now_ms - h->since_ms > WORKER_HOLD_MS) {
			frame_move(&lp->port, h->addr, FRAME_WORKER);
			lan_drop(w, NULL, DROP_lan_no_neigh);
			xsk_port_free(&lp->port, h->addr);
		} else {
			lp->hold[keep++] = *h;
		}
	}
	lp->nhold = keep;
	return n;
}

unsigned int fwd_lan_tx_service(struct worker *w, int l)
{
	struct xsk_port *port = &w->lan[l].port;

	if (port->n_state[FRAME_TX] && xsk_port_kick(port))
		w->st.wakeups++;
	return xsk_port_complete(port);
}
