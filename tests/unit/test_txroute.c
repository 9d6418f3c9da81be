// SPDX-License-Identifier: GPL-2.0
/*
 * The outbound path's routing across tun reads (core/tx.c routing_*): a
 * packet's route is looked up one load per later read, and it joins the
 * batch when known. What must hold whatever the mix: the ESP packets leave
 * in the order their inner packets were read, each in its route's tunnel
 * (IPv4, IPv6 with its long walks, the ring of routes in progress full),
 * and what has no route or is malformed is dropped and counted, once.
 *
 * The worker's own tx_burst over tables the control code builds
 * (control/live.c), its tun a datagram socket pair, its XSK rings plain
 * memory (fakexsk.h). Every ESP packet on the TX ring is opened here with
 * OpenSSL's EVP (not espresso's crypto code) to read the inner packet's
 * number.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/live.h"
#include "core/tx.h"
#include "core/worker.h"
#include "fakexsk.h"
#include "rig.h"

#define NTUN 3
#define NPKT 600
#define KEY_LEN 36 /* AES-GCM-256 and its salt */

enum kind { K_T0, K_T1, K_T2_V4, K_T2_V6, K_NOROUTE, K_MALFORMED, K_MAX };

static void key_of(int k, uint8_t *key)
{
	int i;

	for (i = 0; i < KEY_LEN; i++)
		key[i] = (uint8_t)(k * 77 + i * 5 + 1);
}

static void route(struct live *l, const char *prefix, const char *tunnel)
{
	struct cfg_prefix p;
	char err[256];

	cr_assert_eq(config_parse_prefix(prefix, &p), 0, "%s", prefix);
	cr_assert_eq(live_route_add(l, &p, tunnel, err, sizeof(err)), 0,
		     "%s: %s", prefix, err);
}

/* tunnels t0..t2, outbound SPI 0x1000 + k; routes as enum kind says;
 * big: 24 more /24s elsewhere, so that the FIB is too big to be routed at
 * once (tx.c tx_route_small) and every packet goes through the ring */
/* rig_up's flags */
#define RIG_OFFLOAD 1  /* the tun with virtio headers (GSO) */
#define RIG_T0_OUTER 2 /* t0 with fragment = "outer" */

static void build(struct live *l, bool big, int mtu, int flags)
{
	static const struct live_ops ops;
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 2 };
	struct in_addr gwip = { htonl(0xc0000202) };
	struct nexthop *nh;
	char name[8], err[256];
	int k;

	cr_assert_eq(live_init(l, 1, mtu, &ops, NULL), 0);
	nh = nexthop_get(&l->nhs, 1, gwip);
	cr_assert_not_null(nh);
	atomic_store(&nh->mac, tunnel_mac_pack(mac));
	for (k = 0; k < NTUN; k++) {
		uint8_t key[KEY_LEN];
		struct cfg_tunnel ct = { 0 };
		struct live_sa_args sa = {
			.tunnel = name, .dir = SA_OUT, .spi = 0x1000 + k,
			.key = key, .key_len = sizeof(key), .origin = "ctl",
		};
		struct tunnel *t;

		snprintf(name, sizeof(name), "t%d", k);
		snprintf(ct.name, sizeof(ct.name), "%s", name);
		ct.local.s_addr = htonl(0xc0000201);
		ct.remote.s_addr = htonl(0xc0000202);
		ct.encap = ENCAP_ESP;
		ct.cipher = CIPHER_AES_GCM_256;
		ct.replay_window = 64;
		ct.esn = false;
		ct.fragment = k == 0 && (flags & RIG_T0_OUTER) ? FRAG_OUTER
							       : FRAG_INNER;
		ct.sa_pairs = 1;
		cr_assert_eq(live_tunnel_add(l, &ct, err, sizeof(err)), 0, "%s",
			     err);
		t = live_tunnel_find(l, name);
		nh->refs++; /* one per tunnel, as neigh.c's set_nh */
		atomic_store(&t->nh, nh);
		key_of(k, key);
		cr_assert_eq(live_sa_add(l, &sa, err, sizeof(err)), 0, "%s", err);
	}
	nexthop_put(&l->nhs, nh);
	route(l, "10.0.0.0/24", "t0");
	route(l, "10.1.0.0/24", "t1");
	route(l, "10.2.0.0/16", "t2");
	route(l, "fd00:1:2:3::/64", "t2");
	for (k = 0; big && k < 24; k++) {
		char pfx[32];

		snprintf(pfx, sizeof(pfx), "10.%d.7.0/24", 100 + k);
		route(l, pfx, "t1");
	}
	cr_assert_eq(live_commit(l), 0);
	cr_assert_eq(fib_nodes(live_tables(l)->fib4) > 16, big,
		     "the FIB's size: %zu nodes",
		     fib_nodes(live_tables(l)->fib4));
}

/* Packet i of kind k: UDP carrying i; malformed: 10 bytes of a header. */
static size_t packet(uint8_t *buf, enum kind k, uint32_t i)
{
	static const uint8_t v6dst[16] = { 0xfd, 0, 0, 1, 0, 2, 0, 3,
					   0, 0, 0, 0, 0, 0, 0, 9 };
	static const uint8_t v6src[16] = { 0xfd, 0, 0, 9, [15] = 1 };
	uint32_t n = htonl(i);

	memset(buf, 0, 64);
	if (k == K_MALFORMED) {
		buf[0] = 0x45;
		return 10;
	}
	if (k == K_T2_V6) {
		struct ip6_hdr *ip6 = (void *)buf;

		ip6->ip6_flow = htonl(6u << 28);
		ip6->ip6_plen = htons(8 + 4);
		ip6->ip6_nxt = IPPROTO_UDP;
		ip6->ip6_hlim = 64;
		memcpy(&ip6->ip6_src, v6src, 16);
		memcpy(&ip6->ip6_dst, v6dst, 16);
		buf[44] = 0;
		buf[45] = 12; /* UDP length */
		memcpy(buf + 48, &n, 4);
		return 52;
	} else {
		static const uint32_t dst[K_MAX] = {
			[K_T0] = 0x0a000005, [K_T1] = 0x0a010005,
			[K_T2_V4] = 0x0a02a005, [K_NOROUTE] = 0x0b000001,
		};
		struct iphdr *ip = (void *)buf;

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(20 + 8 + 4);
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->saddr = htonl(0xc0a80001);
		ip->daddr = htonl(dst[k]);
		ip->check = esp_ip_csum(ip, 20);
		buf[24] = 0;
		buf[25] = 12;
		memcpy(buf + 28, &n, 4);
		return 32;
	}
}

/* Open one ESP frame (Ethernet, IPv4, ESP) with EVP: its tunnel and the
 * number its inner packet carries. */
static void open_frame(const uint8_t *f, uint32_t len, int *tun, uint32_t *num,
		       uint8_t *inner)
{
	const uint8_t *esp = f + 14 + 20;
	int elen = (int)len - 14 - 20, ctlen = elen - 8 - 8 - 16;
	uint8_t key[KEY_LEN], pt[2048];
	uint32_t spi;

	cr_assert_eq(f[12], 0x08);
	cr_assert_eq(f[13], 0x00);
	cr_assert_eq(f[14 + 9], IPPROTO_ESP);
	cr_assert(ctlen > 0 && ctlen <= (int)sizeof(pt), "ESP of %d bytes", elen);
	memcpy(&spi, esp, 4);
	*tun = (int)ntohl(spi) - 0x1000;
	cr_assert(*tun >= 0 && *tun < NTUN, "SPI %#x", ntohl(spi));
	key_of(*tun, key);
	cr_assert(evp_esp(false, key, (uint8_t *)esp, pt, ctlen),
		  "the ICV of an ESP packet of SA %#x", ntohl(spi));
	if (inner)
		memcpy(inner, pt, ctlen);
	if ((pt[0] >> 4) == 6) {
		cr_assert_eq(pt[ctlen - 1], 41, "next header IPv6");
		memcpy(num, pt + 48, 4);
	} else {
		cr_assert_eq(pt[ctlen - 1], 4, "next header IPv4");
		memcpy(num, pt + 28, 4);
	}
	*num = ntohl(*num);
}

/* One worker over the tables of build() (rig.h) */
static struct rig rig;

static void rig_up(bool big, int mtu, int batch, int flags)
{
	memset(&rig, 0, sizeof(rig));
	build(&rig.l, big, mtu, flags);
	rig_worker_up(&rig, mtu, batch, flags & RIG_OFFLOAD);
}

/* nothing left in the routing ring, every frame back; then all freed */
static void rig_down(void)
{
	cr_assert_eq(rig.w.nrouting, 0, "nothing left in the routing ring");
	rig_worker_down(&rig);
}

static void run_mix(bool big)
{
	static enum kind kinds[NPKT];
	uint32_t want[NPKT], got = 0, nwant = 0, i, sent = 0;
	uint64_t rng = 0x2545f4914f6cdd1dull;
	uint64_t drops_noroute = 0, drops_bad = 0;
	struct worker *w = &rig.w;

	rig_up(big, 1500, 64, 0);

	/* runs of one kind (IPv6: the ring of routes fills) and mixes */
	for (i = 0; i < NPKT; i++) {
		rng ^= rng >> 12;
		rng ^= rng << 25;
		rng ^= rng >> 27;
		kinds[i] = i >= 100 && i < 130 ? K_T2_V6 :
			   i >= 200 && i < 230 ? K_T1 :
			   (enum kind)((rng * 2685821657736338717ull >> 33) % K_MAX);
		if (kinds[i] == K_NOROUTE)
			drops_noroute++;
		else if (kinds[i] == K_MALFORMED)
			drops_bad++;
		else
			want[nwant++] = i;
	}
	while (sent < NPKT || got < nwant) {
		const struct xdp_desc *d;
		uint8_t buf[64] __attribute__((aligned(8)));
		unsigned int n;

		/* up to 100 queued in the socket, read by bursts of 64 */
		for (n = 0; n < 100 && sent < NPKT; n++, sent++)
			cr_assert_eq(send(rig.sp[0], buf,
					  packet(buf, kinds[sent], sent), 0),
				     (ssize_t)packet(buf, kinds[sent], sent),
				     "send: %s", strerror(errno));
		while (tx_burst(w))
			;
		while ((d = fport_tx_peek(&rig.f))) {
			uint32_t num;
			int t;

			open_frame(xsk_port_frame(&w->port, d->addr), d->len, &t,
				   &num, NULL);
			cr_assert_lt(got, nwant, "more ESP packets than routed");
			cr_assert_eq(num, want[got],
				     "ESP packet %u carries inner packet %u, "
				     "want %u (read order)", got, num, want[got]);
			cr_assert_eq(t, kinds[num] == K_T0 ? 0 :
					kinds[num] == K_T1 ? 1 : 2,
				     "inner packet %u in tunnel t%d", num, t);
			fport_tx_done(&rig.f, d->addr);
			got++;
		}
		xsk_port_complete(&w->port);
		cr_assert(sent == NPKT || got <= sent, "no progress");
		if (sent == NPKT && got < nwant)
			cr_assert_fail("%u of %u routed packets came out",
				       got, nwant);
	}
	cr_assert_eq(w->st.drops[DROP_tx_no_route], drops_noroute);
	cr_assert_eq(w->st.drops[DROP_tx_malformed], drops_bad);
	cr_assert_eq(w->st.tun_rx, NPKT);
	rig_down();
}

/* the ring: every packet's route across later reads */
Test(txroute, order_and_tunnels_kept_across_reads)
{
	run_mix(true);
}

/* small tables: each packet routed as it is read */
Test(txroute, order_and_tunnels_kept_small_tables)
{
	run_mix(false);
}

/*
 * Inner fragmentation (a 1400-byte packet, DF clear, over a 576-byte
 * uplink) with the largest batch: the fragments of the packet whose checks
 * were pending can fill the batch just as the next packet read needs a
 * slot (tx_take flushes it). Every fragment out, in order, none lost.
 */
static void fill_batch(bool big, size_t size)
{
	uint32_t sent = 0, frames = 0, last_id = 0, last_off = 0, nfrag = 0;
	struct worker *w = &rig.w;

	rig_up(big, 576, 256, 0);
	while (sent < 800) {
		const struct xdp_desc *d;
		uint8_t buf[1400] __attribute__((aligned(8)));
		uint8_t in[2048] __attribute__((aligned(8)));
		struct iphdr *ip = (void *)buf;
		unsigned int n;

		for (n = 0; n < 200; n++, sent++) {
			memset(buf, 0, sizeof(buf));
			ip->version = 4;
			ip->ihl = 5;
			ip->tot_len = htons(size);
			ip->id = htons((uint16_t)sent);
			ip->ttl = 64;
			ip->protocol = IPPROTO_UDP;
			ip->saddr = htonl(0xc0a80001);
			ip->daddr = htonl(0x0a000005);
			ip->check = esp_ip_csum(ip, 20);
			cr_assert_eq(send(rig.sp[0], buf, size, 0),
				     (ssize_t)size, "send: %s", strerror(errno));
		}
		while (tx_burst(w))
			;
		while ((d = fport_tx_peek(&rig.f))) {
			const struct iphdr *fr = (const void *)in;
			uint32_t num, id, off;
			int t;

			open_frame(xsk_port_frame(&w->port, d->addr), d->len, &t,
				   &num, in);
			id = ntohs(fr->id);
			off = ntohs(fr->frag_off) & 0x1fff;
			cr_assert_eq(t, 0);
			if (frames && id == last_id) {
				cr_assert_gt(off, last_off, "packet %u: fragments "
					     "in order", id);
			} else {
				cr_assert_eq(id, frames ? last_id + 1 : 0,
					     "packet %u after %u", id, last_id);
				cr_assert_eq(off, 0, "packet %u starts at 0", id);
				if (frames && !nfrag)
					nfrag = frames;
			}
			last_id = id;
			last_off = off;
			frames++;
			fport_tx_done(&rig.f, d->addr);
		}
		xsk_port_complete(&w->port);
	}
	cr_assert_gt(nfrag, 1, "packets cut in fragments (%u)", nfrag);
	cr_assert_eq(frames, sent * nfrag, "%u frames for %u packets of %u "
		     "fragments", frames, sent, nfrag);
	cr_assert_eq(last_id, sent - 1);
	rig_down();
}

/* 1400 bytes: 3 fragments, 4 slots a packet, which divides 256: the
 * fragments fill the batch exactly; 1000 bytes: 2 fragments, 3 slots, so
 * the batch fills while a packet is cut (the version before sealed it
 * whole then, and freed its frame under the cutting) */
Test(txroute, inner_fragments_fill_the_batch)
{
	fill_batch(false, 1400);
	fill_batch(true, 1400);
	fill_batch(false, 1000);
	fill_batch(true, 1000);
}

/* One datagram into the tun: the virtio header, then the packet. */
static void send_vnet(const struct virtio_net_hdr *vh, const uint8_t *pkt,
		      size_t len)
{
	struct iovec iov[2] = { { (void *)vh, sizeof(*vh) },
				{ (void *)pkt, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	cr_assert_eq(sendmsg(rig.sp[0], &mh, 0), (ssize_t)(sizeof(*vh) + len),
		     "sendmsg: %s", strerror(errno));
}

/*
 * A batch flushed while a super-packet is being segmented (GSO), with a
 * packet of a fragment = "outer" tunnel in it, cut into outer fragments by
 * that flush: the segments after the flush still go into their own
 * tunnel (the version before sealed them in the other one).
 */
Test(txroute, segments_keep_their_tunnel_across_outer_fragments)
{
	static uint8_t buf[65536] __attribute__((aligned(8)));
	struct virtio_net_hdr vh = { 0 };
	struct iphdr *ip = (void *)buf;
	struct worker *w = &rig.w;
	const struct xdp_desc *d;
	unsigned int frames = 0, outer_frags = 0, in_t0 = 0, in_t1 = 0, k;
	size_t plen = 60000, len;
	uint8_t in[2048] __attribute__((aligned(8)));

	rig_up(false, 1500, 64, RIG_OFFLOAD | RIG_T0_OUTER);
	/* 1: 1480 bytes of UDP to t0, DF clear: its ESP packet is cut into
	 * outer fragments when sealed */
	memset(buf, 0, sizeof(buf));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(1480);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = htonl(0xc0a80001);
	ip->daddr = htonl(0x0a000005);
	ip->check = esp_ip_csum(ip, 20);
	send_vnet(&vh, buf, 1480);
	/* 2..7: TCP super-packets of 60,000 bytes to t1, 47 segments each:
	 * the batch of 256 fills during the sixth */
	for (k = 0; k < 6; k++) {
		memset(buf, 0, sizeof(buf));
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		vh.hdr_len = 40;
		vh.gso_size = 1300;
		vh.csum_start = 20;
		vh.csum_offset = 16;
		len = 40 + plen;
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(len);
		ip->id = htons(k);
		ip->frag_off = htons(IP_DF);
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		ip->saddr = htonl(0xc0a80001);
		ip->daddr = htonl(0x0a010005);
		ip->check = esp_ip_csum(ip, 20);
		buf[20 + 12] = 5 << 4; /* data offset */
		buf[20 + 13] = 0x10;   /* ACK */
		send_vnet(&vh, buf, len);
	}
	while (tx_burst(w))
		;
	while ((d = fport_tx_peek(&rig.f))) {
		const uint8_t *f = xsk_port_frame(&w->port, d->addr);
		uint16_t fo;
		uint32_t num;
		int t;

		frames++;
		memcpy(&fo, f + 14 + offsetof(struct iphdr, frag_off), 2);
		if (fo & htons(IP_MF | IP_OFFMASK)) {
			outer_frags++; /* t0's packet, cut after sealing */
			fport_tx_done(&rig.f, d->addr);
			continue;
		}
		open_frame(f, d->len, &t, &num, in);
		if (((const struct iphdr *)in)->daddr == htonl(0x0a000005)) {
			cr_assert_eq(t, 0, "the UDP packet in t0");
			in_t0++;
		} else {
			cr_assert_eq(t, 1, "segment %u of the TCP super-packets "
				     "in t%d, not t1", in_t1, t);
			in_t1++;
		}
		fport_tx_done(&rig.f, d->addr);
	}
	xsk_port_complete(&w->port);
	cr_assert_eq(outer_frags, 2, "t0's ESP packet in 2 outer fragments");
	cr_assert_eq(in_t0, 0);
	cr_assert_eq(in_t1, 6 * ((plen + 1299) / 1300), "%u segments", in_t1);
	cr_assert_eq(frames, outer_frags + in_t1);
	rig_down();
}
