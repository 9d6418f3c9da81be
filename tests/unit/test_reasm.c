// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of user/reasm.c: IPv4 reassembly, its drops and bounds, and
 * the round trip through frag_ip4 (user/proto/frag.c); IPv6; the pool:
 * exhausted (counted), reused after timeouts, and no allocation on the
 * packet path (this binary is linked with --wrap=malloc,calloc,realloc,
 * free: see the Makefile, and the wrappers below count our code's calls).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/frag.h"
#include "refcsum.h"
#include "proto/reasm.h"

#define MAXF 1024
#define FSZ 1600
#define MEM (1u << 20)
#define TIMEOUT 30000


static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void p16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void set_csum(uint8_t *ip)
{
	size_t hlen = (ip[0] & 0xf) * 4u;

	p16(ip + 10, 0);
	p16(ip + 10, (uint16_t)~ref_fold(ref_add(0, ip, hlen)));
}

static bool csum_ok(const uint8_t *ip)
{
	return ref_fold(ref_add(0, ip, (ip[0] & 0xf) * 4u)) == 0xffff;
}

/* Options: router alert (copied) and record route (not copied). */
static const uint8_t opts12[12] = {
	0x94, 4, 0, 0, 0x07, 7, 4, 0, 0, 0, 0, 0x01,
};

static size_t build_ip4(uint8_t *b, size_t tot, const uint8_t *opts,
			size_t olen, uint16_t id, uint8_t src_last,
			uint32_t seed)
{
	size_t hlen = 20 + olen, i;

	memset(b, 0, hlen);
	b[0] = 0x40 | (uint8_t)(hlen / 4);
	b[1] = 0x10;
	p16(b + 2, (uint16_t)tot);
	p16(b + 4, id);
	b[8] = 64;
	b[9] = 50;
	b[12] = 203; b[13] = 0; b[14] = 113; b[15] = src_last;
	b[16] = 198; b[17] = 51; b[18] = 100; b[19] = 7;
	if (olen)
		memcpy(b + 20, opts, olen);
	for (i = hlen; i < tot; i++)
		b[i] = (uint8_t)((i * 31 + seed) ^ (i >> 8) ^ (seed >> 8));
	set_csum(b);
	return tot;
}

/* A hand-made fragment: payload bytes from orig's payload at off. */
static size_t make_frag(uint8_t *f, const uint8_t *orig, size_t off,
			size_t plen, bool mf)
{
	size_t hlen = (orig[0] & 0xf) * 4u;

	memcpy(f, orig, hlen);
	p16(f + 2, (uint16_t)(hlen + plen));
	p16(f + 6, (uint16_t)(off / 8) | (mf ? 0x2000 : 0));
	memcpy(f + hlen, orig + hlen + off, plen);
	set_csum(f);
	return hlen + plen;
}

struct coll {
	size_t n;
	size_t len[MAXF];
	uint8_t data[MAXF][FSZ];
};

static struct coll C;

static int collect(void *arg, const uint8_t *hdr, size_t hlen,
		   const uint8_t *pl, size_t plen)
{
	struct coll *c = arg;

	cr_assert_lt(c->n, MAXF);
	cr_assert_leq(hlen + plen, FSZ);
	memcpy(c->data[c->n], hdr, hlen);
	memcpy(c->data[c->n] + hlen, pl, plen);
	c->len[c->n] = hlen + plen;
	c->n++;
	return 0;
}

static void fragment(const uint8_t *pkt, size_t len, unsigned int mtu)
{
	int n;

	C.n = 0;
	n = frag_ip4(pkt, len, mtu, collect, &C);
	cr_assert_gt(n, 1, "frag_ip4 = %d", n);
	cr_assert_eq((size_t)n, C.n);
}

/* The reassembled packet against the original: all but the checksum and
 * the fragment field equal, those two right. */
static void same_packet(const uint8_t *out, size_t out_len,
			const uint8_t *orig, size_t len)
{
	cr_assert_eq(out_len, len, "length %zu want %zu", out_len, len);
	cr_assert(csum_ok(out), "header checksum");
	cr_assert_eq(g16(out + 6) & 0xbfff, 0, "fragment fields cleared");
	cr_assert_eq(memcmp(out, orig, 6), 0);
	cr_assert_eq(memcmp(out + 8, orig + 8, 2), 0);
	cr_assert_eq(memcmp(out + 12, orig + 12, len - 12), 0,
		     "addresses, options and payload");
}

static uint8_t P[65536], Q[65536];

/* ord: C's fragments, 0 .. C.n - 1, in a random order (Fisher-Yates) */
static void shuffle_frags(size_t *ord, unsigned int *seed)
{
	size_t i, j, tmp;

	for (i = 0; i < C.n; i++)
		ord[i] = i;
	for (i = C.n; i > 1; i--) {
		j = rand_r(seed) % i;
		tmp = ord[i - 1];
		ord[i - 1] = ord[j];
		ord[j] = tmp;
	}
}

/* Feed C's fragments in the order ord; the last one completes. */
static void feed(struct reasm_table *t, const size_t *ord, size_t n,
		 const uint8_t *orig, size_t len)
{
	uint8_t *out = NULL;
	size_t i, out_len = 0;
	int r;

	for (i = 0; i < n; i++) {
		r = reasm_add(t, C.data[ord[i]], C.len[ord[i]], 1000 + i, &out,
			      &out_len);
		if (i + 1 < n) {
			cr_assert_eq(r, REASM_HELD, "fragment %zu (#%zu): %d",
				     i, ord[i], r);
			cr_assert_gt(reasm_mem(t), 0);
		} else {
			cr_assert_eq(r, REASM_DONE, "last fragment: %d", r);
		}
	}
	same_packet(out, out_len, orig, len);
	cr_assert_eq(reasm_mem(t), 0);
}

static void order_case(int how)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	size_t ord[MAXF], i, n;

	cr_assert_not_null(t);
	build_ip4(P, 4000, NULL, 0, 0x1234, 1, 1);
	fragment(P, 4000, 576);
	n = C.n;
	for (i = 0; i < n; i++)
		ord[i] = how == 0 ? i : how == 1 ? n - 1 - i : (i * 3) % n;
	feed(t, ord, n, P, 4000);
	cr_assert_eq(reasm_stats(t)->fragments, n);
	cr_assert_eq(reasm_stats(t)->reassembled, 1);
	reasm_free(t);
}

Test(reasm, in_order)
{
	order_case(0);
}

Test(reasm, reversed)
{
	order_case(1);
}

Test(reasm, out_of_order)
{
	order_case(2); /* 8 fragments, stride 3 */
}

Test(reasm, options)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	size_t ord[MAXF], i;

	build_ip4(P, 3000, opts12, 12, 7, 1, 2);
	fragment(P, 3000, 1000);
	cr_assert_eq(C.data[0][0], 0x48);
	cr_assert_eq(C.data[1][0], 0x46, "later: router alert only");
	for (i = 0; i < C.n; i++)
		ord[i] = C.n - 1 - i;
	feed(t, ord, C.n, P, 3000);
	reasm_free(t);
}

Test(reasm, keeps_df_and_allows_padding)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	static uint8_t f[2][256];
	size_t l0, l1, out_len;
	uint8_t *out;

	build_ip4(P, 120, NULL, 0, 9, 1, 3);
	l0 = make_frag(f[0], P, 0, 64, true);
	l1 = make_frag(f[1], P, 64, 36, false);
	f[0][6] |= 0x40; /* DF on the first fragment: kept */
	set_csum(f[0]);
	cr_assert_eq(reasm_add(t, f[1], l1 + 30, 0, &out, &out_len),
		     REASM_HELD);
	cr_assert_eq(reasm_add(t, f[0], l0 + 7, 0, &out, &out_len),
		     REASM_DONE);
	cr_assert_eq(g16(out + 6), 0x4000);
	P[6] = 0x40;
	set_csum(P);
	same_packet(out, out_len, P, 120);
	reasm_free(t);
}

Test(reasm, round_trip_shuffled)
{
	struct reasm_table *t = reasm_new(4u << 20, 1024, TIMEOUT);
	unsigned int seed = 42, iter;
	size_t ord[MAXF];

	for (iter = 0; iter < 300; iter++) {
		size_t olen = rand_r(&seed) % 3 ? 0 : 12;
		size_t len = 20 + olen + 1 + rand_r(&seed) % 20000;
		unsigned int mtu = 68 + rand_r(&seed) % 1450;

		if (len <= mtu)
			len = mtu + 1 + rand_r(&seed) % 100;
		build_ip4(P, len, opts12, olen, (uint16_t)iter, 1, iter);
		if (iter & 1) {
			P[6] = 0x40; /* DF set: cleared by the fragmenter */
			set_csum(P);
		}
		fragment(P, len, mtu);
		shuffle_frags(ord, &seed);
		P[6] = 0;
		set_csum(P);
		feed(t, ord, C.n, P, len);
	}
	cr_assert_eq(reasm_stats(t)->reassembled, 300);
	reasm_free(t);
}

Test(reasm, largest_packet)
{
	struct reasm_table *t = reasm_new(1u << 20, 64, TIMEOUT);
	size_t ord[MAXF], i;

	build_ip4(P, 65535, NULL, 0, 77, 1, 5);
	fragment(P, 65535, 1500);
	cr_assert_eq(C.n, 45);
	for (i = 0; i < C.n; i++)
		ord[i] = (i * 7) % C.n;
	feed(t, ord, C.n, P, 65535);
	reasm_free(t);
}

/* Three fragments of P: [0,16) MF, [16,32) MF, [32,40) last. */
static uint8_t F[8][256];
static size_t FL[8];

static void three(uint16_t id)
{
	build_ip4(P, 60, NULL, 0, id, 1, id);
	FL[0] = make_frag(F[0], P, 0, 16, true);
	FL[1] = make_frag(F[1], P, 16, 16, true);
	FL[2] = make_frag(F[2], P, 32, 8, false);
}

static int add(struct reasm_table *t, const void *f, size_t len,
	       uint64_t now)
{
	uint8_t *out;
	size_t out_len;

	return reasm_add(t, f, len, now, &out, &out_len);
}

Test(reasm, duplicates)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);

	three(1);
	cr_assert_eq(add(t, F[0], FL[0], 0), REASM_HELD);
	cr_assert_eq(add(t, F[0], FL[0], 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_overlap, 1);
	cr_assert_eq(reasm_mem(t), 0, "the whole train went");
	/* the rest starts a new train that cannot complete */
	cr_assert_eq(add(t, F[1], FL[1], 1), REASM_HELD);
	cr_assert_eq(add(t, F[2], FL[2], 2), REASM_HELD);
	cr_assert_eq(add(t, F[2], FL[2], 2), -1);
	cr_assert_eq(reasm_stats(t)->drop_overlap, 2);
	cr_assert_eq(reasm_mem(t), 0);
	/* and the duplicate of the last fragment, first-to-last */
	cr_assert_eq(add(t, F[2], FL[2], 3), REASM_HELD);
	cr_assert_eq(add(t, F[1], FL[1], 3), REASM_HELD);
	cr_assert_eq(add(t, F[0], FL[0], 3), REASM_DONE);
	cr_assert_eq(reasm_stats(t)->reassembled, 1);
	cr_assert_eq(reasm_stats(t)->fragments, 8);
	reasm_free(t);
}

Test(reasm, overlaps)
{
	static const struct {
		size_t off, len;
		bool mf;
	} cases[] = {
		{ 8, 16, true },  /* across the end of [0,16) */
		{ 8, 8, true },   /* inside [0,16) */
		{ 24, 16, false }, /* last, over [16,32) */
		{ 8, 32, false },  /* last, over everything after 8 */
		{ 24, 16, true }, /* across the start of [32,40) */
	};
	uint8_t g[256];
	size_t i, gl;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);

		three(2);
		cr_assert_eq(add(t, F[0], FL[0], 0), REASM_HELD);
		cr_assert_eq(add(t, F[2], FL[2], 0), REASM_HELD);
		gl = make_frag(g, P, cases[i].off, cases[i].len, cases[i].mf);
		cr_assert_eq(add(t, g, gl, 0), -1, "case %zu", i);
		cr_assert_eq(reasm_stats(t)->drop_overlap, 1, "case %zu", i);
		cr_assert_eq(reasm_mem(t), 0);
		reasm_free(t);
	}
}

Test(reasm, inconsistent_end)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t g[256];
	size_t gl;

	three(3);
	/* data after the last fragment */
	cr_assert_eq(add(t, F[2], FL[2], 0), REASM_HELD);
	gl = make_frag(g, P, 48, 8, true);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_malformed, 1);
	cr_assert_eq(reasm_mem(t), 0);
	/* a last fragment before data already there */
	cr_assert_eq(add(t, F[1], FL[1], 0), REASM_HELD);
	gl = make_frag(g, P, 8, 8, false);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_malformed, 2);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, malformed)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t g[256];
	size_t gl;

	three(4);
	cr_assert_eq(add(t, P, 60, 0), -1, "not a fragment");
	memcpy(g, F[0], FL[0]);
	g[10] ^= 1; /* checksum */
	cr_assert_eq(add(t, g, FL[0], 0), -1);
	cr_assert_eq(add(t, F[0], FL[0] - 1, 0), -1, "tot_len > len");
	cr_assert_eq(add(t, F[0], 19, 0), -1);
	memcpy(g, F[0], FL[0]);
	g[0] = 0x44;
	set_csum(g);
	cr_assert_eq(add(t, g, FL[0], 0), -1, "ihl 4");
	g[0] = 0x65;
	cr_assert_eq(add(t, g, FL[0], 0), -1, "version");
	gl = make_frag(g, P, 0, 12, true);
	cr_assert_eq(add(t, g, gl, 0), -1, "MF and not a multiple of 8");
	gl = make_frag(g, P, 8, 0, false);
	cr_assert_eq(add(t, g, gl, 0), -1, "empty");
	memcpy(g, F[0], FL[0]);
	p16(g + 2, 10);
	set_csum(g);
	cr_assert_eq(add(t, g, FL[0], 0), -1, "tot_len < ihl");
	cr_assert_eq(reasm_stats(t)->drop_malformed, 9);
	cr_assert_eq(reasm_stats(t)->fragments, 9);
	cr_assert_eq(reasm_mem(t), 0);
	/* a last fragment whose size is not a multiple of 8: fine */
	gl = make_frag(g, P, 0, 16, true);
	cr_assert_eq(add(t, g, gl, 0), REASM_HELD);
	gl = make_frag(g, P, 16, 20, false);
	cr_assert_eq(add(t, g, gl, 0), REASM_DONE);
	reasm_free(t);
}

Test(reasm, timeout)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t *out;
	size_t out_len;

	three(5);
	cr_assert_eq(add(t, F[0], FL[0], 1000), REASM_HELD);
	cr_assert_eq(add(t, F[1], FL[1], 2000), REASM_HELD);
	reasm_expire(t, 1000 + TIMEOUT - 1);
	cr_assert_gt(reasm_mem(t), 0);
	cr_assert_eq(reasm_stats(t)->drop_timeout, 0);
	reasm_expire(t, 1000 + TIMEOUT);
	cr_assert_eq(reasm_stats(t)->drop_timeout, 1);
	cr_assert_eq(reasm_mem(t), 0);
	/* lazily: a late fragment finds its train gone and starts anew */
	cr_assert_eq(add(t, F[0], FL[0], 50000), REASM_HELD);
	cr_assert_eq(add(t, F[1], FL[1], 50000 + TIMEOUT), REASM_HELD);
	cr_assert_eq(reasm_stats(t)->drop_timeout, 2);
	cr_assert_eq(reasm_stats(t)->drop_overlap, 0);
	cr_assert_eq(reasm_add(t, F[2], FL[2], 50000 + TIMEOUT,
			       &out, &out_len), REASM_HELD);
	cr_assert_eq(add(t, F[0], FL[0], 50000 + TIMEOUT), REASM_DONE);
	cr_assert_eq(reasm_mem(t), 0);
	/* several trains expire together, oldest first */
	three(6);
	cr_assert_eq(add(t, F[0], FL[0], 100000), REASM_HELD);
	three(7);
	cr_assert_eq(add(t, F[0], FL[0], 100001), REASM_HELD);
	three(8);
	cr_assert_eq(add(t, F[0], FL[0], 100002), REASM_HELD);
	reasm_expire(t, 100001 + TIMEOUT);
	cr_assert_eq(reasm_stats(t)->drop_timeout, 4);
	cr_assert_gt(reasm_mem(t), 0);
	reasm_expire(t, UINT64_MAX / 2);
	cr_assert_eq(reasm_stats(t)->drop_timeout, 5);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, oversize)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t g[256];
	size_t gl;

	build_ip4(P, 200, NULL, 0, 11, 1, 11);
	gl = make_frag(g, P, 0, 16, true);
	cr_assert_eq(add(t, g, gl, 0), REASM_HELD);
	/* 65528 + 16 > 65535 - 20 */
	gl = make_frag(g, P, 0, 16, true);
	p16(g + 6, 0x2000 | 0x1fff);
	set_csum(g);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_oversize, 1);
	cr_assert_eq(reasm_mem(t), 0);
	/* 65512 + 8 = 65520 > 65515 */
	p16(g + 2, 28);
	p16(g + 6, 65512 / 8);
	set_csum(g);
	cr_assert_eq(add(t, g, 28, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_oversize, 2);
	/* ends at 65512 (fits 20 bytes of header), then the first fragment
	 * comes with 12 bytes of options: 65512 + 32 > 65535 */
	p16(g + 6, 65504 / 8);
	set_csum(g);
	cr_assert_eq(add(t, g, 28, 0), REASM_HELD);
	build_ip4(Q, 200, opts12, 12, 11, 1, 11);
	gl = make_frag(g, Q, 0, 16, true);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_oversize, 3);
	cr_assert_eq(reasm_mem(t), 0);
	/* the other way round */
	cr_assert_eq(add(t, g, gl, 0), REASM_HELD);
	gl = make_frag(g, P, 0, 8, false);
	p16(g + 6, 65496 / 8);
	set_csum(g);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_oversize, 4);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, too_many)
{
	struct reasm_table *t = reasm_new(MEM, 4, TIMEOUT);
	uint8_t g[256];
	size_t i, gl;

	build_ip4(P, 200, NULL, 0, 12, 1, 12);
	for (i = 0; i < 4; i++) {
		gl = make_frag(g, P, i * 8, 8, true);
		cr_assert_eq(add(t, g, gl, 0), REASM_HELD);
	}
	gl = make_frag(g, P, 32, 8, false);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_too_many, 1);
	cr_assert_eq(reasm_mem(t), 0);
	/* four is allowed */
	for (i = 0; i < 3; i++) {
		gl = make_frag(g, P, i * 8, 8, true);
		cr_assert_eq(add(t, g, gl, 0), REASM_HELD);
	}
	gl = make_frag(g, P, 24, 8, false);
	cr_assert_eq(add(t, g, gl, 0), REASM_DONE);
	reasm_free(t);
}

Test(reasm, memory_bound)
{
	const size_t limit = 6000;
	struct reasm_table *t = reasm_new(limit, 64, TIMEOUT);
	static uint8_t pk[4][4000];
	size_t i, gl, held;
	uint8_t g[2048];
	uint8_t *out;
	size_t out_len;

	for (i = 0; i < 4; i++)
		build_ip4(pk[i], 4000, NULL, 0, (uint16_t)(100 + i), 1,
			  (uint32_t)i);
	/* trains of 1480 bytes and some overhead: three fit, not four */
	for (i = 0; i < 4; i++) {
		gl = make_frag(g, pk[i], 0, 1480, true);
		if (add(t, g, gl, 0) != REASM_HELD)
			break;
		cr_assert_leq(reasm_mem(t), limit);
	}
	cr_assert_eq(i, 3, "%zu trains fit", i);
	cr_assert_eq(reasm_stats(t)->drop_no_memory, 1);
	held = reasm_mem(t);
	cr_assert_leq(held, limit);
	cr_assert_gt(held, 3 * 1480);
	/* a train that would grow past the bound goes */
	gl = make_frag(g, pk[0], 1480, 1480, true);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_no_memory, 2);
	cr_assert_lt(reasm_mem(t), held);
	/* the others still complete within the bound */
	gl = make_frag(g, pk[1], 1480, 1000, false);
	cr_assert_eq(reasm_add(t, g, gl, 0, &out, &out_len), REASM_DONE);
	cr_assert_eq(out_len, 2500);
	cr_assert(csum_ok(out));
	cr_assert_eq(memcmp(out + 20, pk[1] + 20, 2480), 0);
	cr_assert_leq(reasm_mem(t), limit);
	gl = make_frag(g, pk[2], 1480, 8, false);
	cr_assert_eq(add(t, g, gl, 0), REASM_DONE);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);

	/* a packet bigger than the bound never completes */
	t = reasm_new(3000, 64, TIMEOUT);
	gl = make_frag(g, pk[3], 0, 1480, true);
	cr_assert_eq(add(t, g, gl, 0), REASM_HELD);
	cr_assert_leq(reasm_mem(t), 3000);
	gl = make_frag(g, pk[3], 1480, 1480, true);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_no_memory, 1);
	cr_assert_eq(reasm_mem(t), 0);
	/* the buffer holds [0, end): a fragment ending past it is refused */
	gl = make_frag(g, pk[3], 2960, 1020, false);
	cr_assert_eq(add(t, g, gl, 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_no_memory, 2);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, tiny_limit)
{
	struct reasm_table *t = reasm_new(100, 64, TIMEOUT);

	three(13);
	cr_assert_eq(add(t, F[0], FL[0], 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_no_memory, 1);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
	t = reasm_new(MEM, 0, TIMEOUT);
	cr_assert_eq(add(t, F[0], FL[0], 0), -1);
	cr_assert_eq(reasm_stats(t)->drop_too_many, 1);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, interleaved)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	static uint8_t pk[4][3000], fr[4][8][FSZ];
	static size_t fl[4][8], nf[4];
	static const uint8_t srcs[4] = { 1, 1, 2, 1 };
	static const uint16_t ids[4] = { 500, 501, 500, 500 };
	uint8_t *out;
	size_t out_len, i, k, done = 0;
	int r;

	for (k = 0; k < 4; k++) {
		build_ip4(pk[k], 3000, k == 3 ? opts12 : NULL, k == 3 ? 12 : 0,
			  ids[k], srcs[k], (uint32_t)k * 1000);
		if (k == 3)
			pk[k][9] = 17; /* same src/dst/id as 0, other proto */
		set_csum(pk[k]);
		fragment(pk[k], 3000, 1000);
		nf[k] = C.n;
		for (i = 0; i < C.n; i++) {
			memcpy(fr[k][i], C.data[i], C.len[i]);
			fl[k][i] = C.len[i];
		}
	}
	for (i = 0; i < 8; i++)
		for (k = 0; k < 4; k++) {
			size_t j = (k & 1) ? nf[k] - 1 - i : i;

			if (i >= nf[k])
				continue;
			r = reasm_add(t, fr[k][j], fl[k][j], i, &out, &out_len);
			if (i + 1 < nf[k]) {
				cr_assert_eq(r, REASM_HELD, "k %zu i %zu", k,
					     i);
				continue;
			}
			cr_assert_eq(r, REASM_DONE, "k %zu", k);
			same_packet(out, out_len, pk[k], 3000);
			done++;
		}
	cr_assert_eq(done, 4);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, fuzz)
{
	const size_t limit = 256 * 1024;
	struct reasm_table *t = reasm_new(limit, 16, 1000);
	const struct reasm_stats *st = reasm_stats(t);
	unsigned int seed = 12345, cur[36] = { 0 };
	uint64_t now = 0, drops;
	static uint8_t f[2048];
	size_t i, out_len;
	uint8_t *out;
	int r;

	for (i = 0; i < 100000; i++) {
		unsigned int x = rand_r(&seed), k = rand_r(&seed) % 36;
		size_t olen = x % 5 == 0 ? (rand_r(&seed) % 11) * 4 : 0;
		size_t hlen = 20 + olen, plen, off, j;
		uint16_t fo;

		if (x % 2) {
			/* a train sent in order, now and then too long */
			off = cur[k] * 8;
			plen = (1 + rand_r(&seed) % 2) * 8;
			cur[k] += (unsigned int)plen / 8;
			fo = (uint16_t)(off / 8);
			if (rand_r(&seed) % 12)
				fo |= 0x2000;
			else
				cur[k] = 0;
		} else {
			/* offsets: mostly small, sometimes anywhere */
			if (rand_r(&seed) % 10)
				off = (rand_r(&seed) % 24) * 8;
			else
				off = (rand_r(&seed) % 8192) * 8;
			if (rand_r(&seed) % 4)
				plen = (1 + rand_r(&seed) % 8) * 8;
			else
				plen = rand_r(&seed) % 1200;
			fo = (uint16_t)(off / 8);
			if (rand_r(&seed) % 3)
				fo |= 0x2000;
		}
		if (!(rand_r(&seed) % 50))
			fo |= 0x4000;
		memset(f, 0, hlen);
		f[0] = 0x40 | (uint8_t)(hlen / 4);
		p16(f + 2, (uint16_t)(hlen + plen));
		/* now and then a train of its own, left to time out */
		p16(f + 4, (uint16_t)(x % 20 ? k % 6 : 1000 + x % 5000));
		p16(f + 6, fo);
		f[8] = 64;
		f[9] = k / 18 ? 50 : 17;
		f[12] = 10;
		f[15] = (uint8_t)(k / 6 % 3);
		f[16] = 10;
		f[19] = 9;
		for (j = 20; j < hlen; j++)
			f[j] = (uint8_t)rand_r(&seed);
		for (j = hlen; j < hlen + plen; j++)
			f[j] = (uint8_t)(off + j - hlen);
		set_csum(f);
		if (!(rand_r(&seed) % 40)) /* now and then: junk */
			f[rand_r(&seed) % hlen] ^=
				(uint8_t)(1 + rand_r(&seed) % 255);
		r = reasm_add(t, f, hlen + plen + rand_r(&seed) % 3, now, &out,
			      &out_len);
		cr_assert(r == REASM_HELD || r == REASM_DONE || r == -1);
		if (r == REASM_DONE) {
			size_t h = (out[0] & 0xf) * 4u, k;

			cr_assert(csum_ok(out));
			cr_assert_eq(g16(out + 2), out_len);
			cr_assert_eq(g16(out + 6) & 0x3fff, 0);
			/* every payload byte was written from its offset */
			for (k = h; k < out_len; k++)
				cr_assert_eq(out[k], (uint8_t)(k - h));
		}
		cr_assert_leq(reasm_mem(t), limit, "mem %zu", reasm_mem(t));
		now += rand_r(&seed) % 3;
		if (!(rand_r(&seed) % 1000))
			reasm_expire(t, now);
	}
	cr_assert_eq(st->fragments, 100000);
	drops = st->drop_overlap + st->drop_oversize + st->drop_too_many +
		st->drop_timeout + st->drop_no_memory + st->drop_malformed;
	cr_assert_gt(st->reassembled, 0);
	cr_assert_gt(st->drop_overlap, 0);
	cr_assert_gt(st->drop_malformed, 0);
	cr_assert_gt(st->drop_too_many, 0);
	cr_assert_gt(st->drop_no_memory, 0);
	cr_assert_gt(st->drop_oversize, 0);
	cr_log_info("fuzz: %llu reassembled, overlap %llu oversize %llu "
		    "too_many %llu timeout %llu no_memory %llu malformed %llu",
		    (unsigned long long)st->reassembled,
		    (unsigned long long)st->drop_overlap,
		    (unsigned long long)st->drop_oversize,
		    (unsigned long long)st->drop_too_many,
		    (unsigned long long)st->drop_timeout,
		    (unsigned long long)st->drop_no_memory,
		    (unsigned long long)st->drop_malformed);
	cr_assert_gt(st->drop_timeout, 0);
	cr_assert_gt(drops, 0);
	reasm_expire(t, now + 1000000);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, free_with_trains_held)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t *out;
	size_t out_len;
	uint16_t id;

	for (id = 0; id < 500; id++) {
		three(id);
		cr_assert_eq(add(t, F[id % 3], FL[id % 3], id), REASM_HELD);
	}
	three(9999);
	cr_assert_eq(add(t, F[0], FL[0], 0), REASM_HELD);
	cr_assert_eq(add(t, F[1], FL[1], 0), REASM_HELD);
	cr_assert_eq(reasm_add(t, F[2], FL[2], 0, &out, &out_len),
		     REASM_DONE);
	cr_assert_gt(reasm_mem(t), 0);
	reasm_free(t); /* trains and the packet handed out: valgrind */
	reasm_free(NULL);
}

/* ---- IPv6 (RFC 8200 4.5) ---------------------------------------------- */

/* An IPv6 packet 2001:db8::1 -> 2001:db8::2 with, when dst_opts, an
 * 8-byte destination options header before next header 50 (ESP); the
 * payload (after the headers) is pl bytes of a pattern. */
static size_t build_ip6(uint8_t *b, size_t pl, bool dst_opts, uint32_t seed)
{
	size_t h = 40 + (dst_opts ? 8 : 0), i;

	memset(b, 0, h);
	b[0] = 0x60;
	p16(b + 4, (uint16_t)(h - 40 + pl));
	b[6] = dst_opts ? 60 : 50;
	b[7] = 64;
	b[8] = 0x20; b[9] = 0x01; b[10] = 0x0d; b[11] = 0xb8; b[23] = 1;
	b[24] = 0x20; b[25] = 0x01; b[26] = 0x0d; b[27] = 0xb8; b[39] = 2;
	if (dst_opts) {
		b[40] = 50;
		b[42] = 1; /* PadN of 4 */
		b[43] = 4;
	}
	for (i = h; i < h + pl; i++)
		b[i] = (uint8_t)((i * 7 + seed) ^ (i >> 8));
	return h + pl;
}

/* Fragment off..off+plen of orig's payload (orig's headers h bytes). */
static size_t make_frag6(uint8_t *f, const uint8_t *orig, size_t h,
			 size_t off, size_t plen, bool more, uint32_t id)
{
	uint8_t *nh = h > 40 ? f + 40 : f + 6;

	memcpy(f, orig, h);
	p16(f + 4, (uint16_t)(h - 40 + 8 + plen));
	f[h] = *nh;
	*nh = 44;
	f[h + 1] = 0;
	p16(f + h + 2, (uint16_t)(off | (more ? 1 : 0)));
	f[h + 4] = id >> 24; f[h + 5] = id >> 16; f[h + 6] = id >> 8; f[h + 7] = id;
	memcpy(f + h + 8, orig + h + off, plen);
	return h + 8 + plen;
}

static void ip6_train(bool dst_opts, bool reverse)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t orig[FSZ], f[3][FSZ], *out;
	size_t h = dst_opts ? 48 : 40, n, fl[3], out_len;
	int i, r = -2;

	n = build_ip6(orig, 1200, dst_opts, 9);
	fl[0] = make_frag6(f[0], orig, h, 0, 512, true, 0xabcdef01);
	fl[1] = make_frag6(f[1], orig, h, 512, 512, true, 0xabcdef01);
	fl[2] = make_frag6(f[2], orig, h, 1024, 176, false, 0xabcdef01);
	for (i = 0; i < 3; i++) {
		int k = reverse ? 2 - i : i;

		r = reasm_add(t, f[k], fl[k], 0, &out, &out_len);
		cr_assert_eq(r, i < 2 ? REASM_HELD : REASM_DONE);
	}
	cr_assert_eq(out_len, n);
	cr_assert(!memcmp(out, orig, n), "the packet comes back as it was");
	cr_assert_eq(reasm_stats(t)->reassembled, 1);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, ip6_in_order)
{
	ip6_train(false, false);
}

Test(reasm, ip6_reversed_with_dst_opts)
{
	ip6_train(true, true);
}

Test(reasm, ip6_ids_and_families_apart)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t orig[FSZ], f[FSZ], *out;
	size_t n, out_len;

	build_ip6(orig, 1024, false, 3);
	/* the first halves of two trains that differ only by id */
	n = make_frag6(f, orig, 40, 0, 512, true, 1);
	cr_assert_eq(reasm_add(t, f, n, 0, &out, &out_len), REASM_HELD);
	n = make_frag6(f, orig, 40, 0, 512, true, 2);
	cr_assert_eq(reasm_add(t, f, n, 0, &out, &out_len), REASM_HELD);
	/* the second half of id 2 completes id 2 only */
	n = make_frag6(f, orig, 40, 512, 512, false, 2);
	cr_assert_eq(reasm_add(t, f, n, 0, &out, &out_len), REASM_DONE);
	cr_assert_eq(out_len, 40 + 1024);
	cr_assert(!memcmp(out, orig, out_len));
	cr_assert_gt(reasm_mem(t), 0); /* id 1 still held */
	reasm_free(t);
}

Test(reasm, ip6_atomic_fragment)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t orig[FSZ], f[FSZ], *out;
	size_t n, out_len;

	build_ip6(orig, 100, false, 5);
	n = make_frag6(f, orig, 40, 0, 100, false, 7);
	cr_assert_eq(reasm_add(t, f, n, 0, &out, &out_len), REASM_DONE);
	cr_assert_eq(out_len, 140);
	cr_assert(!memcmp(out, orig, out_len));
	reasm_free(t);
}

Test(reasm, ip6_malformed_and_overlap)
{
	struct reasm_table *t = reasm_new(MEM, 64, TIMEOUT);
	uint8_t orig[FSZ], f[FSZ], *out;
	size_t n, out_len;

	build_ip6(orig, 1024, false, 1);
	/* not a fragment: no fragment header */
	cr_assert_eq(reasm_add(t, orig, 40 + 1024, 0, &out, &out_len), -1);
	/* a middle piece not a multiple of 8 */
	n = make_frag6(f, orig, 40, 0, 500, true, 3);
	cr_assert_eq(reasm_add(t, f, n, 0, &out, &out_len), -1);
	/* payload length past the buffer */
	n = make_frag6(f, orig, 40, 0, 512, true, 3);
	cr_assert_eq(reasm_add(t, f, n - 1, 0, &out, &out_len), -1);
	cr_assert_eq(reasm_stats(t)->drop_malformed, 3);
	/* the same piece twice: the train goes */
	cr_assert_eq(reasm_add(t, f, n, 0, &out, &out_len), REASM_HELD);
	cr_assert_eq(reasm_add(t, f, n, 0, &out, &out_len), -1);
	cr_assert_eq(reasm_stats(t)->drop_overlap, 1);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

/* ---- the pool --------------------------------------------------------- */

/* malloc, calloc, realloc and free called from our code (not from the
 * libraries: --wrap only renames the references of the objects linked) */
static __thread unsigned long n_alloc;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

void *__wrap_malloc(size_t n)
{
	n_alloc++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	n_alloc++;
	return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	n_alloc++;
	return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
	if (p)
		n_alloc++;
	__real_free(p);
}

/* reasm_add, adding to *allocs what our code allocated or freed in it */
static int add_counted(struct reasm_table *t, const void *f, size_t len,
		       uint64_t now, unsigned long *allocs, uint8_t **out,
		       size_t *out_len)
{
	unsigned long a = n_alloc;
	int r = reasm_add(t, f, len, now, out, out_len);

	*allocs += n_alloc - a;
	return r;
}

Test(reasm, pool_size)
{
	unsigned long a = n_alloc;
	struct reasm_table *t = reasm_new(4u << 20, 64, 2000);
	size_t sz = reasm_pool_size(t);

	cr_assert_gt(n_alloc, a, "the wrappers see reasm_new's allocations");
	/* the daemon's bound (WORKER_REASM_MEM): the pool is the bound, the
	 * rest (maps, output buffer, table) about 5 % more */
	cr_assert_geq(sz, 4u << 20);
	cr_assert_leq(sz, (4u << 20) + (256u << 10), "%zu", sz);
	cr_log_info("pool of a 4 MiB table: %zu bytes", sz);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

Test(reasm, pool_exhaustion_counted)
{
	/* 10 blocks: trains of one small fragment take 2 (descriptor, data) */
	struct reasm_table *t = reasm_new(10 * REASM_BLOCK, 64, TIMEOUT);
	const struct reasm_stats *st = reasm_stats(t);
	uint8_t *out;
	size_t out_len;
	uint16_t id;
	int i;

	for (id = 0; id < 5; id++) {
		three(id);
		cr_assert_eq(add(t, F[0], FL[0], 0), REASM_HELD, "train %u", id);
	}
	cr_assert_eq(reasm_mem(t), 10 * REASM_BLOCK, "the pool is full");
	/* each fragment refused is counted, the trains held are kept */
	for (i = 0; i < 100; i++) {
		three((uint16_t)(100 + i));
		cr_assert_eq(add(t, F[i % 3], FL[i % 3], 0), -1);
	}
	cr_assert_eq(st->drop_no_memory, 100);
	cr_assert_eq(reasm_mem(t), 10 * REASM_BLOCK);
	/* a train of the pool completes without a new block */
	three(2);
	cr_assert_eq(add(t, F[2], FL[2], 0), REASM_HELD);
	cr_assert_eq(reasm_add(t, F[1], FL[1], 0, &out, &out_len), REASM_DONE);
	cr_assert_eq(out_len, 60);
	cr_assert(!memcmp(out + 20, P + 20, 40));
	cr_assert_eq(reasm_mem(t), 8 * REASM_BLOCK, "its blocks came back");
	/* and a new train takes them */
	three(200);
	cr_assert_eq(add(t, F[0], FL[0], 0), REASM_HELD);
	cr_assert_eq(reasm_mem(t), 10 * REASM_BLOCK);
	/* a held train that must grow past the pool goes, counted too */
	build_ip4(Q, 1000, NULL, 0, 0, 1, 0);
	FL[3] = make_frag(F[3], Q, 256, 16, true);
	cr_assert_eq(add(t, F[3], FL[3], 0), -1);
	cr_assert_eq(st->drop_no_memory, 101);
	cr_assert_eq(reasm_mem(t), 8 * REASM_BLOCK);
	cr_assert_eq(st->fragments, 5 + 100 + 2 + 1 + 1);
	cr_assert_eq(st->reassembled, 1);
	reasm_free(t);
}

Test(reasm, pool_reused_after_timeout)
{
	/* 8 blocks: 4 trains of one small fragment fill it */
	struct reasm_table *t = reasm_new(8 * REASM_BLOCK, 64, 1000);
	const struct reasm_stats *st = reasm_stats(t);
	unsigned int round, k;
	uint64_t now = 0;

	for (round = 0; round < 1000; round++, now += 1000) {
		for (k = 0; k < 4; k++) {
			three((uint16_t)(round * 4 + k));
			/* the first of a round expires the last round's four */
			cr_assert_eq(add(t, F[0], FL[0], now), REASM_HELD,
				     "round %u train %u", round, k);
		}
		three((uint16_t)(60000 + round));
		cr_assert_eq(add(t, F[0], FL[0], now + 999), -1, "full");
		cr_assert_eq(st->drop_timeout, round * 4);
		cr_assert_eq(st->drop_no_memory, round + 1);
		cr_assert_eq(reasm_mem(t), 8 * REASM_BLOCK);
	}
	reasm_expire(t, now);
	cr_assert_eq(st->drop_timeout, 4000);
	cr_assert_eq(reasm_mem(t), 0);
	reasm_free(t);
}

/*
 * The packet path allocates nothing: thousands of fragments (IPv4 shuffled
 * round trips, duplicates, trains left to time out, the pool exhausted and
 * refilled, IPv6 trains), reasm_add and reasm_expire counted call by call.
 */
Test(reasm, no_allocation_on_the_packet_path)
{
	struct reasm_table *t = reasm_new(256 * 1024, 64, 1000);
	const struct reasm_stats *st = reasm_stats(t);
	unsigned long allocs = 0, nfrag = 0, a;
	unsigned int seed = 7, iter, bad = 0, refused = 0, left = 0, dups = 0;
	uint8_t f6[FSZ], orig6[FSZ];
	uint64_t now = 0;
	size_t ord[MAXF], out_len = 0;
	uint8_t *out = NULL;
	int r;

	cr_assert_not_null(t);
	for (iter = 0; iter < 1000; iter++) {
		unsigned int mtu = 576 + rand_r(&seed) % 925;
		size_t len = mtu + 1 + rand_r(&seed) % 12000, i;

		build_ip4(P, len, NULL, 0, (uint16_t)iter, 1, iter);
		fragment(P, len, mtu);
		shuffle_frags(ord, &seed);
		for (i = 0; i < C.n; i++, nfrag++) {
			r = add_counted(t, C.data[ord[i]], C.len[ord[i]], now,
					&allocs, &out, &out_len);
			bad += r != (i + 1 < C.n ? REASM_HELD : REASM_DONE);
		}
		cr_assert_eq(bad, 0, "iteration %u", iter);
		same_packet(out, out_len, P, len);
		if (iter % 5 == 0) { /* a duplicate: the train goes */
			three((uint16_t)(20000 + iter));
			r = add_counted(t, F[1], FL[1], now, &allocs, &out,
					&out_len);
			bad += r != REASM_HELD;
			r = add_counted(t, F[1], FL[1], now, &allocs, &out,
					&out_len);
			bad += r != -1;
			nfrag += 2;
			dups++;
		}
		if (iter % 7 == 0) { /* a train left to time out */
			three((uint16_t)(30000 + iter));
			r = add_counted(t, F[2], FL[2], now, &allocs, &out,
					&out_len);
			bad += r != REASM_HELD;
			nfrag++;
			left++;
		}
		now += 50;
		if (iter % 20 == 0) {
			a = n_alloc;
			reasm_expire(t, now);
			allocs += n_alloc - a;
		}
	}
	cr_assert_eq(bad, 0);
	cr_assert_eq(st->drop_no_memory, 0);
	now += 1000;
	a = n_alloc;
	reasm_expire(t, now);
	allocs += n_alloc - a;
	cr_assert_eq(reasm_mem(t), 0);
	/* the pool exhausted by trains of one fragment, then reused */
	for (iter = 0; iter < 2000; iter++, nfrag++) {
		three((uint16_t)(40000 + iter));
		r = add_counted(t, F[0], FL[0], now + iter % 1000, &allocs,
				&out, &out_len);
		if (r < 0)
			refused++;
		if (iter == 999)
			now += 10000; /* the first thousand expire */
	}
	/* 1024 blocks, 2 per train, the left ones gone */
	cr_assert_eq(refused, 2 * (1000 - 512), "refused %u", refused);
	cr_assert_eq(st->drop_no_memory, refused);
	/* IPv6 trains, in order and reversed */
	build_ip6(orig6, 1200, true, 9);
	for (iter = 0; iter < 300; iter++) {
		static const size_t offs[3] = { 0, 512, 1024 },
				    lens[3] = { 512, 512, 176 };
		unsigned int i;

		for (i = 0; i < 3; i++, nfrag++) {
			unsigned int k = iter & 1 ? 2 - i : i;
			size_t n = make_frag6(f6, orig6, 48, offs[k], lens[k],
					      k < 2, 0x1000 + iter);

			r = add_counted(t, f6, n, now + 20000, &allocs, &out,
					&out_len);
			bad += r != (i < 2 ? REASM_HELD : REASM_DONE);
		}
		bad += out_len != 48 + 1200 || memcmp(out, orig6, out_len);
	}
	cr_assert_eq(bad, 0);
	a = n_alloc;
	reasm_expire(t, now + 100000);
	allocs += n_alloc - a;
	cr_assert_eq(allocs, 0, "%lu allocations on the packet path", allocs);
	cr_assert_eq(reasm_mem(t), 0);
	cr_assert_eq(st->fragments, nfrag);
	cr_assert_eq(st->reassembled, 1000 + 300);
	cr_assert_eq(st->drop_overlap, dups);
	cr_assert_eq(st->drop_timeout, left + 2000 - refused);
	cr_log_info("%lu fragments, %lu allocations", nfrag, allocs);
	reasm_free(t);
}
