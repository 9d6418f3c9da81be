// SPDX-License-Identifier: GPL-2.0
/*
 * gso_segment: TCP (TSO) and UDP (USO) super-packets are built here field by
 * field, segmented, and every byte of every segment is compared with a
 * header rebuilt by this file from the rules (lengths, ids, sequence
 * numbers, flags) and checksums computed by a plain reference function (not
 * csum.c). Then partial checksums (GSO_NONE), malformed input, callback
 * errors, and a cross-check of the checksums by scapy.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/gso.h"

#define T_FIN 0x01
#define T_SYN 0x02
#define T_PSH 0x08
#define T_ACK 0x10
#define T_ECE 0x40
#define T_CWR 0x80

/* ---- reference checksum: 16-bit big-endian words, one at a time ---- */

static uint64_t ref_sum(uint64_t acc, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static uint16_t ref_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* pseudo-header sum of the IP header h */
static uint64_t ref_pseudo(const uint8_t *h, int v6, uint8_t proto,
			   uint32_t l4len)
{
	uint64_t s = 0;

	if (v6) {
		s = ref_sum(s, h + 8, 32);
		s += l4len >> 16;
		s += l4len & 0xffff;
	} else {
		s = ref_sum(s, h + 12, 8);
		s += l4len;
	}
	return s + proto;
}

/* IPv4 header checksum of h, as the value to store (host order) */
static uint16_t ref_ip4_check(const uint8_t *h)
{
	size_t ihl = (h[0] & 0xf) * 4;
	uint64_t s = ref_sum(0, h, 10);

	s = ref_sum(s, h + 12, ihl - 12);
	return (uint16_t)~ref_fold(s);
}

/* L4 checksum of the packet hdr (hlen, L4 header at l3len) + payload, the
 * checksum field counted as 0; UDP's 0 sent as 0xffff */
static uint16_t ref_l4_check(const uint8_t *hdr, size_t l3len, size_t hlen,
			     const uint8_t *pl, size_t plen, int v6,
			     uint8_t proto)
{
	size_t coff = proto == 6 ? 16 : 6;
	uint32_t l4len = (uint32_t)(hlen - l3len + plen);
	uint64_t s = ref_pseudo(hdr, v6, proto, l4len);
	uint16_t c;

	s = ref_sum(s, hdr + l3len, coff);
	s = ref_sum(s, hdr + l3len + coff + 2, hlen - l3len - coff - 2);
	s = ref_sum(s, pl, plen);
	c = (uint16_t)~ref_fold(s);
	if (proto == 17 && c == 0)
		c = 0xffff;
	return c;
}

/* the receiver's check: everything including the field sums to 0xffff */
static int ref_l4_ok(const uint8_t *p, size_t l3len, size_t len, int v6,
		     uint8_t proto)
{
	uint64_t s = ref_pseudo(p, v6, proto, (uint32_t)(len - l3len));

	return ref_fold(ref_sum(s, p + l3len, len - l3len)) == 0xffff;
}

/* ---- packets ---- */

struct spec {
	int v6;
	uint8_t proto;   /* 6 or 17 */
	int ip_opts;     /* IPv4 option bytes, multiple of 4 */
	int tcp_opts;    /* TCP option bytes, multiple of 4 */
	size_t paylen;
	uint8_t flags;
	uint32_t seq;
	uint16_t id;
	uint32_t seed;
};

struct built {
	size_t len, l3len, hlen;
};

static uint8_t g_pkt[GSO_MAX_PACKET + 1024];
static uint8_t g_copy[GSO_MAX_PACKET + 1024];
static uint8_t g_reasm[GSO_MAX_PACKET + 1024];

/*
 * IPv4 10.0.0.1 -> 10.0.0.2 (TOS ECT(0), DF, TTL 64, options: router alert
 * then NOPs) or IPv6 fd00::1 -> fd00::2 (flow label 0x12345, hop limit 64);
 * TCP 40000 -> 5201 (options: NOPs then a timestamp at the end) or UDP
 * 4433 -> 443; pseudo-random payload. The L4 checksum field holds the
 * pseudo-header sum, as the kernel leaves it with NEEDS_CSUM.
 */
static struct built build(uint8_t *p, const struct spec *s)
{
	struct built b;
	size_t l4hl, i;
	uint32_t x = s->seed ? s->seed : 12345;
	uint8_t *l4;

	b.l3len = s->v6 ? 40 : 20 + s->ip_opts;
	l4hl = s->proto == 6 ? 20 + s->tcp_opts : 8;
	b.hlen = b.l3len + l4hl;
	b.len = b.hlen + s->paylen;
	memset(p, 0, b.hlen);
	if (s->v6) {
		p[0] = 0x60;
		p[1] = 0x01;
		p[2] = 0x23;
		p[3] = 0x45;
		wr16(p + 4, (uint16_t)(b.len - 40));
		p[6] = s->proto;
		p[7] = 64;
		p[8] = 0xfd;
		p[23] = 1;
		p[24] = 0xfd;
		p[39] = 2;
	} else {
		p[0] = 0x40 | (uint8_t)(b.l3len / 4);
		p[1] = 0x02;
		wr16(p + 2, (uint16_t)b.len);
		wr16(p + 4, s->id);
		wr16(p + 6, 0x4000);
		p[8] = 64;
		p[9] = s->proto;
		p[12] = 10;
		p[15] = 1;
		p[16] = 10;
		p[19] = 2;
		for (i = 20; i < b.l3len; i++)
			p[i] = 1; /* NOP */
		if (s->ip_opts) {
			p[20] = 0x94; /* router alert, 4 bytes */
			p[21] = 4;
			p[22] = 0;
			p[23] = 0;
		}
		wr16(p + 10, ref_ip4_check(p));
	}
	l4 = p + b.l3len;
	if (s->proto == 6) {
		wr16(l4, 40000);
		wr16(l4 + 2, 5201);
		wr32(l4 + 4, s->seq);
		wr32(l4 + 8, 0x11223344);
		l4[12] = (uint8_t)(l4hl / 4) << 4;
		l4[13] = s->flags;
		wr16(l4 + 14, 502);
		for (i = 20; i < l4hl; i++)
			l4[i] = 1; /* NOP */
		if (s->tcp_opts >= 12) {
			uint8_t *ts = l4 + l4hl - 10;

			ts[0] = 8;
			ts[1] = 10;
			wr32(ts + 2, 0xdeadbeef);
			wr32(ts + 6, 0x01020304);
		}
		wr16(l4 + 16, ref_fold(ref_pseudo(p, s->v6, 6, (uint32_t)
						  (b.len - b.l3len))));
	} else {
		wr16(l4, 4433);
		wr16(l4 + 2, 443);
		wr16(l4 + 4, (uint16_t)(b.len - b.l3len));
		wr16(l4 + 6, ref_fold(ref_pseudo(p, s->v6, 17,
						 (uint32_t)(b.len - b.l3len))));
	}
	for (i = b.hlen; i < b.len; i++) {
		x = x * 1103515245 + 12345;
		p[i] = (uint8_t)(x >> 16);
	}
	return b;
}

static struct virtio_net_hdr mkvh(uint8_t type, uint16_t gso_size,
				  const struct built *b, uint8_t proto)
{
	struct virtio_net_hdr vh;

	memset(&vh, 0, sizeof(vh));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_type = type;
	vh.hdr_len = (uint16_t)b->hlen;
	vh.gso_size = gso_size;
	vh.csum_start = (uint16_t)b->l3len;
	vh.csum_offset = proto == 6 ? 16 : 6;
	return vh;
}

/* ---- the callback: keeps a copy of each packet ---- */

struct seg {
	uint8_t *b;
	size_t hlen, plen;
};

struct sink {
	struct seg *s;
	int n, cap;
	int fail_at; /* return -ENOSPC on this call (1-based), 0: never */
};

static int sink_emit(void *arg, const uint8_t *hdr, size_t hlen,
		     const uint8_t *pl, size_t plen)
{
	struct sink *k = arg;
	struct seg *s;

	if (k->fail_at && k->n + 1 == k->fail_at)
		return -ENOSPC;
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		k->s = realloc(k->s, k->cap * sizeof(*k->s));
		cr_assert_not_null(k->s);
	}
	s = &k->s[k->n++];
	s->b = malloc(hlen + plen + 1);
	cr_assert_not_null(s->b);
	memcpy(s->b, hdr, hlen);
	if (plen)
		memcpy(s->b + hlen, pl, plen);
	s->hlen = hlen;
	s->plen = plen;
	return 0;
}

static void sink_free(struct sink *k)
{
	int i;

	for (i = 0; i < k->n; i++)
		free(k->s[i].b);
	free(k->s);
	memset(k, 0, sizeof(*k));
}

/* ---- checkers ---- */

/*
 * Every byte of the n segments of the TCP super-packet orig (b), cut every
 * seg bytes of payload: header rebuilt from the rules, payload reassembled.
 */
static void check_tcp(const uint8_t *orig, const struct built *b, int v6,
		      size_t seg, unsigned int mtu, const struct sink *k)
{
	size_t total = b->len - b->hlen, off = 0;
	int n = total ? (int)((total + seg - 1) / seg) : 1, i;
	uint8_t flags = orig[b->l3len + 13];
	uint32_t seq = rd32(orig + b->l3len + 4);
	uint16_t id = v6 ? 0 : rd16(orig + 4);
	uint8_t exp[GSO_MAX_HDR];

	cr_assert_eq(k->n, n, "%d segments, expected %d", k->n, n);
	for (i = 0; i < n; i++) {
		const struct seg *s = &k->s[i];
		size_t plen = total - off < seg ? total - off : seg;
		int last = i == n - 1;
		uint8_t f = flags;

		cr_assert_eq(s->hlen, b->hlen, "segment %d", i);
		cr_assert_eq(s->plen, plen, "segment %d: %zu bytes, not %zu",
			     i, s->plen, plen);
		cr_assert_leq(s->hlen + s->plen, mtu, "segment %d", i);

		memcpy(exp, orig, b->hlen);
		if (v6) {
			wr16(exp + 4, (uint16_t)(b->hlen - 40 + plen));
		} else {
			wr16(exp + 2, (uint16_t)(b->hlen + plen));
			wr16(exp + 4, (uint16_t)(id + i));
			wr16(exp + 10, ref_ip4_check(exp));
		}
		wr32(exp + b->l3len + 4, seq + (uint32_t)off);
		if (i)
			f &= ~T_CWR;
		if (!last)
			f &= ~(T_FIN | T_PSH);
		exp[b->l3len + 13] = f;
		wr16(exp + b->l3len + 16,
		     ref_l4_check(exp, b->l3len, b->hlen, orig + b->hlen + off,
				  plen, v6, 6));
		cr_assert_arr_eq(s->b, exp, b->hlen, "segment %d header", i);

		/* and the receiver's view of the checksums */
		if (!v6)
			cr_assert_eq(ref_fold(ref_sum(0, s->b, b->l3len)),
				     0xffff, "segment %d IP checksum", i);
		cr_assert(ref_l4_ok(s->b, b->l3len, s->hlen + s->plen, v6, 6),
			  "segment %d TCP checksum", i);

		memcpy(g_reasm + off, s->b + s->hlen, s->plen);
		off += plen;
	}
	cr_assert_eq(off, total);
	cr_assert_arr_eq(g_reasm, orig + b->hlen, total, "payload");
}

static void check_udp(const uint8_t *orig, const struct built *b, int v6,
		      size_t seg, const struct sink *k)
{
	size_t total = b->len - b->hlen, off = 0;
	int n = total ? (int)((total + seg - 1) / seg) : 1, i;
	uint16_t id = v6 ? 0 : rd16(orig + 4);
	uint8_t exp[GSO_MAX_HDR];

	cr_assert_eq(k->n, n, "%d datagrams, expected %d", k->n, n);
	for (i = 0; i < n; i++) {
		const struct seg *s = &k->s[i];
		size_t plen = total - off < seg ? total - off : seg;

		cr_assert_eq(s->hlen, b->hlen, "datagram %d", i);
		cr_assert_eq(s->plen, plen, "datagram %d", i);
		memcpy(exp, orig, b->hlen);
		if (v6) {
			wr16(exp + 4, (uint16_t)(8 + plen));
		} else {
			wr16(exp + 2, (uint16_t)(b->hlen + plen));
			wr16(exp + 4, (uint16_t)(id + i));
			wr16(exp + 10, ref_ip4_check(exp));
		}
		wr16(exp + b->l3len + 4, (uint16_t)(8 + plen));
		wr16(exp + b->l3len + 6,
		     ref_l4_check(exp, b->l3len, b->hlen, orig + b->hlen + off,
				  plen, v6, 17));
		cr_assert_arr_eq(s->b, exp, b->hlen, "datagram %d header", i);
		cr_assert_neq(rd16(s->b + b->l3len + 6), 0, "datagram %d", i);
		if (!v6)
			cr_assert_eq(ref_fold(ref_sum(0, s->b, b->l3len)),
				     0xffff, "datagram %d IP checksum", i);
		cr_assert(ref_l4_ok(s->b, b->l3len, s->hlen + s->plen, v6, 17),
			  "datagram %d UDP checksum", i);
		memcpy(g_reasm + off, s->b + s->hlen, s->plen);
		off += plen;
	}
	cr_assert_eq(off, total);
	cr_assert_arr_eq(g_reasm, orig + b->hlen, total, "payload");
}

/* segment a TCP super-packet, expecting exp_seg bytes per segment */
static void run_tcp(const struct spec *sp, uint8_t type, uint16_t gso_size,
		    unsigned int mtu, size_t exp_seg)
{
	struct built b = build(g_pkt, sp);
	struct virtio_net_hdr vh = mkvh(type, gso_size, &b, 6);
	struct sink k = { 0 };
	int rc;

	memcpy(g_copy, g_pkt, b.len);
	rc = gso_segment(&vh, g_pkt, b.len, mtu, sink_emit, &k);
	cr_assert_eq(rc, k.n, "rc %d, %d emitted", rc, k.n);
	cr_assert_arr_eq(g_pkt, g_copy, b.len, "input modified");
	check_tcp(g_copy, &b, sp->v6, exp_seg, mtu, &k);
	sink_free(&k);
}

/* ---- TCP ---- */

Test(gso, tcp4_64000_timestamps_fin_psh)
{
	struct spec sp = { .proto = 6, .tcp_opts = 12, .paylen = 64000,
			   .flags = T_ACK | T_PSH | T_FIN, .seq = 1000,
			   .id = 0x1234 };

	/* 44 x 1448 + 288 */
	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 1500, 1448);
}

Test(gso, tcp6_timestamps_odd_length)
{
	struct spec sp = { .v6 = 1, .proto = 6, .tcp_opts = 12,
			   .paylen = 63999, .flags = T_ACK | T_PSH,
			   .seq = 0x7fffffff, .seed = 7 };

	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV6, 1428, 1500, 1428);
}

Test(gso, tcp4_cwr_first_only_with_ecn)
{
	struct spec sp = { .proto = 6, .tcp_opts = 12, .paylen = 10000,
			   .flags = T_CWR | T_ECE | T_ACK | T_PSH, .seq = 5,
			   .id = 9 };

	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448,
		1500, 1448);
}

Test(gso, tcp6_cwr_fin_with_ecn)
{
	struct spec sp = { .v6 = 1, .proto = 6, .tcp_opts = 12,
			   .paylen = 5000, .flags = T_CWR | T_ACK | T_FIN,
			   .seq = 77 };

	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN, 1428,
		1500, 1428);
}

Test(gso, tcp4_mtu_below_gso_size)
{
	struct spec sp = { .proto = 6, .tcp_opts = 12, .paylen = 30000,
			   .flags = T_ACK | T_PSH, .seq = 1, .id = 100 };

	/* 1400 - 20 - 32 = 1348 */
	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 1400, 1348);
}

Test(gso, tcp6_mtu_below_gso_size)
{
	struct spec sp = { .v6 = 1, .proto = 6, .tcp_opts = 12,
			   .paylen = 30000, .flags = T_ACK, .seq = 1 };

	/* 1280 - 40 - 32 = 1208 */
	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV6, 1428, 1280, 1208);
}

Test(gso, tcp4_ip_options_odd_segment_size)
{
	/* 8 option bytes, 40 TCP option bytes: 28 + 60 = 88 bytes of
	 * headers; mtu 1001: 913-byte segments start at odd offsets */
	struct spec sp = { .proto = 6, .ip_opts = 8, .tcp_opts = 40,
			   .paylen = 20001, .flags = T_ACK | T_PSH | T_FIN,
			   .seq = 3, .id = 1 };

	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 1001, 913);
}

Test(gso, tcp4_seq_and_id_wrap)
{
	struct spec sp = { .proto = 6, .tcp_opts = 12, .paylen = 8000,
			   .flags = T_ACK, .seq = 0xfffff000, .id = 0xfffe };

	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1000, 1500, 1000);
}

Test(gso, tcp4_exact_multiple)
{
	struct spec sp = { .proto = 6, .paylen = 1448 * 10,
			   .flags = T_ACK | T_PSH, .seq = 42 };

	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 1500, 1448);
}

Test(gso, tcp_single_segment_keeps_flags)
{
	struct spec sp = { .proto = 6, .tcp_opts = 12, .paylen = 700,
			   .flags = T_CWR | T_ACK | T_PSH | T_FIN, .seq = 9 };
	struct spec sp6 = sp;

	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 1500, 1448);
	sp6.v6 = 1;
	run_tcp(&sp6, VIRTIO_NET_HDR_GSO_TCPV6, 1448, 1500, 1428);
}

Test(gso, tcp_tiny_segments)
{
	/* mtu = headers + 1: one byte per segment */
	struct spec sp = { .proto = 6, .paylen = 301, .flags = T_ACK | T_FIN,
			   .seq = 0xffffff00, .id = 0xff00 };

	run_tcp(&sp, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 41, 1);
}

Test(gso, tcp_hdr_len_and_flags_not_trusted)
{
	struct spec sp = { .proto = 6, .tcp_opts = 12, .paylen = 4000,
			   .flags = T_ACK, .seq = 1 };
	struct built b = build(g_pkt, &sp);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);
	struct sink k = { 0 };

	/* a wrong hdr_len, no NEEDS_CSUM, a garbage checksum field */
	vh.hdr_len = 3;
	vh.flags = 0;
	g_pkt[b.l3len + 16] ^= 0x5a;
	memcpy(g_copy, g_pkt, b.len);
	cr_assert_eq(gso_segment(&vh, g_pkt, b.len, 1500, sink_emit, &k), 3);
	check_tcp(g_copy, &b, 0, 1448, 1500, &k);
	sink_free(&k);
}

/* ---- UDP (USO) ---- */

static void run_udp(const struct spec *sp, uint16_t gso_size,
		    unsigned int mtu)
{
	struct built b = build(g_pkt, sp);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_UDP_L4, gso_size,
					&b, 17);
	struct sink k = { 0 };
	int rc;

	memcpy(g_copy, g_pkt, b.len);
	rc = gso_segment(&vh, g_pkt, b.len, mtu, sink_emit, &k);
	cr_assert_eq(rc, k.n, "rc %d, %d emitted", rc, k.n);
	check_udp(g_copy, &b, sp->v6, gso_size, &k);
	sink_free(&k);
}

Test(gso, udp4_l4)
{
	struct spec sp = { .proto = 17, .paylen = 10000, .id = 0xfffd };

	/* 8 x 1200 + 400; the mtu does not cut datagrams */
	run_udp(&sp, 1200, 1000);
}

Test(gso, udp6_l4_odd_gso_size)
{
	struct spec sp = { .v6 = 1, .proto = 17, .paylen = 60001, .seed = 3 };

	run_udp(&sp, 1333, 1500);
}

Test(gso, udp4_ip_options)
{
	struct spec sp = { .proto = 17, .ip_opts = 4, .paylen = 3000 };

	run_udp(&sp, 1472, 1500);
}

/*
 * Set the 2 payload bytes at off so that the UDP checksum of the datagram
 * (headers h as they will be sent, payload pl/plen) computes to 0.
 */
static void force_zero_udp(const uint8_t *h, size_t l3len, int v6,
			   uint8_t *pl, size_t plen, size_t off)
{
	uint8_t tmp[GSO_MAX_HDR];
	uint64_t s;

	memcpy(tmp, h, l3len + 8);
	wr16(tmp + l3len + 6, 0);
	pl[off] = 0;
	pl[off + 1] = 0;
	s = ref_pseudo(tmp, v6, 17, (uint32_t)(8 + plen));
	s = ref_sum(s, tmp + l3len, 8);
	s = ref_sum(s, pl, plen);
	wr16(pl + off, (uint16_t)~ref_fold(s));
	/* now sum == 0xffff: ~sum == 0 */
	s = ref_pseudo(tmp, v6, 17, (uint32_t)(8 + plen));
	s = ref_sum(s, tmp + l3len, 8);
	s = ref_sum(s, pl, plen);
	cr_assert_eq(ref_fold(s), 0xffff);
}

Test(gso, udp_zero_checksum_sent_as_ffff)
{
	struct spec sp = { .proto = 17, .paylen = 2500, .id = 50 };
	struct built b = build(g_pkt, &sp);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_UDP_L4, 1000, &b,
					17);
	uint8_t h[GSO_MAX_HDR];
	struct sink k = { 0 };

	/* the second datagram (payload 1000..1999) as it will be sent */
	memcpy(h, g_pkt, b.hlen);
	wr16(h + 2, (uint16_t)(b.hlen + 1000));
	wr16(h + 4, 51);
	wr16(h + b.l3len + 4, 1008);
	force_zero_udp(h, b.l3len, 0, g_pkt + b.hlen + 1000, 1000, 10);

	memcpy(g_copy, g_pkt, b.len);
	cr_assert_eq(gso_segment(&vh, g_pkt, b.len, 1500, sink_emit, &k), 3);
	cr_assert_eq(rd16(k.s[1].b + b.l3len + 6), 0xffff);
	check_udp(g_copy, &b, 0, 1000, &k);
	sink_free(&k);
}

/* ---- GSO_NONE ---- */

static void run_none(const struct spec *sp, int zero)
{
	struct built b = build(g_pkt, sp);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_NONE, 0, &b,
					sp->proto);
	size_t coff = b.l3len + (sp->proto == 6 ? 16 : 6);
	struct sink k = { 0 };
	uint16_t want;

	if (zero)
		force_zero_udp(g_pkt, b.l3len, sp->v6, g_pkt + b.hlen,
			       sp->paylen, 0);
	memcpy(g_copy, g_pkt, b.len);
	want = ref_l4_check(g_copy, b.l3len, b.hlen, g_copy + b.hlen,
			    sp->paylen, sp->v6, sp->proto);
	if (zero)
		cr_assert_eq(want, 0xffff);
	wr16(g_copy + coff, want);

	/* mtu below the packet: GSO_NONE never cuts */
	cr_assert_eq(gso_segment(&vh, g_pkt, b.len, 576, sink_emit, &k), 1);
	cr_assert_eq(k.n, 1);
	cr_assert_eq(k.s[0].hlen + k.s[0].plen, b.len);
	cr_assert_arr_eq(k.s[0].b, g_copy, b.len);
	cr_assert_arr_eq(g_pkt, g_copy, b.len, "checksum written in place");
	cr_assert(ref_l4_ok(k.s[0].b, b.l3len, b.len, sp->v6, sp->proto));
	sink_free(&k);
}

Test(gso, none_csum_tcp4)
{
	struct spec sp = { .proto = 6, .tcp_opts = 12, .paylen = 1447,
			   .flags = T_ACK | T_PSH, .seq = 1 };

	run_none(&sp, 0);
}

Test(gso, none_csum_tcp6)
{
	struct spec sp = { .v6 = 1, .proto = 6, .tcp_opts = 12,
			   .paylen = 9001, .flags = T_ACK, .seq = 1 };

	run_none(&sp, 0);
}

Test(gso, none_csum_udp4)
{
	struct spec sp = { .proto = 17, .paylen = 333 };

	run_none(&sp, 0);
}

Test(gso, none_csum_udp6)
{
	struct spec sp = { .v6 = 1, .proto = 17, .paylen = 1200 };

	run_none(&sp, 0);
}

Test(gso, none_csum_udp_zero_is_ffff)
{
	struct spec sp = { .proto = 17, .paylen = 100 };
	struct spec sp6 = { .v6 = 1, .proto = 17, .paylen = 101 };

	run_none(&sp, 1);
	run_none(&sp6, 1);
}

Test(gso, none_without_csum_unchanged)
{
	struct spec sp = { .proto = 6, .paylen = 3000, .flags = T_ACK };
	struct built b = build(g_pkt, &sp);
	struct virtio_net_hdr vh;
	struct sink k = { 0 };

	memset(&vh, 0, sizeof(vh));
	vh.gso_size = 1448; /* ignored with GSO_NONE */
	memcpy(g_copy, g_pkt, b.len);
	cr_assert_eq(gso_segment(&vh, g_pkt, b.len, 1500, sink_emit, &k), 1);
	cr_assert_eq(k.n, 1);
	cr_assert_eq(k.s[0].hlen + k.s[0].plen, b.len);
	cr_assert_arr_eq(k.s[0].b, g_copy, b.len);
	cr_assert_arr_eq(g_pkt, g_copy, b.len);
	sink_free(&k);
}

/* ---- errors ---- */

/* gso_segment refuses (pkt, len) with -EINVAL, emits nothing, and leaves
 * the packet as it was */
static void expect_einval(const struct virtio_net_hdr *vh, size_t len,
			  unsigned int mtu, const char *what)
{
	struct sink k = { 0 };
	int rc;

	memcpy(g_copy, g_pkt, len);
	rc = gso_segment(vh, g_pkt, len, mtu, sink_emit, &k);
	cr_assert_eq(rc, -EINVAL, "%s: rc %d", what, rc);
	cr_assert_eq(k.n, 0, "%s: %d emitted", what, k.n);
	cr_assert_arr_eq(g_pkt, g_copy, len, "%s: packet modified", what);
	sink_free(&k);
}

static const struct spec tcp4 = { .proto = 6, .tcp_opts = 12,
				  .paylen = 5000, .flags = T_ACK };
static const struct spec tcp6 = { .v6 = 1, .proto = 6, .tcp_opts = 12,
				  .paylen = 5000, .flags = T_ACK };
static const struct spec udp4 = { .proto = 17, .paylen = 5000 };

Test(gso, bad_gso_size_zero)
{
	struct built b = build(g_pkt, &tcp4);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 0, &b, 6);

	expect_einval(&vh, b.len, 1500, "tcp gso_size 0");
	b = build(g_pkt, &udp4);
	vh = mkvh(VIRTIO_NET_HDR_GSO_UDP_L4, 0, &b, 17);
	expect_einval(&vh, b.len, 1500, "udp gso_size 0");
}

Test(gso, bad_ip4_lengths)
{
	struct built b = build(g_pkt, &tcp4);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);

	expect_einval(&vh, b.len - 1, 1500, "total length > len");
	wr16(g_pkt + 2, (uint16_t)(b.len - 1));
	expect_einval(&vh, b.len, 1500, "total length < len");
	b = build(g_pkt, &tcp4);
	g_pkt[0] = 0x44;
	expect_einval(&vh, b.len, 1500, "ihl 4");
	g_pkt[0] = 0x45;
	expect_einval(&vh, 19, 1500, "shorter than an IPv4 header");
	expect_einval(&vh, 0, 1500, "empty");
	g_pkt[0] = 0x4f; /* 60 bytes of header in a 40-byte packet */
	wr16(g_pkt + 2, 40);
	expect_einval(&vh, 40, 1500, "ihl past the end");
	b = build(g_pkt, &tcp4);
	wr16(g_pkt + 6, 0x2000); /* MF */
	expect_einval(&vh, b.len, 1500, "fragment");
}

Test(gso, bad_tcp_header)
{
	struct built b = build(g_pkt, &tcp4);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);

	g_pkt[b.l3len + 12] = 0x40; /* doff 4 */
	expect_einval(&vh, b.len, 1500, "doff 4");
	/* a 60-byte TCP header in a 20 + 40 byte packet */
	g_pkt[b.l3len + 12] = 0xf0;
	wr16(g_pkt + 2, 60);
	expect_einval(&vh, 60, 1500, "TCP header past the end");
	/* no room for even 20 bytes of TCP */
	wr16(g_pkt + 2, 30);
	expect_einval(&vh, 30, 1500, "truncated TCP header");
}

Test(gso, bad_ip6)
{
	struct built b = build(g_pkt, &tcp6);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV6, 1428, &b, 6);

	expect_einval(&vh, b.len + 1, 1500, "payload length < len");
	expect_einval(&vh, 39, 1500, "shorter than an IPv6 header");
	g_pkt[6] = 0; /* hop-by-hop options: extension headers refused */
	expect_einval(&vh, b.len, 1500, "extension header");
	g_pkt[6] = 6;
	wr16(g_pkt + 4, 0); /* jumbogram style */
	expect_einval(&vh, b.len, 1500, "payload length 0");
}

Test(gso, bad_type_mismatch)
{
	struct built b = build(g_pkt, &tcp6);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);

	expect_einval(&vh, b.len, 1500, "TCPV4 on IPv6");
	b = build(g_pkt, &tcp4);
	vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV6, 1448, &b, 6);
	expect_einval(&vh, b.len, 1500, "TCPV6 on IPv4");
	b = build(g_pkt, &udp4);
	vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);
	expect_einval(&vh, b.len, 1500, "TCPV4 on UDP");
	b = build(g_pkt, &tcp4);
	vh = mkvh(VIRTIO_NET_HDR_GSO_UDP_L4, 1448, &b, 17);
	expect_einval(&vh, b.len, 1500, "UDP_L4 on TCP");
}

Test(gso, bad_gso_type)
{
	struct built b = build(g_pkt, &udp4);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_UDP, 1448, &b, 17);

	expect_einval(&vh, b.len, 1500, "UFO");
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4 | VIRTIO_NET_HDR_GSO_ECN;
	expect_einval(&vh, b.len, 1500, "ECN on UDP_L4");
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE | VIRTIO_NET_HDR_GSO_ECN;
	expect_einval(&vh, b.len, 1500, "ECN alone");
	vh.gso_type = 0x20;
	expect_einval(&vh, b.len, 1500, "unknown type");
}

Test(gso, bad_udp_length)
{
	struct built b = build(g_pkt, &udp4);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_UDP_L4, 1200, &b,
					17);

	wr16(g_pkt + b.l3len + 4, (uint16_t)(b.len - b.l3len + 1));
	expect_einval(&vh, b.len, 1500, "UDP length > IP payload");
	wr16(g_pkt + b.l3len + 4, 8);
	expect_einval(&vh, b.len, 1500, "UDP length < IP payload");
	wr16(g_pkt + 2, 27);
	expect_einval(&vh, 27, 1500, "truncated UDP header");
}

Test(gso, bad_mtu_below_headers)
{
	struct built b = build(g_pkt, &tcp4);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);

	expect_einval(&vh, b.len, (unsigned int)b.hlen, "mtu = headers");
	expect_einval(&vh, b.len, 0, "mtu 0");
}

Test(gso, bad_csum_start_offset)
{
	struct built b = build(g_pkt, &tcp4);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_NONE, 0, &b, 6);

	vh.csum_start = (uint16_t)b.len;
	vh.csum_offset = 0;
	expect_einval(&vh, b.len, 1500, "csum_start at the end");
	vh.csum_start = 0xffff;
	expect_einval(&vh, b.len, 1500, "csum_start past the end");
	vh.csum_start = (uint16_t)b.l3len;
	vh.csum_offset = (uint16_t)(b.len - b.l3len - 1);
	expect_einval(&vh, b.len, 1500, "field across the end");
	vh.csum_offset = 0xffff;
	expect_einval(&vh, b.len, 1500, "csum_offset past the end");
	/* on a GSO packet the fields must name the TCP checksum */
	vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);
	vh.csum_start = 0;
	expect_einval(&vh, b.len, 1500, "GSO csum_start");
	vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);
	vh.csum_offset = 6;
	expect_einval(&vh, b.len, 1500, "GSO csum_offset");
}

Test(gso, callback_error_stops)
{
	struct built b = build(g_pkt, &tcp4);
	struct virtio_net_hdr vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1000, &b, 6);
	struct sink k = { .fail_at = 3 };

	cr_assert_eq(gso_segment(&vh, g_pkt, b.len, 1500, sink_emit, &k),
		     -ENOSPC);
	cr_assert_eq(k.n, 2);
	sink_free(&k);
	vh = mkvh(VIRTIO_NET_HDR_GSO_NONE, 0, &b, 6);
	k.fail_at = 1;
	cr_assert_eq(gso_segment(&vh, g_pkt, b.len, 1500, sink_emit, &k),
		     -ENOSPC);
	cr_assert_eq(k.n, 0);
}

/* ---- scapy recomputes every checksum ---- */

static const char scapy_script[] =
	"import sys\n"
	"from scapy.all import IP, IPv6, TCP, UDP\n"
	"n = 0\n"
	"for line in open(sys.argv[1]):\n"
	"    v, h = line.split()\n"
	"    raw = bytes.fromhex(h)\n"
	"    p = IP(raw) if v == '4' else IPv6(raw)\n"
	"    l4 = p[TCP] if TCP in p else p[UDP]\n"
	"    want = l4.chksum\n"
	"    del l4.chksum\n"
	"    if v == '4':\n"
	"        want_ip = p.chksum\n"
	"        del p.chksum\n"
	"    q = IP(bytes(p)) if v == '4' else IPv6(bytes(p))\n"
	"    got = (q[TCP] if TCP in q else q[UDP]).chksum\n"
	"    if got != want or bytes(q) != raw:\n"
	"        print('bad', n, hex(got), hex(want)); sys.exit(1)\n"
	"    if v == '4' and q.chksum != want_ip:\n"
	"        print('bad ip', n); sys.exit(1)\n"
	"    n += 1\n"
	"print('ok', n)\n";

static void dump_hex(FILE *f, int v, const struct sink *k)
{
	int i;
	size_t j;

	for (i = 0; i < k->n; i++) {
		fprintf(f, "%d ", v);
		for (j = 0; j < k->s[i].hlen + k->s[i].plen; j++)
			fprintf(f, "%02x", k->s[i].b[j]);
		fputc('\n', f);
	}
}

Test(gso, scapy_cross_check)
{
	struct spec st = { .proto = 6, .tcp_opts = 12, .paylen = 64000,
			   .flags = T_ACK | T_PSH | T_FIN, .seq = 0xfffff000,
			   .id = 7 };
	struct spec su = { .v6 = 1, .proto = 17, .paylen = 9999 };
	char hex[] = "/tmp/test_gso_hex.XXXXXX";
	char py[] = "/tmp/test_gso_py.XXXXXX";
	char cmd[256], out[256] = "";
	struct sink k = { 0 };
	struct virtio_net_hdr vh;
	struct built b;
	FILE *f, *p;
	int fd, n = 0, st_rc;

	fd = mkstemp(hex);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);

	b = build(g_pkt, &st);
	vh = mkvh(VIRTIO_NET_HDR_GSO_TCPV4, 1448, &b, 6);
	cr_assert_eq(gso_segment(&vh, g_pkt, b.len, 1500, sink_emit, &k), 45);
	dump_hex(f, 4, &k);
	n += k.n;
	sink_free(&k);

	b = build(g_pkt, &su);
	vh = mkvh(VIRTIO_NET_HDR_GSO_UDP_L4, 1200, &b, 17);
	cr_assert_eq(gso_segment(&vh, g_pkt, b.len, 1500, sink_emit, &k), 9);
	dump_hex(f, 6, &k);
	n += k.n;
	sink_free(&k);
	fclose(f);

	fd = mkstemp(py);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, scapy_script, sizeof(scapy_script) - 1),
		     (ssize_t)sizeof(scapy_script) - 1);
	close(fd);

	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s", py, hex);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	if (!fgets(out, sizeof(out), p))
		out[0] = 0;
	st_rc = pclose(p);
	unlink(hex);
	unlink(py);
	cr_assert_eq(st_rc, 0, "scapy: %s", out);
	snprintf(cmd, sizeof(cmd), "ok %d\n", n);
	cr_assert_str_eq(out, cmd);
}
