// SPDX-License-Identifier: GPL-2.0
/*
 * gso: segmentation of TCP (TSO) and UDP (USO) super-packets read from the
 * tun, and completion of partial checksums (VIRTIO_NET_HDR_F_NEEDS_CSUM).
 *
 * Everything is checked before the first packet is emitted, so a malformed
 * packet emits nothing. Each segment's headers are rebuilt in a local buffer
 * and emitted with a slice of the original payload: the payload is never
 * copied here.
 *
 * Limits:
 *  - IPv6 GSO packets must carry TCP/UDP right after the fixed header:
 *    extension headers (including the hop-by-hop jumbo option of BIG TCP)
 *    are refused with -EINVAL;
 *  - IPv4 GSO packets must not be fragments; the IP total length / IPv6
 *    payload length must match len exactly (no trailing bytes);
 *  - vh->hdr_len is not trusted: header lengths come from the headers;
 *  - with NEEDS_CSUM on a GSO packet, csum_start/csum_offset must point at
 *    the TCP/UDP checksum (the checksum is recomputed from scratch anyway);
 *  - GSO_NONE + NEEDS_CSUM does what the kernel's skb_checksum_help does:
 *    the sum over [csum_start, len) is stored at csum_start + csum_offset,
 *    a result of 0 stored as 0xffff (equivalent for TCP, required for UDP);
 *    the packet itself is not parsed;
 *  - GSO_NONE emits the whole packet as hdr (hdr = pkt, hlen = len) with an
 *    empty payload slice (pkt + len, 0);
 *  - the ECN bit is only accepted with TCPV4/TCPV6; UFO (GSO_UDP) and
 *    unknown types are refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/gso.h"

#define IP4_HLEN_MIN 20
#define IP6_HLEN 40
#define TCP_HLEN_MIN 20
#define UDP_HLEN 8
#define TCP_CHECK_OFF 16
#define UDP_CHECK_OFF 6

#define TCPF_FIN 0x01
#define TCPF_PSH 0x08
#define TCPF_CWR 0x80

struct gso_pkt {
	size_t l3len; /* IP header length (with IPv4 options) */
	size_t hlen;  /* IP + TCP/UDP header length */
	int v6;
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

/* Checks the IP and TCP/UDP headers of a GSO packet; fills gp. */
static int gso_parse(const struct virtio_net_hdr *vh, const uint8_t *pkt,
		     size_t len, int v6, uint8_t proto, struct gso_pkt *gp)
{
	size_t l3len, l4len;

	if (len < 1 || (pkt[0] >> 4) != (v6 ? 6 : 4))
		return -EINVAL;
	if (v6) {
		if (len < IP6_HLEN)
			return -EINVAL;
		if ((size_t)get16(pkt + 4) + IP6_HLEN != len)
			return -EINVAL;
		/* extension headers are not supported */
		if (pkt[6] != proto)
			return -EINVAL;
		l3len = IP6_HLEN;
	} else {
		if (len < IP4_HLEN_MIN)
			return -EINVAL;
		l3len = (size_t)(pkt[0] & 0x0f) * 4;
		if (l3len < IP4_HLEN_MIN || l3len > len)
			return -EINVAL;
		if (get16(pkt + 2) != len)
			return -EINVAL;
		/* MF or a fragment offset: not a whole datagram */
		if (get16(pkt + 6) & 0x3fff)
			return -EINVAL;
		if (pkt[9] != proto)
			return -EINVAL;
	}
	if (proto == IPPROTO_TCP) {
		if (len - l3len < TCP_HLEN_MIN)
			return -EINVAL;
		l4len = (size_t)(pkt[l3len + 12] >> 4) * 4;
		if (l4len < TCP_HLEN_MIN || l4len > len - l3len)
			return -EINVAL;
	} else {
		if (len - l3len < UDP_HLEN)
			return -EINVAL;
		if (get16(pkt + l3len + 4) != len - l3len)
			return -EINVAL;
		l4len = UDP_HLEN;
	}
	if (l3len + l4len > GSO_MAX_HDR)
		return -EINVAL;
	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (vh->csum_start != l3len ||
		    vh->csum_offset != (proto == IPPROTO_TCP ? TCP_CHECK_OFF :
							       UDP_CHECK_OFF))
			return -EINVAL;
	}
	gp->l3len = l3len;
	gp->hlen = l3len + l4len;
	gp->v6 = v6;
	gp->proto = proto;
	return 0;
}

/* Rewrites the IP lengths/id/header checksum and the L4 checksum of the
 * header copy h for a segment carrying plen bytes of pl. */
static void gso_fix(uint8_t *h, const struct gso_pkt *gp, uint16_t id,
		    const uint8_t *pl, size_t plen)
{
	size_t l4len = gp->hlen - gp->l3len + plen;
	size_t coff = gp->proto == IPPROTO_TCP ? TCP_CHECK_OFF : UDP_CHECK_OFF;
	uint32_t sum;
	uint16_t c;

	if (gp->v6) {
		put16(h + 4, (uint16_t)l4len);
		sum = csum_pseudo6(h + 8, h + 24, gp->proto, (uint32_t)l4len);
	} else {
		put16(h + 2, (uint16_t)(gp->l3len + l4len));
		put16(h + 4, id);
		put16(h + 10, 0);
		c = csum_finish(csum_add(0, h, gp->l3len));
		memcpy(h + 10, &c, 2);
		sum = csum_pseudo4(h + 12, h + 16, gp->proto, (uint32_t)l4len);
	}
	if (gp->proto == IPPROTO_UDP)
		put16(h + gp->l3len + 4, (uint16_t)l4len);
	coff += gp->l3len;
	put16(h + coff, 0);
	/* the L4 header length is even (8, or a multiple of 4) */
	sum = csum_add(sum, h + gp->l3len, gp->hlen - gp->l3len);
	sum = csum_add(sum, pl, plen);
	c = csum_finish(sum);
	if (gp->proto == IPPROTO_UDP && c == 0)
		c = 0xffff;
	memcpy(h + coff, &c, 2);
}

static int gso_tcp(const struct virtio_net_hdr *vh, const uint8_t *pkt,
		   size_t len, unsigned int mtu, int v6, gso_emit_fn emit,
		   void *arg)
{
	uint8_t h[GSO_MAX_HDR];
	struct gso_pkt gp;
	size_t seg, total, off;
	uint32_t seq;
	uint16_t id;
	uint8_t flags;
	int err, n = 0;

	err = gso_parse(vh, pkt, len, v6, IPPROTO_TCP, &gp);
	if (err)
		return err;
	if (!vh->gso_size || mtu <= gp.hlen)
		return -EINVAL;
	seg = vh->gso_size;
	if (seg > mtu - gp.hlen)
		seg = mtu - gp.hlen;
	total = len - gp.hlen;
	seq = get32(pkt + gp.l3len + 4);
	flags = pkt[gp.l3len + 13];
	id = v6 ? 0 : get16(pkt + 4);

	off = 0;
	do {
		size_t plen = total - off < seg ? total - off : seg;
		int last = off + plen == total;
		uint8_t f = flags;

		memcpy(h, pkt, gp.hlen);
		if (n)
			f &= ~TCPF_CWR;
		if (!last)
			f &= ~(TCPF_FIN | TCPF_PSH);
		h[gp.l3len + 13] = f;
		put32(h + gp.l3len + 4, seq + (uint32_t)off);
		gso_fix(h, &gp, (uint16_t)(id + n), pkt + gp.hlen + off, plen);
		err = emit(arg, h, gp.hlen, pkt + gp.hlen + off, plen);
		if (err < 0)
			return err;
		n++;
		off += plen;
	} while (off < total);
	return n;
}

static int gso_udp(const struct virtio_net_hdr *vh, const uint8_t *pkt,
		   size_t len, gso_emit_fn emit, void *arg)
{
	uint8_t h[GSO_MAX_HDR];
	struct gso_pkt gp;
	size_t seg, total, off;
	uint16_t id;
	int err, n = 0;

	if (len < 1)
		return -EINVAL;
	err = gso_parse(vh, pkt, len, (pkt[0] >> 4) == 6, IPPROTO_UDP, &gp);
	if (err)
		return err;
	if (!vh->gso_size)
		return -EINVAL;
	seg = vh->gso_size;
	total = len - gp.hlen;
	id = gp.v6 ? 0 : get16(pkt + 4);

	off = 0;
	do {
		size_t plen = total - off < seg ? total - off : seg;

		memcpy(h, pkt, gp.hlen);
		gso_fix(h, &gp, (uint16_t)(id + n), pkt + gp.hlen + off, plen);
		err = emit(arg, h, gp.hlen, pkt + gp.hlen + off, plen);
		if (err < 0)
			return err;
		n++;
		off += plen;
	} while (off < total);
	return n;
}

int gso_csum_complete(const struct virtio_net_hdr *vh, uint8_t *pkt,
		      size_t len)
{
	size_t start = vh->csum_start, coff = start + vh->csum_offset;
	uint16_t c;

	if (!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	if (coff + 2 > len)
		return -EINVAL;
	c = csum_finish(csum_add(0, pkt + start, len - start));
	if (c == 0)
		c = 0xffff;
	memcpy(pkt + coff, &c, 2);
	return 0;
}

static int gso_none(const struct virtio_net_hdr *vh, uint8_t *pkt,
		    size_t len, gso_emit_fn emit, void *arg)
{
	int err;

	if (gso_csum_complete(vh, pkt, len))
		return -EINVAL;
	err = emit(arg, pkt, len, pkt + len, 0);
	return err < 0 ? err : 1;
}

int gso_segment(const struct virtio_net_hdr *vh, uint8_t *pkt, size_t len,
		unsigned int mtu, gso_emit_fn emit, void *arg)
{
	uint8_t type;

	if (!vh || !pkt || !len || !emit)
		return -EINVAL;
	type = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if ((vh->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
	    type != VIRTIO_NET_HDR_GSO_TCPV4 &&
	    type != VIRTIO_NET_HDR_GSO_TCPV6)
		return -EINVAL;
	switch (type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return gso_none(vh, pkt, len, emit, arg);
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return gso_tcp(vh, pkt, len, mtu, 0, emit, arg);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return gso_tcp(vh, pkt, len, mtu, 1, emit, arg);
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		return gso_udp(vh, pkt, len, emit, arg);
	default:
		return -EINVAL;
	}
}
