// SPDX-License-Identifier: GPL-2.0
/*
 * gro: TCP segment trains built field by field below (IPv4 and IPv6, with a
 * timestamp option), and UDP datagram trains, are offered to gro_add; what
 * the out callback receives is flattened and compared byte for byte with
 * packets built independently:
 *  - a merged packet must equal one big TCP (UDP) packet carrying the whole
 *    payload, once its partial checksum is completed the way the kernel
 *    does (sum from csum_start, the field holding the pseudo-header sum);
 *    the checksum code here is a plain RFC 1071 loop, not csum.c; a merged
 *    UDP packet is also cut back into datagrams the way __udp_gso_segment
 *    does (the partial sum traded for each datagram's length), which must
 *    be the datagrams offered;
 *  - a packet written alone must be the packet offered, untouched, with an
 *    all-zero virtio_net_hdr.
 * Then each flush rule on its own, malformed inputs, write errors, and a
 * real tun in a fresh network namespace that must accept the headers.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/gro.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20
#define F_CWR 0x80

/* ---- reference checksum (RFC 1071, byte by byte) ---- */

static uint64_t ref_sum(uint64_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t ref_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* pseudo-header of the IP packet ip carrying l4len bytes of TCP or UDP
 * (the protocol of its header) */
static uint64_t ref_pseudo(const uint8_t *ip, int family, uint32_t l4len)
{
	uint8_t ph[40];

	memset(ph, 0, sizeof(ph));
	if (family == 4) {
		memcpy(ph, ip + 12, 8);
		ph[9] = ip[9];
		ph[10] = l4len >> 8;
		ph[11] = l4len & 0xff;
		return ref_sum(0, ph, 12);
	}
	memcpy(ph, ip + 8, 32);
	ph[32] = l4len >> 24;
	ph[33] = (l4len >> 16) & 0xff;
	ph[34] = (l4len >> 8) & 0xff;
	ph[35] = l4len & 0xff;
	ph[39] = ip[6];
	return ref_sum(0, ph, 40);
}

static int ip_hlen(const uint8_t *ip)
{
	return (ip[0] >> 4) == 4 ? (ip[0] & 15) * 4 : 40;
}

/* true if the IP packet (IPv4 header checksum too) has a valid TCP (UDP)
 * sum */
static bool ref_tcp_ok(const uint8_t *ip, size_t len)
{
	int family = ip[0] >> 4, hl = ip_hlen(ip);

	if (family == 4 && ref_fold(ref_sum(0, ip, hl)) != 0xffff)
		return false;
	return ref_fold(ref_pseudo(ip, family, len - hl) +
			ref_sum(0, ip + hl, len - hl)) == 0xffff;
}

/* ---- segment builder ---- */

struct spec {
	int family;
	uint32_t seq, ack;
	uint16_t plen, win, id, sport, dport;
	uint8_t flags, ttl, tos; /* tos: traffic class for IPv6 */
	bool df;
	uint32_t flowlabel;
	uint8_t src;          /* 10.9.0.<src> / fd00:9::<src> */
	uint8_t dst_net, dst; /* 10.9.<dst_net>.<dst> / fd00:9:<dst_net>::<dst> */
	bool ts;              /* NOP NOP TS option (12 bytes) */
	uint32_t tsval, tsecr;
	bool ipopt;           /* 4 bytes of IPv4 options */
	bool badsum;          /* TCP (UDP) checksum off by one */
	bool udp;             /* a UDP datagram (seq: the payload's seed;
			       * ack, win, flags, ts: unused) */
	bool nosum;           /* UDP checksum 0 (none) */
	bool badipsum;        /* IPv4 header checksum off by one */
};

static struct spec spec4(void)
{
	struct spec s = {
		.family = 4, .seq = 1000, .ack = 5000, .plen = 1000,
		.win = 512, .id = 0x1234, .sport = 40000, .dport = 5201,
		.flags = F_ACK, .ttl = 64, .df = true, .src = 5,
		.dst_net = 1, .dst = 5, .ts = true, .tsval = 100, .tsecr = 200,
	};

	return s;
}

static struct spec spec6(void)
{
	struct spec s = spec4();

	s.family = 6;
	s.flowlabel = 0x12345;
	return s;
}

static struct spec spec4u(void)
{
	struct spec s = spec4();

	s.udp = true;
	s.sport = 40001;
	s.dport = 4789;
	return s;
}

static struct spec spec6u(void)
{
	struct spec s = spec6();

	s.udp = true;
	s.sport = 40001;
	s.dport = 4789;
	return s;
}

static uint8_t pay_byte(uint32_t seq)
{
	return (uint8_t)(seq * 31u + (seq >> 8) + 7);
}

static void w16(uint8_t *p, uint32_t v)
{
	p[0] = (v >> 8) & 0xff;
	p[1] = v & 0xff;
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, v >> 16);
	w16(p + 2, v & 0xffff);
}

/* TCP (UDP) header length */
static size_t l4_hlen(const struct spec *s)
{
	if (s->udp)
		return 8;
	return s->ts ? 32 : 20;
}

static size_t spec_len(const struct spec *s)
{
	return (s->family == 4 ? 20 + (s->ipopt ? 4 : 0) : 40) + l4_hlen(s) +
	       s->plen;
}

/* Builds the packet into b (spec_len bytes) with correct checksums. */
static size_t build(uint8_t *b, const struct spec *s)
{
	size_t len = spec_len(s), hl, thl = l4_hlen(s), i;
	uint8_t proto = s->udp ? 17 : 6;
	uint8_t *th;
	uint16_t sum;

	memset(b, 0, len);
	if (s->family == 4) {
		hl = s->ipopt ? 24 : 20;
		b[0] = 0x40 | (hl / 4);
		b[1] = s->tos;
		w16(b + 2, len);
		w16(b + 4, s->id);
		w16(b + 6, s->df ? 0x4000 : 0);
		b[8] = s->ttl;
		b[9] = proto;
		b[12] = 10;
		b[13] = 9;
		b[15] = s->src;
		b[16] = 10;
		b[17] = 9;
		b[18] = s->dst_net;
		b[19] = s->dst;
		if (s->ipopt)
			memset(b + 20, 1, 3); /* NOP NOP NOP EOL */
		sum = ~ref_fold(ref_sum(0, b, hl));
		if (s->badipsum)
			sum++;
		w16(b + 10, sum);
	} else {
		hl = 40;
		w32(b, 6u << 28 | (uint32_t)s->tos << 20 | s->flowlabel);
		w16(b + 4, len - 40);
		b[6] = proto;
		b[7] = s->ttl;
		b[8] = 0xfd;
		b[10] = 0;
		b[11] = 9;
		b[23] = s->src;
		b[24] = 0xfd;
		b[26] = 0;
		b[27] = 9;
		b[29] = s->dst_net;
		b[39] = s->dst;
	}
	th = b + hl;
	w16(th, s->sport);
	w16(th + 2, s->dport);
	if (s->udp) {
		w16(th + 4, len - hl);
		for (i = 0; i < s->plen; i++)
			th[8 + i] = pay_byte(s->seq + i);
		sum = ~ref_fold(ref_pseudo(b, s->family, len - hl) +
				ref_sum(0, th, len - hl));
		if (!sum)
			sum = 0xffff; /* 0 means none (RFC 768) */
		if (s->badsum)
			sum += sum == 0xffff ? 2 : 1; /* never 0 */
		if (s->nosum)
			sum = 0;
		w16(th + 6, sum);
		return len;
	}
	w32(th + 4, s->seq);
	w32(th + 8, s->ack);
	th[12] = (thl / 4) << 4;
	th[13] = s->flags;
	w16(th + 14, s->win);
	if (s->ts) {
		th[20] = 1;
		th[21] = 1;
		th[22] = 8;
		th[23] = 10;
		w32(th + 24, s->tsval);
		w32(th + 28, s->tsecr);
	}
	for (i = 0; i < s->plen; i++)
		th[thl + i] = pay_byte(s->seq + i);
	sum = ~ref_fold(ref_pseudo(b, s->family, len - hl) +
			ref_sum(0, th, len - hl));
	if (s->badsum)
		sum++;
	w16(th + 16, sum);
	return len;
}

/* Every packet offered is its own exact-size allocation, so that a read
 * past its end is caught by valgrind/ASan. */
#define MAX_PKTS 512
static uint8_t *pk[MAX_PKTS];
static size_t pkl[MAX_PKTS];
static int npk;

static uint8_t *mk(const struct spec *s)
{
	uint8_t *p;

	cr_assert_lt(npk, MAX_PKTS);
	p = malloc(spec_len(s));
	cr_assert_not_null(p);
	pkl[npk] = build(p, s);
	pk[npk++] = p;
	return p;
}

/* ---- the out callback: captures every packet ---- */

#define CAP_MAX 80
struct cap {
	struct virtio_net_hdr vh;
	int iovcnt;
	const void *base[GRO_MAX_SEGS + 2];
	size_t len;
	uint8_t data[65536];
};
static struct cap caps[CAP_MAX];
static int ncaps;
static int out_calls;
static int fail_at = -1; /* out call index that returns -EIO */

static int capture(void *arg, const struct iovec *iov, int iovcnt)
{
	struct cap *c;
	int i;

	(void)arg;
	if (out_calls++ == fail_at)
		return -EIO;
	cr_assert_lt(ncaps, CAP_MAX);
	cr_assert_geq(iovcnt, 2);
	cr_assert_leq(iovcnt, GRO_MAX_SEGS + 1);
	cr_assert_eq(iov[0].iov_len, sizeof(struct virtio_net_hdr));
	c = &caps[ncaps++];
	memcpy(&c->vh, iov[0].iov_base, sizeof(c->vh));
	c->iovcnt = iovcnt;
	c->len = 0;
	for (i = 1; i < iovcnt; i++) {
		cr_assert_leq(c->len + iov[i].iov_len, sizeof(c->data));
		memcpy(c->data + c->len, iov[i].iov_base, iov[i].iov_len);
		c->len += iov[i].iov_len;
		c->base[i] = iov[i].iov_base;
	}
	return 0;
}

static struct gro_table tbl;

static void setup(void)
{
	gro_init(&tbl, true);
	ncaps = 0;
	out_calls = 0;
	fail_at = -1;
	npk = 0;
}

static void teardown(void)
{
	int i;

	for (i = 0; i < npk; i++)
		free(pk[i]);
}

TestSuite(gro, .init = setup, .fini = teardown);

/* offers the packet of s, expects 0; returns the packet */
static uint8_t *add(const struct spec *s)
{
	uint8_t *p = mk(s);

	cr_assert_eq(gro_add(&tbl, p, pkl[npk - 1], capture, NULL), 0);
	return p;
}

static void flush(void)
{
	cr_assert_eq(gro_flush(&tbl, capture, NULL), 0);
	cr_assert_eq(tbl.nflows, 0);
}

/* caps[i] is the packet of s written alone, untouched */
static void expect_alone(int i, const struct spec *s)
{
	static uint8_t ref[65536];
	struct virtio_net_hdr zero;
	size_t len = build(ref, s);

	memset(&zero, 0, sizeof(zero));
	cr_assert_lt(i, ncaps, "no packet %d (%d written)", i, ncaps);
	cr_assert_eq(caps[i].iovcnt, 2);
	cr_assert_eq(memcmp(&caps[i].vh, &zero, sizeof(zero)), 0,
		     "packet %d: virtio_net_hdr not zero", i);
	cr_assert_eq(caps[i].len, len, "packet %d: %zu bytes, not %zu", i,
		     caps[i].len, len);
	cr_assert_eq(memcmp(caps[i].data, ref, len), 0,
		     "packet %d differs", i);
}

/*
 * The merged UDP packet c (hl: its IP header length) cut as
 * __udp_gso_segment does: gso_size bytes of payload per datagram, the IP
 * header of the first with its length (IPv4: header checksum, id + k for
 * the k-th), the UDP length, the partial sum of the field with the total
 * UDP length traded for the datagram's (csum16_sub/csum16_add), completed
 * (0 becomes 0xffff). Each must be the datagram offered, dg[k], but for
 * the IPv4 id (and header checksum) of a datagram with DF, which gro does
 * not require to follow on.
 */
static void expect_resegmented(const struct cap *c, int hl, int n,
			       uint8_t **dg)
{
	static uint8_t d[65536];
	uint32_t gso = c->vh.gso_size, total = c->len - hl - 8, off = 0;
	uint16_t partial = (uint16_t)(c->data[hl + 6] << 8 | c->data[hl + 7]);
	uint16_t ulen_all = (uint16_t)(c->data[hl + 4] << 8 | c->data[hl + 5]);
	int k;

	cr_assert_eq(ulen_all, total + 8);
	for (k = 0; k < n; k++) {
		uint32_t pl = total - off < gso ? total - off : gso;
		size_t len = hl + 8 + pl;
		uint16_t part, sum;

		memcpy(d, c->data, hl + 8);
		memcpy(d + hl + 8, c->data + hl + 8 + off, pl);
		if (hl == 20) {
			w16(d + 2, len);
			w16(d + 4, (c->data[4] << 8 | c->data[5]) + k);
			w16(d + 10, 0);
			w16(d + 10, ~ref_fold(ref_sum(0, d, 20)));
		} else {
			w16(d + 4, len - 40);
		}
		w16(d + hl + 4, 8 + pl);
		/* ~(~partial - old length) + new length, one's complement */
		part = ref_fold((uint64_t)partial + (uint16_t)~ulen_all +
				8 + pl);
		w16(d + hl + 6, part);
		sum = ~ref_fold(ref_sum(0, d + hl, 8 + pl));
		w16(d + hl + 6, sum ? sum : 0xffff);
		if (hl == 20 && (d[6] & 0x40)) {
			cr_assert_eq(memcmp(d, dg[k], 4), 0);
			cr_assert_eq(memcmp(d + 6, dg[k] + 6, 4), 0);
			cr_assert_eq(memcmp(d + 12, dg[k] + 12, len - 12), 0,
				     "datagram %d not cut back as offered", k);
		} else {
			cr_assert_eq(memcmp(d, dg[k], len), 0,
				     "datagram %d not cut back as offered", k);
		}
		off += pl;
	}
	cr_assert_eq(off, total);
}

/*
 * caps[i] is the merge of n segments (datagrams), the first built from
 * *first, carrying plen payload bytes in all, the last one's flags `last`
 * (PSH/FIN kept); seg[] are the segments offered (payloads must be pointed
 * to, not copied).
 */
static void expect_merged(int i, const struct spec *first, int n,
			  uint32_t plen, uint8_t last, uint8_t **seg)
{
	static uint8_t ref[65536], done[65536];
	struct spec big = *first;
	const struct cap *c;
	int hl = first->family == 4 ? 20 : 40, thl = l4_hlen(first), k;
	int csum_off = first->udp ? 6 : 16;
	size_t len;
	uint16_t partial, sum;

	cr_assert_lt(i, ncaps, "no packet %d (%d written)", i, ncaps);
	c = &caps[i];
	big.plen = plen;
	big.flags |= last & (F_PSH | F_FIN);
	len = build(ref, &big);

	cr_assert_eq(c->vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	if (first->udp)
		cr_assert_eq(c->vh.gso_type, VIRTIO_NET_HDR_GSO_UDP_L4);
	else
		cr_assert_eq(c->vh.gso_type,
			     (first->family == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 :
						   VIRTIO_NET_HDR_GSO_TCPV6) |
			     (first->flags & F_CWR ?
				      VIRTIO_NET_HDR_GSO_ECN : 0));
	cr_assert_eq(c->vh.hdr_len, hl + thl);
	cr_assert_eq(c->vh.gso_size, first->plen);
	cr_assert_eq(c->vh.csum_start, hl);
	cr_assert_eq(c->vh.csum_offset, csum_off);
	cr_assert_eq(c->len, len, "packet %d: %zu bytes, not %zu", i, c->len,
		     len);

	/* no copy: the first packet, then the payloads in place */
	cr_assert_eq(c->iovcnt, n + 1);
	cr_assert_eq(c->base[1], seg[0]);
	for (k = 1; k < n; k++)
		cr_assert_eq(c->base[k + 1], seg[k] + hl + thl,
			     "segment %d not pointed to", k);

	/* the field holds the pseudo-header sum, not inverted */
	partial = (uint16_t)(c->data[hl + csum_off] << 8 |
			     c->data[hl + csum_off + 1]);
	cr_assert_eq(partial, ref_fold(ref_pseudo(ref, first->family,
						   len - hl)),
		     "partial 0x%04x", partial);

	/* completed as skb_checksum_help does, it is the big packet */
	memcpy(done, c->data, len);
	sum = ~ref_fold(ref_sum(0, done + hl, len - hl));
	if (first->udp && !sum)
		sum = 0xffff;
	w16(done + hl + csum_off, sum);
	cr_assert_eq(memcmp(done, ref, len), 0, "packet %d differs", i);
	cr_assert(ref_tcp_ok(done, len));

	if (first->udp) {
		/* the first datagram was rewritten in place: built again */
		static uint8_t d0[65536];
		uint8_t *dg[GRO_MAX_SEGS];

		build(d0, first);
		dg[0] = d0;
		for (k = 1; k < n; k++)
			dg[k] = seg[k];
		expect_resegmented(c, hl, n, dg);
	}
}

/* s advanced to the next segment */
static struct spec next(struct spec s)
{
	s.seq += s.plen;
	s.id++;
	return s;
}

/* ---- merging ---- */

static void merge_train(struct spec s)
{
	struct spec first = s;
	uint8_t *seg[4];
	int i;

	for (i = 0; i < 4; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	cr_assert_eq(ncaps, 0, "held until the burst ends");
	cr_assert_eq(tbl.nflows, 1);
	flush();
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, 4, 4 * first.plen, 0, seg);
	cr_assert_eq(tbl.st.merged, 3);
	cr_assert_eq(tbl.st.written, 1);
	cr_assert_eq(tbl.st.flushes, 0);
}

Test(gro, merge_ipv4)
{
	merge_train(spec4());
}

Test(gro, merge_ipv6)
{
	struct spec s = spec6();

	s.tos = 0xb8;
	merge_train(s);
}

Test(gro, merge_without_options)
{
	struct spec s = spec4();

	s.ts = false;
	s.plen = 1448;
	merge_train(s);
}

Test(gro, merge_odd_mss)
{
	/* odd payload lengths: the payload slices start at odd offsets of
	 * the checksummed data */
	struct spec s = spec6(), first = s;
	uint8_t *seg[3];
	int i;

	s.plen = 999;
	first = s;
	for (i = 0; i < 3; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	flush();
	expect_merged(0, &first, 3, 2997, 0, seg);
}

Test(gro, ip_id_may_change)
{
	struct spec s = spec4(), first = s;
	uint8_t *seg[3];

	seg[0] = add(&s);
	s.seq += s.plen;
	s.id = 7;
	seg[1] = add(&s);
	s.seq += s.plen;
	s.id = 0;
	seg[2] = add(&s);
	flush();
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, 3, 3000, 0, seg);
}

Test(gro, single_segment_alone)
{
	struct spec s = spec4();

	add(&s);
	flush();
	cr_assert_eq(ncaps, 1);
	expect_alone(0, &s);
	cr_assert_eq(tbl.st.written, 1);
	cr_assert_eq(tbl.st.merged, 0);
}

/* ---- flush rules, one by one ---- */

/*
 * Two segments are held, then x (changed from the third segment by the
 * caller) breaks the flow: the two are written merged before it, and x
 * starts a new flow that the fourth segment (same change) joins.
 */
static void breaks_flow(struct spec a, struct spec x)
{
	struct spec first = a, x2 = next(x);
	uint8_t *seg[2], *nseg[2];

	seg[0] = add(&a);
	a = next(a);
	seg[1] = add(&a);
	nseg[0] = add(&x);
	cr_assert_eq(ncaps, 1, "the flow is written before the segment");
	expect_merged(0, &first, 2, 2 * first.plen, 0, seg);
	cr_assert_eq(tbl.st.flushes, 1);
	nseg[1] = add(&x2);
	cr_assert_eq(ncaps, 1);
	flush();
	cr_assert_eq(ncaps, 2);
	expect_merged(1, &x, 2, 2 * x.plen, 0, nseg);
}

/* the third segment of a train */
static struct spec third(struct spec s)
{
	return next(next(s));
}

/*
 * Two segments are held, then x: the two are written merged, then x alone
 * at once.
 */
static void flushes_and_alone(struct spec a, struct spec x)
{
	struct spec first = a;
	uint8_t *seg[2];

	seg[0] = add(&a);
	a = next(a);
	seg[1] = add(&a);
	add(&x);
	cr_assert_eq(ncaps, 2);
	expect_merged(0, &first, 2, 2 * first.plen, 0, seg);
	expect_alone(1, &x);
	cr_assert_eq(tbl.nflows, 0);
	flush();
	cr_assert_eq(ncaps, 2);
}

/* PSH/FIN: merged as the last, then written at once */
static void merged_last(uint8_t flag)
{
	struct spec s = spec4(), first = s, after;
	uint8_t *seg[3];

	seg[0] = add(&s);
	s = next(s);
	seg[1] = add(&s);
	s = next(s);
	s.flags |= flag;
	seg[2] = add(&s);
	cr_assert_eq(ncaps, 1, "written at once");
	expect_merged(0, &first, 3, 3000, flag, seg);
	cr_assert_eq(tbl.nflows, 0);
	cr_assert_eq(tbl.st.flushes, 1);
	cr_assert_eq(tbl.st.merged, 2);
	/* the next segment is held anew */
	after = next(s);
	after.flags = F_ACK;
	add(&after);
	cr_assert_eq(ncaps, 1);
	flush();
	expect_alone(1, &after);
}

Test(gro, psh)
{
	merged_last(F_PSH);
}

Test(gro, fin)
{
	merged_last(F_FIN);
}

Test(gro, psh_fin)
{
	merged_last(F_PSH | F_FIN);
}

Test(gro, psh_without_flow_alone)
{
	struct spec s = spec4();

	s.flags |= F_PSH;
	add(&s);
	cr_assert_eq(ncaps, 1);
	expect_alone(0, &s);
	cr_assert_eq(tbl.nflows, 0);
}

Test(gro, rst)
{
	struct spec x = third(spec4());

	x.flags = F_RST | F_ACK;
	x.plen = 0;
	flushes_and_alone(spec4(), x);
}

Test(gro, urg)
{
	struct spec x = third(spec4());

	x.flags |= F_URG;
	flushes_and_alone(spec4(), x);
}

Test(gro, syn)
{
	struct spec x = third(spec4());

	x.flags = F_SYN;
	x.plen = 0;
	x.ack = 0;
	flushes_and_alone(spec4(), x);
}

Test(gro, fin_without_payload)
{
	struct spec x = third(spec4());

	x.flags |= F_FIN;
	x.plen = 0;
	flushes_and_alone(spec4(), x);
}

Test(gro, pure_ack_of_held_flow)
{
	struct spec x = third(spec6());

	x.plen = 0;
	flushes_and_alone(spec6(), x);
}

Test(gro, changed_timestamp)
{
	struct spec x = third(spec4());

	x.tsval++;
	breaks_flow(spec4(), x);
}

Test(gro, changed_options_length)
{
	struct spec x = third(spec4());

	x.ts = false;
	breaks_flow(spec4(), x);
}

Test(gro, changed_ttl)
{
	struct spec x = third(spec4());

	x.ttl = 63;
	breaks_flow(spec4(), x);
}

Test(gro, changed_tos)
{
	struct spec x = third(spec4());

	x.tos = 0x03; /* CE */
	breaks_flow(spec4(), x);
}

Test(gro, changed_df)
{
	struct spec x = third(spec4());

	x.df = false;
	breaks_flow(spec4(), x);
}

Test(gro, changed_hop_limit)
{
	struct spec x = third(spec6());

	x.ttl = 1;
	breaks_flow(spec6(), x);
}

Test(gro, changed_traffic_class)
{
	struct spec x = third(spec6());

	x.tos = 0x01;
	breaks_flow(spec6(), x);
}

Test(gro, changed_flow_label)
{
	struct spec x = third(spec6());

	x.flowlabel = 0x54321;
	breaks_flow(spec6(), x);
}

Test(gro, sequence_gap)
{
	struct spec x = third(spec4());

	x.seq += 1;
	breaks_flow(spec4(), x);
}

Test(gro, sequence_repeat)
{
	struct spec x = next(spec4()); /* the second segment again */

	breaks_flow(spec4(), x);
}

Test(gro, ack_change)
{
	struct spec x = third(spec4());

	x.ack += 1448;
	breaks_flow(spec4(), x);
}

Test(gro, window_change)
{
	struct spec x = third(spec4());

	x.win++;
	breaks_flow(spec4(), x);
}

Test(gro, ece_change)
{
	struct spec x = third(spec4());

	x.flags |= 0x40;
	breaks_flow(spec4(), x);
}

Test(gro, cwr_starts_a_flow_with_ecn)
{
	/* like tcp_gro_receive: CWR never joins; it may lead a flow, then
	 * the header says ECN (the kernel clears CWR past the first) */
	struct spec a = spec4(), x = third(a), x2;
	struct spec first = a;
	uint8_t *seg[2], *nseg[2];

	seg[0] = add(&a);
	a = next(a);
	seg[1] = add(&a);
	x.flags |= F_CWR;
	nseg[0] = add(&x);
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, 2, 2000, 0, seg);
	x2 = next(x);
	x2.flags = F_ACK;
	nseg[1] = add(&x2);
	flush();
	expect_merged(1, &x, 2, 2000, 0, nseg);
}

Test(gro, longer_segment)
{
	struct spec x = third(spec4());

	x.plen = 1200;
	breaks_flow(spec4(), x);
}

Test(gro, shorter_segment_is_last)
{
	struct spec s = spec6(), first = s, after;
	uint8_t *seg[3];

	seg[0] = add(&s);
	s = next(s);
	seg[1] = add(&s);
	s = next(s);
	s.plen = 500;
	seg[2] = add(&s);
	cr_assert_eq(ncaps, 1, "written at once");
	expect_merged(0, &first, 3, 2500, 0, seg);
	cr_assert_eq(caps[0].vh.gso_size, 1000);
	cr_assert_eq(tbl.nflows, 0);
	after = next(s);
	after.plen = 1000;
	add(&after);
	flush();
	expect_alone(1, &after);
}

Test(gro, ip_options)
{
	struct spec x = third(spec4());

	x.ipopt = true;
	flushes_and_alone(spec4(), x);
}

Test(gro, bad_checksum_not_merged)
{
	struct spec x = third(spec4());

	x.badsum = true;
	flushes_and_alone(spec4(), x);
}

Test(gro, bad_checksum_never_held)
{
	struct spec s = spec4();

	s.badsum = true;
	add(&s);
	cr_assert_eq(ncaps, 1);
	expect_alone(0, &s);
	cr_assert_eq(tbl.nflows, 0);
}

/* 46 segments of 1400 bytes, then one of last bytes: exactly 65535 merge */
static void size_limit_exact(struct spec s, size_t last, size_t hdr)
{
	struct spec first;
	uint8_t *seg[47];
	int i;

	s.plen = 1400;
	first = s;
	for (i = 0; i < 46; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	s.plen = last;
	seg[46] = add(&s);
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, 47, 65535 - hdr, 0, seg);
	cr_assert_eq(caps[0].len, 65535);
}

/* the same with a last one of `last` bytes that would make 65536: the 46
 * are written first, it starts a flow (held, written alone by the flush) */
static void size_limit_exceeded(struct spec s, size_t last)
{
	struct spec first, x;
	uint8_t *seg[46];
	int i;

	s.plen = 1400;
	first = s;
	for (i = 0; i < 46; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	x = s;
	x.plen = last;
	add(&x);
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, 46, 46 * 1400, 0, seg);
	cr_assert_eq(tbl.nflows, 1);
	flush();
	expect_alone(1, &x);
}

Test(gro, size_limit_65535)
{
	/* 52 header bytes + 46 * 1400 = 64452; 1083 more is exactly 65535 */
	size_limit_exact(spec4(), 1083, 52);
}

Test(gro, size_limit_exceeded)
{
	size_limit_exceeded(spec4(), 1084);
}

Test(gro, size_limit_full_segments)
{
	/* 1400-byte segments: 46 fit, the 47th starts the next flow */
	struct spec s = spec4(), first, second;
	uint8_t *seg[46], *seg2[2];
	int i;

	s.plen = 1400;
	first = s;
	for (i = 0; i < 46; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	second = s;
	seg2[0] = add(&s);
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, 46, 46 * 1400, 0, seg);
	s = next(s);
	seg2[1] = add(&s);
	flush();
	expect_merged(1, &second, 2, 2800, 0, seg2);
}

Test(gro, max_segs)
{
	struct spec s = spec6(), first, last;
	uint8_t *seg[GRO_MAX_SEGS];
	int i;

	s.plen = 100;
	first = s;
	for (i = 0; i < GRO_MAX_SEGS; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	cr_assert_eq(ncaps, 0);
	last = s;
	add(&last);
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, GRO_MAX_SEGS, GRO_MAX_SEGS * 100, 0, seg);
	flush();
	expect_alone(1, &last);
	cr_assert_eq(tbl.st.merged, GRO_MAX_SEGS - 1);
}

Test(gro, interleaved_flows)
{
	struct spec a = spec4(), b = spec4(), fa, fb;
	uint8_t *sa[3], *sb[3];
	int i;

	b.sport++;
	b.seq = 777777;
	fa = a;
	fb = b;
	for (i = 0; i < 3; i++) {
		sa[i] = add(&a);
		sb[i] = add(&b);
		a = next(a);
		b = next(b);
	}
	cr_assert_eq(ncaps, 0);
	cr_assert_eq(tbl.nflows, 2);
	flush();
	cr_assert_eq(ncaps, 2);
	expect_merged(0, &fa, 3, 3000, 0, sa);
	expect_merged(1, &fb, 3, 3000, 0, sb);
}

Test(gro, interleaved_families)
{
	/* same ports and "addresses" bytes, IPv4 and IPv6: two flows */
	struct spec a = spec4(), b = spec6(), fa = a, fb = b;
	uint8_t *sa[2], *sb[2];

	sb[0] = add(&b);
	sa[0] = add(&a);
	b = next(b);
	a = next(a);
	sb[1] = add(&b);
	sa[1] = add(&a);
	flush();
	cr_assert_eq(ncaps, 2);
	expect_merged(0, &fb, 2, 2000, 0, sb);
	expect_merged(1, &fa, 2, 2000, 0, sa);
}

Test(gro, table_full_oldest_flushed)
{
	struct spec f[GRO_MAX_FLOWS + 1], first[GRO_MAX_FLOWS + 1];
	uint8_t *seg[GRO_MAX_FLOWS + 1][2];
	int i;

	for (i = 0; i <= GRO_MAX_FLOWS; i++) {
		f[i] = spec4();
		f[i].sport += i;
		f[i].seq = 100000 * i;
		first[i] = f[i];
	}
	for (i = 0; i < GRO_MAX_FLOWS; i++) {
		seg[i][0] = add(&f[i]);
		f[i] = next(f[i]);
	}
	for (i = 0; i < GRO_MAX_FLOWS; i++) {
		seg[i][1] = add(&f[i]);
		f[i] = next(f[i]);
	}
	cr_assert_eq(ncaps, 0);
	cr_assert_eq(tbl.nflows, GRO_MAX_FLOWS);
	add(&f[GRO_MAX_FLOWS]);
	cr_assert_eq(ncaps, 1, "the oldest flow makes room");
	expect_merged(0, &first[0], 2, 2000, 0, seg[0]);
	cr_assert_eq(tbl.nflows, GRO_MAX_FLOWS);
	flush();
	cr_assert_eq(ncaps, GRO_MAX_FLOWS + 1);
	for (i = 1; i < GRO_MAX_FLOWS; i++)
		expect_merged(i, &first[i], 2, 2000, 0, seg[i]);
	expect_alone(GRO_MAX_FLOWS, &first[GRO_MAX_FLOWS]);
}

Test(gro, middle_flow_flushed_keeps_order)
{
	struct spec a = spec4(), b = spec4(), c = spec4(), fa, fb, fc, x;
	uint8_t *sa[2], *sb[2], *sc[2];
	int i;

	b.sport = 1;
	c.sport = 2;
	fa = a;
	fb = b;
	fc = c;
	for (i = 0; i < 2; i++) {
		sa[i] = add(&a);
		sb[i] = add(&b);
		sc[i] = add(&c);
		a = next(a);
		b = next(b);
		c = next(c);
	}
	x = b;
	x.flags |= F_RST;
	x.plen = 0;
	add(&x);
	cr_assert_eq(ncaps, 2);
	expect_merged(0, &fb, 2, 2000, 0, sb);
	expect_alone(1, &x);
	flush();
	cr_assert_eq(ncaps, 4);
	expect_merged(2, &fa, 2, 2000, 0, sa);
	expect_merged(3, &fc, 2, 2000, 0, sc);
}

Test(gro, non_tcp_between)
{
	/* a UDP datagram and an ICMPv6 echo between the same hosts: written
	 * at once, the TCP flows stay held */
	struct spec a = spec4(), b = spec6(), fa = a, fb = b;
	uint8_t *sa[2], *sb[2], *udp, *icmp;

	sa[0] = add(&a);
	sb[0] = add(&b);
	udp = mk(&a);
	udp[9] = 17;
	cr_assert_eq(gro_add(&tbl, udp, pkl[npk - 1], capture, NULL), 0);
	icmp = mk(&b);
	icmp[6] = 58;
	cr_assert_eq(gro_add(&tbl, icmp, pkl[npk - 1], capture, NULL), 0);
	cr_assert_eq(ncaps, 2);
	cr_assert_eq(caps[0].base[1], udp);
	cr_assert_eq(caps[1].base[1], icmp);
	cr_assert_eq(tbl.nflows, 2);
	a = next(a);
	b = next(b);
	sa[1] = add(&a);
	sb[1] = add(&b);
	flush();
	cr_assert_eq(ncaps, 4);
	expect_merged(2, &fa, 2, 2000, 0, sa);
	expect_merged(3, &fb, 2, 2000, 0, sb);
}

Test(gro, unreadable_tcp_flushes_same_hosts)
{
	/* an IPv4 TCP fragment and an IPv6 TCP packet behind an extension
	 * header may belong to a held flow: the flows between those hosts
	 * are written first; a flow to another host stays held */
	struct spec a = spec4(), o = spec4(), b = spec6(), fo;
	uint8_t *frag, *ext, *so[2];

	o.dst_net = 7;
	fo = o;
	add(&a);
	so[0] = add(&o);
	frag = mk(&a);
	frag[7] = 0x10; /* fragment offset 16 */
	cr_assert_eq(gro_add(&tbl, frag, pkl[npk - 1], capture, NULL), 0);
	cr_assert_eq(ncaps, 2);
	expect_alone(0, &a);
	cr_assert_eq(caps[1].base[1], frag);
	add(&b);
	ext = mk(&b);
	ext[6] = 60; /* destination options */
	cr_assert_eq(gro_add(&tbl, ext, pkl[npk - 1], capture, NULL), 0);
	cr_assert_eq(ncaps, 4);
	expect_alone(2, &b);
	cr_assert_eq(caps[3].base[1], ext);
	o = next(o);
	so[1] = add(&o);
	flush();
	cr_assert_eq(ncaps, 5);
	expect_merged(4, &fo, 2, 2000, 0, so);
}

Test(gro, flush_at_burst_end)
{
	struct spec a = spec4(), b = spec6(), c = spec4();

	c.sport = 9;
	add(&a);
	add(&b);
	a = next(a);
	add(&a);
	add(&c);
	cr_assert_eq(ncaps, 0);
	cr_assert_eq(tbl.nflows, 3);
	flush();
	cr_assert_eq(ncaps, 3);
	cr_assert_eq(caps[0].vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	expect_alone(1, &b);
	expect_alone(2, &c);
	flush();
	cr_assert_eq(ncaps, 3, "nothing is written twice");
	cr_assert_eq(tbl.st.written, 3);
	cr_assert_eq(tbl.st.merged, 1);
	cr_assert_eq(tbl.st.flushes, 0);
}

Test(gro, disabled)
{
	struct spec s = spec4(), t[3];
	int i;

	gro_init(&tbl, false);
	for (i = 0; i < 3; i++) {
		t[i] = s;
		add(&s);
		cr_assert_eq(ncaps, i + 1, "written at once");
		s = next(s);
	}
	flush();
	cr_assert_eq(ncaps, 3);
	for (i = 0; i < 3; i++)
		expect_alone(i, &t[i]);
	cr_assert_eq(tbl.st.merged, 0);
	cr_assert_eq(tbl.st.written, 3);
}

/* ---- malformed input: written as is, at once ---- */

static void offer_raw(const uint8_t *src, size_t len)
{
	/* exact-size copy: valgrind sees any read past len */
	uint8_t *p = malloc(len ? len : 1);

	cr_assert_not_null(p);
	memcpy(p, src, len);
	cr_assert_lt(npk, MAX_PKTS);
	pk[npk] = p;
	pkl[npk++] = len;
	cr_assert_eq(gro_add(&tbl, p, len, capture, NULL), 0);
}

static void expect_raw(int i, const uint8_t *src, size_t len)
{
	struct virtio_net_hdr zero;

	memset(&zero, 0, sizeof(zero));
	cr_assert_lt(i, ncaps);
	cr_assert_eq(memcmp(&caps[i].vh, &zero, sizeof(zero)), 0);
	cr_assert_eq(caps[i].len, len);
	cr_assert_eq(memcmp(caps[i].data, src, len), 0);
}

static void truncations(const struct spec *s)
{
	uint8_t ref[2048];
	size_t len = build(ref, s), l;

	for (l = 0; l < len; l++) {
		ncaps = 0;
		offer_raw(ref, l);
		cr_assert_eq(ncaps, 1, "length %zu held", l);
		expect_raw(0, ref, l);
		cr_assert_eq(tbl.nflows, 0);
		free(pk[--npk]);
	}
}

Test(gro, truncated_ipv4)
{
	struct spec s = spec4();

	s.plen = 100;
	truncations(&s);
}

Test(gro, truncated_ipv6)
{
	struct spec s = spec6();

	s.plen = 100;
	truncations(&s);
}

Test(gro, malformed_headers)
{
	struct spec s = spec4(), s6 = spec6();
	uint8_t ref[2048], bad[2048];
	size_t len = build(ref, &s), len6;
	int n = 0;

	memcpy(bad, ref, len);
	bad[0] = 0x44; /* ihl 4 */
	offer_raw(bad, len);
	expect_raw(n++, bad, len);

	memcpy(bad, ref, len);
	bad[0] = 0x4f; /* ihl 15 (60 bytes) into the TCP header */
	offer_raw(bad, len);
	expect_raw(n++, bad, len);

	memcpy(bad, ref, len);
	w16(bad + 2, 10); /* total length below the header */
	offer_raw(bad, len);
	expect_raw(n++, bad, len);

	memcpy(bad, ref, len);
	w16(bad + 2, len + 1); /* total length past the buffer */
	offer_raw(bad, len);
	expect_raw(n++, bad, len);

	memcpy(bad, ref, len);
	w16(bad + 2, 0);
	offer_raw(bad, len);
	expect_raw(n++, bad, len);

	memcpy(bad, ref, len);
	bad[20 + 12] = 0x40; /* doff 4 */
	offer_raw(bad, len);
	expect_raw(n++, bad, len);

	memcpy(bad, ref, 60);
	w16(bad + 2, 60);
	bad[20 + 12] = 0xf0; /* doff 15 (60 bytes): past the IP length */
	offer_raw(bad, 60);
	expect_raw(n++, bad, 60);

	memcpy(bad, ref, len);
	bad[0] = 0x55; /* version 5 */
	offer_raw(bad, len);
	expect_raw(n++, bad, len);

	len6 = build(ref, &s6);
	memcpy(bad, ref, len6);
	w16(bad + 4, len6 - 39); /* payload length past the buffer */
	offer_raw(bad, len6);
	expect_raw(n++, bad, len6);

	memcpy(bad, ref, len6);
	w16(bad + 4, 19); /* a TCP header cut short */
	offer_raw(bad, len6);
	expect_raw(n++, bad, len6);

	cr_assert_eq(ncaps, n);
	cr_assert_eq(tbl.nflows, 0);
}

Test(gro, trailing_bytes_alone)
{
	/* an IP length below the buffer length: never merged, written whole */
	struct spec s = spec4();
	uint8_t ref[2048];
	size_t len = build(ref, &s);

	ref[len] = 0xee;
	offer_raw(ref, len + 1);
	cr_assert_eq(ncaps, 1);
	expect_raw(0, ref, len + 1);
}

static int count_out(void *arg, const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	int i;

	for (i = 1; i < iovcnt; i++)
		n += iov[i].iov_len;
	cr_assert_leq(n, 65535 + 40);
	(*(int *)arg)++;
	return 0;
}

Test(gro, random_bytes)
{
	/* every packet offered is either written or merged into one */
	static uint8_t *keep[20000];
	uint8_t seed[2048];
	int i, written = 0, n = 0;

	srand(1);
	for (i = 0; i < (int)sizeof(seed); i++)
		seed[i] = rand();
	build(seed, &(struct spec){ .family = 4, .plen = 40 });
	for (i = 0; i < 20000; i++) {
		size_t len = rand() % 120, k;
		uint8_t *p = malloc(len ? len : 1);

		cr_assert_not_null(p);
		memcpy(p, seed, len);
		for (k = 0; k < len; k++)
			if (rand() % 8 == 0)
				p[k] = rand();
		if (len && rand() % 2)
			p[0] = (p[0] & 0x0f) | (rand() % 2 ? 0x40 : 0x60);
		if (len > 6 && p[0] >> 4 == 6)
			p[6] = 6;
		keep[n++] = p;
		cr_assert_eq(gro_add(&tbl, p, len, count_out, &written), 0);
		if (i % 50 == 49)
			cr_assert_eq(gro_flush(&tbl, count_out, &written), 0);
	}
	cr_assert_eq(gro_flush(&tbl, count_out, &written), 0);
	cr_assert_eq(tbl.st.written + tbl.st.merged, 20000);
	cr_assert_eq((uint64_t)written, tbl.st.written);
	for (i = 0; i < n; i++)
		free(keep[i]);
}

/* ---- write errors ---- */

Test(gro, error_flushing_held_flow)
{
	/* the flow's write fails: the error is returned and the packet that
	 * caused it is written alone, never held */
	struct spec a = spec4(), x;
	uint8_t *p;

	add(&a);
	x = next(a);
	x.ttl = 1;
	fail_at = 0;
	p = mk(&x);
	cr_assert_eq(gro_add(&tbl, p, pkl[npk - 1], capture, NULL), -EIO);
	cr_assert_eq(tbl.nflows, 0);
	cr_assert_eq(ncaps, 1);
	expect_alone(0, &x);
}

Test(gro, error_in_flush)
{
	struct spec a = spec4(), b = spec4();

	b.sport = 1;
	add(&a);
	add(&b);
	fail_at = 0;
	cr_assert_eq(gro_flush(&tbl, capture, NULL), -EIO);
	cr_assert_eq(tbl.nflows, 0);
	cr_assert_eq(ncaps, 1);
	expect_alone(0, &b);
	cr_assert_eq(tbl.st.written, 1);
}

Test(gro, error_writing_alone)
{
	struct spec a = spec4();
	uint8_t *p;

	a.flags |= F_PSH;
	fail_at = 0;
	p = mk(&a);
	cr_assert_eq(gro_add(&tbl, p, pkl[npk - 1], capture, NULL), -EIO);
	cr_assert_eq(tbl.st.written, 0);
}

/* ---- UDP ---- */

Test(gro, udp_merge_ipv4)
{
	merge_train(spec4u());
}

Test(gro, udp_merge_ipv6)
{
	struct spec s = spec6u();

	s.tos = 0xb8;
	merge_train(s);
}

Test(gro, udp_merge_odd_size)
{
	/* odd datagram payloads: the slices start at odd offsets of the
	 * checksummed data */
	struct spec s = spec6u(), first;
	uint8_t *seg[3];
	int i;

	s.plen = 999;
	first = s;
	for (i = 0; i < 3; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	flush();
	expect_merged(0, &first, 3, 2997, 0, seg);
}

Test(gro, udp_merge_without_df)
{
	/* consecutive ids, as GSO will number them again */
	struct spec s = spec4u();

	s.df = false;
	s.id = 0xfffe; /* and they wrap */
	merge_train(s);
}

Test(gro, udp_df_ids_may_change)
{
	struct spec s = spec4u(), first = s;
	uint8_t *seg[3];

	seg[0] = add(&s);
	s.seq += s.plen;
	s.id = 7;
	seg[1] = add(&s);
	s.seq += s.plen;
	s.id = 0;
	seg[2] = add(&s);
	flush();
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, 3, 3000, 0, seg);
}

Test(gro, udp_without_df_id_gap)
{
	struct spec a = spec4u(), x;

	a.df = false;
	x = third(a);
	x.id += 5;
	breaks_flow(a, x);
}

Test(gro, udp_single_datagram_alone)
{
	struct spec s = spec6u();

	add(&s);
	flush();
	cr_assert_eq(ncaps, 1);
	expect_alone(0, &s);
	cr_assert_eq(tbl.st.merged, 0);
}

Test(gro, udp_shorter_is_last)
{
	struct spec s = spec4u(), first = s, after;
	uint8_t *seg[4];
	int i;

	for (i = 0; i < 3; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	s.plen = 500;
	seg[3] = add(&s);
	cr_assert_eq(ncaps, 1, "written at once");
	expect_merged(0, &first, 4, 3500, 0, seg);
	cr_assert_eq(caps[0].vh.gso_size, 1000);
	cr_assert_eq(tbl.nflows, 0);
	cr_assert_eq(tbl.st.flushes, 1);
	cr_assert_eq(tbl.st.merged, 3);
	/* the next datagram is held anew */
	after = next(s);
	after.plen = 1000;
	add(&after);
	cr_assert_eq(ncaps, 1);
	flush();
	expect_alone(1, &after);
}

Test(gro, udp_shorter_second)
{
	struct spec s = spec6u(), first = s;
	uint8_t *seg[2];

	seg[0] = add(&s);
	s = next(s);
	s.plen = 1;
	seg[1] = add(&s);
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, 2, 1001, 0, seg);
}

Test(gro, udp_longer_datagram)
{
	struct spec x = third(spec4u());

	x.plen = 1200;
	breaks_flow(spec4u(), x);
}

Test(gro, udp_changed_ttl)
{
	struct spec x = third(spec4u());

	x.ttl = 63;
	breaks_flow(spec4u(), x);
}

Test(gro, udp_changed_tos)
{
	struct spec x = third(spec4u());

	x.tos = 0x03;
	breaks_flow(spec4u(), x);
}

Test(gro, udp_changed_df)
{
	/* x without DF: its id is the next one (id rule aside) */
	struct spec x = third(spec4u());

	x.df = false;
	breaks_flow(spec4u(), x);
}

Test(gro, udp_changed_hop_limit)
{
	struct spec x = third(spec6u());

	x.ttl = 1;
	breaks_flow(spec6u(), x);
}

Test(gro, udp_changed_traffic_class)
{
	struct spec x = third(spec6u());

	x.tos = 0x01;
	breaks_flow(spec6u(), x);
}

Test(gro, udp_changed_flow_label)
{
	struct spec x = third(spec6u());

	x.flowlabel = 1;
	breaks_flow(spec6u(), x);
}

Test(gro, udp_ip_options)
{
	struct spec x = third(spec4u());

	x.ipopt = true;
	flushes_and_alone(spec4u(), x);
}

Test(gro, udp_zero_payload)
{
	struct spec x = third(spec4u());

	x.plen = 0;
	flushes_and_alone(spec4u(), x);
}

Test(gro, udp_zero_checksum_not_merged)
{
	/* no checksum: each written alone at once, never held */
	struct spec s = spec4u(), t[3];
	int i;

	s.nosum = true;
	for (i = 0; i < 3; i++) {
		t[i] = s;
		add(&s);
		cr_assert_eq(ncaps, i + 1, "written at once");
		s = next(s);
	}
	cr_assert_eq(tbl.nflows, 0);
	for (i = 0; i < 3; i++)
		expect_alone(i, &t[i]);
	cr_assert_eq(tbl.st.merged, 0);
}

Test(gro, udp_zero_checksum_flushes)
{
	struct spec x = third(spec4u());

	x.nosum = true;
	flushes_and_alone(spec4u(), x);
}

Test(gro, udp_zero_checksum_that_would_verify)
{
	/* a datagram whose checksum would be 0 (sent as 0xffff) verifies
	 * with the field 0 too: 0 still means none, never merged */
	struct spec s = spec4u();
	uint8_t raw[2][2048];
	size_t len = 0;
	int k;

	s.nosum = true;
	for (k = 0; k < 2; k++) {
		uint16_t sum, w;

		len = build(raw[k], &s);
		sum = ref_fold(ref_pseudo(raw[k], 4, len - 20) +
			       ref_sum(0, raw[k] + 20, len - 20));
		w = raw[k][28] << 8 | raw[k][29];
		w16(raw[k] + 28, ref_fold((uint64_t)w + (uint16_t)~sum));
		cr_assert(ref_tcp_ok(raw[k], len));
		s = next(s);
	}
	s = spec4u();
	add(&s);
	offer_raw(raw[0], len);
	offer_raw(raw[1], len);
	cr_assert_eq(ncaps, 3);
	expect_alone(0, &s);
	expect_raw(1, raw[0], len);
	expect_raw(2, raw[1], len);
	cr_assert_eq(tbl.nflows, 0);
}

Test(gro, udp_zero_checksum_ipv6)
{
	/* invalid in IPv6: left to the kernel, alone */
	struct spec x = third(spec6u());

	x.nosum = true;
	flushes_and_alone(spec6u(), x);
}

Test(gro, udp_bad_checksum_not_merged)
{
	struct spec x = third(spec6u());

	x.badsum = true;
	flushes_and_alone(spec6u(), x);
}

Test(gro, udp_bad_checksum_never_held)
{
	struct spec s = spec4u();

	s.badsum = true;
	add(&s);
	cr_assert_eq(ncaps, 1);
	expect_alone(0, &s);
	cr_assert_eq(tbl.nflows, 0);
}

Test(gro, udp_bad_ip_header_checksum)
{
	struct spec x = third(spec4u());

	x.badipsum = true;
	flushes_and_alone(spec4u(), x);
}

Test(gro, tcp_bad_ip_header_checksum)
{
	struct spec x = third(spec4());

	x.badipsum = true;
	flushes_and_alone(spec4(), x);
}

Test(gro, udp_size_limit_65535)
{
	/* 28 header bytes + 46 * 1400 = 64428; 1107 more is exactly 65535 */
	size_limit_exact(spec4u(), 1107, 28);
}

Test(gro, udp_size_limit_exceeded)
{
	/* IPv6: 40 + 8 + 46 * 1400 = 64448; 1088 more would be 65536 */
	size_limit_exceeded(spec6u(), 1088);
}

Test(gro, udp_max_segs)
{
	struct spec s = spec4u(), first, last;
	uint8_t *seg[GRO_MAX_SEGS];
	int i;

	s.plen = 100;
	first = s;
	for (i = 0; i < GRO_MAX_SEGS; i++) {
		seg[i] = add(&s);
		s = next(s);
	}
	cr_assert_eq(ncaps, 0);
	last = s;
	add(&last);
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &first, GRO_MAX_SEGS, GRO_MAX_SEGS * 100, 0, seg);
	flush();
	expect_alone(1, &last);
	cr_assert_eq(tbl.st.merged, GRO_MAX_SEGS - 1);
}

Test(gro, udp_interleaved_with_tcp)
{
	/* TCP and UDP between the same addresses and ports: two flows */
	struct spec a = spec4(), b = spec4(), c = spec6u(), fa, fb, fc;
	uint8_t *sa[3], *sb[3], *sc[3];
	int i;

	b.udp = true;
	fa = a;
	fb = b;
	fc = c;
	for (i = 0; i < 3; i++) {
		sb[i] = add(&b);
		sa[i] = add(&a);
		sc[i] = add(&c);
		a = next(a);
		b = next(b);
		c = next(c);
	}
	cr_assert_eq(ncaps, 0);
	cr_assert_eq(tbl.nflows, 3);
	flush();
	cr_assert_eq(ncaps, 3);
	expect_merged(0, &fb, 3, 3000, 0, sb);
	expect_merged(1, &fa, 3, 3000, 0, sa);
	expect_merged(2, &fc, 3, 3000, 0, sc);
	cr_assert_eq(tbl.st.merged, 6);
	cr_assert_eq(tbl.st.written, 3);
}

Test(gro, udp_interleaved_flows)
{
	struct spec a = spec4u(), b = spec4u(), fa, fb, x;
	uint8_t *sa[3], *sb[2];
	int i;

	b.dport++;
	b.seq = 999999;
	fa = a;
	fb = b;
	for (i = 0; i < 2; i++) {
		sa[i] = add(&a);
		sb[i] = add(&b);
		a = next(a);
		b = next(b);
	}
	/* a's last, shorter: written at once; b stays held */
	a.plen = 10;
	sa[2] = add(&a);
	cr_assert_eq(ncaps, 1);
	expect_merged(0, &fa, 3, 2010, 0, sa);
	cr_assert_eq(tbl.nflows, 1);
	x = next(a);
	x.plen = 1000;
	add(&x);
	flush();
	cr_assert_eq(ncaps, 3);
	expect_merged(1, &fb, 2, 2000, 0, sb);
	expect_alone(2, &x);
}

Test(gro, udp_fragment_flushes_udp_of_same_hosts)
{
	/* an IPv4 UDP fragment between held hosts: the UDP flows between
	 * them are written first; TCP between them and UDP to another host
	 * stay held */
	struct spec u = spec4u(), t = spec4(), o = spec4u(), fu, ft, fo;
	uint8_t *su[2], *st[2], *so[2], *frag;

	o.dst_net = 7;
	fu = u;
	ft = t;
	fo = o;
	su[0] = add(&u);
	st[0] = add(&t);
	so[0] = add(&o);
	u = next(u);
	t = next(t);
	o = next(o);
	su[1] = add(&u);
	st[1] = add(&t);
	so[1] = add(&o);
	frag = mk(&u);
	frag[6] |= 0x20; /* more fragments */
	cr_assert_eq(gro_add(&tbl, frag, pkl[npk - 1], capture, NULL), 0);
	cr_assert_eq(ncaps, 2);
	expect_merged(0, &fu, 2, 2000, 0, su);
	cr_assert_eq(caps[1].base[1], frag);
	cr_assert_eq(tbl.nflows, 2);
	flush();
	cr_assert_eq(ncaps, 4);
	expect_merged(2, &ft, 2, 2000, 0, st);
	expect_merged(3, &fo, 2, 2000, 0, so);
}

Test(gro, udp_ipv6_ext_header_flushes_same_hosts)
{
	/* behind an extension header the protocol is unknown: TCP and UDP
	 * flows between the hosts are written first */
	struct spec u = spec6u(), t = spec6(), fu = u, ft = t;
	uint8_t *su[2], *st[2], *ext;

	st[0] = add(&t);
	su[0] = add(&u);
	t = next(t);
	u = next(u);
	st[1] = add(&t);
	su[1] = add(&u);
	ext = mk(&u);
	ext[6] = 0; /* hop-by-hop */
	cr_assert_eq(gro_add(&tbl, ext, pkl[npk - 1], capture, NULL), 0);
	cr_assert_eq(ncaps, 3);
	expect_merged(0, &ft, 2, 2000, 0, st);
	expect_merged(1, &fu, 2, 2000, 0, su);
	cr_assert_eq(caps[2].base[1], ext);
	cr_assert_eq(tbl.nflows, 0);
}

/* sets the UDP checksum of the IP packet b (header length hl) as if its
 * UDP length were the IP payload length */
static void fix_udp_sum(uint8_t *b, int hl, size_t len)
{
	w16(b + hl + 6, 0);
	w16(b + hl + 6, ~ref_fold(ref_pseudo(b, b[0] >> 4, len - hl) +
				  ref_sum(0, b + hl, len - hl)));
}

Test(gro, udp_malformed)
{
	/* each after a held datagram of the same flow: the flow is written,
	 * then the packet as is */
	struct spec s;
	uint8_t bad[2048];
	size_t len;
	int n = 0, k;

	for (k = 0; k < 6; k++) {
		s = k < 4 ? spec4u() : spec6u();
		add(&s);
		len = build(bad, &s);
		switch (k) {
		case 0: /* UDP length below its header */
			w16(bad + 24, 7);
			break;
		case 1: /* UDP length past the IP payload */
			w16(bad + 24, len - 20 + 1);
			break;
		case 2: /* UDP length below the IP payload: trailing bytes */
			w16(bad + 24, len - 20 - 1);
			break;
		case 3: /* an IP payload shorter than a UDP header */
			w16(bad + 2, 27);
			bad[10] = bad[11] = 0;
			w16(bad + 10, ~ref_fold(ref_sum(0, bad, 20)));
			break;
		case 4: /* IPv6: UDP length 0 (jumbogram) */
			w16(bad + 44, 0);
			break;
		case 5: /* IPv6: a payload length shorter than a UDP header */
			w16(bad + 4, 7);
			break;
		}
		/* a checksum that holds over the IP payload */
		if (k != 3 && k != 5)
			fix_udp_sum(bad, k < 4 ? 20 : 40, len);
		offer_raw(bad, len);
		cr_assert_eq(ncaps, n + 2, "case %d", k);
		expect_alone(n, &s);
		expect_raw(n + 1, bad, len);
		n += 2;
		cr_assert_eq(tbl.nflows, 0, "case %d", k);
	}
}

Test(gro, udp_truncated_ipv4)
{
	struct spec s = spec4u();

	s.plen = 100;
	truncations(&s);
}

Test(gro, udp_truncated_ipv6)
{
	struct spec s = spec6u();

	s.plen = 100;
	truncations(&s);
}

Test(gro, udp_disabled)
{
	struct spec s = spec4u(), t[3];
	int i;

	gro_init(&tbl, false);
	for (i = 0; i < 3; i++) {
		t[i] = s;
		add(&s);
		cr_assert_eq(ncaps, i + 1, "written at once");
		s = next(s);
	}
	for (i = 0; i < 3; i++)
		expect_alone(i, &t[i]);
}

Test(gro, udp_random_bytes)
{
	/* every packet offered is either written or merged into one */
	static uint8_t *keep[20000];
	uint8_t seed[2048];
	int i, written = 0, n = 0;

	srand(2);
	for (i = 0; i < (int)sizeof(seed); i++)
		seed[i] = rand();
	build(seed, &(struct spec){ .family = 4, .udp = true, .plen = 40 });
	for (i = 0; i < 20000; i++) {
		size_t len = rand() % 120, k;
		uint8_t *p = malloc(len ? len : 1);

		cr_assert_not_null(p);
		memcpy(p, seed, len);
		for (k = 0; k < len; k++)
			if (rand() % 8 == 0)
				p[k] = rand();
		if (len && rand() % 2)
			p[0] = (p[0] & 0x0f) | (rand() % 2 ? 0x40 : 0x60);
		if (len > 6 && p[0] >> 4 == 6)
			p[6] = rand() % 2 ? 17 : 6;
		if (len > 9 && p[0] >> 4 == 4 && rand() % 2)
			p[9] = 17;
		keep[n++] = p;
		cr_assert_eq(gro_add(&tbl, p, len, count_out, &written), 0);
		if (i % 50 == 49)
			cr_assert_eq(gro_flush(&tbl, count_out, &written), 0);
	}
	cr_assert_eq(gro_flush(&tbl, count_out, &written), 0);
	cr_assert_eq(tbl.st.written + tbl.st.merged, 20000);
	cr_assert_eq((uint64_t)written, tbl.st.written);
	for (i = 0; i < n; i++)
		free(keep[i]);
}

Test(gro, udp_random_trains)
{
	/* valid datagrams of a few flows and sizes, shuffled: whatever gro
	 * merges, cut back as the kernel does, gives the datagrams offered,
	 * in each flow's order */
	static struct spec sent[4][400];
	int nsent[4] = { 0 }, got[4] = { 0 }, i, c, f;

	srand(3);
	for (i = 0; i < 400; i++) {
		static struct spec cur[4];
		struct spec s;

		f = rand() % 4;
		if (!nsent[f]) {
			cur[f] = f & 1 ? spec6u() : spec4u();
			cur[f].sport += f;
			cur[f].df = f != 2;
			cur[f].seq = 100000 * f;
		}
		s = cur[f];
		s.plen = rand() % 3 ? 300 : 1 + rand() % 400;
		if (rand() % 10 == 0)
			s.ttl--;
		add(&s);
		sent[f][nsent[f]++] = s;
		cur[f] = next(s);
		if (rand() % 30 == 0)
			flush();
		cr_assert_lt(ncaps, CAP_MAX - GRO_MAX_FLOWS);
		/* check and forget what was written so far */
		for (c = 0; c < ncaps; c++) {
			const struct cap *cp = &caps[c];
			int fam = cp->data[0] >> 4, hl = fam == 4 ? 20 : 40;
			int sp = cp->data[hl] << 8 | cp->data[hl + 1];
			uint8_t *dg[GRO_MAX_SEGS];
			int k, segs = 1;

			f = sp - spec4u().sport;
			cr_assert(f >= 0 && f < 4);
			if (cp->vh.gso_type == VIRTIO_NET_HDR_GSO_UDP_L4)
				segs = cp->iovcnt - 1;
			cr_assert_leq(got[f] + segs, nsent[f]);
			if (segs == 1) {
				expect_alone(c, &sent[f][got[f]]);
			} else {
				static uint8_t store[GRO_MAX_SEGS][2048];

				for (k = 0; k < segs; k++) {
					build(store[k], &sent[f][got[f] + k]);
					dg[k] = store[k];
				}
				expect_resegmented(cp, hl, segs, dg);
			}
			got[f] += segs;
		}
		ncaps = 0;
	}
	flush();
	for (c = 0; c < ncaps; c++) {
		const struct cap *cp = &caps[c];
		int hl = (cp->data[0] >> 4) == 4 ? 20 : 40;

		f = (cp->data[hl] << 8 | cp->data[hl + 1]) - spec4u().sport;
		got[f] += cp->vh.gso_type == VIRTIO_NET_HDR_GSO_UDP_L4 ?
				  cp->iovcnt - 1 : 1;
	}
	for (f = 0; f < 4; f++)
		cr_assert_eq(got[f], nsent[f], "flow %d: %d of %d", f, got[f],
			     nsent[f]);
	cr_assert_gt(tbl.st.merged, 100);
}

/* refuses UDP_L4 like a tun before 6.2, captures the rest */
static int refuse_uso(void *arg, const struct iovec *iov, int iovcnt)
{
	const struct virtio_net_hdr *vh = iov[0].iov_base;

	if (vh->gso_type == VIRTIO_NET_HDR_GSO_UDP_L4) {
		(*(int *)arg)++;
		return -EINVAL;
	}
	return capture(NULL, iov, iovcnt);
}

Test(gro, udp_refused_written_alone)
{
	/* the kernel refuses the merged packet: its datagrams are written
	 * one by one, untouched (the first's headers restored), and UDP is
	 * merged no more; TCP still is */
	struct spec u = spec4u(), v = spec6u(), t = spec4(), fu, ft;
	uint8_t *st[2], *p;
	int refused = 0, i;

	fu = u;
	ft = t;
	for (i = 0; i < 3; i++) {
		p = mk(&u);
		cr_assert_eq(gro_add(&tbl, p, pkl[npk - 1], refuse_uso,
				     &refused), 0);
		p = mk(&v);
		cr_assert_eq(gro_add(&tbl, p, pkl[npk - 1], refuse_uso,
				     &refused), 0);
		u = next(u);
		v = next(v);
	}
	for (i = 0; i < 2; i++) {
		p = mk(&t);
		st[i] = p;
		cr_assert_eq(gro_add(&tbl, p, pkl[npk - 1], refuse_uso,
				     &refused), 0);
		t = next(t);
	}
	cr_assert_eq(gro_flush(&tbl, refuse_uso, &refused), 0);
	cr_assert_eq(refused, 2, "one refusal per UDP flow held");
	cr_assert(tbl.udp_off);
	cr_assert_eq(ncaps, 7);
	for (i = 0; i < 3; i++) {
		struct spec a = fu, b = spec6u();
		int k;

		for (k = 0; k < i; k++) {
			a = next(a);
			b = next(b);
		}
		expect_alone(i, &a);
		expect_alone(3 + i, &b);
	}
	expect_merged(6, &ft, 2, 2000, 0, st);
	cr_assert_eq(tbl.st.written, 7);
	cr_assert_eq(tbl.st.merged, 1);

	/* the next burst: UDP written at once */
	u = next(u);
	for (i = 0; i < 2; i++) {
		p = mk(&u);
		cr_assert_eq(gro_add(&tbl, p, pkl[npk - 1], refuse_uso,
				     &refused), 0);
		cr_assert_eq(ncaps, 8 + i);
		expect_alone(7 + i, &u);
		u = next(u);
	}
	cr_assert_eq(refused, 2);
	cr_assert_eq(tbl.nflows, 0);
}

Test(gro, udp_write_error)
{
	/* an error other than EINVAL: returned, UDP stays on */
	struct spec s = spec4u();

	add(&s);
	s = next(s);
	add(&s);
	fail_at = 0;
	cr_assert_eq(gro_flush(&tbl, capture, NULL), -EIO);
	cr_assert_eq(ncaps, 0);
	cr_assert(!tbl.udp_off);
}

/* ---- the kernel accepts the headers: a tun in a new network namespace ----
 *
 * gro0: IFF_TUN|IFF_NO_PI|IFF_VNET_HDR, vnet header 10 bytes, offloads
 * CSUM|TSO4|TSO6 (and USO4|USO6 where the kernel has them, as user/io/tun.c
 * asks), 10.9.0.2/24 and fd00:9::2/64. gro1: a plain tun (no vnet
 * header, hence no checksum or TSO offload), 10.9.1.1/24, fd00:9:1::1/64.
 * Forwarding is on. gro's out callback is one writev to gro0.
 *
 * 1. Forwarded: a train (5 x 1000 bytes, then 700 with PSH) from 10.9.0.5
 *    to 10.9.1.5, merged into one packet, leaves gro1 as the original
 *    segments, rebuilt by the kernel's software GSO at gso_size and
 *    checksummed from the partial sum in the TCP field (skb_checksum_help):
 *    each must equal, byte for byte, the segment offered to gro but for
 *    TTL/hop limit - 1 (and the IPv4 header checksum; the IPv4 ids were
 *    consecutive, as GSO makes them). IPv4, IPv6, and IPv4 with CWR on the
 *    first segment (GSO_ECN: the kernel keeps CWR on the first only).
 * 2. Negative control: the same with the TCP field off by one gives
 *    segments whose checksums are all wrong, so (1) does test the partial.
 * 3. Local delivery to 10.9.0.2:5201 (nobody listening): writev returns the
 *    whole length, Tcp InCsumErrors does not move, Ip InReceives, Ip
 *    InDelivers and Tcp InSegs move by one (the packet is not split and,
 *    with gso_segs 0 from a DODGY header, is counted once), and one RST is
 *    sent. Local delivery trusts CHECKSUM_PARTIAL: a wrong partial sum is
 *    not caught here either (why gro checks each segment's sum first).
 * 4. A segment written alone (zero header) with a broken checksum does
 *    move InCsumErrors: flags = 0 leaves the checksum to be verified.
 */

struct kres {
	int stage; /* 0: all done; else where it stopped */
	int err;
	int skip;
	int fwd_n[3], fwd_same[3];   /* IPv4, IPv6, IPv4 led by CWR */
	int neg_n, neg_bad;
	long wr, wr_want;
	long d_inrecv, d_indeliv, d_insegs, d_csumerr, d_outrsts;
	long d_csumerr_alone;
	long wr_alone, wr_alone_want;
};

static long snmp_get(const char *grp, const char *name)
{
	char names[4096], vals[4096], *n, *v, *sn, *sv;
	size_t gl = strlen(grp);
	long r = -1;
	FILE *f = fopen("/proc/net/snmp", "r");

	if (!f)
		return -1;
	while (fgets(names, sizeof(names), f) && fgets(vals, sizeof(vals), f)) {
		if (strncmp(names, grp, gl) || names[gl] != ':')
			continue;
		n = strtok_r(names + gl + 1, " \n", &sn);
		v = strtok_r(vals + gl + 1, " \n", &sv);
		while (n && v) {
			if (!strcmp(n, name))
				r = atol(v);
			n = strtok_r(NULL, " \n", &sn);
			v = strtok_r(NULL, " \n", &sv);
		}
	}
	fclose(f);
	return r;
}

/* true once a tun took USO4|USO6 (kernel 6.2+), as user/io/tun.c asks */
static bool tun_uso;

static int tun_open(const char *name, bool vnet)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK), sz = 10;
	unsigned int off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	strcpy(ifr.ifr_name, name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    (vnet && ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)) {
		close(fd);
		return -1;
	}
	if (vnet) {
		tun_uso = !ioctl(fd, TUNSETOFFLOAD,
				 off | TUN_F_USO4 | TUN_F_USO6);
		if (!tun_uso && ioctl(fd, TUNSETOFFLOAD, off) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

struct in6_ifreq_ {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

static int if_setup(const char *name, const char *a4, const char *a6)
{
	struct sockaddr_in *sin;
	struct in6_ifreq_ r6;
	struct ifreq ifr;
	int s4 = socket(AF_INET, SOCK_DGRAM, 0);
	int s6 = socket(AF_INET6, SOCK_DGRAM, 0), ret = -1;

	if (s4 < 0 || s6 < 0)
		goto out;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, name);
	sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, a4, &sin->sin_addr);
	if (ioctl(s4, SIOCSIFADDR, &ifr) < 0)
		goto out;
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	if (ioctl(s4, SIOCSIFNETMASK, &ifr) < 0)
		goto out;
	if (ioctl(s4, SIOCGIFFLAGS, &ifr) < 0)
		goto out;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s4, SIOCSIFFLAGS, &ifr) < 0)
		goto out;
	memset(&r6, 0, sizeof(r6));
	inet_pton(AF_INET6, a6, &r6.addr);
	r6.prefixlen = 64;
	r6.ifindex = if_nametoindex(name);
	if (ioctl(s6, SIOCSIFADDR, &r6) < 0)
		goto out;
	ret = 0;
out:
	if (s4 >= 0)
		close(s4);
	if (s6 >= 0)
		close(s6);
	return ret;
}

static int sysctl_set(const char *path)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, "1", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

struct tunout {
	int fd;
	long ret;
	long want;
	uint16_t bump; /* added to the TCP (UDP) field of a merged packet */
};

/* gro's out: one writev to the tun, the TCP (UDP) field bumped on demand */
static int tun_out(void *arg, const struct iovec *iov, int iovcnt)
{
	struct tunout *t = arg;
	const struct virtio_net_hdr *vh = iov[0].iov_base;
	int i;

	if (t->bump && vh->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		uint8_t *f = (uint8_t *)iov[1].iov_base + vh->csum_start +
			     vh->csum_offset;

		w16(f, (f[0] << 8 | f[1]) + t->bump);
	}
	t->want = 0;
	for (i = 0; i < iovcnt; i++)
		t->want += iov[i].iov_len;
	t->ret = writev(t->fd, iov, iovcnt);
	return t->ret < 0 ? -errno : 0;
}

/* Reads TCP packets to port 5201 from fd into pkts (up to max) until none
 * comes for 300 ms. */
static int read_tcp(int fd, uint8_t (*pkts)[2048], size_t *lens, int max)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t b[2048];
	int n = 0;

	while (n < max && poll(&pfd, 1, 300) > 0) {
		ssize_t r = read(fd, b, sizeof(b));
		int hl;

		if (r < 40)
			continue;
		hl = ip_hlen(b);
		if ((b[0] >> 4 == 4 && b[9] != 6) ||
		    (b[0] >> 4 == 6 && b[6] != 6) || r < hl + 20 ||
		    (b[hl + 2] << 8 | b[hl + 3]) != 5201)
			continue;
		memcpy(pkts[n], b, r);
		lens[n++] = r;
	}
	return n;
}

/* The segments of a train: 5 of 1000 bytes, then 700 with PSH. */
static int train(struct spec s, struct spec *segs)
{
	int i;

	for (i = 0; i < 6; i++) {
		segs[i] = s;
		if (i == 5) {
			segs[i].plen = 700;
			segs[i].flags |= F_PSH;
		}
		s = next(s);
	}
	return 6;
}

/* Offers the train to a fresh gro table writing to the tun; returns the
 * number of writes. */
static int send_train(struct tunout *to, const struct spec *segs, int n,
		      uint8_t **bufs)
{
	struct gro_table t;
	int i;

	gro_init(&t, true);
	for (i = 0; i < n; i++) {
		build(bufs[i], &segs[i]);
		if (gro_add(&t, bufs[i], spec_len(&segs[i]), tun_out, to))
			return -1;
	}
	if (gro_flush(&t, tun_out, to))
		return -1;
	return (int)t.st.written;
}

static void kernel_child(struct kres *r)
{
	static uint8_t got[16][2048], store[8][2048];
	uint8_t ref[2048], *bufs[8];
	struct spec segs[8], one;
	struct tunout to = { 0 };
	size_t lens[16];
	long before[6];
	int t0, t1, fam, i, n;

	for (i = 0; i < 8; i++)
		bufs[i] = store[i];
	r->stage = 1;
	if (unshare(CLONE_NEWNET) < 0) {
		r->skip = 1;
		r->err = errno;
		return;
	}
	t0 = tun_open("gro0", true);
	t1 = tun_open("gro1", false);
	if (t0 < 0 || t1 < 0) {
		r->skip = 1;
		r->err = errno;
		return;
	}
	r->stage = 2;
	if (if_setup("gro0", "10.9.0.2", "fd00:9::2") ||
	    if_setup("gro1", "10.9.1.1", "fd00:9:1::1") ||
	    sysctl_set("/proc/sys/net/ipv4/ip_forward") ||
	    sysctl_set("/proc/sys/net/ipv6/conf/all/forwarding")) {
		r->err = errno;
		return;
	}
	to.fd = t0;

	/* 1. forwarded, re-segmented */
	for (fam = 0; fam < 3; fam++) {
		r->stage = 3 + fam;
		n = train(fam == 1 ? spec6() : spec4(), segs);
		if (fam == 2)
			segs[0].flags |= F_CWR;
		if (send_train(&to, segs, n, bufs) != 1 || to.ret != to.want) {
			r->err = to.ret < 0 ? errno : 0;
			return;
		}
		r->fwd_n[fam] = read_tcp(t1, got, lens, 16);
		for (i = 0; i < r->fwd_n[fam] && i < n; i++) {
			one = segs[i];
			one.ttl--;
			build(ref, &one);
			if (lens[i] == spec_len(&one) &&
			    !memcmp(got[i], ref, lens[i]))
				r->fwd_same[fam]++;
		}
	}

	/* 2. negative control: a wrong partial sum */
	r->stage = 6;
	n = train(spec4(), segs);
	to.bump = 1;
	if (send_train(&to, segs, n, bufs) != 1 || to.ret != to.want)
		return;
	to.bump = 0;
	r->neg_n = read_tcp(t1, got, lens, 16);
	for (i = 0; i < r->neg_n; i++)
		r->neg_bad += !ref_tcp_ok(got[i], lens[i]);

	/* 3. local delivery to 10.9.0.2 */
	r->stage = 7;
	before[0] = snmp_get("Ip", "InReceives");
	before[1] = snmp_get("Ip", "InDelivers");
	before[2] = snmp_get("Tcp", "InSegs");
	before[3] = snmp_get("Tcp", "InCsumErrors");
	before[4] = snmp_get("Tcp", "OutRsts");
	for (i = 0; i < 5; i++)
		if (before[i] < 0)
			return;
	one = spec4();
	one.dst_net = 0;
	one.dst = 2;
	n = train(one, segs);
	if (send_train(&to, segs, n, bufs) != 1)
		return;
	r->wr = to.ret;
	r->wr_want = to.want;
	r->d_inrecv = snmp_get("Ip", "InReceives") - before[0];
	r->d_indeliv = snmp_get("Ip", "InDelivers") - before[1];
	r->d_insegs = snmp_get("Tcp", "InSegs") - before[2];
	r->d_csumerr = snmp_get("Tcp", "InCsumErrors") - before[3];
	r->d_outrsts = snmp_get("Tcp", "OutRsts") - before[4];

	/* 4. alone, with a broken checksum: the kernel checks it */
	r->stage = 8;
	before[3] = snmp_get("Tcp", "InCsumErrors");
	one.badsum = true;
	if (send_train(&to, &one, 1, bufs) != 1)
		return;
	r->wr_alone = to.ret;
	r->wr_alone_want = to.want;
	r->d_csumerr_alone = snmp_get("Tcp", "InCsumErrors") - before[3];
	r->stage = 0;
}

Test(gro_kernel, tun_accepts_merged_packets)
{
	struct kres r;
	int p[2], st;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		memset(&r, 0, sizeof(r));
		kernel_child(&r);
		if (write(p[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	waitpid(pid, &st, 0);
	close(p[0]);
	if (r.skip)
		cr_skip("no network namespace or tun: %s", strerror(r.err));
	cr_assert_eq(r.stage, 0, "stopped at stage %d: %s", r.stage,
		     strerror(r.err));
	cr_log_info("forwarded v4 %d/%d v6 %d/%d cwr %d/%d, bad partial %d/%d bad; "
		    "local: wrote %ld/%ld, InReceives +%ld InDelivers +%ld "
		    "InSegs +%ld InCsumErrors +%ld OutRsts +%ld; alone with "
		    "a bad sum: InCsumErrors +%ld", r.fwd_same[0], r.fwd_n[0],
		    r.fwd_same[1], r.fwd_n[1], r.fwd_same[2], r.fwd_n[2],
		    r.neg_bad, r.neg_n, r.wr,
		    r.wr_want, r.d_inrecv, r.d_indeliv, r.d_insegs,
		    r.d_csumerr, r.d_outrsts, r.d_csumerr_alone);
	cr_assert_eq(r.fwd_n[0], 6, "IPv4: %d segments forwarded", r.fwd_n[0]);
	cr_assert_eq(r.fwd_same[0], 6, "IPv4: %d segments as sent",
		     r.fwd_same[0]);
	cr_assert_eq(r.fwd_n[1], 6, "IPv6: %d segments forwarded", r.fwd_n[1]);
	cr_assert_eq(r.fwd_same[1], 6, "IPv6: %d segments as sent",
		     r.fwd_same[1]);
	cr_assert_eq(r.fwd_n[2], 6, "CWR: %d segments forwarded", r.fwd_n[2]);
	cr_assert_eq(r.fwd_same[2], 6, "CWR: %d segments as sent",
		     r.fwd_same[2]);
	cr_assert_eq(r.neg_n, 6);
	cr_assert_eq(r.neg_bad, 6);
	cr_assert_eq(r.wr, r.wr_want);
	cr_assert_eq(r.d_csumerr, 0);
	cr_assert_eq(r.d_inrecv, 1);
	cr_assert_eq(r.d_indeliv, 1);
	cr_assert_eq(r.d_insegs, 1);
	cr_assert_eq(r.d_outrsts, 1);
	cr_assert_eq(r.wr_alone, r.wr_alone_want);
	cr_assert_eq(r.d_csumerr_alone, 1);
}

/* ---- the kernel accepts merged UDP (UDP_L4): the same namespace setup ----
 *
 * gro0 as above, with USO4|USO6 in TUNSETOFFLOAD where the kernel has them
 * (6.2+). Datagrams to port 5201: 5 of 1000 bytes, then one of 700 (the
 * shorter one ends the flow), merged into one UDP_L4 packet.
 * 1. Forwarded out gro1 (no offloads: software GSO): each datagram must be
 *    the one offered, byte for byte, but for TTL/hop limit - 1 (IPv4: ids
 *    consecutive, as GSO makes them). IPv4 with DF, IPv6, IPv4 without DF.
 * 2. Negative control: the UDP field off by one gives datagrams whose
 *    checksums are all wrong, so (1) does test the partial sum.
 * 3. Local delivery to UDP sockets bound to 10.9.0.2:5201 and
 *    [fd00:9::2]:5201: one write, then six datagrams read one by one, each
 *    with its payload (the socket has no UDP_GRO: udp_rcv_segment cuts
 *    it); IPv4: Ip InReceives +1, Udp InDatagrams +6, Udp InCsumErrors +0
 *    (both counted when read: the checksum of a datagram handed over with
 *    a complete checksum is verified on recv, a partial one is trusted).
 * 4. A datagram with a broken checksum is written alone, and the kernel
 *    drops it (Udp InCsumErrors +1, nothing read); one with no checksum (0)
 *    is written alone and delivered.
 * Where the tun refuses UDP_L4 (EINVAL, kernels before 6.2), gro writes
 * the datagrams one by one (udp_off) and all of the above must hold but
 * the single writes; where the tun took USO, it must not refuse.
 */

struct ures {
	int stage;
	int err;
	int skip;
	bool uso;
	bool refused[3];
	int writes[3];
	int fwd_n[3], fwd_same[3]; /* IPv4 with DF, IPv6, IPv4 without DF */
	int neg_n, neg_bad;
	int loc_writes[2], loc_n[2], loc_same[2]; /* IPv4, IPv6 */
	long d_inrecv, d_indgrams, d_csumerr;
	int bad_rcvd, nosum_rcvd;
	long d_csumerr_bad;
};

/* Reads UDP packets to port 5201 from fd into pkts (up to max) until none
 * comes for 300 ms. */
static int read_udp(int fd, uint8_t (*pkts)[2048], size_t *lens, int max)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t b[2048];
	int n = 0;

	while (n < max && poll(&pfd, 1, 300) > 0) {
		ssize_t r = read(fd, b, sizeof(b));
		int hl;

		if (r < 28)
			continue;
		hl = ip_hlen(b);
		if ((b[0] >> 4 == 4 && b[9] != 17) ||
		    (b[0] >> 4 == 6 && b[6] != 17) || r < hl + 8 ||
		    (b[hl + 2] << 8 | b[hl + 3]) != 5201)
			continue;
		memcpy(pkts[n], b, r);
		lens[n++] = r;
	}
	return n;
}

/* Reads datagrams from socket fd until none comes for 300 ms. */
static int recv_all(int fd, uint8_t (*dg)[2048], size_t *lens, int max)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n = 0;

	while (n < max && poll(&pfd, 1, 300) > 0) {
		ssize_t r = recv(fd, dg[n], sizeof(dg[n]), MSG_DONTWAIT);

		if (r >= 0)
			lens[n++] = r;
	}
	return n;
}

/* 5 datagrams of 1000 bytes to port 5201, then one of 700 */
static int utrain(struct spec s, struct spec *segs)
{
	int i;

	s.dport = 5201;
	for (i = 0; i < 6; i++) {
		segs[i] = s;
		if (i == 5)
			segs[i].plen = 700;
		s = next(s);
	}
	return 6;
}

/* Like send_train; *refused: the table turned UDP off. */
static int send_utrain(struct tunout *to, const struct spec *segs, int n,
		       uint8_t **bufs, bool *refused)
{
	struct gro_table t;
	int i;

	gro_init(&t, true);
	for (i = 0; i < n; i++) {
		build(bufs[i], &segs[i]);
		if (gro_add(&t, bufs[i], spec_len(&segs[i]), tun_out, to))
			return -1;
	}
	if (gro_flush(&t, tun_out, to))
		return -1;
	if (refused)
		*refused = t.udp_off;
	return (int)t.st.written;
}

static int udp_bind(int family, const char *addr)
{
	int fd = socket(family, SOCK_DGRAM, 0), one = 1;
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	int ok;

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		s4.sin_port = htons(5201);
		inet_pton(AF_INET, addr, &s4.sin_addr);
		ok = !bind(fd, (struct sockaddr *)&s4, sizeof(s4));
	} else {
		s6.sin6_port = htons(5201);
		inet_pton(AF_INET6, addr, &s6.sin6_addr);
		ok = !setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				 sizeof(one)) &&
		     !bind(fd, (struct sockaddr *)&s6, sizeof(s6));
	}
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

static void udp_kernel_child(struct ures *r)
{
	static uint8_t got[16][2048], store[8][2048];
	uint8_t ref[2048], *bufs[8];
	struct spec segs[8], one;
	struct tunout to = { 0 };
	size_t lens[16], hl;
	long before[4];
	int t0, t1, fam, i, n, w, sk[2];

	for (i = 0; i < 8; i++)
		bufs[i] = store[i];
	r->stage = 1;
	if (unshare(CLONE_NEWNET) < 0) {
		r->skip = 1;
		r->err = errno;
		return;
	}
	t0 = tun_open("gro0", true);
	t1 = tun_open("gro1", false);
	if (t0 < 0 || t1 < 0) {
		r->skip = 1;
		r->err = errno;
		return;
	}
	r->uso = tun_uso;
	r->stage = 2;
	if (if_setup("gro0", "10.9.0.2", "fd00:9::2") ||
	    if_setup("gro1", "10.9.1.1", "fd00:9:1::1") ||
	    sysctl_set("/proc/sys/net/ipv4/ip_forward") ||
	    sysctl_set("/proc/sys/net/ipv6/conf/all/forwarding")) {
		r->err = errno;
		return;
	}
	to.fd = t0;

	/* 1. forwarded, cut back into datagrams */
	for (fam = 0; fam < 3; fam++) {
		r->stage = 3 + fam;
		one = fam == 1 ? spec6u() : spec4u();
		one.df = fam != 2;
		n = utrain(one, segs);
		w = send_utrain(&to, segs, n, bufs, &r->refused[fam]);
		r->writes[fam] = w;
		if (w < 0 || to.ret != to.want) {
			r->err = to.ret < 0 ? errno : 0;
			return;
		}
		r->fwd_n[fam] = read_udp(t1, got, lens, 16);
		for (i = 0; i < r->fwd_n[fam] && i < n; i++) {
			one = segs[i];
			one.ttl--;
			build(ref, &one);
			if (lens[i] == spec_len(&one) &&
			    !memcmp(got[i], ref, lens[i]))
				r->fwd_same[fam]++;
		}
	}

	/* 2. negative control: a wrong partial sum */
	r->stage = 6;
	n = utrain(spec4u(), segs);
	to.bump = 1;
	if (send_utrain(&to, segs, n, bufs, NULL) < 0 || to.ret != to.want)
		return;
	to.bump = 0;
	r->neg_n = read_udp(t1, got, lens, 16);
	for (i = 0; i < r->neg_n; i++)
		r->neg_bad += !ref_tcp_ok(got[i], lens[i]);

	/* 3. local delivery to sockets on gro0's addresses */
	r->stage = 7;
	sk[0] = udp_bind(AF_INET, "10.9.0.2");
	sk[1] = udp_bind(AF_INET6, "fd00:9::2");
	if (sk[0] < 0 || sk[1] < 0) {
		r->err = errno;
		return;
	}
	before[0] = snmp_get("Ip", "InReceives");
	before[1] = snmp_get("Udp", "InDatagrams");
	before[2] = snmp_get("Udp", "InCsumErrors");
	for (i = 0; i < 3; i++)
		if (before[i] < 0)
			return;
	for (fam = 0; fam < 2; fam++) {
		r->stage = 8 + fam;
		one = fam ? spec6u() : spec4u();
		one.dst_net = 0;
		one.dst = 2;
		n = utrain(one, segs);
		w = send_utrain(&to, segs, n, bufs, NULL);
		r->loc_writes[fam] = w;
		if (w < 0 || to.ret != to.want)
			return;
		r->loc_n[fam] = recv_all(sk[fam], got, lens, 16);
		/* InDatagrams and a checksum left to verify move on recv */
		if (!fam) {
			r->d_inrecv = snmp_get("Ip", "InReceives") - before[0];
			r->d_indgrams = snmp_get("Udp", "InDatagrams") -
					before[1];
			r->d_csumerr = snmp_get("Udp", "InCsumErrors") -
				       before[2];
		}
		hl = (fam ? 40 : 20) + 8;
		for (i = 0; i < r->loc_n[fam] && i < n; i++) {
			build(ref, &segs[i]);
			if (lens[i] == segs[i].plen &&
			    !memcmp(got[i], ref + hl, lens[i]))
				r->loc_same[fam]++;
		}
	}

	/* 4. alone: a broken checksum is dropped, none (0) is delivered */
	r->stage = 10;
	before[2] = snmp_get("Udp", "InCsumErrors");
	one = spec4u();
	one.dst_net = 0;
	one.dst = 2;
	one.dport = 5201;
	one.badsum = true;
	if (send_utrain(&to, &one, 1, bufs, NULL) != 1 || to.ret != to.want)
		return;
	r->bad_rcvd = recv_all(sk[0], got, lens, 16);
	r->d_csumerr_bad = snmp_get("Udp", "InCsumErrors") - before[2];
	one.badsum = false;
	one.nosum = true;
	if (send_utrain(&to, &one, 1, bufs, NULL) != 1 || to.ret != to.want)
		return;
	r->nosum_rcvd = recv_all(sk[0], got, lens, 16);
	r->stage = 0;
}

Test(gro_kernel, tun_accepts_merged_udp)
{
	struct ures r;
	int p[2], st, fam;

	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (!pid) {
		memset(&r, 0, sizeof(r));
		udp_kernel_child(&r);
		if (write(p[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	waitpid(pid, &st, 0);
	close(p[0]);
	if (r.skip)
		cr_skip("no network namespace or tun: %s", strerror(r.err));
	cr_assert_eq(r.stage, 0, "stopped at stage %d: %s", r.stage,
		     strerror(r.err));
	cr_log_info("UDP: tun USO %s; UDP_L4 %s; writes v4 %d v6 %d v4-noDF "
		    "%d; forwarded v4 %d/%d v6 %d/%d v4-noDF %d/%d, bad "
		    "partial %d/%d bad; local: writes %d/%d, received v4 %d/%d "
		    "v6 %d/%d, InReceives +%ld InDatagrams +%ld InCsumErrors "
		    "+%ld; alone with a bad sum: InCsumErrors +%ld, received "
		    "%d; without a sum: received %d",
		    r.uso ? "on" : "off",
		    r.refused[0] ? "refused (written alone)" : "accepted",
		    r.writes[0], r.writes[1], r.writes[2], r.fwd_same[0],
		    r.fwd_n[0], r.fwd_same[1], r.fwd_n[1], r.fwd_same[2],
		    r.fwd_n[2], r.neg_bad, r.neg_n, r.loc_writes[0],
		    r.loc_writes[1], r.loc_same[0], r.loc_n[0], r.loc_same[1],
		    r.loc_n[1], r.d_inrecv, r.d_indgrams, r.d_csumerr,
		    r.d_csumerr_bad, r.bad_rcvd, r.nosum_rcvd);
	if (r.uso)
		cr_assert(!r.refused[0] && !r.refused[1] && !r.refused[2],
			  "the tun took USO but refused UDP_L4");
	for (fam = 0; fam < 3; fam++) {
		cr_assert_eq(r.writes[fam], r.refused[fam] ? 6 : 1,
			     "train %d: %d writes", fam, r.writes[fam]);
		cr_assert_eq(r.fwd_n[fam], 6, "train %d: %d forwarded", fam,
			     r.fwd_n[fam]);
		cr_assert_eq(r.fwd_same[fam], 6, "train %d: %d as sent", fam,
			     r.fwd_same[fam]);
	}
	cr_assert_eq(r.neg_n, 6);
	if (!r.refused[0])
		cr_assert_eq(r.neg_bad, 6);
	for (fam = 0; fam < 2; fam++) {
		cr_assert_eq(r.loc_writes[fam], r.refused[0] ? 6 : 1);
		cr_assert_eq(r.loc_n[fam], 6, "%s: %d received",
			     fam ? "IPv6" : "IPv4", r.loc_n[fam]);
		cr_assert_eq(r.loc_same[fam], 6);
	}
	cr_assert_eq(r.d_inrecv, r.refused[0] ? 6 : 1);
	cr_assert_eq(r.d_indgrams, 6);
	cr_assert_eq(r.d_csumerr, 0);
	cr_assert_eq(r.d_csumerr_bad, 1);
	cr_assert_eq(r.bad_rcvd, 0);
	cr_assert_eq(r.nosum_rcvd, 1);
}
