// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of user/proto/replay.c (anti-replay window, RFC 4303 3.4.3 and
 * appendix A) and of sa_seq_reserve (user/tables/sa.c).
 *
 * The window tables follow the style of WireGuard's selftest/counter.c:
 * T(seq, expected) run in order against one window; every case is checked
 * with replay_check (read only) and then recorded with replay_update, and
 * both must give the expected result.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/replay.h"
#include "tables/sa.h"

#define OK REPLAY_OK
#define DUP REPLAY_DUP
#define OLD REPLAY_OLD

struct rcase {
	uint64_t seq;
	int expect;
	int line;
};

#define T(s, e) { (s), (e), __LINE__ }

static const char *rname(int r)
{
	switch (r) {
	case OK:
		return "OK";
	case DUP:
		return "DUP";
	case OLD:
		return "OLD";
	}
	return "?";
}

static void run_table_spread(uint32_t size, bool esn, const struct rcase *c,
			     size_t n, bool spread)
{
	struct replay_window w;
	size_t i;
	int chk, upd;

	cr_assert_eq(replay_init_spread(&w, size, esn, spread), 0);
	for (i = 0; i < n; i++) {
		chk = replay_check(&w, c[i].seq);
		cr_assert_eq(chk, c[i].expect,
			     "W=%u line %d: replay_check(%llu) = %s, want %s",
			     size, c[i].line, (unsigned long long)c[i].seq,
			     rname(chk), rname(c[i].expect));
		upd = replay_update(&w, c[i].seq);
		cr_assert_eq(upd, c[i].expect,
			     "W=%u line %d: replay_update(%llu) = %s, want %s",
			     size, c[i].line, (unsigned long long)c[i].seq,
			     rname(upd), rname(c[i].expect));
	}
	replay_free(&w);
	cr_assert_null(w.slots);
}

#define W 1024ull
static const struct rcase table_1024[] = {
	T(0, OLD),		/* 0 is never a valid sequence number */
	T(1, OK),
	T(1, DUP),
	T(9, OK),		/* out of order within the window */
	T(8, OK),
	T(7, OK),
	T(7, DUP),
	T(2, OK),
	T(0, OLD),
	T(W, OK),		/* top 1024 */
	T(W - 1, OK),
	T(W - 1, DUP),
	T(1, DUP),		/* 1 > top - W: inside, seen */
	T(W + 1, OK),		/* top 1025, left edge 2 */
	T(1, OLD),		/* top - W */
	T(2, DUP),		/* left edge, seen */
	T(3, OK),		/* inside, never seen */
	T(3, DUP),
	T(3 * W, OK),		/* jump: top 3072, left edge 2049 */
	T(2 * W, OLD),		/* top - W */
	T(2 * W + 1, OK),	/* top - W + 1: the left edge exactly */
	T(2 * W + 1, DUP),
	T(W + 1, OLD),		/* accepted long ago, now left of the window */
	T(3 * W - 1, OK),
	T(3 * W, DUP),
	T(3 * W + 1, OK),	/* top 3073, left edge 2050 */
	T(2 * W + 1, OLD),	/* just slid out */
	T(2 * W + 2, OK),
	T(2 * W + 2, DUP),
	T(1000000, OK),		/* far jump */
	T(1000000 - W, OLD),
	T(1000000 - W + 1, OK),
	T(999999, OK),
	T(999999, DUP),
	T(1000000 - 512, OK),
	T(1000000 - 512, DUP),
	T(1000000, DUP),
	T(1000000 + 5 * W, OK),	/* jump farther than the whole ring */
	T(1000000, OLD),
	T(1000000 + 4 * W + 1, OK), /* reuses the ring slot of 1000000 */
	T(1000000 + 4 * W, OLD),
	T(1000000 + 4 * W + 1, DUP),
	/* out of order inside one 32-number block and across blocks */
	T(2000031, OK),
	T(2000000, OK),
	T(2000015, OK),
	T(2000016, OK),
	T(2000032, OK),
	T(2000001, OK),
	T(2000000, DUP),
	T(2000031, DUP),
	T(2000032, DUP),
	T(2000032 - W, OLD),	/* top 2000032 */
	T(2000032 - W + 1, OK),	/* left edge */
	/* the end of the 32-bit space (no ESN) */
	T(0xffffffff, OK),
	T(0xffffffff, DUP),
	T(0xffffffff - W + 1, OK),
	T(0xffffffff - W, OLD),
	T(0xfffffffe, OK),
	T(0xfffffffe, DUP),
	T(2000032, OLD),
};

static const struct rcase table_32[] = {
	T(32, OK),
	T(1, OK),		/* 1 = top - 31: inside */
	T(1, DUP),
	T(33, OK),		/* top 33 */
	T(1, OLD),		/* top - 32 */
	T(2, OK),		/* left edge */
	T(2, DUP),
	T(64, OK),		/* top 64, left edge 33 */
	T(33, DUP),
	T(32, OLD),
	T(34, OK),
	T(63, OK),
	T(65, OK),		/* top 65 */
	T(33, OLD),
	T(34, DUP),
	T(96, OK),		/* block 3 takes block 1's ring slot */
	T(65, DUP),
	T(64, OLD),
	T(95, OK),
	T(95, DUP),
	T(34, OLD),
	T(1000, OK),
	T(968, OLD),
	T(969, OK),
	T(0, OLD),
};

#define W4 4096ull
static const struct rcase table_4096[] = {
	T(5000, OK),
	T(5000 - W4 + 1, OK),	/* left edge */
	T(5000 - W4, OLD),
	T(4999, OK),
	T(1, OLD),
	T(5000 - W4 + 1, DUP),
	T(5001, OK),
	T(5000 - W4 + 1, OLD),	/* slid out */
	T(5001 - W4 + 1, OK),
	T(10000, OK),
	T(10000 - W4, OLD),
	T(10000 - W4 + 1, OK),
	T(9000, OK),
	T(9000, DUP),
	T(5001, OLD),
	T(18192, OK),		/* jump of twice the window */
	T(18192 - W4 + 1, OK),	/* reuses the ring slot of 5905 */
	T(18192 - W4, OLD),
	T(10000, OLD),
	T(18000, OK),
	T(18000, DUP),
	T(18191, OK),
	T(18192, DUP),
};

/* each table twice: slots packed, and a cache line each (fat tunnels) */
static void run_table(uint32_t size, bool esn, const struct rcase *c,
		      size_t n)
{
	run_table_spread(size, esn, c, n, false);
	run_table_spread(size, esn, c, n, true);
}

Test(replay_table, window_1024)
{
	run_table(1024, false, table_1024,
		  sizeof(table_1024) / sizeof(table_1024[0]));
}

Test(replay_table, window_1024_esn)
{
	/* with full 64-bit numbers given, ESN changes nothing below 2^32 */
	run_table(1024, true, table_1024,
		  sizeof(table_1024) / sizeof(table_1024[0]));
}

Test(replay_table, window_32)
{
	run_table(32, false, table_32, sizeof(table_32) / sizeof(table_32[0]));
}

Test(replay_table, window_4096)
{
	run_table(4096, false, table_4096,
		  sizeof(table_4096) / sizeof(table_4096[0]));
}

Test(replay, init_sizes)
{
	static const uint32_t bad[] = { 0, 1, 16, 31, 33, 48, 1000, 4097,
					4128, 8192, UINT32_MAX };
	static const uint32_t good[] = { 32, 64, 96, 992, 1024, 2048, 4064,
					 4096 };
	struct replay_window w;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&w, 0, sizeof(w));
		cr_assert_eq(replay_init(&w, bad[i], false), -EINVAL,
			     "size %u accepted", bad[i]);
		cr_assert_null(w.slots);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(replay_init(&w, good[i], true), 0, "size %u",
			     good[i]);
		cr_assert_eq(w.size, good[i]);
		cr_assert(w.esn);
		cr_assert_eq(atomic_load(&w.top), 0);
		/* a power-of-two ring with more blocks than the window */
		cr_assert_eq((w.mask + 1) & w.mask, 0, "ring not 2^n");
		cr_assert_geq(w.mask + 1, good[i] / 32 + 1);
		replay_free(&w);
		cr_assert_null(w.slots);
	}
	/* replay_free twice is harmless */
	replay_free(&w);
}

/* Slots in the caller's memory (an SA's block): the sizes the ring needs,
 * the window works on them, and replay_free leaves them alone. */
Test(replay, init_at_callers_memory)
{
	static _Alignas(64) uint64_t mem[8 * 128 + 8];
	struct replay_window w;
	size_t i;

	cr_assert_eq(replay_slots_size(1000, false), 0u);
	cr_assert_eq(replay_slots_size(32, false), 64u);    /* 2 slots, a line */
	cr_assert_eq(replay_slots_size(1024, false), 512u); /* 64 slots */
	cr_assert_eq(replay_slots_size(1024, true), 4096u); /* a line each */
	memset(mem, 0, sizeof(mem));
	mem[64] = 0x5a5a; /* just past the 512 bytes: must stay */
	cr_assert_eq(replay_init_at(&w, 1024, false, false, mem), 0);
	cr_assert_eq(w.slots, (void *)mem);
	cr_assert_not(w.own);
	cr_assert_eq(w.mask, 63u);
	for (i = 1; i <= 3000; i++) {
		cr_assert_eq(replay_check(&w, i), REPLAY_OK);
		cr_assert_eq(replay_update(&w, i), REPLAY_OK);
	}
	cr_assert_eq(replay_check(&w, 3000), REPLAY_DUP);
	cr_assert_eq(replay_check(&w, 3000 - 1024), REPLAY_OLD);
	cr_assert_eq(mem[64], 0x5a5au);
	replay_free(&w); /* not ours to free: ASan would say so */
	cr_assert_null(w.slots);
	cr_assert_eq(replay_init_at(&w, 1000, false, false, mem), -EINVAL);
	/* without memory: allocated, and freed by replay_free */
	cr_assert_eq(replay_init_at(&w, 64, false, true, NULL), 0);
	cr_assert(w.own);
	replay_free(&w);
}

/* A simple model: accepted iff not 0, right of top - W, and never seen. */
struct model {
	uint32_t size;
	uint64_t top;
	uint64_t *seen; /* bitset */
};

static int model_update(struct model *m, uint64_t seq)
{
	uint64_t bit = 1ull << (seq & 63);

	if (seq == 0 || seq + m->size <= m->top)
		return OLD;
	if (m->seen[seq >> 6] & bit)
		return DUP;
	m->seen[seq >> 6] |= bit;
	if (seq > m->top)
		m->top = seq;
	return OK;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* 300000 random operations around the top against the model. */
Test(replay, random_against_model)
{
	static const uint32_t sizes[] = { 32, 64, 96, 1024, 4064, 4096 };
	const uint64_t limit = 1ull << 28;
	struct replay_window w;
	struct model m;
	uint64_t rng = 0x9e3779b97f4a7c15ull, seq;
	size_t si;
	int i, got, want, counts[3];

	m.seen = malloc(limit / 8);
	cr_assert_not_null(m.seen);
	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		memset(m.seen, 0, limit / 8);
		memset(counts, 0, sizeof(counts));
		m.size = sizes[si];
		m.top = 0;
		cr_assert_eq(replay_init(&w, sizes[si], false), 0);
		for (i = 0; i < 300000; i++) {
			uint64_t r = xorshift(&rng), span = 2 * m.size + 64;

			switch (r % 32) {
			case 0: /* jump ahead, up to 4 windows */
				seq = m.top + 1 + (r >> 8) % (4 * m.size);
				break;
			case 1: /* anywhere below the top */
				seq = (r >> 8) % (m.top + 1);
				break;
			default: /* near the top, both sides of the edge */
				seq = m.top + 64 - (r >> 8) % span;
				if (seq > m.top + 64) /* wrapped below 0 */
					seq = (r >> 8) % 64;
				break;
			}
			cr_assert_lt(seq, limit);
			want = model_update(&m, seq);
			got = replay_check(&w, seq);
			cr_assert_eq(got, want,
				     "W=%u op %d: check(%llu) = %s, model %s",
				     m.size, i, (unsigned long long)seq,
				     rname(got), rname(want));
			got = replay_update(&w, seq);
			cr_assert_eq(got, want,
				     "W=%u op %d: update(%llu) = %s, model %s",
				     m.size, i, (unsigned long long)seq,
				     rname(got), rname(want));
			counts[-want]++;
		}
		cr_assert_eq(atomic_load(&w.top), m.top);
		/* the walk really exercised every outcome */
		cr_assert_gt(counts[0], 1000, "W=%u: %d OK", m.size, counts[0]);
		cr_assert_gt(counts[1], 300, "W=%u: %d DUP", m.size,
			     counts[1]);
		cr_assert_gt(counts[2], 1000, "W=%u: %d OLD", m.size,
			     counts[2]);
		replay_free(&w);
	}
	free(m.seen);
}

/* replay_check only reads: nothing in the window changes. */
Test(replay, check_does_not_modify)
{
	struct replay_window w;
	uint64_t *before, top;
	size_t nslots, i;
	uint64_t probes[] = { 0, 1, 5, 6, 100, 101, 2000, 2000 - 1023,
			      2000 - 1024, 2001, 3000, 1ull << 40, UINT64_MAX };

	cr_assert_eq(replay_init(&w, 1024, true), 0);
	nslots = w.mask + 1;
	before = calloc(nslots, sizeof(*before));
	cr_assert_not_null(before);
	cr_assert_eq(replay_update(&w, 5), OK);
	cr_assert_eq(replay_update(&w, 100), OK);
	cr_assert_eq(replay_update(&w, 2000), OK);
	top = atomic_load(&w.top);
	for (i = 0; i < nslots; i++)
		before[i] = atomic_load(&w.slots[i]);
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		replay_check(&w, probes[i]);
		replay_check(&w, probes[i]);
	}
	cr_assert_eq(atomic_load(&w.top), top);
	for (i = 0; i < nslots; i++)
		cr_assert_eq(atomic_load(&w.slots[i]), before[i],
			     "slot %zu changed by replay_check", i);
	/* checking twice gives the same answer; only update records */
	cr_assert_eq(replay_check(&w, 2001), OK);
	cr_assert_eq(replay_check(&w, 2001), OK);
	cr_assert_eq(replay_check(&w, 1500), OK);
	cr_assert_eq(replay_check(&w, 1500), OK);
	cr_assert_eq(replay_check(&w, 2000), DUP);
	cr_assert_eq(replay_check(&w, 976), OLD);
	cr_assert_eq(replay_update(&w, 1500), OK);
	cr_assert_eq(replay_check(&w, 1500), DUP);
	cr_assert_eq(atomic_load(&w.top), 2000);
	cr_assert_eq(replay_update(&w, 2001), OK);
	cr_assert_eq(replay_check(&w, 2001), DUP);
	cr_assert_eq(atomic_load(&w.top), 2001);
	free(before);
	replay_free(&w);
}

/* ---- ESN: RFC 4303 appendix A ----------------------------------------- */

/*
 * replay_infer picks, of the numbers with the given low 32 bits, the one
 * closest to the top (user/proto/replay.h). For numbers inside the window and
 * ahead of it (by less than 2^31) that is RFC 4303 appendix A2.2's answer,
 * in both of its cases; for a number behind the window A2.2 would guess the
 * next 2^32 subspace (and the ICV would fail) where replay_infer guesses
 * the current one, so the packet is dropped as too old before decryption.
 * The "A2.2:" comments below give the RFC's answer where the two differ.
 */

/* Move top to t by accepting t (t must be right of the window). */
static void set_top(struct replay_window *w, uint64_t t)
{
	cr_assert_eq(replay_update(w, t), OK, "set_top(%llx)",
		     (unsigned long long)t);
	cr_assert_eq(atomic_load(&w->top), t);
}

struct icase {
	uint32_t lo;
	uint64_t want;
	int verdict; /* replay_check of the inferred number */
	int line;
};

#define I(l, wnt, v) { (l), (wnt), (v), __LINE__ }

static void run_infer(struct replay_window *w, const struct icase *c,
		      size_t n)
{
	size_t i;
	uint64_t got;
	int v;

	for (i = 0; i < n; i++) {
		got = replay_infer(w, c[i].lo);
		cr_assert_eq(got, c[i].want,
			     "line %d: top %llx, infer(%08x) = %llx, want %llx",
			     c[i].line,
			     (unsigned long long)atomic_load(&w->top), c[i].lo,
			     (unsigned long long)got,
			     (unsigned long long)c[i].want);
		v = replay_check(w, got);
		cr_assert_eq(v, c[i].verdict, "line %d: check(%llx) = %s",
			     c[i].line, (unsigned long long)got, rname(v));
	}
}

/* Case A: Tl >= W - 1, the window lies within one 2^32 subspace. */
Test(replay_esn, infer_case_a)
{
	struct replay_window w;
	/* top 0x5_00001000, W 1024: window [0x5_00000c01, 0x5_00001000] */
	static const struct icase c[] = {
		I(0x00001000, 0x0000000500001000ull, DUP), /* top itself */
		I(0x00000c01, 0x0000000500000c01ull, OK),  /* Tl - W + 1 */
		I(0x00000fff, 0x0000000500000fffull, OK),
		I(0x00001001, 0x0000000500001001ull, OK),  /* ahead */
		I(0x80000fff, 0x0000000580000fffull, OK),  /* 2^31 - 1 ahead */
		/* behind the window; A2.2: Th + 1 */
		I(0x00000c00, 0x0000000500000c00ull, OLD),
		I(0x00000000, 0x0000000500000000ull, OLD),
		I(0xffffffff, 0x00000004ffffffffull, OLD),
		I(0x80001001, 0x0000000480001001ull, OLD), /* 2^31 + 1 ahead */
	};
	static const struct icase edge[] = {
		/* Tl = W - 1 exactly: case A, Tl - W + 1 = 0 */
		I(0x00000000, 0x0000000900000000ull, OK),  /* left edge */
		I(0x00000001, 0x0000000900000001ull, OK),
		I(0x000003ff, 0x00000009000003ffull, DUP),
		I(0x00000400, 0x0000000900000400ull, OK),
		/* just behind, in the previous subspace; A2.2: 0x9_ffffffff */
		I(0xffffffff, 0x00000008ffffffffull, OLD),
	};

	cr_assert_eq(replay_init(&w, 1024, true), 0);
	set_top(&w, 0x0000000500001000ull);
	run_infer(&w, c, sizeof(c) / sizeof(c[0]));
	set_top(&w, 0x00000009000003ffull);
	run_infer(&w, edge, sizeof(edge) / sizeof(edge[0]));
	replay_free(&w);
}

/* Case B: Tl < W - 1, the window spans two subspaces. */
Test(replay_esn, infer_case_b)
{
	struct replay_window w;
	/* top 0x5_00000010, W 1024: window [0x4_fffffc11, 0x5_00000010] */
	static const struct icase c[] = {
		I(0x00000010, 0x0000000500000010ull, DUP), /* top itself */
		I(0x00000000, 0x0000000500000000ull, OK),
		I(0x00000011, 0x0000000500000011ull, OK),  /* ahead */
		I(0x80000000, 0x0000000580000000ull, OK),  /* far ahead */
		/* in the window, previous subspace: Th - 1 */
		I(0xfffffc11, 0x00000004fffffc11ull, OK),  /* left edge */
		I(0xffffffff, 0x00000004ffffffffull, OK),
		/* behind the window; A2.2: Th */
		I(0xfffffc10, 0x00000004fffffc10ull, OLD),
		I(0x80000011, 0x0000000480000011ull, OLD),
	};
	static const struct icase edge[] = {
		/* Tl = W - 2: case B, Tl - W + 1 = 0xffffffff */
		I(0xffffffff, 0x00000008ffffffffull, OK),  /* left edge */
		I(0x00000000, 0x0000000900000000ull, OK),
		/* just behind; A2.2: 0x9_fffffffe */
		I(0xfffffffe, 0x00000008fffffffeull, OLD),
	};

	cr_assert_eq(replay_init(&w, 1024, true), 0);
	set_top(&w, 0x0000000500000010ull);
	run_infer(&w, c, sizeof(c) / sizeof(c[0]));
	replay_free(&w);
	cr_assert_eq(replay_init(&w, 1024, true), 0);
	set_top(&w, 0x00000009000003feull);
	run_infer(&w, edge, sizeof(edge) / sizeof(edge[0]));
	replay_free(&w);
}

Test(replay_esn, infer_without_esn_is_identity)
{
	struct replay_window w;

	cr_assert_eq(replay_init(&w, 1024, false), 0);
	cr_assert_eq(replay_infer(&w, 0), 0);
	cr_assert_eq(replay_infer(&w, 0xffffffff), 0xffffffffull);
	set_top(&w, 0xfffffff0ull);
	cr_assert_eq(replay_infer(&w, 5), 5);
	cr_assert_eq(replay_infer(&w, 0xfffffff5), 0xfffffff5ull);
	replay_free(&w);
}

Test(replay_esn, fresh_window)
{
	struct replay_window w;

	cr_assert_eq(replay_init(&w, 64, true), 0);
	cr_assert_eq(replay_infer(&w, 1), 1);
	cr_assert_eq(replay_infer(&w, 0xffffffff), 0xffffffffull,
		     "no subspace below 0");
	cr_assert_eq(replay_infer(&w, 0x80000000), 0x80000000ull);
	cr_assert_eq(replay_check(&w, replay_infer(&w, 0)), OLD);
	cr_assert_eq(replay_update(&w, 1), OK);
	cr_assert_eq(replay_infer(&w, 2), 2);
	replay_free(&w);
}

/* Sequence numbers 0xfffffff0 .. 0x1_00000010 through infer/check/update. */
Test(replay_esn, rollover)
{
	struct replay_window w;
	uint64_t s, full;
	uint32_t lo;

	cr_assert_eq(replay_init(&w, 1024, true), 0);
	for (s = 0xfffffff0ull; s <= 0x100000010ull; s++) {
		if (s == 0xfffffff8ull || s == 0x100000002ull)
			continue; /* lost for now, arrive late below */
		lo = (uint32_t)s;
		full = replay_infer(&w, lo);
		cr_assert_eq(full, s, "infer(%08x) = %llx, want %llx", lo,
			     (unsigned long long)full, (unsigned long long)s);
		cr_assert_eq(replay_check(&w, full), OK, "check %llx",
			     (unsigned long long)full);
		cr_assert_eq(replay_update(&w, full), OK, "update %llx",
			     (unsigned long long)full);
	}
	cr_assert_eq(atomic_load(&w.top), 0x100000010ull);
	/* seq 2^32: its low half is 0, but the full number is not 0 */
	cr_assert_eq(replay_infer(&w, 0), 0x100000000ull);
	cr_assert_eq(replay_check(&w, 0x100000000ull), DUP);

	/* the two late ones, from both sides of the boundary */
	full = replay_infer(&w, 0xfffffff8);
	cr_assert_eq(full, 0xfffffff8ull);
	cr_assert_eq(replay_check(&w, full), OK);
	cr_assert_eq(replay_update(&w, full), OK);
	full = replay_infer(&w, 2);
	cr_assert_eq(full, 0x100000002ull);
	cr_assert_eq(replay_update(&w, full), OK);

	/* replays after the rollover, from both subspaces */
	for (s = 0xfffffff0ull; s <= 0x100000010ull; s++) {
		lo = (uint32_t)s;
		full = replay_infer(&w, lo);
		cr_assert_eq(full, s);
		cr_assert_eq(replay_check(&w, full), DUP, "replay %llx",
			     (unsigned long long)s);
		cr_assert_eq(replay_update(&w, full), DUP, "replay %llx",
			     (unsigned long long)s);
	}
	/* the left edge across the boundary: top 0x1_00000010 */
	full = replay_infer(&w, 0xfffffc11);
	cr_assert_eq(full, 0xfffffc11ull);
	cr_assert_eq(replay_update(&w, full), OK);
	/* one further left is behind the window (A2.2: 0x1_fffffc10) */
	cr_assert_eq(replay_infer(&w, 0xfffffc10), 0xfffffc10ull);
	cr_assert_eq(replay_check(&w, 0xfffffc10ull), OLD);
	/* and the window keeps moving in the new subspace */
	full = replay_infer(&w, 0x500);
	cr_assert_eq(full, 0x100000500ull);
	cr_assert_eq(replay_update(&w, full), OK);
	/* case A again: the old subspace is now behind the window */
	cr_assert_eq(replay_infer(&w, 0xffffff00), 0xffffff00ull);
	cr_assert_eq(replay_check(&w, 0xffffff00ull), OLD);
	cr_assert_eq(replay_infer(&w, 0x7fffffff), 0x17fffffffull);
	cr_assert_eq(replay_check(&w, 0x100000500ull - 1023), OK);
	cr_assert_eq(replay_check(&w, 0x100000500ull - 1024), OLD);
	replay_free(&w);
}

/* ---- concurrency ------------------------------------------------------- */

#define NSEQ 200000
#define NTHREADS 4

/* How far a thread may run ahead of the slowest one: well inside W. */
#define MAX_LEAD 1024

struct rshared {
	pthread_barrier_t go;
	_Atomic uint64_t pos[NTHREADS]; /* where each thread is; MAX: done */
};

struct rthread {
	struct replay_window *w;
	struct rshared *sh;
	int me;
	_Atomic uint32_t *accepted; /* per number: REPLAY_OK count */
	uint64_t base;
	uint64_t seed;
	long ok, dup, old;
};

/* Wait while this thread is more than MAX_LEAD ahead of another one. */
static void keep_pace(struct rthread *t, uint64_t start)
{
	int i;

	atomic_store(&t->sh->pos[t->me], start);
	for (i = 0; i < NTHREADS; i++)
		while (start > atomic_load(&t->sh->pos[i]) + MAX_LEAD)
			sched_yield();
}

/*
 * Walk base+1 .. base+NSEQ ascending, shuffled within blocks of 32, all
 * threads at about the same pace, so every number is tried by all four at
 * nearly the same time.
 */
static void *rp_thread_main(void *arg)
{
	struct rthread *t = arg;
	uint32_t order[32];
	uint64_t start;
	int i, j, n, r;

	pthread_barrier_wait(&t->sh->go);
	for (start = 1; start <= NSEQ; start += 32) {
		keep_pace(t, start);
		n = (int)(NSEQ - start + 1 < 32 ? NSEQ - start + 1 : 32);
		for (i = 0; i < n; i++)
			order[i] = (uint32_t)(start + i);
		for (i = n - 1; i > 0; i--) {
			uint32_t tmp;

			j = (int)(xorshift(&t->seed) % (uint64_t)(i + 1));
			tmp = order[i];
			order[i] = order[j];
			order[j] = tmp;
		}
		for (i = 0; i < n; i++) {
			r = replay_update(t->w, t->base + order[i]);
			if (r == OK) {
				atomic_fetch_add(&t->accepted[order[i]], 1);
				t->ok++;
			} else if (r == DUP) {
				t->dup++;
			} else {
				t->old++;
			}
		}
	}
	atomic_store(&t->sh->pos[t->me], UINT64_MAX - MAX_LEAD);
	return NULL;
}

static void run_concurrent(uint32_t size, bool esn, uint64_t base,
			   bool spread)
{
	struct rthread th[NTHREADS];
	pthread_t tid[NTHREADS];
	struct replay_window w;
	struct rshared sh;
	_Atomic uint32_t *acc;
	long ok = 0, dup = 0, old = 0;
	int i;

	acc = calloc(NSEQ + 1, sizeof(*acc));
	cr_assert_not_null(acc);
	cr_assert_eq(replay_init_spread(&w, size, esn, spread), 0);
	cr_assert_eq(pthread_barrier_init(&sh.go, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++)
		atomic_init(&sh.pos[i], 0);
	for (i = 0; i < NTHREADS; i++) {
		th[i] = (struct rthread){ .w = &w, .sh = &sh, .me = i,
					  .accepted = acc, .base = base,
					  .seed = 0x1234567ull * (i + 1) };
		cr_assert_eq(pthread_create(&tid[i], NULL, rp_thread_main,
					    &th[i]),
			     0);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
		ok += th[i].ok;
		dup += th[i].dup;
		old += th[i].old;
	}
	pthread_barrier_destroy(&sh.go);
	for (i = 1; i <= NSEQ; i++)
		cr_assert_eq(atomic_load(&acc[i]), 1,
			     "seq %llu accepted %u times",
			     (unsigned long long)(base + i),
			     atomic_load(&acc[i]));
	cr_assert_eq(ok, NSEQ);
	/* no thread was ever more than MAX_LEAD + 64 behind the top */
	cr_assert_eq(old, 0, "%ld numbers too old", old);
	cr_assert_eq(dup, (long)NSEQ * (NTHREADS - 1));
	cr_assert_eq(atomic_load(&w.top), base + NSEQ);
	replay_free(&w);
	free(acc);
}

Test(replay_concurrent, each_number_accepted_once, .timeout = 60)
{
	int round;

	for (round = 0; round < 3; round++)
		run_concurrent(4096, false, 0, round == 2);
}

Test(replay_concurrent, across_2_32_esn, .timeout = 60)
{
	run_concurrent(4096, true, 0xffffffffull - NSEQ / 2, false);
	run_concurrent(4096, true, 0xffffffffull - NSEQ / 2, true);
}

/* ---- sa_seq_reserve ---------------------------------------------------- */

static void seq_sa_init(struct sa *sa, uint64_t seq_max, uint64_t seq)
{
	memset(sa, 0, sizeof(*sa));
	sa->dir = SA_OUT;
	sa->seq_max = seq_max;
	atomic_init(&sa->seq, seq);
	atomic_init(&sa->seq_limit, seq_max); /* not persisted: no limit */
	atomic_init(&sa->exhausted, 0);
	atomic_init(&sa->blocked, 0);
}

/* A persisted SA sends nothing past what the state directory reserved,
 * and says so (blocked), without calling itself exhausted. */
Test(sa_seq, persisted_limit)
{
	struct sa sa;

	seq_sa_init(&sa, UINT32_MAX, 100);
	atomic_store(&sa.seq_limit, 100);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0, "nothing reserved yet");
	cr_assert_eq(atomic_load(&sa.blocked), 1);
	cr_assert_eq(atomic_load(&sa.exhausted), 0);
	atomic_store(&sa.blocked, 0);
	atomic_store(&sa.seq_limit, 110);
	cr_assert_eq(sa_seq_reserve(&sa, 8), 101, "numbers above the old top");
	cr_assert_eq(sa_seq_reserve(&sa, 8), 0, "9..16 do not fit below 110");
	cr_assert_eq(atomic_load(&sa.blocked), 0, "two are still left");
	cr_assert_eq(sa_seq_reserve(&sa, 2), 109);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0);
	cr_assert_eq(atomic_load(&sa.blocked), 1);
	cr_assert_eq(atomic_load(&sa.exhausted), 0);
}

/* After a restart the persisted top and everything below it are refused;
 * what follows is accepted once. */
Test(replay, restore)
{
	static const uint64_t tops[] = { 1, 31, 32, 33, 1000, 4096, 100000 };
	struct replay_window w;
	size_t i;
	uint64_t s;

	for (i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		uint64_t top = tops[i];

		cr_assert_eq(replay_init(&w, 1024, true), 0);
		replay_restore(&w, top);
		for (s = top > 1100 ? top - 1100 : 1; s <= top; s++)
			cr_assert_neq(replay_check(&w, s), REPLAY_OK,
				      "top %llu: %llu accepted",
				      (unsigned long long)top,
				      (unsigned long long)s);
		for (s = top + 1; s <= top + 40; s++) {
			cr_assert_eq(replay_check(&w, s), REPLAY_OK);
			cr_assert_eq(replay_update(&w, s), REPLAY_OK,
				     "top %llu: %llu refused",
				     (unsigned long long)top,
				     (unsigned long long)s);
			cr_assert_eq(replay_update(&w, s), REPLAY_DUP);
		}
		replay_free(&w);
	}
}

Test(sa_seq, first_numbers)
{
	struct sa sa;

	seq_sa_init(&sa, UINT32_MAX, 0);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 1, "the first number is 1");
	cr_assert_eq(sa_seq_reserve(&sa, 64), 2);
	cr_assert_eq(atomic_load(&sa.seq), 65);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 66);
	cr_assert_eq(atomic_load(&sa.exhausted), 0);
}

Test(sa_seq, end_of_32_bit_space)
{
	struct sa sa;
	uint64_t k;

	seq_sa_init(&sa, 0xffffffffull, 0xfffffff0ull);
	for (k = 1; k <= 15; k++) {
		cr_assert_eq(sa_seq_reserve(&sa, 1), 0xfffffff0ull + k);
		cr_assert_eq(atomic_load(&sa.exhausted), 0);
	}
	cr_assert_eq(atomic_load(&sa.seq), 0xffffffffull);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0, "past seq_max");
	cr_assert_eq(atomic_load(&sa.exhausted), 1);
	cr_assert_eq(atomic_load(&sa.seq), 0xffffffffull, "wrapped");
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0);
	cr_assert_eq(sa_seq_reserve(&sa, 100), 0);
	cr_assert_eq(atomic_load(&sa.seq), 0xffffffffull);
}

Test(sa_seq, batches_never_cross_seq_max)
{
	struct sa sa;

	seq_sa_init(&sa, 0xffffffffull, 0xfffffff0ull);
	cr_assert_eq(sa_seq_reserve(&sa, 16), 0, "16 do not fit, 15 left");
	cr_assert_eq(atomic_load(&sa.exhausted), 0, "15 can still be sent");
	cr_assert_eq(atomic_load(&sa.seq), 0xfffffff0ull, "failed call moved seq");
	cr_assert_eq(sa_seq_reserve(&sa, 15), 0xfffffff1ull);
	cr_assert_eq(atomic_load(&sa.seq), 0xffffffffull);
	cr_assert_eq(atomic_load(&sa.exhausted), 0);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0);
	cr_assert_eq(atomic_load(&sa.exhausted), 1, "none left");

	seq_sa_init(&sa, 0xffffffffull, 0xfffffffcull);
	cr_assert_eq(sa_seq_reserve(&sa, 4), 0);
	cr_assert_eq(sa_seq_reserve(&sa, 3), 0xfffffffdull);
	cr_assert_eq(sa_seq_reserve(&sa, UINT32_MAX), 0);

	seq_sa_init(&sa, 0xffffffffull, 0);
	cr_assert_eq(sa_seq_reserve(&sa, UINT32_MAX), 1, "the whole space");
	cr_assert_eq(atomic_load(&sa.seq), 0xffffffffull);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0);
}

Test(sa_seq, esn_end_of_64_bit_space)
{
	struct sa sa;

	seq_sa_init(&sa, UINT64_MAX, UINT64_MAX - 3);
	cr_assert_eq(sa_seq_reserve(&sa, 2), UINT64_MAX - 2);
	cr_assert_eq(sa_seq_reserve(&sa, 2), 0);
	cr_assert_eq(atomic_load(&sa.exhausted), 0, "one left");
	cr_assert_eq(sa_seq_reserve(&sa, 1), UINT64_MAX);
	cr_assert_eq(atomic_load(&sa.seq), UINT64_MAX);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0, "wrapped to 0");
	cr_assert_eq(atomic_load(&sa.seq), UINT64_MAX);

	seq_sa_init(&sa, UINT64_MAX, UINT64_MAX - UINT32_MAX);
	cr_assert_eq(sa_seq_reserve(&sa, UINT32_MAX),
		     UINT64_MAX - UINT32_MAX + 1);
	cr_assert_eq(atomic_load(&sa.seq), UINT64_MAX);
	cr_assert_eq(atomic_load(&sa.exhausted), 0);

	/* ESN crosses 2^32 without a stop */
	seq_sa_init(&sa, UINT64_MAX, 0xfffffffeull);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0xffffffffull);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0x100000000ull);
	cr_assert_eq(sa_seq_reserve(&sa, 8), 0x100000001ull);
	cr_assert_eq(atomic_load(&sa.exhausted), 0);
}

Test(sa_seq, seq_beyond_max)
{
	struct sa sa;

	seq_sa_init(&sa, 100, 200);
	cr_assert_eq(sa_seq_reserve(&sa, 1), 0);
	cr_assert_eq(atomic_load(&sa.exhausted), 1);
	cr_assert_eq(atomic_load(&sa.seq), 200);
}

#define RES_MAX 300000u

struct sthread {
	struct sa *sa;
	_Atomic uint8_t *given;
	uint64_t seed;
	int fixed_one; /* always reserve 1, so the space is used up exactly */
	long calls;
};

static void *reserve_worker(void *arg)
{
	struct sthread *t = arg;
	uint64_t first, k;
	uint32_t n;

	for (;;) {
		n = t->fixed_one ? 1 : (uint32_t)(1 + xorshift(&t->seed) % 64);
		first = sa_seq_reserve(t->sa, n);
		t->calls++;
		if (!first)
			break;
		for (k = first; k < first + n; k++) {
			if (k == 0 || k > RES_MAX) {
				/* out of range: count it as given twice */
				atomic_fetch_add(&t->given[0], 2);
				continue;
			}
			atomic_fetch_add(&t->given[k], 1);
		}
	}
	return NULL;
}

Test(sa_seq, concurrent_reservers, .timeout = 60)
{
	struct sthread th[NTHREADS];
	pthread_t tid[NTHREADS];
	_Atomic uint8_t *given;
	struct sa sa;
	uint32_t k;
	int i;

	given = calloc(RES_MAX + 1, sizeof(*given));
	cr_assert_not_null(given);
	seq_sa_init(&sa, RES_MAX, 0);
	for (i = 0; i < NTHREADS; i++) {
		th[i] = (struct sthread){ .sa = &sa, .given = given,
					  .seed = 0xabcdefull * (i + 3),
					  .fixed_one = i == 0 };
		cr_assert_eq(pthread_create(&tid[i], NULL, reserve_worker,
					    &th[i]),
			     0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(tid[i], NULL);
	cr_assert_eq(atomic_load(&given[0]), 0, "a number out of 1..seq_max");
	for (k = 1; k <= RES_MAX; k++)
		cr_assert_eq(atomic_load(&given[k]), 1, "seq %u given %u times",
			     k, atomic_load(&given[k]));
	cr_assert_eq(atomic_load(&sa.seq), RES_MAX);
	cr_assert_eq(atomic_load(&sa.exhausted), 1);
	free(given);
}
