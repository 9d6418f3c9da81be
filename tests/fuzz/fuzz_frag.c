// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: what happens to a packet too big for the tunnel
 * (user/proto/frag.c) on any packet from the tun: frag_ip4, the ICMP
 * "fragmentation needed" / ICMPv6 "packet too big" builders and TCP MSS
 * clamping.
 *
 * Input: [mtu, 2 bytes BE][ICMP buffer size, 2 bytes BE][MSS limit IPv4,
 * 2 bytes BE][MSS limit IPv6, 2 bytes BE][flags][emit error index], then
 * the packet. flags: 1 fix the IPv4 header and TCP checksums first (so
 * clamping starts from a valid sum); 2 the emit callback fails at the
 * fragment numbered by the error index.
 *
 * Checked against reference code (fuzz_ref.h, not csum.c): every fragment
 * fits the MTU, has a valid header checksum, a payload that is a multiple
 * of 8 but in the last, offsets and MF right, the fields that must not
 * change unchanged, and together they carry the payload, contiguous; the
 * return value is the count, or the error. The ICMP answers fit their
 * buffer, have valid checksums and quote the packet; IPv4's is built
 * exactly when RFC 1812 4.3.2.7 allows it. A clamped segment keeps a valid
 * checksum, changes only MSS values and the checksum, and clamping it again
 * changes nothing.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frag.h"

/* Coverage feedback from the code under test only, not these checks. */
#pragma clang attribute push(__attribute__((no_sanitize("coverage"))), \
			     apply_to = function)
#include "fuzz_ref.h"

#define MAX_FRAGS 8200

struct frag {
	uint8_t hdr[60];
	size_t hlen;
	const uint8_t *pl;
	size_t plen;
};

static struct frag frags[MAX_FRAGS];
static int nfrags, fail_at;

static volatile uint8_t sink;
static const uint8_t src4[4] = { 192, 0, 2, 1 };
static const uint8_t src6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

static int emit(void *arg, const uint8_t *hdr, size_t hlen, const uint8_t *pl,
		size_t plen)
{
	size_t i;

	(void)arg;
	if (nfrags == MAX_FRAGS || hlen < 20 || hlen > 60)
		abort();
	for (i = 0; i < plen; i++) /* ASan: the slice is readable */
		sink ^= pl[i];
	if (nfrags == fail_at)
		return -ENOBUFS;
	memcpy(frags[nfrags].hdr, hdr, hlen);
	frags[nfrags].hlen = hlen;
	frags[nfrags].pl = pl;
	frags[nfrags].plen = plen;
	nfrags++;
	return 0;
}

/* Reference IPv4 header validity: 1, and its lengths. */
static bool ip4_ok(const uint8_t *p, size_t len, size_t *hlen, size_t *tot)
{
	if (len < 20 || (p[0] >> 4) != 4 || (p[0] & 15) < 5)
		return false;
	*hlen = (p[0] & 15) * 4u;
	*tot = fz_get16(p + 2);
	return *hlen <= len && *tot >= *hlen && *tot <= len;
}

static void check_frag(const uint8_t *pkt, size_t len, unsigned int mtu,
		       bool fail)
{
	size_t hlen, tot, off = 0, base;
	uint16_t fo;
	bool valid = ip4_ok(pkt, len, &hlen, &tot);
	int r, i;

	nfrags = 0;
	fail_at = fail ? fail_at : -1;
	r = frag_ip4(pkt, len, mtu, emit, NULL);
	if (!valid) {
		if (r != -EINVAL || nfrags)
			abort();
		return;
	}
	if (r == -ENOBUFS) {
		if (nfrags != fail_at)
			abort();
		return;
	}
	if (tot <= mtu) {
		/* fits: the packet itself, one piece */
		if (r != 1 || nfrags != 1 || frags[0].hlen != hlen ||
		    memcmp(frags[0].hdr, pkt, hlen) || frags[0].pl != pkt + hlen ||
		    frags[0].plen != tot - hlen)
			abort();
		return;
	}
	if (mtu < hlen + 8) {
		if (r != -EMSGSIZE || nfrags)
			abort();
		return;
	}
	if (r == -EINVAL) /* malformed options, or past the offset field */
		return;
	if (r < 2 || r != nfrags)
		abort();
	fo = fz_get16(pkt + 6);
	base = (fo & 0x1fffu) * 8;
	for (i = 0; i < nfrags; i++) {
		const struct frag *f = &frags[i];
		const uint8_t *h = f->hdr;
		bool last = i == nfrags - 1;
		uint16_t ffo = fz_get16(h + 6);

		if (f->hlen % 4 || h[0] != (0x40 | f->hlen / 4) ||
		    f->hlen + f->plen > mtu || !f->plen ||
		    fz_get16(h + 2) != f->hlen + f->plen ||
		    fz_fold(fz_sum(0, h, f->hlen)) != 0xffff)
			abort();
		/* tos, id, ttl, protocol, addresses */
		if (h[1] != pkt[1] || memcmp(h + 4, pkt + 4, 2) ||
		    memcmp(h + 8, pkt + 8, 2) || memcmp(h + 12, pkt + 12, 8))
			abort();
		/* the first keeps every option; the others the same ones */
		if (i == 0 && (f->hlen != hlen || memcmp(h + 20, pkt + 20,
							 hlen - 20)))
			abort();
		if (i > 1 && (f->hlen != frags[1].hlen ||
			      memcmp(h + 20, frags[1].hdr + 20, f->hlen - 20)))
			abort();
		if (f->pl != pkt + hlen + off || (!last && f->plen % 8) ||
		    (ffo & 0x1fff) * 8u != base + off || (ffo & 0x4000) ||
		    !!(ffo & 0x2000) != (!last || (fo & 0x2000)) ||
		    (ffo & 0x8000)) /* DF and the reserved bit: cleared */
			abort();
		off += f->plen;
	}
	if (off != tot - hlen)
		abort();
}

static bool ip4_bad_src(const uint8_t *a)
{
	return a[0] == 0 || a[0] == 127 || a[0] >= 224;
}

static void check_icmp4(const uint8_t *pkt, size_t len, size_t cap,
			uint16_t mtu)
{
	uint8_t *out = malloc(cap ? cap : 1);
	size_t hlen, tot, quote, r;
	bool may;

	r = frag_icmp4_needed(out, cap, pkt, len, mtu, src4);
	may = ip4_ok(pkt, len, &hlen, &tot) &&
	      !(fz_get16(pkt + 6) & 0x1fff) && !ip4_bad_src(pkt + 12) &&
	      pkt[16] < 224;
	if (may && pkt[9] == IPPROTO_ICMP) {
		may = tot > hlen;
		if (may)
			may = !(pkt[hlen] == 3 || pkt[hlen] == 4 ||
				pkt[hlen] == 5 || pkt[hlen] == 11 ||
				pkt[hlen] == 12);
	}
	if (may) {
		quote = hlen + (tot - hlen < 8 ? tot - hlen : 8);
		may = cap >= 28 + quote;
	}
	if (!may) {
		if (r)
			abort();
		goto out;
	}
	if (r != 28 + quote || out[0] != 0x45 || fz_get16(out + 2) != r ||
	    out[9] != IPPROTO_ICMP || memcmp(out + 12, src4, 4) ||
	    memcmp(out + 16, pkt + 12, 4) ||
	    fz_fold(fz_sum(0, out, 20)) != 0xffff ||
	    out[20] != 3 || out[21] != 4 || fz_get16(out + 26) != mtu ||
	    fz_fold(fz_sum(0, out + 20, r - 20)) != 0xffff ||
	    memcmp(out + 28, pkt, quote))
		abort();
out:
	free(out);
}

static void check_icmp6(const uint8_t *pkt, size_t len, size_t cap,
			uint32_t mtu)
{
	uint8_t *out = malloc(cap ? cap : 1);
	size_t r = frag_icmp6_too_big(out, cap, pkt, len, mtu, src6);

	if (!r)
		goto out;
	if (len < 40 || (pkt[0] >> 4) != 6 || 40u + fz_get16(pkt + 4) > len ||
	    pkt[8] == 0xff)
		abort();
	if (r > cap || r > 1280 || r < 88 || out[0] != 0x60 ||
	    fz_get16(out + 4) != r - 40 || out[6] != 58 ||
	    memcmp(out + 8, src6, 16) || memcmp(out + 24, pkt + 8, 16) ||
	    out[40] != 2 || out[41] || fz_get32(out + 44) != mtu ||
	    fz_fold(fz_sum(fz_pseudo(out, 58, (uint32_t)(r - 40)), out + 40,
			   r - 40)) != 0xffff ||
	    memcmp(out + 48, pkt, r - 48))
		abort();
	/* as much as fits: all of the packet, or up to 1280 or cap */
	if (r - 48 != 40u + fz_get16(pkt + 4) && r != 1280 && r != cap)
		abort();
out:
	free(out);
}

/* The TCP segment of pkt: offset and length, false when there is none. */
static bool tcp_seg(const uint8_t *pkt, size_t len, size_t *off, size_t *seg)
{
	size_t hlen, tot;

	if (len >= 1 && (pkt[0] >> 4) == 4 && ip4_ok(pkt, len, &hlen, &tot) &&
	    pkt[9] == IPPROTO_TCP && !(fz_get16(pkt + 6) & 0x3fff)) {
		*off = hlen;
		*seg = tot - hlen;
		return true;
	}
	if (len >= 40 && (pkt[0] >> 4) == 6 && pkt[6] == IPPROTO_TCP &&
	    40u + fz_get16(pkt + 4) <= len) {
		*off = 40;
		*seg = fz_get16(pkt + 4);
		return true;
	}
	return false;
}

static bool tcp_sum_ok(const uint8_t *pkt, size_t off, size_t seg)
{
	return fz_fold(fz_sum(fz_pseudo(pkt, IPPROTO_TCP, (uint32_t)seg),
			      pkt + off, seg)) == 0xffff;
}

static void check_clamp(const uint8_t *pkt, size_t len, uint16_t mss4,
			uint16_t mss6, bool fix)
{
	uint8_t *p = malloc(len ? len : 1);
	size_t off = 0, seg = 0, i;
	bool has = tcp_seg(pkt, len, &off, &seg), ok = false, r;
	uint16_t limit = (pkt[0] >> 4) == 4 ? mss4 : mss6;

	memcpy(p, pkt, len);
	if (fix && has && seg >= 20) {
		fz_put16(p + off + 16, 0);
		fz_put16(p + off + 16,
			 fz_finish(fz_sum(fz_pseudo(p, IPPROTO_TCP,
						    (uint32_t)seg),
					  p + off, seg)));
	}
	if (has && seg >= 20)
		ok = tcp_sum_ok(p, off, seg);
	{
		uint8_t *q = malloc(len ? len : 1);

		memcpy(q, p, len);
		r = frag_mss_clamp(p, len, mss4, mss6);
		if (!r) {
			if (memcmp(p, q, len))
				abort();
			free(q);
			goto out;
		}
		if (!has || seg < 20 || !limit)
			abort();
		/* only MSS values (now the limit) and the checksum changed */
		for (i = 0; i < len; i++) {
			if (p[i] == q[i] || i == off + 16 || i == off + 17)
				continue;
			if (i < off + 20 || i >= off + seg)
				abort();
			if (!(i + 1 < len && fz_get16(p + i) == limit) &&
			    !(fz_get16(p + i - 1) == limit))
				abort();
		}
		free(q);
	}
	if (ok && !tcp_sum_ok(p, off, seg))
		abort();
	if (frag_mss_clamp(p, len, mss4, mss6))
		abort();
out:
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int mtu;
	size_t cap, len;
	uint16_t mss4, mss6;
	uint8_t flags, *pkt;

	if (size < 10)
		return 0;
	mtu = fz_get16(data);
	cap = fz_get16(data + 2) % 1600;
	mss4 = fz_get16(data + 4);
	mss6 = fz_get16(data + 6);
	flags = data[8];
	fail_at = data[9];
	len = size - 10;
	/* an exact-size heap copy: ASan sees any read past the end */
	pkt = malloc(len ? len : 1);
	memcpy(pkt, data + 10, len);
	if ((flags & 1) && len >= 20 && (pkt[0] >> 4) == 4 &&
	    (pkt[0] & 15) >= 5 && (pkt[0] & 15) * 4u <= len) {
		fz_put16(pkt + 10, 0);
		fz_put16(pkt + 10, fz_finish(fz_sum(0, pkt, (pkt[0] & 15) * 4u)));
	}
	check_frag(pkt, len, mtu, flags & 2);
	check_icmp4(pkt, len, cap, (uint16_t)mtu);
	check_icmp6(pkt, len, cap, mtu);
	check_clamp(pkt, len, mss4, mss6, flags & 1);
	free(pkt);
	return 0;
}

#pragma clang attribute pop
