// SPDX-License-Identifier: GPL-2.0
/*
 * frag: IPv4 fragmentation (RFC 791), ICMP "fragmentation needed"
 * (RFC 792, RFC 1191), ICMPv6 "packet too big" (RFC 4443, RFC 8201) and TCP
 * MSS clamping.
 *
 * Every packet is read with byte accesses or memcpy: nothing assumes the
 * buffers are aligned.
 */
#include <arpa/inet.h>
#include <byteswap.h>
#include <errno.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/frag.h"

#define IP4_HLEN 20
#define IP4_MAX_HLEN 60
#define IP6_HLEN 40
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff
#define IPOPT_EOL 0
#define IPOPT_NOP 1
#define IPOPT_COPIED 0x80
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_ICMP6 58
#define ICMP_HLEN 8
#define ICMP6_MIN_MTU 1280 /* the answer never exceeds it (RFC 4443 2.4) */
#define TCP_HLEN 20
#define TCP_SYN 0x02
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* The checksum of an IPv4 header of hlen bytes, stored in place. */
static void ip4_set_csum(uint8_t *h, size_t hlen)
{
	uint16_t c;

	h[10] = 0;
	h[11] = 0;
	c = csum_finish(csum_add(0, h, hlen));
	memcpy(h + 10, &c, 2);
}

/*
 * The IPv4 header at pkt: version 4, ihl >= 5, the header and the total
 * length within len. Gives the header and total lengths.
 */
static bool ip4_valid(const uint8_t *pkt, size_t len, size_t *hlen,
		      size_t *tot)
{
	if (len < IP4_HLEN || (pkt[0] >> 4) != 4 || (pkt[0] & 0xf) < 5)
		return false;
	*hlen = (pkt[0] & 0xf) * 4u;
	*tot = get16(pkt + 2);
	return *hlen <= len && *tot >= *hlen && *tot <= len;
}

/*
 * The options that go into every fragment but the first: those with the
 * copied flag, in order, padded with EOL to a multiple of 4 bytes.
 * Returns their length, or -1 when the options are malformed.
 */
static int ip4_copied_options(const uint8_t *opt, size_t olen, uint8_t *dst)
{
	size_t i = 0, n = 0;

	while (i < olen) {
		uint8_t type = opt[i], l;

		if (type == IPOPT_EOL)
			break;
		if (type == IPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= olen)
			return -1;
		l = opt[i + 1];
		if (l < 2 || i + l > olen)
			return -1;
		if (type & IPOPT_COPIED) {
			memcpy(dst + n, opt + i, l);
			n += l;
		}
		i += l;
	}
	while (n % 4)
		dst[n++] = IPOPT_EOL;
	return (int)n;
}

int frag_ip4(const uint8_t *pkt, size_t len, unsigned int mtu,
	     frag_emit_fn emit, void *arg)
{
	uint8_t first[IP4_MAX_HLEN], later[IP4_MAX_HLEN];
	size_t hlen, tot, hlen2, plen, off, base, step;
	uint16_t fo;
	bool last_mf;
	int olen, n = 0, err;

	if (!ip4_valid(pkt, len, &hlen, &tot))
		return -EINVAL;
	if (tot <= mtu) {
		err = emit(arg, pkt, hlen, pkt + hlen, tot - hlen);
		return err < 0 ? err : 1;
	}
	if (mtu < hlen + 8)
		return -EMSGSIZE;

	olen = ip4_copied_options(pkt + IP4_HLEN, hlen - IP4_HLEN,
				  later + IP4_HLEN);
	if (olen < 0)
		return -EINVAL;
	hlen2 = IP4_HLEN + (size_t)olen;

	fo = get16(pkt + 6);
	base = (size_t)(fo & IP_OFFMASK) * 8;
	last_mf = fo & IP_MF;
	plen = tot - hlen;
	/* the last piece starts below base + plen, at a multiple of 8: it
	 * must fit the 13-bit offset field */
	if (base + plen > 65536)
		return -EINVAL;

	memcpy(first, pkt, hlen);
	memcpy(later, pkt, IP4_HLEN);
	later[0] = 0x40 | (uint8_t)(hlen2 / 4);

	for (off = 0; off < plen; off += step) {
		uint8_t *h = off ? later : first;
		size_t hl = off ? hlen2 : hlen;
		bool more;

		step = (mtu - hl) & ~(size_t)7;
		if (step >= plen - off)
			step = plen - off;
		more = off + step < plen || last_mf;
		put16(h + 2, (uint16_t)(hl + step));
		/* DF is not kept: these are fragments now */
		put16(h + 6, (uint16_t)((base + off) / 8) | (more ? IP_MF : 0));
		ip4_set_csum(h, hl);
		err = emit(arg, h, hl, pkt + hlen + off, step);
		if (err < 0)
			return err;
		n++;
	}
	return n;
}

/* An address from which no ICMP error may be sent back. */
static bool ip4_bad_source(const uint8_t *a)
{
	/* 0/8 "this network", 127/8 loopback, 224/4 multicast, 240/4
	 * reserved including 255.255.255.255 */
	return a[0] == 0 || a[0] == 127 || a[0] >= 224;
}

static size_t icmp4_error(uint8_t *out, size_t cap, const uint8_t *pkt,
			  size_t len, uint8_t type, uint8_t code, uint16_t mtu,
			  const void *src4);

size_t frag_icmp4_needed(uint8_t *out, size_t cap, const uint8_t *pkt,
			 size_t len, uint16_t mtu, const void *src4)
{
	return icmp4_error(out, cap, pkt, len, 3, 4, mtu, src4);
}

size_t frag_icmp4_time_exceeded(uint8_t *out, size_t cap, const uint8_t *pkt,
				size_t len, const void *src4)
{
	return icmp4_error(out, cap, pkt, len, 11, 0, 0, src4);
}

static size_t icmp4_error(uint8_t *out, size_t cap, const uint8_t *pkt,
			  size_t len, uint8_t type, uint8_t code, uint16_t mtu,
			  const void *src4)
{
	size_t hlen, tot, quote, olen;
	uint32_t sum;
	uint16_t c;

	if (!ip4_valid(pkt, len, &hlen, &tot))
		return 0;
	if (get16(pkt + 6) & IP_OFFMASK)
		return 0;
	if (ip4_bad_source(pkt + 12) || pkt[16] >= 224)
		return 0;
	if (pkt[9] == PROTO_ICMP) {
		uint8_t type;

		if (tot < hlen + 1)
			return 0;
		type = pkt[hlen];
		if (type == 3 || type == 4 || type == 5 || type == 11 ||
		    type == 12)
			return 0;
	}
	quote = hlen + (tot - hlen < 8 ? tot - hlen : 8);
	olen = IP4_HLEN + ICMP_HLEN + quote;
	if (cap < olen)
		return 0;

	memset(out, 0, IP4_HLEN + ICMP_HLEN);
	out[0] = 0x45;
	out[1] = 0xc0; /* precedence internetwork control, as Linux */
	put16(out + 2, (uint16_t)olen);
	memcpy(out + 4, pkt + 4, 2); /* any id: the quoted packet's */
	out[8] = 64;
	out[9] = PROTO_ICMP;
	memcpy(out + 12, src4, 4);
	memcpy(out + 16, pkt + 12, 4);
	ip4_set_csum(out, IP4_HLEN);

	out[IP4_HLEN] = type;
	out[IP4_HLEN + 1] = code;
	put16(out + IP4_HLEN + 6, mtu); /* 0 but for "fragmentation needed" */
	memcpy(out + IP4_HLEN + ICMP_HLEN, pkt, quote);
	sum = csum_add(0, out + IP4_HLEN, olen - IP4_HLEN);
	c = csum_finish(sum);
	memcpy(out + IP4_HLEN + 2, &c, 2);
	return olen;
}

static bool ip6_bad_source(const uint8_t *a)
{
	static const uint8_t zero[15];

	if (a[0] == 0xff)
		return true;
	/* :: and ::1 */
	return !memcmp(a, zero, 15) && a[15] <= 1;
}

/*
 * Whether an ICMPv6 error may answer the IPv6 packet pkt (tot bytes):
 * walk the extension headers; not for a fragment other than the first, nor
 * for an ICMPv6 error, nor when the headers are truncated.
 */
static bool ip6_may_answer(const uint8_t *pkt, size_t tot)
{
	size_t off = IP6_HLEN, l;
	uint8_t nh = pkt[6];
	int hops;

	for (hops = 0; hops < 16; hops++) {
		switch (nh) {
		case 0:  /* hop-by-hop */
		case 43: /* routing */
		case 60: /* destination options */
			if (off + 2 > tot)
				return false;
			l = (pkt[off + 1] + 1u) * 8;
			break;
		case 51: /* AH */
			if (off + 2 > tot)
				return false;
			l = (pkt[off + 1] + 2u) * 4;
			break;
		case 44: /* fragment */
			if (off + 8 > tot)
				return false;
			if (get16(pkt + off + 2) & 0xfff8)
				return false;
			l = 8;
			break;
		case PROTO_ICMP6:
			return off + 1 <= tot && pkt[off] >= 128;
		default: /* upper layer, ESP, no next header */
			return true;
		}
		if (off + l > tot)
			return false;
		nh = pkt[off];
		off += l;
	}
	return false;
}

static size_t icmp6_error(uint8_t *out, size_t cap, const uint8_t *pkt,
			  size_t len, uint8_t type, uint32_t param,
			  const void *src6);

size_t frag_icmp6_too_big(uint8_t *out, size_t cap, const uint8_t *pkt,
			  size_t len, uint32_t mtu, const void *src6)
{
	return icmp6_error(out, cap, pkt, len, 2, mtu, src6);
}

size_t frag_icmp6_time_exceeded(uint8_t *out, size_t cap, const uint8_t *pkt,
				size_t len, const void *src6)
{
	/* RFC 4443 3.3: code 0, hop limit exceeded in transit */
	return icmp6_error(out, cap, pkt, len, 3, 0, src6);
}

/* An ICMPv6 error of type (code 0) with param (the MTU, or unused). */
static size_t icmp6_error(uint8_t *out, size_t cap, const uint8_t *pkt,
			  size_t len, uint8_t type, uint32_t param,
			  const void *src6)
{
	size_t tot, quote, olen;
	uint32_t sum;
	uint16_t c;

	if (len < IP6_HLEN || (pkt[0] >> 4) != 6)
		return 0;
	tot = IP6_HLEN + get16(pkt + 4);
	if (tot > len)
		return 0;
	if (ip6_bad_source(pkt + 8) || !ip6_may_answer(pkt, tot))
		return 0;
	/* RFC 4443 2.4 (e): a multicast destination may get this one */
	quote = tot;
	if (quote > ICMP6_MIN_MTU - IP6_HLEN - ICMP_HLEN)
		quote = ICMP6_MIN_MTU - IP6_HLEN - ICMP_HLEN;
	if (cap < IP6_HLEN + ICMP_HLEN + IP6_HLEN)
		return 0;
	if (quote > cap - IP6_HLEN - ICMP_HLEN)
		quote = cap - IP6_HLEN - ICMP_HLEN;
	olen = IP6_HLEN + ICMP_HLEN + quote;

	memset(out, 0, IP6_HLEN + ICMP_HLEN);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)(ICMP_HLEN + quote));
	out[6] = PROTO_ICMP6;
	out[7] = 64;
	memcpy(out + 8, src6, 16);
	memcpy(out + 24, pkt + 8, 16);

	out[IP6_HLEN] = type;
	put32(out + IP6_HLEN + 4, param);
	memmove(out + IP6_HLEN + ICMP_HLEN, pkt, quote);
	sum = csum_pseudo6(out + 8, out + 24, PROTO_ICMP6,
			   (uint32_t)(ICMP_HLEN + quote));
	sum = csum_add(sum, out + IP6_HLEN, ICMP_HLEN + quote);
	c = csum_finish(sum);
	memcpy(out + IP6_HLEN + 2, &c, 2);
	return olen;
}

/*
 * Clamp the MSS options of the TCP segment tcp (seg bytes): every MSS
 * option (kind 2, length 4) above limit is lowered to it.
 */
static bool tcp_clamp(uint8_t *tcp, size_t seg, uint16_t limit)
{
	size_t doff, i = TCP_HLEN;
	bool changed = false;

	if (!limit || seg < TCP_HLEN || !(tcp[13] & TCP_SYN))
		return false;
	doff = (tcp[12] >> 4) * 4u;
	if (doff < TCP_HLEN || doff > seg)
		return false;
	while (i < doff) {
		uint8_t kind = tcp[i], l;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= doff)
			break;
		l = tcp[i + 1];
		if (l < 2 || i + l > doff)
			break;
		if (kind == TCPOPT_MSS && l == 4 &&
		    get16(tcp + i + 2) > limit) {
			uint16_t old, new_, check;

			memcpy(&old, tcp + i + 2, 2);
			put16(tcp + i + 2, limit);
			memcpy(&new_, tcp + i + 2, 2);
			/* a field at an odd offset straddles two checksum
			 * words: it counts byte-swapped */
			if ((i + 2) & 1) {
				old = bswap_16(old);
				new_ = bswap_16(new_);
			}
			memcpy(&check, tcp + 16, 2);
			csum_replace16(&check, old, new_);
			memcpy(tcp + 16, &check, 2);
			changed = true;
		}
		i += l;
	}
	return changed;
}

bool frag_mss_clamp(uint8_t *pkt, size_t len, uint16_t mss4, uint16_t mss6)
{
	size_t hlen, tot;

	if (len < 1)
		return false;
	if ((pkt[0] >> 4) == 4) {
		if (!ip4_valid(pkt, len, &hlen, &tot) || pkt[9] != PROTO_TCP ||
		    (get16(pkt + 6) & (IP_MF | IP_OFFMASK)))
			return false;
		return tcp_clamp(pkt + hlen, tot - hlen, mss4);
	}
	if ((pkt[0] >> 4) == 6) {
		if (len < IP6_HLEN || pkt[6] != PROTO_TCP)
			return false;
		tot = IP6_HLEN + get16(pkt + 4);
		if (tot > len)
			return false;
		return tcp_clamp(pkt + IP6_HLEN, tot - IP6_HLEN, mss6);
	}
	return false;
}
