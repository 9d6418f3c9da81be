// SPDX-License-Identifier: GPL-2.0
/*
 * gro: merge the TCP segments and UDP datagrams of a burst into
 * super-packets for the tun.
 *
 * The rules follow Linux's inet_gro_receive/tcp_gro_receive:
 *  - a flow is keyed by (family, protocol, saddr, daddr, sport, dport) and
 *    started by a TCP segment with payload, no SYN/RST/URG/FIN/PSH, no IPv4
 *    options or fragmentation, a valid IPv4 header checksum, no IPv6
 *    extension header, an IP length equal to the buffer length and a valid
 *    TCP checksum;
 *  - a segment joins its flow when its sequence number is the one expected,
 *    the IP fields that must not change (TTL/hop limit, TOS/traffic class
 *    and flow label, DF) and the TCP ones (header length, options bytes,
 *    ACK number, window, flags but PSH/FIN) are those of the first segment,
 *    it has no CWR, its payload is at most the first's (mss), the merged
 *    packet stays within 65535 bytes and GRO_MAX_SEGS segments, and its TCP
 *    checksum is valid;
 *  - a joining segment with less than mss bytes, PSH or FIN is the last:
 *    the flow is written right after it;
 *  - any other segment of a held flow writes the flow first, then starts a
 *    new flow or is written alone, so a flow is never reordered.
 *
 * UDP (udp_gro_receive_segment): a flow is started by a datagram like a TCP
 * segment's (clean IP header, payload, UDP length equal to the IP payload
 * length) with a checksum (not 0) that is valid; a datagram joins when the
 * IP fields that must not change are the first's, and for IPv4 without DF
 * its IP id is the first's + its index (GSO numbers the datagrams so: ids
 * matter to fragment reassembly), its payload is at most the first's
 * (gso_size), the size limits hold and its checksum is valid; a shorter one
 * is the last. The merged packet goes out as UDP_L4: the UDP length is the
 * total, the checksum field holds the pseudo-header sum over that length,
 * which __udp_gso_segment adjusts to each datagram's length. A tun that
 * refuses UDP_L4 (EINVAL: before kernel 6.2) has the flow written datagram
 * by datagram, and the table stops merging UDP (udp_off).
 *
 * A packet that may be TCP or UDP but that gro cannot read (an IPv4
 * fragment, an IPv6 extension header, truncated or malformed headers) first
 * writes every flow of that protocol (any protocol behind an IPv6 extension
 * header) between the same two addresses; other packets (ICMP, ...) are
 * written at once and leave the held flows alone.
 *
 * TCP and UDP checksums are verified before a segment is held: the merged
 * packet is handed over as CHECKSUM_PARTIAL (NEEDS_CSUM), which the kernel
 * trusts, so a segment corrupted before its encryption would otherwise be
 * accepted. A segment that fails the check is written alone and the kernel
 * drops it. So is an IPv4 header with a bad checksum (inet_gro_receive
 * checks it too): merged, only the first header's is seen.
 *
 * When a write fails, the packet offered to gro_add is never held: it is
 * written alone, and the first error is returned.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/gro.h"

/* UDP segmentation (kernel 6.2), newer than Debian 12's headers. */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_URG 0x20
#define TCP_CWR 0x80

#define IP_MAX_LEN 65535
#define UDP_HLEN 8
#define IPV4_DF 0x40 /* in byte 6 */

/* One offered packet, as far as gro cares. */
struct seg {
	uint8_t family;  /* 4 or 6 */
	uint8_t proto;   /* IPPROTO_TCP, IPPROTO_UDP; 0: either (K_ADDRS) */
	uint8_t flags;   /* TCP flags byte */
	bool clean;      /* no IP options/fragment/ext header, exact length,
			  * valid IPv4 header checksum; UDP: UDP length too */
	uint16_t iphl;   /* IP header length */
	uint16_t hlen;   /* IP + TCP/UDP header length */
	uint32_t iplen;  /* IP total length */
	uint32_t plen;   /* TCP/UDP payload length */
	uint32_t seq;    /* TCP */
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

enum kind {
	K_OTHER, /* not TCP/UDP of a flow gro could hold: written at once */
	K_ADDRS, /* may be TCP/UDP (s->proto, 0: either) between two addresses
		  * (s->family), but not parsed: every flow of that protocol
		  * between them is written before it */
	K_L4,    /* TCP or UDP: s is filled */
};

static bool ipv6_exthdr(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 60;
}

static bool l4_proto(uint8_t p)
{
	return p == IPPROTO_TCP || p == IPPROTO_UDP;
}

/*
 * Classifies the packet. K_L4: the IP and TCP/UDP headers lie within len
 * bytes (IP length <= len) and s is filled. K_ADDRS: IPv4 TCP/UDP that is a
 * fragment or malformed/truncated past the IP addresses, IPv6 TCP/UDP
 * likewise, or anything behind IPv6 extension headers (a hold of the same
 * addresses is flushed before it, so nothing is reordered). K_OTHER:
 * anything else.
 */
static enum kind parse(const uint8_t *pkt, size_t len, struct seg *s)
{
	uint32_t l4, thl, ulen;

	if (len < 20)
		return K_OTHER;
	switch (pkt[0] >> 4) {
	case 4:
		if (!l4_proto(pkt[9]))
			return K_OTHER;
		s->family = 4;
		s->proto = pkt[9];
		s->iphl = (pkt[0] & 0x0f) * 4;
		s->iplen = get16(pkt + 2);
		if (s->iphl < 20 || s->iplen < s->iphl || s->iplen > len ||
		    (get16(pkt + 6) & 0x3fff))
			return K_ADDRS;
		s->clean = s->iphl == 20 &&
			   csum_fold(csum_add(0, pkt, 20)) == 0xffff;
		break;
	case 6:
		if (len < 40)
			return K_OTHER;
		s->family = 6;
		s->proto = 0;
		if (ipv6_exthdr(pkt[6]))
			return K_ADDRS;
		if (!l4_proto(pkt[6]))
			return K_OTHER;
		s->proto = pkt[6];
		s->iphl = 40;
		s->iplen = 40 + get16(pkt + 4);
		if (s->iplen > len)
			return K_ADDRS;
		s->clean = true;
		break;
	default:
		return K_OTHER;
	}
	s->clean = s->clean && s->iplen == len;
	l4 = s->iplen - s->iphl;
	if (s->proto == IPPROTO_UDP) {
		if (l4 < UDP_HLEN)
			return K_ADDRS;
		ulen = get16(pkt + s->iphl + 4);
		if (ulen < UDP_HLEN || ulen > l4)
			return K_ADDRS;
		/* bytes past the UDP length: not merged */
		s->clean = s->clean && ulen == l4;
		s->hlen = s->iphl + UDP_HLEN;
		s->plen = l4 - UDP_HLEN;
		s->seq = 0;
		s->flags = 0;
		return K_L4;
	}
	if (l4 < 20)
		return K_ADDRS;
	thl = (pkt[s->iphl + 12] >> 4) * 4;
	if (thl < 20 || thl > l4)
		return K_ADDRS;
	s->hlen = s->iphl + thl;
	s->plen = l4 - thl;
	s->seq = get32(pkt + s->iphl + 4);
	s->flags = pkt[s->iphl + 13];
	return K_L4;
}

static uint32_t pseudo(const uint8_t *pkt, uint8_t family, uint8_t proto,
		       uint32_t l4)
{
	if (family == 4)
		return csum_pseudo4(pkt + 12, pkt + 16, proto, l4);
	return csum_pseudo6(pkt + 8, pkt + 24, proto, l4);
}

/* TCP or UDP checksum valid; a UDP checksum of 0 (none) is not. */
static bool l4_csum_ok(const uint8_t *pkt, const struct seg *s)
{
	uint32_t l4 = s->iplen - s->iphl;
	uint32_t sum = pseudo(pkt, s->family, s->proto, l4);

	if (s->proto == IPPROTO_UDP && !get16(pkt + s->iphl + 6))
		return false;
	return csum_fold(csum_add(sum, pkt + s->iphl, l4)) == 0xffff;
}

/* The packet may start a flow (checksum aside). */
static bool startable(const struct gro_table *t, const struct seg *s)
{
	if (!s->clean || !s->plen)
		return false;
	if (s->proto == IPPROTO_UDP)
		return !t->udp_off;
	return !(s->flags & (TCP_SYN | TCP_RST | TCP_URG | TCP_FIN | TCP_PSH));
}

/* f is between the addresses of pkt; proto 0 matches any protocol */
static bool same_addrs(const struct gro_flow *f, const uint8_t *pkt,
		       uint8_t family, uint8_t proto)
{
	if (f->family != family || (proto && f->proto != proto))
		return false;
	if (family == 4)
		return !memcmp(f->pkt + 12, pkt + 12, 8);
	return !memcmp(f->pkt + 8, pkt + 8, 32);
}

static struct gro_flow *find(struct gro_table *t, const uint8_t *pkt,
			     const struct seg *s)
{
	int i;

	for (i = 0; i < t->nflows; i++) {
		struct gro_flow *f = &t->flows[i];
		uint16_t fiphl = f->family == 4 ? 20 : 40;

		if (same_addrs(f, pkt, s->family, s->proto) &&
		    !memcmp(f->pkt + fiphl, pkt + s->iphl, 4))
			return f;
	}
	return NULL;
}

/* The IP fields that must not change (inet_gro_receive/ipv6_gro_receive):
 * TOS, TTL, DF; traffic class, flow label, hop limit. */
static bool ip_same(const uint8_t *fp, const uint8_t *pkt, uint8_t family)
{
	if (family == 4)
		return fp[1] == pkt[1] && fp[8] == pkt[8] &&
		       !((fp[6] ^ pkt[6]) & IPV4_DF);
	return !memcmp(fp, pkt, 4) && fp[7] == pkt[7];
}

/* The rules of udp_gro_receive_segment and the size limits; the checksum
 * comes after. */
static bool can_merge_udp(const struct gro_table *t, const struct gro_flow *f,
			  const uint8_t *pkt, const struct seg *s)
{
	const uint8_t *fp = f->pkt;

	if (t->udp_off || !s->clean || !s->plen || s->hlen != f->hlen ||
	    !ip_same(fp, pkt, s->family))
		return false;
	/* without DF, GSO gives the datagrams the ids first + 1, + 2... */
	if (s->family == 4 && !(pkt[6] & IPV4_DF) &&
	    get16(pkt + 4) != (uint16_t)(get16(fp + 4) + f->nsegs))
		return false;
	if (s->plen > f->mss)
		return false;
	if (f->nsegs >= GRO_MAX_SEGS || f->total + s->plen > IP_MAX_LEN)
		return false;
	return true;
}

/* Every header rule of tcp_gro_receive/inet_gro_receive/ipv6_gro_receive,
 * the sequence number and the size limits; the checksum comes after. */
static bool can_merge(const struct gro_table *t, const struct gro_flow *f,
		      const uint8_t *pkt, const struct seg *s)
{
	const uint8_t *fp = f->pkt;
	uint16_t iphl = s->iphl;
	const uint8_t *th = pkt + iphl, *fth = fp + iphl;
	uint8_t fflags;

	if (s->proto == IPPROTO_UDP)
		return can_merge_udp(t, f, pkt, s);
	if (!s->clean || !s->plen || s->hlen != f->hlen)
		return false;
	/* clean, so iphl is the flow's too: the flags lie within its header */
	fflags = fth[13];
	if (!ip_same(fp, pkt, s->family))
		return false;
	if (s->flags & TCP_CWR)
		return false;
	if ((s->flags ^ fflags) & ~(TCP_CWR | TCP_FIN | TCP_PSH))
		return false;
	if (memcmp(fth + 8, th + 8, 4) || memcmp(fth + 14, th + 14, 2))
		return false;
	if (memcmp(fth + 20, th + 20, s->hlen - iphl - 20))
		return false;
	if (s->seq != f->next_seq || s->plen > f->mss)
		return false;
	if (f->nsegs >= GRO_MAX_SEGS || f->total + s->plen > IP_MAX_LEN)
		return false;
	return true;
}

static int write_alone(struct gro_table *t, uint8_t *pkt, size_t len,
		       gro_out_fn out, void *arg)
{
	struct virtio_net_hdr vh;
	struct iovec iov[2];
	int err;

	memset(&vh, 0, sizeof(vh));
	iov[0].iov_base = &vh;
	iov[0].iov_len = sizeof(vh);
	iov[1].iov_base = pkt;
	iov[1].iov_len = len;
	err = out(arg, iov, 2);
	if (!err)
		t->st.written++;
	return err;
}

/*
 * The tun refused a merged UDP packet (no UDP_L4 before kernel 6.2): the
 * first datagram's headers are restored from orig, the datagrams are
 * written one by one, and UDP is merged no more.
 */
static int write_udp_alone(struct gro_table *t, struct gro_flow *f,
			   const uint8_t *orig, gro_out_fn out, void *arg)
{
	int i, err, ret;

	t->udp_off = true;
	memcpy(f->pkt, orig, f->hlen);
	t->st.merged -= (uint64_t)(f->nsegs - 1);
	ret = write_alone(t, f->pkt, f->len, out, arg);
	for (i = 0; i < f->nsegs - 1; i++) {
		/* every datagram of the flow has the first's header length */
		uint8_t *q = (uint8_t *)f->segs[i].iov_base - f->hlen;

		err = write_alone(t, q, f->hlen + f->segs[i].iov_len, out, arg);
		if (err && !ret)
			ret = err;
	}
	return ret;
}

/* Writes flow f (the table entry stays; the caller removes it). */
static int write_flow(struct gro_table *t, struct gro_flow *f,
		      gro_out_fn out, void *arg)
{
	struct iovec iov[GRO_MAX_SEGS + 1];
	struct virtio_net_hdr vh;
	uint8_t *p = f->pkt, orig[40 + UDP_HLEN];
	uint16_t iphl = f->family == 4 ? 20 : 40;
	bool udp = f->proto == IPPROTO_UDP;
	uint16_t check;
	int i, err;

	if (f->nsegs == 1)
		return write_alone(t, f->pkt, f->len, out, arg);

	if (udp)
		memcpy(orig, p, f->hlen);
	if (f->family == 4) {
		uint16_t old, new_ = htons((uint16_t)f->total);

		memcpy(&old, p + 2, 2);
		memcpy(&check, p + 10, 2);
		csum_replace16(&check, old, new_);
		memcpy(p + 2, &new_, 2);
		memcpy(p + 10, &check, 2);
	} else {
		put16(p + 4, (uint16_t)(f->total - iphl));
	}
	/* CHECKSUM_PARTIAL: the pseudo-header sum, not inverted; for UDP over
	 * the total length, which __udp_gso_segment trades for each
	 * datagram's */
	check = csum_fold(pseudo(p, f->family, f->proto, f->total - iphl));
	memset(&vh, 0, sizeof(vh));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.hdr_len = f->hlen;
	vh.gso_size = f->mss;
	vh.csum_start = iphl;
	if (udp) {
		put16(p + iphl + 4, (uint16_t)(f->total - iphl));
		memcpy(p + iphl + 6, &check, 2);
		vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
		vh.csum_offset = 6;
	} else {
		memcpy(p + iphl + 16, &check, 2);
		vh.gso_type = f->family == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 :
					       VIRTIO_NET_HDR_GSO_TCPV6;
		if (p[iphl + 13] & TCP_CWR)
			vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		vh.csum_offset = 16;
	}

	iov[0].iov_base = &vh;
	iov[0].iov_len = sizeof(vh);
	iov[1].iov_base = p;
	iov[1].iov_len = f->len;
	for (i = 1; i < f->nsegs; i++)
		iov[i + 1] = f->segs[i - 1];
	err = out(arg, iov, f->nsegs + 1);
	if (udp && err == -EINVAL)
		return write_udp_alone(t, f, orig, out, arg);
	if (!err)
		t->st.written++;
	return err;
}

static void flow_copy(struct gro_flow *dst, const struct gro_flow *src)
{
	dst->pkt = src->pkt;
	dst->len = src->len;
	dst->family = src->family;
	dst->hlen = src->hlen;
	dst->mss = src->mss;
	dst->next_seq = src->next_seq;
	dst->total = src->total;
	dst->nsegs = src->nsegs;
	dst->proto = src->proto;
	memcpy(dst->segs, src->segs, (src->nsegs - 1) * sizeof(src->segs[0]));
}

/* Writes flow f and removes it; the others keep their order. */
static int flush_flow(struct gro_table *t, struct gro_flow *f,
		      gro_out_fn out, void *arg)
{
	int i = (int)(f - t->flows), err;

	err = write_flow(t, f, out, arg);
	for (; i + 1 < t->nflows; i++)
		flow_copy(&t->flows[i], &t->flows[i + 1]);
	t->nflows--;
	return err;
}

void gro_init(struct gro_table *t, bool enabled)
{
	memset(t, 0, sizeof(*t));
	t->enabled = enabled;
}

/* Writes every flow of protocol proto (0: any) between the addresses of
 * pkt, then pkt. */
static int add_addrs(struct gro_table *t, uint8_t *pkt, size_t len,
		     uint8_t family, uint8_t proto, gro_out_fn out, void *arg)
{
	int i = 0, err, ret = 0;

	while (i < t->nflows) {
		if (!same_addrs(&t->flows[i], pkt, family, proto)) {
			i++;
			continue;
		}
		t->st.flushes++;
		err = flush_flow(t, &t->flows[i], out, arg);
		if (err && !ret)
			ret = err;
	}
	err = write_alone(t, pkt, len, out, arg);
	return ret ? ret : err;
}

int gro_add(struct gro_table *t, uint8_t *pkt, size_t len, gro_out_fn out,
	    void *arg)
{
	struct gro_flow *f;
	struct seg s;
	int err = 0;

	if (!t->enabled)
		return write_alone(t, pkt, len, out, arg);
	switch (parse(pkt, len, &s)) {
	case K_OTHER:
		return write_alone(t, pkt, len, out, arg);
	case K_ADDRS:
		return add_addrs(t, pkt, len, s.family, s.proto, out, arg);
	case K_L4:
		break;
	}

	f = find(t, pkt, &s);
	if (f) {
		if (can_merge(t, f, pkt, &s) && l4_csum_ok(pkt, &s)) {
			bool last = s.plen < f->mss;

			f->segs[f->nsegs - 1].iov_base = pkt + s.hlen;
			f->segs[f->nsegs - 1].iov_len = s.plen;
			f->nsegs++;
			f->total += s.plen;
			t->st.merged++;
			if (s.proto == IPPROTO_TCP) {
				f->next_seq += s.plen;
				/* the merged packet carries the last one's
				 * PSH/FIN */
				f->pkt[s.iphl + 13] |=
					s.flags & (TCP_PSH | TCP_FIN);
				last = last || (s.flags & (TCP_PSH | TCP_FIN));
			}
			if (last) {
				t->st.flushes++;
				return flush_flow(t, f, out, arg);
			}
			return 0;
		}
		t->st.flushes++;
		err = flush_flow(t, f, out, arg);
	}

	if (err || !startable(t, &s) || !l4_csum_ok(pkt, &s)) {
		int e = write_alone(t, pkt, len, out, arg);

		return err ? err : e;
	}

	if (t->nflows == GRO_MAX_FLOWS) {
		t->st.flushes++;
		err = flush_flow(t, &t->flows[0], out, arg);
		if (err) {
			write_alone(t, pkt, len, out, arg);
			return err;
		}
	}
	f = &t->flows[t->nflows++];
	f->pkt = pkt;
	f->len = len;
	f->family = s.family;
	f->proto = s.proto;
	f->hlen = (uint8_t)s.hlen;
	f->mss = (uint16_t)s.plen;
	f->next_seq = s.seq + s.plen;
	f->total = s.iplen;
	f->nsegs = 1;
	return 0;
}

int gro_flush(struct gro_table *t, gro_out_fn out, void *arg)
{
	int i, err, ret = 0;

	for (i = 0; i < t->nflows; i++) {
		err = write_flow(t, &t->flows[i], out, arg);
		if (err && !ret)
			ret = err;
	}
	t->nflows = 0;
	return ret;
}
