// SPDX-License-Identifier: GPL-2.0
/*
 * One SA (user/tables/sa.c): key derivation, sa_create/sa_put (keys, wire
 * parameters, which workers get a cipher context, references), sequence
 * number reservation, and the fat tunnel (one SA pair used by several
 * workers at once).
 *
 * The expected derived keys were computed with python-cryptography's HKDF
 * (SHA-256, no salt, info = b"espresso sa" + SPI big-endian), an
 * implementation independent of OpenSSL's:
 *   HKDF(algorithm=SHA256(), length=36, salt=None,
 *        info=b"espresso sa" + (0x1000).to_bytes(4, "big")).derive(bytes(range(36)))
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/esp.h"
#include "tables/sa.h"
#include "tables/tunnel.h"

static void unhex(const char *h, uint8_t *out)
{
	size_t i;

	for (i = 0; h[2 * i]; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
}

Test(sa, derive_key_matches_independent_hkdf)
{
	uint8_t key[36], out[36], want[36];
	int i;

	for (i = 0; i < 36; i++)
		key[i] = i;
	cr_assert_eq(sa_derive_key(key, 36, 0x1000, out), 0);
	unhex("9ba7ccf869d458a1ab68b9f7e9d70afd24427ff2fa8841733f5fc53df83c88e14b91e10b", want);
	cr_assert_arr_eq(out, want, 36);
	cr_assert_eq(sa_derive_key(key, 36, 0x1001, out), 0);
	unhex("0a2eca7e6300ce96746d67369245cd831ff5916c1a45353a0731efce8aee9c466b9b5b42", want);
	cr_assert_arr_eq(out, want, 36);
	cr_assert_eq(sa_derive_key(key, 20, 0xdeadbeef, out), 0);
	unhex("299c523f712600177c8e9e764f86ef9b04283f6f", want);
	cr_assert_arr_eq(out, want, 20);
}

/* ---- sa_create / sa_put ---- */

static struct tunnel *mk_tunnel(int npairs)
{
	struct tunnel_spec ts = {
		.name = "t", .encap = ENCAP_ESP, .cipher = CIPHER_AES_GCM_256,
		.replay_window = 1024, .esn = true, .npairs = npairs,
		.uplink_mtu = 1500,
	};
	struct tunnel *t;

	inet_pton(AF_INET, "192.0.2.1", &ts.local);
	inet_pton(AF_INET, "192.0.2.2", &ts.remote);
	cr_assert_eq(tunnel_create(&t, &ts), 0);
	return t;
}

static struct sa_spec mk_spec(enum sa_dir dir, uint32_t spi, int pair,
			      int npairs, const uint8_t *key)
{
	struct sa_spec s = {
		.spi = spi, .dir = dir, .pair = pair,
		.owner = npairs > 1 ? pair : -1, .npairs = npairs,
		.cipher = CIPHER_AES_GCM_256, .esn = true,
		.replay_window = 1024, .key = key, .key_len = 36,
		.wire = { .spi = spi, .esn = true, .encap = ENCAP_UDP,
			  .sport = 4501, .dport = 4502 },
	};

	inet_pton(AF_INET, "192.0.2.1", &s.wire.local);
	inet_pton(AF_INET, "192.0.2.2", &s.wire.remote);
	return s;
}

/* ESP through ctx `enc`, back through a context of our own (and the other
 * way): proves enc is keyed with key, for encryption. */
static void assert_keyed(struct esp_aead *a, const uint8_t *key, bool encrypt)
{
	uint8_t iv[ESP_GCM_IV_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t buf[16 + 32 + ESP_GCM_ICV_LEN], pt[32];
	struct esp_aead mine;
	int n, i;

	cr_assert_not_null(a->ctx);
	cr_assert_eq(a->encrypt, encrypt);
	for (i = 0; i < 32; i++)
		pt[i] = buf[16 + i] = 7 * i;
	cr_assert_eq(crypto_aead_init(&mine, CIPHER_AES_GCM_256, key, 36,
				      !encrypt), 0);
	n = esp_seal(encrypt ? a : &mine, 0x4242, 9, true, iv, buf, 32);
	cr_assert_gt(n, 0);
	cr_assert_eq(esp_open(encrypt ? &mine : a, 9, true, buf, n), 0,
		     "the SA's context does not hold the key");
	cr_assert_arr_eq(buf + 16, pt, 32);
	crypto_aead_free(&mine);
}

Test(sa, create_copies_keys_and_wire_params)
{
	struct tunnel *t = mk_tunnel(1);
	uint8_t key[36];
	struct sa_spec s;
	struct sa *sa;
	int i, q;

	for (i = 0; i < 36; i++)
		key[i] = 0xa0 + i;
	s = mk_spec(SA_OUT, 0x1000, 0, 1, key);
	s.life = (struct sa_life){ .soft_s = 10, .hard_s = 20,
				   .soft_bytes = 30, .hard_bytes = 40,
				   .soft_packets = 50, .hard_packets = 60 };
	s.origin = "config";
	cr_assert_eq(sa_create(&sa, &s, t, 3), 0);
	/* the SA holds the tunnel */
	cr_assert_eq(t->refs, 2);
	cr_assert_eq(sa->tunnel, t);
	cr_assert_eq(sa->spi, 0x1000u);
	cr_assert_eq(sa->dir, SA_OUT);
	cr_assert_eq(sa->state, SA_MATURE);
	cr_assert_eq(sa->owner, -1);
	cr_assert_eq(sa->refs, 1);
	cr_assert_eq(sa->nworkers, 3);
	cr_assert_eq(sa->key_len, 36u);
	cr_assert_arr_eq(sa->key, key, 36);
	cr_assert_eq(sa->life.soft_s, 10u);
	cr_assert_eq(sa->life.hard_s, 20u);
	cr_assert_eq(sa->life.soft_bytes, 30u);
	cr_assert_eq(sa->life.hard_bytes, 40u);
	cr_assert_eq(sa->life.soft_packets, 50u);
	cr_assert_eq(sa->life.hard_packets, 60u);
	cr_assert_str_eq(sa->origin, "config");
	cr_assert_gt(sa->created_ms, 0u);
	/* esn: a 64-bit space, nothing used, nothing held back; but the
	 * hard packet limit (60) ends it: packet k carries number k */
	cr_assert_eq(sa->seq_max, 60u);
	cr_assert_eq(atomic_load(&sa->seq), 0u);
	cr_assert_eq(atomic_load(&sa->seq_limit), 60u);
	/* the wire parameters are a copy, not the spec's */
	cr_assert_neq((void *)sa_wire(sa), (void *)&s.wire);
	cr_assert_eq(sa_wire(sa)->spi, 0x1000u);
	cr_assert_eq(sa_wire(sa)->encap, ENCAP_UDP);
	cr_assert_eq(sa_wire(sa)->sport, 4501);
	cr_assert_eq(sa_wire(sa)->dport, 4502);
	cr_assert_eq(sa_wire(sa)->local.s_addr, s.wire.local.s_addr);
	cr_assert_eq(sa_wire(sa)->remote.s_addr, s.wire.remote.s_addr);
	cr_assert(sa_wire(sa)->esn);
	/* a one-pair outbound SA: every worker sends with it, keyed */
	for (q = 0; q < 3; q++)
		assert_keyed(&sa->pw[q].aead, key, true);
	/* references: the last put frees it and lets the tunnel go */
	sa_get(sa);
	cr_assert_eq(sa->refs, 2);
	sa_put(sa);
	cr_assert_eq(t->refs, 2);
	sa_put(sa);
	cr_assert_eq(t->refs, 1);
	sa_put(NULL);
	tunnel_put(t);
}

/*
 * What the packet path reads of an SA lies in one block, in one run of
 * lines: line 0, the sequence line, the replay line, the wire parameters,
 * the workers' parts, the replay slots (sa.h). An update's own wire
 * parameters are not the block's (sa_wire_owned), and the block's are
 * never freed on their own (ASan would see that in make check SANITIZE=1).
 */
Test(sa, packet_path_state_in_one_block)
{
	struct tunnel *t = mk_tunnel(1);
	uint8_t key[36] = { 1 };
	struct sa_spec s = mk_spec(SA_IN, 0x2000, 0, 1, key);
	struct esp_sa_params *moved;
	struct sa *sa;
	const char *b, *line0;
	int q;

	cr_assert_eq(sa_create(&sa, &s, t, 2), 0);
	b = (const char *)sa;
	line0 = sa_line0(sa);
	cr_assert_eq((uintptr_t)line0 % CACHELINE, 0u);
	cr_assert_eq((const char *)&sa->seq, line0 + CACHELINE);
	cr_assert_eq((const char *)&sa->replay, line0 + 2 * CACHELINE);
	cr_assert_eq((const char *)sa_wire(sa), line0 + 3 * CACHELINE);
	cr_assert_eq(sa_wire(sa), sa->wire0);
	cr_assert_not(sa_wire_owned(sa, sa_wire(sa)));
	cr_assert_eq(sa_wire(sa)->spi, 0x2000u);
	cr_assert_eq((const char *)sa->pw, line0 + 4 * CACHELINE);
	for (q = 0; q < 2; q++)
		cr_assert_eq((uintptr_t)&sa->pw[q] % CACHELINE, 0u);
	/* the slots after the workers' parts, still in the block */
	cr_assert_geq((const char *)sa->replay.slots,
		      (const char *)&sa->pw[2]);
	cr_assert_lt((const char *)sa->replay.slots,
		     (const char *)&sa->pw[2] + CACHELINE);
	cr_assert_not(sa->replay.own);
	cr_assert_gt((const char *)sa->replay.slots, b);
	/* an update's parameters are its own, freed as before */
	moved = malloc(sizeof(*moved));
	cr_assert_not_null(moved);
	*moved = *sa_wire(sa);
	atomic_store(&sa->wire, moved);
	cr_assert(sa_wire_owned(sa, moved));
	sa_put(sa); /* frees moved, and the block once */
	tunnel_put(t);
}

Test(sa, create_without_esn_and_origin_default)
{
	uint8_t key[36] = { 1 };
	struct sa_spec s = mk_spec(SA_IN, 0x2000, 0, 1, key);
	struct sa *sa;

	s.esn = false;
	s.replay_window = 256;
	cr_assert_eq(sa_create(&sa, &s, NULL, 1), 0);
	cr_assert_eq(sa->seq_max, UINT32_MAX);
	cr_assert_str_eq(sa->origin, "ctl");
	cr_assert_null(sa->tunnel);
	/* inbound: a window of the tunnel's size, empty */
	cr_assert_eq(sa->replay.size, 256u);
	cr_assert(!sa->replay.esn);
	cr_assert_eq(atomic_load(&sa->replay.top), 0u);
	cr_assert_eq(replay_check(&sa->replay, 1), REPLAY_OK);
	assert_keyed(&sa->pw[0].aead, key, false);
	sa_put(sa);
}

Test(sa, create_refuses_bad_input_and_leaks_nothing)
{
	uint8_t key[40] = { 0 };
	struct sa_spec s = mk_spec(SA_OUT, 0x1000, 0, 1, key);
	struct tunnel *t = mk_tunnel(1);
	struct sa *sa = (void *)0x1;

	s.key_len = CFG_KEY_MAX + 1;
	cr_assert_eq(sa_create(&sa, &s, t, 2), -EINVAL);
	s.key_len = 36;
	cr_assert_eq(sa_create(&sa, &s, t, 0), -EINVAL);
	/* a 20-byte key for AES-256: the cipher refuses it */
	s.key_len = 20;
	cr_assert_lt(sa_create(&sa, &s, t, 2), 0);
	/* nothing was taken from the tunnel */
	cr_assert_eq(t->refs, 1);
	cr_assert_eq(sa, (void *)0x1);
	tunnel_put(t);
}

Test(sa, ids_are_unique)
{
	uint8_t key[36] = { 0 };
	struct sa_spec s = mk_spec(SA_OUT, 0x1000, 0, 1, key);
	struct sa *a, *b;

	cr_assert_eq(sa_create(&a, &s, NULL, 1), 0);
	cr_assert_eq(sa_create(&b, &s, NULL, 1), 0);
	cr_assert_neq(a->id, b->id);
	sa_put(a);
	sa_put(b);
}

/*
 * Per-worker contexts: outbound pair p of a tunnel of npairs > 1 is keyed
 * exactly on the workers q that send with it (q % npairs == p, what
 * tunnel_out_sa gives them); inbound SAs and one-pair SAs on every worker.
 */
static void check_keyed_on(int nworkers, int npairs)
{
	struct tunnel *t = mk_tunnel(npairs);
	uint8_t key[36];
	int p, q, i;

	for (p = 0; p < npairs; p++) {
		struct sa *out, *in;
		struct sa_spec s;

		for (i = 0; i < 36; i++)
			key[i] = 16 * p + i;
		s = mk_spec(SA_OUT, 0x1000 + p, p, npairs, key);
		cr_assert_eq(sa_create(&out, &s, t, nworkers), 0);
		s = mk_spec(SA_IN, 0x2000 + p, p, npairs, key);
		cr_assert_eq(sa_create(&in, &s, t, nworkers), 0);
		cr_assert_eq(out->pair, p);
		for (q = 0; q < nworkers; q++) {
			bool want = npairs == 1 || q % npairs == p;

			cr_assert_eq(out->pw[q].aead.ctx != NULL, want,
				     "%d workers, %d pairs: outbound pair %d "
				     "%s keyed on worker %d", nworkers, npairs,
				     p, want ? "not" : "wrongly", q);
			if (want)
				assert_keyed(&out->pw[q].aead, key, true);
			cr_assert_not_null(in->pw[q].aead.ctx,
					   "%d workers, %d pairs: inbound pair "
					   "%d not keyed on worker %d",
					   nworkers, npairs, p, q);
			assert_keyed(&in->pw[q].aead, key, false);
		}
		/* the workers that send with pair p are those it is keyed on */
		cr_assert_null(tunnel_set_out(t, p, out));
		for (q = 0; q < nworkers; q++)
			if (tunnel_out_sa(t, q) == out)
				cr_assert_not_null(out->pw[q].aead.ctx);
		sa_put(tunnel_set_out(t, p, NULL));
		sa_put(in);
	}
	cr_assert_eq(t->refs, 1);
	tunnel_put(t);
}

Test(sa, worker_contexts_one_pair)
{
	check_keyed_on(4, 1);
}

Test(sa, worker_contexts_pairs_as_workers)
{
	check_keyed_on(4, 4);
}

Test(sa, worker_contexts_fewer_pairs_than_workers)
{
	check_keyed_on(4, 2);
	check_keyed_on(5, 3);
}

Test(sa, worker_contexts_more_pairs_than_workers)
{
	/* pairs 2 and 3 are sent with by no worker: keyed nowhere */
	check_keyed_on(2, 4);
}

/* ---- sequence numbers ---- */

Test(sa, seq_reserve_limits)
{
	uint8_t key[36] = { 0 };
	struct sa_spec s = mk_spec(SA_OUT, 0x1000, 0, 1, key);
	struct sa *sa;

	s.esn = false;
	cr_assert_eq(sa_create(&sa, &s, NULL, 1), 0);
	cr_assert_eq(sa_seq_reserve(sa, 0), 0u);
	cr_assert_eq(sa_seq_reserve(sa, 1), 1u);
	cr_assert_eq(sa_seq_reserve(sa, 10), 2u);
	cr_assert_eq(atomic_load(&sa->seq), 11u);
	/* what is not persisted yet is refused and marks the SA blocked */
	atomic_store(&sa->seq_limit, 20);
	cr_assert_eq(sa_seq_reserve(sa, 10), 0u);
	cr_assert_eq(atomic_load(&sa->blocked), 0);
	cr_assert_eq(sa_seq_reserve(sa, 9), 12u);
	cr_assert_eq(sa_seq_reserve(sa, 1), 0u);
	cr_assert_eq(atomic_load(&sa->blocked), 1);
	cr_assert_eq(atomic_load(&sa->exhausted), 0);
	/* the end of the 32-bit space: exhausted, never wraps */
	atomic_store(&sa->seq_limit, sa->seq_max);
	atomic_store(&sa->seq, UINT32_MAX - 2);
	cr_assert_eq(sa_seq_reserve(sa, 3), 0u);
	cr_assert_eq(sa_seq_reserve(sa, 2), (uint64_t)UINT32_MAX - 1);
	cr_assert_eq(atomic_load(&sa->exhausted), 0);
	cr_assert_eq(sa_seq_reserve(sa, 1), 0u);
	cr_assert_eq(atomic_load(&sa->exhausted), 1);
	cr_assert_eq(atomic_load(&sa->seq), UINT32_MAX);
	sa_put(sa);
}

/*
 * Reservations alone, as contended as it gets: RT threads take ranges of
 * 1..32 numbers as fast as they can; every number is handed out once.
 * Then the same race run into the end of a 32-bit space: the numbers up
 * to UINT32_MAX go once each (a batch that does not fit goes on one by
 * one), none beyond, and the SA is marked exhausted.
 */
#define RT 4
#define RT_RESERVES 100000
#define RT_TAIL 200000

struct rt {
	struct sa *sa;
	uint64_t base;           /* numbers counted from base + 1 */
	uint64_t span;
	_Atomic uint8_t *count;  /* [span] */
	_Atomic uint64_t taken, beyond;
	bool to_the_end;
};

static void rt_mark(struct rt *r, uint64_t first, uint32_t n)
{
	uint32_t i;

	atomic_fetch_add(&r->taken, n);
	for (i = 0; i < n; i++) {
		uint64_t s = first + i;

		if (s <= r->base || s - r->base > r->span)
			atomic_fetch_add(&r->beyond, 1);
		else
			atomic_fetch_add(&r->count[s - r->base - 1], 1);
	}
}

static void *rt_thread(void *arg)
{
	struct rt *r = arg;
	uint32_t n = 1 + (uint32_t)(uintptr_t)pthread_self() % 32;
	int i;

	for (i = 0; r->to_the_end || i < RT_RESERVES; i++) {
		uint64_t first;

		n = n % 32 + 1;
		first = sa_seq_reserve(r->sa, n);
		if (first) {
			rt_mark(r, first, n);
			continue;
		}
		if (!r->to_the_end)
			atomic_fetch_add(&r->beyond, 1); /* never refused */
		/* one by one to the end */
		while ((first = sa_seq_reserve(r->sa, 1)))
			rt_mark(r, first, 1);
		if (atomic_load(&r->sa->exhausted))
			break;
	}
	return NULL;
}

static void rt_run(struct rt *r)
{
	pthread_t th[RT];
	uint64_t i;
	int j;

	r->count = calloc(r->span, 1);
	cr_assert_not_null(r->count);
	for (j = 0; j < RT; j++)
		pthread_create(&th[j], NULL, rt_thread, r);
	for (j = 0; j < RT; j++)
		pthread_join(th[j], NULL);
	cr_assert_eq(atomic_load(&r->beyond), 0u);
	cr_assert_eq(atomic_load(&r->sa->seq),
		     r->base + atomic_load(&r->taken));
	for (i = 0; i < atomic_load(&r->taken); i++)
		cr_assert_eq(atomic_load(&r->count[i]), 1, "seq %llu handed "
			     "out %u times",
			     (unsigned long long)(r->base + i + 1),
			     atomic_load(&r->count[i]));
	free((void *)r->count);
}

Test(sa, seq_reserve_contended, .timeout = 20)
{
	uint8_t key[36] = { 0 };
	struct sa_spec s = mk_spec(SA_OUT, 0x1000, 0, 1, key);
	struct rt r = { .span = RT * RT_RESERVES * 32ull };

	cr_assert_eq(sa_create(&r.sa, &s, NULL, 1), 0);
	rt_run(&r);
	cr_assert_gt(atomic_load(&r.taken), RT * RT_RESERVES);
	cr_assert_eq(atomic_load(&r.sa->exhausted), 0);
	sa_put(r.sa);
}

Test(sa, seq_reserve_contended_to_the_end, .timeout = 20)
{
	uint8_t key[36] = { 0 };
	struct sa_spec s = mk_spec(SA_OUT, 0x1000, 0, 1, key);
	struct rt r = { .base = UINT32_MAX - RT_TAIL, .span = RT_TAIL,
			.to_the_end = true };

	s.esn = false;
	cr_assert_eq(sa_create(&r.sa, &s, NULL, 1), 0);
	atomic_store(&r.sa->seq, r.base);
	rt_run(&r);
	cr_assert_eq(atomic_load(&r.taken), RT_TAIL, "every number to the end");
	cr_assert_eq(atomic_load(&r.sa->seq), UINT32_MAX);
	cr_assert_eq(atomic_load(&r.sa->exhausted), 1);
	cr_assert_eq(sa_seq_reserve(r.sa, 1), 0u);
	sa_put(r.sa);
}

/*
 * The fat tunnel: ENC workers encrypt with one outbound SA (one pair, so
 * each uses its own pre-keyed context sa->pw[q]) with sequence numbers
 * reserved in bursts, while DEC workers decrypt the packets as they appear
 * through one inbound SA, each packet offered to two of them at about the
 * same time (their own contexts, one shared replay window). Every sequence
 * number goes on the wire exactly once and is accepted exactly once.
 */
#define ENC 3
#define DEC 4
#define PER_THREAD 40000
#define BURST 32
#define TOTAL (ENC * PER_THREAD)
#define PKT 64
#define ROUND 1024
#define NW (ENC > DEC ? ENC : DEC)

struct fat {
	struct sa *out, *in;
	uint8_t (*wire)[PKT + ESP_HEADROOM + ESP_TAILROOM];
	uint16_t *len;
	_Atomic uint8_t *ready;    /* by seq - 1: the packet is in wire[] */
	_Atomic uint32_t *written; /* by seq - 1 */
	_Atomic uint32_t *accepted; /* by seq - 1 */
	_Atomic uint64_t bad;
	pthread_barrier_t round;
};

static struct fat F;

static void *enc_thread(void *arg)
{
	long q = (long)arg;
	uint8_t buf[PKT + ESP_HEADROOM + ESP_TAILROOM], *outer;
	struct esp_aead *a = &F.out->pw[q].aead;
	size_t outl;
	int n, i;

	for (n = 0; n < PER_THREAD; n += BURST) {
		uint64_t seq = sa_seq_reserve(F.out, BURST);

		if (!seq) { /* never: the space is 64 bits */
			atomic_fetch_add(&F.bad, 1);
			return NULL;
		}
		for (i = 0; i < BURST; i++) {
			uint8_t *inner = buf + ESP_HEADROOM;
			uint64_t s = seq + i;

			memset(inner, 0, PKT);
			inner[0] = 0x45;
			inner[3] = PKT;
			inner[8] = 64;
			inner[9] = 17;
			inner[12] = 10, inner[13] = 1, inner[15] = 1;
			inner[16] = 10, inner[17] = 2, inner[19] = 1;
			memcpy(inner + 20, &s, sizeof(s));
			if (s > TOTAL ||
			    esp_encap4(sa_wire(F.out), a, s, 0, inner, PKT,
				       &outer, &outl) ||
			    atomic_fetch_add(&F.written[s - 1], 1)) {
				atomic_fetch_add(&F.bad, 1);
				if (s <= TOTAL) /* no reader waits for it */
					atomic_store(&F.ready[s - 1], 1);
				continue;
			}
			memcpy(F.wire[s - 1], outer, outl);
			F.len[s - 1] = outl;
			atomic_store_explicit(&F.ready[s - 1], 1,
					      memory_order_release);
		}
	}
	return NULL;
}

static void *dec_thread(void *arg)
{
	long id = (long)arg;
	uint8_t buf[PKT + ESP_HEADROOM + ESP_TAILROOM];
	struct esp_aead *a = &F.in->pw[id].aead;
	struct esp_inner in;
	uint64_t k;

	/* thread id takes the packets k with k % (DEC / 2) == id / 2: every
	 * packet is offered to two threads, in rounds of ROUND packets so
	 * that no thread falls a window behind */
	for (k = id / 2; k < TOTAL; k += DEC / 2) {
		uint64_t seq, s;
		uint32_t lo;
		size_t len;

		if (k % ROUND < DEC / 2 && k >= ROUND)
			pthread_barrier_wait(&F.round);
		while (!atomic_load_explicit(&F.ready[k], memory_order_acquire))
			sched_yield();
		len = F.len[k];
		if (len < ESP_IPV4_LEN + ESP_MIN_LEN) {
			atomic_fetch_add(&F.bad, 1);
			continue;
		}
		memcpy(buf, F.wire[k], len);
		memcpy(&lo, buf + ESP_IPV4_LEN + 4, 4);
		seq = replay_infer(&F.in->replay, ntohl(lo));
		if (seq != k + 1) {
			atomic_fetch_add(&F.bad, 1);
			continue;
		}
		if (replay_check(&F.in->replay, seq))
			continue; /* the other thread got there first */
		if (esp_open(a, seq, true, buf + ESP_IPV4_LEN,
			     len - ESP_IPV4_LEN) ||
		    esp_decap_inner(buf + ESP_IPV4_LEN + 16,
				    len - ESP_IPV4_LEN - 32, &in) ||
		    in.len != PKT) {
			atomic_fetch_add(&F.bad, 1);
			continue;
		}
		memcpy(&s, buf + ESP_IPV4_LEN + 16 + 20, sizeof(s));
		if (s != seq)
			atomic_fetch_add(&F.bad, 1);
		if (replay_update(&F.in->replay, seq) == REPLAY_OK)
			atomic_fetch_add(&F.accepted[seq - 1], 1);
	}
	return NULL;
}

Test(sa, fat_tunnel_sequence_numbers_and_replay_exact, .timeout = 20)
{
	pthread_t enc[ENC], dec[DEC];
	struct tunnel *t = mk_tunnel(1);
	uint64_t once = 0, twice = 0, i;
	uint8_t key[36];
	struct sa_spec s;
	long j;

	memset(&F, 0, sizeof(F));
	for (j = 0; j < 36; j++)
		key[j] = 3 * j + 1;
	s = mk_spec(SA_OUT, 0x4242, 0, 1, key);
	s.wire.encap = ENCAP_ESP;
	cr_assert_eq(sa_create(&F.out, &s, t, NW), 0);
	/* the whole run's rounds fit the window: only replays are refused */
	s = mk_spec(SA_IN, 0x4242, 0, 1, key);
	s.replay_window = 4096;
	cr_assert_eq(sa_create(&F.in, &s, t, NW), 0);
	cr_assert_eq(F.in->owner, -1);
	F.wire = calloc(TOTAL, sizeof(*F.wire));
	F.len = calloc(TOTAL, sizeof(*F.len));
	F.ready = calloc(TOTAL, sizeof(*F.ready));
	F.written = calloc(TOTAL, sizeof(*F.written));
	F.accepted = calloc(TOTAL, sizeof(*F.accepted));
	cr_assert(F.wire && F.len && F.ready && F.written && F.accepted);
	pthread_barrier_init(&F.round, NULL, DEC);

	for (j = 0; j < DEC; j++)
		pthread_create(&dec[j], NULL, dec_thread, (void *)j);
	for (j = 0; j < ENC; j++)
		pthread_create(&enc[j], NULL, enc_thread, (void *)j);
	for (j = 0; j < ENC; j++)
		pthread_join(enc[j], NULL);
	for (j = 0; j < DEC; j++)
		pthread_join(dec[j], NULL);

	cr_assert_eq(atomic_load(&F.bad), 0u, "%llu bad packets",
		     (unsigned long long)atomic_load(&F.bad));
	/* every number 1..TOTAL went on the wire once, none beyond */
	cr_assert_eq(atomic_load(&F.out->seq), TOTAL);
	for (i = 0; i < TOTAL; i++) {
		uint32_t n = atomic_load(&F.accepted[i]);

		cr_assert_eq(atomic_load(&F.written[i]), 1u, "seq %llu sent "
			     "%u times", (unsigned long long)i + 1,
			     atomic_load(&F.written[i]));
		once += n == 1;
		twice += n > 1;
	}
	cr_assert_eq(twice, 0u, "%llu numbers accepted twice",
		     (unsigned long long)twice);
	cr_assert_eq(once, TOTAL, "%llu of %d accepted",
		     (unsigned long long)once, TOTAL);
	cr_assert_eq(atomic_load(&F.in->replay.top), TOTAL);
	pthread_barrier_destroy(&F.round);
	sa_put(F.out);
	sa_put(F.in);
	cr_assert_eq(t->refs, 1);
	tunnel_put(t);
	free(F.wire);
	free(F.len);
	free((void *)F.ready);
	free((void *)F.written);
	free((void *)F.accepted);
}
