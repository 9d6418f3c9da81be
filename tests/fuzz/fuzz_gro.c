// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: a burst of decrypted packets into one GRO table
 * (gro_add for each, then gro_flush), what a peer holding the key could
 * send through the tunnel.
 *
 * Input: [flags][fail mask, 4 bytes LE][EINVAL mask, 4 bytes LE], then
 * records [ctl][len, 2 bytes LE][len bytes]. flags: 1 GRO off, 2 UDP
 * merging off (udp_off), 4 make every write of a merged packet fail with
 * EINVAL (a tun without UDP_L4). Write number i < 32 fails when bit i of
 * the fail mask is set: with -EINVAL if that bit of the EINVAL mask is set,
 * else -EIO. ctl of a record: 1 fix the IPv4 header and TCP/UDP checksums
 * of the packet; 2 the packet continues the previous one's flow: its
 * headers, the record's bytes as payload, lengths, TCP sequence number and
 * IPv4 id advanced, checksums fixed; 2|8 as 2 but len % 4096 pattern bytes
 * of payload, none taken from the input (large packets from small inputs).
 *
 * Every write is checked: one packet alone is the packet offered, byte for
 * byte, with a zero virtio_net_hdr; a merged packet has a consistent
 * virtio_net_hdr (gso_type, hdr_len, gso_size, csum_start/offset), its
 * segments are later packets of the burst in order, each gso_size long but
 * the last, with the first's header length and consecutive sequence
 * numbers, every one with a valid checksum (reference code, not csum.c),
 * the IP length of the whole, and the pseudo-header sum in the checksum
 * field. No packet is written twice; with no failed write every packet is
 * written once; packets of one 5-tuple leave in the order they came.
 */
#include <errno.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/gro.h"

/* Coverage feedback from the code under test only, not these checks. */
#pragma clang attribute push(__attribute__((no_sanitize("coverage"))), \
			     apply_to = function)
#include "fuzz_ref.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define MAX_PKTS 100
#define IP_MAX 65535

/* The harness's own reading of a packet's headers. */
struct hdrs {
	int family;    /* 4, 6; 0: not IP */
	uint8_t proto;
	size_t iphl;   /* IP header length */
	size_t hl;     /* + TCP/UDP header; 0: L4 header not within len */
	size_t iplen;  /* IP length from the header */
};

struct pkt {
	uint8_t *buf;  /* given to gro (its headers may be rewritten) */
	uint8_t *orig; /* as offered */
	size_t len;
	int written;   /* successful writes that carried it */
	bool has_key;
	uint8_t key[38]; /* family, proto, addresses, ports */
};

static struct pkt pk[MAX_PKTS];
static int npk;
static int order[MAX_PKTS]; /* packet indices in the order written */
static int norder;
static uint32_t fail_mask, einval_mask;
static bool einval_merged;
static int calls, failed, succeeded;
static uint8_t flat[IP_MAX + 1];

static void hparse(const uint8_t *p, size_t len, struct hdrs *h)
{
	memset(h, 0, sizeof(*h));
	if (len >= 20 && (p[0] >> 4) == 4 && (p[0] & 15) >= 5 &&
	    (p[0] & 15) * 4u <= len) {
		h->family = 4;
		h->proto = p[9];
		h->iphl = (p[0] & 15) * 4u;
		h->iplen = fz_get16(p + 2);
	} else if (len >= 40 && (p[0] >> 4) == 6) {
		h->family = 6;
		h->proto = p[6];
		h->iphl = 40;
		h->iplen = 40 + fz_get16(p + 4);
	} else {
		return;
	}
	if (h->proto == IPPROTO_TCP && h->iphl + 20 <= len) {
		size_t thl = (p[h->iphl + 12] >> 4) * 4u;

		if (thl >= 20 && h->iphl + thl <= len)
			h->hl = h->iphl + thl;
	} else if (h->proto == IPPROTO_UDP && h->iphl + 8 <= len) {
		h->hl = h->iphl + 8;
	}
}

/* IPv4 header checksum and the TCP/UDP checksum over the IP length. */
static void fix_csums(uint8_t *p, size_t len)
{
	struct hdrs h;
	size_t l4, off;

	hparse(p, len, &h);
	if (!h.family)
		return;
	if (h.family == 4) {
		fz_put16(p + 10, 0);
		fz_put16(p + 10, fz_finish(fz_sum(0, p, h.iphl)));
	}
	if (!h.hl || h.iplen > len || h.iplen < h.hl)
		return;
	l4 = h.iplen - h.iphl;
	off = h.iphl + (h.proto == IPPROTO_TCP ? 16 : 6);
	fz_put16(p + off, 0);
	fz_put16(p + off, fz_finish(fz_sum(fz_pseudo(p, h.proto, l4),
					   p + h.iphl, l4)));
	if (h.proto == IPPROTO_UDP && !fz_get16(p + off))
		fz_put16(p + off, 0xffff);
}

static void set_key(struct pkt *k)
{
	struct hdrs h;

	hparse(k->orig, k->len, &h);
	k->has_key = false;
	if (!h.family || (h.proto != IPPROTO_TCP && h.proto != IPPROTO_UDP) ||
	    h.iphl + 4 > k->len)
		return;
	memset(k->key, 0, sizeof(k->key));
	k->key[0] = (uint8_t)h.family;
	k->key[1] = h.proto;
	if (h.family == 4)
		memcpy(k->key + 2, k->orig + 12, 8);
	else
		memcpy(k->key + 2, k->orig + 8, 32);
	memcpy(k->key + 34, k->orig + h.iphl, 4);
	k->has_key = true;
}

/* Index of the packet whose buffer starts at p, or -1. */
static int find_pkt(const void *p)
{
	static int last;
	int i, k;

	for (i = 0; i < npk; i++) { /* from the last one found: in order */
		k = (last + i) % npk;
		if (pk[k].buf == p)
			return last = k;
	}
	return -1;
}

/* A valid TCP/UDP checksum over the packet as offered (reference code). */
static bool l4_ok(const struct pkt *k, const struct hdrs *h)
{
	size_t l4 = k->len - h->iphl;

	if (h->family == 4 && fz_fold(fz_sum(0, k->orig, h->iphl)) != 0xffff)
		return false;
	return fz_fold(fz_sum(fz_pseudo(k->orig, h->proto, (uint32_t)l4),
			      k->orig + h->iphl, l4)) == 0xffff;
}

static void check_alone(const struct iovec *iov, int iovcnt, int k)
{
	static const struct virtio_net_hdr zero;

	if (iovcnt != 2 || memcmp(iov[0].iov_base, &zero, sizeof(zero)) ||
	    memcmp(pk[k].buf, pk[k].orig, pk[k].len))
		abort();
}

/* Checks a merged packet; fills idx with its packets, returns how many. */
static int check_merged(const struct virtio_net_hdr *vh,
			const struct iovec *iov, int iovcnt, int k0, int *idx)
{
	const struct pkt *f = &pk[k0];
	uint8_t type = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	size_t hl = vh->hdr_len, total = 0, mss = vh->gso_size;
	struct hdrs h, hf;
	uint32_t seq;
	int i, n = 0;

	hparse(f->orig, f->len, &hf);
	if (vh->flags != VIRTIO_NET_HDR_F_NEEDS_CSUM || iovcnt < 3 ||
	    !hf.hl || hf.hl != hl || hf.iplen != f->len || !mss ||
	    iov[1].iov_len != f->len || f->len - hl != mss ||
	    vh->csum_start != hf.iphl || !l4_ok(f, &hf))
		abort();
	if (hf.proto == IPPROTO_TCP) {
		if (type != (hf.family == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 :
					      VIRTIO_NET_HDR_GSO_TCPV6) ||
		    vh->csum_offset != 16)
			abort();
	} else if (type != VIRTIO_NET_HDR_GSO_UDP_L4 ||
		   (vh->gso_type & VIRTIO_NET_HDR_GSO_ECN) ||
		   vh->csum_offset != 6) {
		abort();
	}
	if (hf.family == 4 && hf.iphl != 20)
		abort();
	idx[n++] = k0;
	seq = fz_get32(f->orig + hf.iphl + 4) + (uint32_t)mss;
	for (i = 2; i < iovcnt; i++) {
		const uint8_t *base = iov[i].iov_base;
		int k = find_pkt(base - hl);

		/* a later packet, after the one before it in this write */
		if (k <= idx[n - 1] || iov[i].iov_len != pk[k].len - hl ||
		    !iov[i].iov_len || iov[i].iov_len > mss ||
		    (i + 1 < iovcnt && iov[i].iov_len != mss))
			abort();
		hparse(pk[k].orig, pk[k].len, &h);
		if (h.family != hf.family || h.proto != hf.proto ||
		    h.hl != hl || h.iplen != pk[k].len || !l4_ok(&pk[k], &h) ||
		    memcmp(pk[k].buf, pk[k].orig, pk[k].len))
			abort();
		if (h.proto == IPPROTO_TCP) {
			if (fz_get32(pk[k].orig + h.iphl + 4) != seq)
				abort();
			seq += (uint32_t)iov[i].iov_len;
		}
		idx[n++] = k;
	}
	/* the whole, flattened */
	for (i = 1; i < iovcnt; i++) {
		if (total + iov[i].iov_len > IP_MAX)
			abort();
		memcpy(flat + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	if (hf.family == 4) {
		if (fz_get16(flat + 2) != total ||
		    fz_fold(fz_sum(0, flat, 20)) != 0xffff)
			abort();
	} else if (fz_get16(flat + 4) + 40u != total) {
		abort();
	}
	/* the checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL) */
	if (!fz_csum_eq(fz_get16(flat + hf.iphl + vh->csum_offset),
			fz_fold(fz_pseudo(flat, hf.proto,
					  (uint32_t)(total - hf.iphl)))))
		abort();
	if (hf.proto == IPPROTO_UDP &&
	    fz_get16(flat + hf.iphl + 4) != total - hf.iphl)
		abort();
	/* the rest of the headers is the first packet's (TCP: PSH and FIN
	 * may be added, from the last segment) */
	for (i = 0; i < (int)hl; i++) {
		size_t o = (size_t)i - hf.iphl;

		if (hf.family == 4 && (i == 2 || i == 3 || i == 10 || i == 11))
			continue;
		if (hf.family == 6 && (i == 4 || i == 5))
			continue;
		if (i >= (int)hf.iphl && hf.proto == IPPROTO_TCP &&
		    (o == 16 || o == 17))
			continue;
		if (i >= (int)hf.iphl && hf.proto == IPPROTO_UDP && o >= 4)
			continue;
		if (i >= (int)hf.iphl && hf.proto == IPPROTO_TCP && o == 13) {
			if ((flat[i] & ~0x09) != (f->orig[i] & ~0x09) ||
			    (f->orig[i] & ~flat[i]))
				abort();
			continue;
		}
		if (flat[i] != f->orig[i])
			abort();
	}
	return n;
}

static int out(void *arg, const struct iovec *iov, int iovcnt)
{
	struct virtio_net_hdr vh;
	int idx[GRO_MAX_SEGS + 1], n, k, i, call = calls++;

	(void)arg;
	if (iovcnt < 2 || iovcnt > GRO_MAX_SEGS + 1 ||
	    iov[0].iov_len != sizeof(vh))
		abort();
	memcpy(&vh, iov[0].iov_base, sizeof(vh));
	k = find_pkt(iov[1].iov_base);
	if (k < 0 || iov[1].iov_len != pk[k].len)
		abort();
	if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		check_alone(iov, iovcnt, k);
		idx[0] = k;
		n = 1;
	} else {
		n = check_merged(&vh, iov, iovcnt, k, idx);
		if (einval_merged) {
			failed++;
			return -EINVAL;
		}
	}
	if (call < 32 && (fail_mask >> call & 1)) {
		failed++;
		return einval_mask >> call & 1 ? -EINVAL : -EIO;
	}
	for (i = 0; i < n; i++) {
		if (pk[idx[i]].written++ || norder == MAX_PKTS)
			abort();
		order[norder++] = idx[i];
	}
	succeeded++;
	return 0;
}

/* len bytes of payload: from d, or a pattern when d is NULL */
FZ_NOCOV static void fill(uint8_t *p, const uint8_t *d, size_t len,
			  uint8_t seed)
{
	size_t i;

	if (d) {
		memcpy(p, d, len);
		return;
	}
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

/* Builds the packet of one record; returns the bytes of input it used. */
static size_t record(const uint8_t *d, size_t avail, uint8_t ctl, size_t n)
{
	struct pkt *k = &pk[npk];
	const struct pkt *prev = npk ? &pk[npk - 1] : NULL;
	bool gen = (ctl & 2) && (ctl & 8);
	size_t used = gen ? 0 : (n < avail ? n : avail), len = used;
	struct hdrs h;

	memset(k, 0, sizeof(*k));
	if (gen) /* up to 4 KiB: 64 segments still reach the 64 KiB limit */
		len = n & 0xfff;
	if ((ctl & 2) && prev) {
		hparse(prev->orig, prev->len, &h);
		if (h.hl && (h.proto == IPPROTO_TCP || h.proto == IPPROTO_UDP)) {
			size_t plen = prev->len - h.hl;

			if (len > IP_MAX - h.hl)
				len = IP_MAX - h.hl;
			k->len = h.hl + len;
			k->buf = malloc(k->len);
			memcpy(k->buf, prev->orig, h.hl);
			fill(k->buf + h.hl, gen ? NULL : d, len, ctl);
			if (h.family == 4) {
				fz_put16(k->buf + 2, (uint16_t)k->len);
				fz_put16(k->buf + 4,
					 fz_get16(prev->orig + 4) + 1);
			} else {
				fz_put16(k->buf + 4, (uint16_t)(k->len - 40));
			}
			if (h.proto == IPPROTO_TCP) {
				if (h.iplen >= h.hl && h.iplen <= prev->len)
					plen = h.iplen - h.hl;
				fz_put32(k->buf + h.iphl + 4,
					 fz_get32(prev->orig + h.iphl + 4) +
						 (uint32_t)plen);
			} else {
				fz_put16(k->buf + h.iphl + 4,
					 (uint16_t)(k->len - h.iphl));
			}
			fix_csums(k->buf, k->len);
			goto done;
		}
	}
	len = used;
	k->len = len;
	k->buf = malloc(len ? len : 1);
	memcpy(k->buf, d, len);
	if (ctl & 1)
		fix_csums(k->buf, len);
done:
	k->orig = malloc(k->len ? k->len : 1);
	memcpy(k->orig, k->buf, k->len);
	set_key(k);
	npk++;
	return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gro_table t;
	size_t off = 9;
	uint8_t flags;
	int i, j, err;

	if (size < off)
		return 0;
	flags = data[0];
	fail_mask = (uint32_t)data[1] | (uint32_t)data[2] << 8 |
		    (uint32_t)data[3] << 16 | (uint32_t)data[4] << 24;
	einval_mask = (uint32_t)data[5] | (uint32_t)data[6] << 8 |
		      (uint32_t)data[7] << 16 | (uint32_t)data[8] << 24;
	einval_merged = flags & 4;
	npk = norder = calls = failed = succeeded = 0;
	gro_init(&t, !(flags & 1));
	t.udp_off = flags & 2;

	while (off + 3 <= size && npk < MAX_PKTS) {
		uint8_t ctl = data[off];
		size_t n = data[off + 1] | data[off + 2] << 8;

		off += 3;
		off += record(data + off, size - off, ctl, n);
		err = gro_add(&t, pk[npk - 1].buf, pk[npk - 1].len, out, NULL);
		if (err && !failed)
			abort();
		if (t.nflows < 0 || t.nflows > GRO_MAX_FLOWS)
			abort();
	}
	err = gro_flush(&t, out, NULL);
	if ((err && !failed) || t.nflows)
		abort();
	if (t.st.written != (uint64_t)succeeded)
		abort();
	for (i = 0; i < npk; i++)
		if (pk[i].written > 1 || (!failed && pk[i].written != 1))
			abort();
	/* one 5-tuple: in order */
	for (i = 0; i < norder; i++)
		for (j = i + 1; j < norder; j++)
			if (pk[order[i]].has_key && pk[order[j]].has_key &&
			    order[j] < order[i] &&
			    !memcmp(pk[order[i]].key, pk[order[j]].key,
				    sizeof(pk[0].key)))
				abort();
	for (i = 0; i < npk; i++) {
		free(pk[i].buf);
		free(pk[i].orig);
	}
	return 0;
}

#pragma clang attribute pop
