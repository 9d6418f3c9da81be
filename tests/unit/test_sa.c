// SPDX-License-Identifier: GPL-2.0
/*
 * The SA database: per-queue SA pairs (keys derived by HKDF, SPIs, owners)
 * and the fat tunnel (one SA pair used by several workers at once).
 *
 * The expected derived keys were computed with python-cryptography's HKDF
 * (SHA-256, no salt, info = b"espresso sa" + SPI big-endian), an
 * implementation independent of OpenSSL's:
 *   HKDF(algorithm=SHA256(), length=36, salt=None,
 *        info=b"espresso sa" + (0x1000).to_bytes(4, "big")).derive(bytes(range(36)))
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/esp.h"
#include "tables/sa.h"

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

static void cfg_two_tunnels(struct cfg *c, struct cfg_tunnel *t, int pairs0)
{
	int i, k;

	memset(c, 0, sizeof(*c));
	memset(t, 0, 2 * sizeof(*t));
	c->tunnels = t;
	c->ntunnels = 2;
	for (i = 0; i < 2; i++) {
		t[i].cipher = CIPHER_AES_GCM_256;
		t[i].esn = true;
		t[i].replay_window = 1024;
		t[i].sa_pairs = i == 0 ? pairs0 : 1;
		t[i].out.spi = 0x1000 + 0x100 * i;
		t[i].in.spi = 0x2000 + 0x100 * i;
		t[i].out.key_len = t[i].in.key_len = 36;
		for (k = 0; k < 36; k++) {
			t[i].out.key[k] = k + 16 * i;
			t[i].in.key[k] = 0x80 + k + 16 * i;
		}
	}
}

Test(sa, pairs_spis_keys_owners)
{
	struct cfg_tunnel t[2];
	struct sadb db;
	struct cfg c;
	uint8_t k[36];
	int p, q;

	cfg_two_tunnels(&c, t, 4);
	cr_assert_eq(sadb_init(&db, &c, 2), 0);
	cr_assert_eq(db.nin, 5);
	cr_assert_eq(db.nout, 5);
	for (p = 0; p < 4; p++) {
		struct sa *o = &db.tunnels[0].out[p], *in = &db.tunnels[0].in[p];

		cr_assert_eq(o->spi, 0x1000u + p);
		cr_assert_eq(in->spi, 0x2000u + p);
		cr_assert_eq(o->owner, p % 2);
		cr_assert_eq(in->owner, p % 2);
		cr_assert_eq(db.in[in->index], in);
		cr_assert_eq(sadb_in_by_spi(&db, 0x2000 + p), in);
		sa_derive_key(t[0].out.key, 36, o->spi, k);
		cr_assert_arr_eq(o->key, k, 36);
		/* no key is the configured one, nor another pair's */
		cr_assert(memcmp(o->key, t[0].out.key, 36));
		for (q = 0; q < p; q++)
			cr_assert(memcmp(o->key, db.tunnels[0].out[q].key, 32));
	}
	/* worker q sends with pair q % npairs */
	cr_assert_eq(tunnel_out_sa(&db.tunnels[0], 1), &db.tunnels[0].out[1]);
	cr_assert_eq(tunnel_out_sa(&db.tunnels[0], 5), &db.tunnels[0].out[1]);
	/* a one-pair tunnel is fat: any worker, its own key */
	cr_assert_eq(db.tunnels[1].in[0].owner, -1);
	cr_assert_eq(tunnel_out_sa(&db.tunnels[1], 3), &db.tunnels[1].out[0]);
	cr_assert_arr_eq(db.tunnels[1].out[0].key, t[1].out.key, 36);
	cr_assert_null(sadb_in_by_spi(&db, 0x2004));
	sadb_free(&db);
	cr_assert_eq(db.nin, 0);
}

/*
 * The fat tunnel: THREADS workers encrypt with one outbound SA (each with
 * its own cipher context, as workers have) and sequence numbers reserved
 * in bursts; then THREADS workers decrypt every packet through one inbound
 * SA, each packet offered to two workers. Every sequence number is used
 * once on the wire and accepted exactly once.
 */
#define THREADS 4
#define PER_THREAD 20000
#define BURST 32
#define TOTAL (THREADS * PER_THREAD)
#define PKT 64

struct fat {
	struct tunnel t;
	struct sa out, in;
	struct cfg_tunnel ct;
	struct cfg_prefix route;
	uint8_t key[36];
	uint8_t (*wire)[PKT + ESP_HEADROOM + ESP_TAILROOM];
	size_t *len;
	uint32_t *order; /* slot of sequence number k + 1 */
	_Atomic uint32_t *accepted;
	_Atomic uint64_t next; /* the next packet slot to fill */
	pthread_barrier_t round;
};
#define ROUND 2048

static struct fat F;

static void *enc_thread(void *arg)
{
	struct esp_aead a;
	uint8_t buf[PKT + ESP_HEADROOM + ESP_TAILROOM], *outer;
	size_t outl;
	int n, i;

	(void)arg;
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_256, F.key, 36, 1), 0);
	for (n = 0; n < PER_THREAD; n += BURST) {
		uint64_t seq = sa_seq_reserve(&F.out, BURST);

		for (i = 0; i < BURST; i++) {
			uint8_t *inner = buf + ESP_HEADROOM;
			uint64_t slot;

			memset(inner, 0, PKT);
			inner[0] = 0x45;
			inner[3] = PKT;
			inner[8] = 64;
			inner[9] = 17;
			inner[12] = 10, inner[13] = 1, inner[15] = 1;
			inner[16] = 10, inner[17] = 2, inner[19] = 1;
			cr_assert_eq(esp_encap4(&F.out, &a, seq + i, 0, inner, PKT,
						&outer, &outl), 0);
			slot = atomic_fetch_add(&F.next, 1);
			memcpy(F.wire[slot], outer, outl);
			F.len[slot] = outl;
		}
	}
	crypto_aead_free(&a);
	return NULL;
}

static void *dec_thread(void *arg)
{
	long id = (long)arg;
	uint8_t buf[PKT + ESP_HEADROOM + ESP_TAILROOM];
	struct esp_aead a;
	uint64_t k;

	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_256, F.key, 36, 0), 0);
	/* thread id takes the packets k with k % (THREADS / 2) == id / 2:
	 * every packet is offered to two threads at about the same time, in
	 * rounds of ROUND packets so no thread falls a window behind */
	for (k = id / 2; k < TOTAL; k += THREADS / 2) {
		if (k % ROUND < THREADS / 2 && k >= ROUND)
			pthread_barrier_wait(&F.round);
		uint32_t lo;
		uint64_t seq;
		size_t inner;

		memcpy(buf, F.wire[F.order[k]], F.len[F.order[k]]);
		memcpy(&lo, buf + 20 + 4, 4);
		seq = replay_infer(&F.in.replay, ntohl(lo));
		if (replay_check(&F.in.replay, seq))
			continue;
		cr_assert_eq(esp_open(&a, seq, true, buf + 20,
				      F.len[F.order[k]] - 20), 0);
		cr_assert_eq(esp_decap_post(&F.t, buf + 36,
					    F.len[F.order[k]] - 20 - 32, &inner),
			     0);
		if (replay_update(&F.in.replay, seq) == REPLAY_OK)
			atomic_fetch_add(&F.accepted[seq], 1);
	}
	crypto_aead_free(&a);
	return NULL;
}

Test(sa, fat_tunnel_sequence_numbers_and_replay_exact)
{
	pthread_t th[THREADS];
	uint8_t *seen = calloc(TOTAL + 1, 1);
	long i;

	memset(&F, 0, sizeof(F));
	for (i = 0; i < 36; i++)
		F.key[i] = 3 * i + 1;
	config_parse_prefix("10.1.0.0/16", &F.route);
	F.ct.routes = &F.route;
	F.ct.nroutes = 1;
	inet_pton(AF_INET, "192.0.2.1", &F.ct.local);
	inet_pton(AF_INET, "192.0.2.2", &F.ct.remote);
	F.t.cfg = &F.ct;
	F.t.out = &F.out;
	F.t.in = &F.in;
	F.t.npairs = 1;
	F.out.tunnel = F.in.tunnel = &F.t;
	F.out.spi = F.in.spi = 0x4242;
	F.out.esn = F.in.esn = true;
	F.out.seq_max = UINT64_MAX;
	/* the whole run fits the window: only replays may be refused */
	cr_assert_eq(replay_init(&F.in.replay, 4096, true), 0);
	F.wire = calloc(TOTAL, sizeof(*F.wire));
	F.len = calloc(TOTAL, sizeof(*F.len));
	F.order = calloc(TOTAL, sizeof(*F.order));
	F.accepted = calloc(TOTAL + 1, sizeof(*F.accepted));

	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, enc_thread, NULL);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&F.next), TOTAL);
	/* every number 1..TOTAL went on the wire once */
	for (i = 0; i < TOTAL; i++) {
		uint32_t lo;

		memcpy(&lo, F.wire[i] + 20 + 4, 4);
		lo = ntohl(lo);
		cr_assert(lo >= 1 && lo <= TOTAL, "seq %u", lo);
		cr_assert_eq(seen[lo]++, 0, "seq %u used twice", lo);
		F.order[lo - 1] = i;
	}
	cr_assert_eq(atomic_load(&F.out.seq), TOTAL);

	/* decryption in sequence order (a worker that lags more than the
	 * window is refused, rightly: that is not what this test is about),
	 * every packet offered to two threads at once */
	replay_free(&F.in.replay);
	cr_assert_eq(replay_init(&F.in.replay, 4096, true), 0);
	pthread_barrier_init(&F.round, NULL, THREADS);
	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, dec_thread, (void *)i);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	{
		uint64_t once = 0, twice = 0;

		for (i = 1; i <= TOTAL; i++) {
			uint32_t n = atomic_load(&F.accepted[i]);

			once += n == 1;
			twice += n > 1;
		}
		cr_assert_eq(twice, 0, "%llu numbers accepted twice",
			     (unsigned long long)twice);
		/* in rounds of 2048 within a 4096 window, none is too old:
		 * each number is accepted exactly once */
		cr_assert_eq(once, TOTAL, "%llu of %d accepted",
			     (unsigned long long)once, TOTAL);
	}
	pthread_barrier_destroy(&F.round);
	replay_free(&F.in.replay);
	free(F.wire);
	free(F.len);
	free(F.order);
	free((void *)F.accepted);
	free(seen);
}
