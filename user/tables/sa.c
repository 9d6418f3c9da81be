// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "proto/esp.h"
#include "tables/sa.h"

int sa_derive_key(const uint8_t *key, size_t key_len, uint32_t spi,
		  uint8_t *out)
{
	uint8_t info[15] = "espresso sa";
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t outlen = key_len;
	int ok;

	if (!pc)
		return -ENOMEM;
	info[11] = spi >> 24;
	info[12] = spi >> 16;
	info[13] = spi >> 8;
	info[14] = spi;
	ok = EVP_PKEY_derive_init(pc) > 0 &&
	     EVP_PKEY_CTX_set_hkdf_md(pc, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(pc, key, key_len) > 0 &&
	     EVP_PKEY_CTX_add1_hkdf_info(pc, info, sizeof(info)) > 0 &&
	     EVP_PKEY_derive(pc, out, &outlen) > 0 && outlen == key_len;
	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -EINVAL;
}

static int sa_setup(struct sa *sa, const struct cfg_tunnel *t,
		    const struct cfg_sa *c, enum sa_dir dir, struct tunnel *tun,
		    int pair, int nqueues)
{
	int err;

	sa->spi = c->spi + pair;
	sa->pair = pair;
	sa->owner = t->sa_pairs > 1 ? pair % nqueues : -1;
	sa->dir = dir;
	sa->cipher = t->cipher;
	sa->encap = t->encap;
	sa->esn = t->esn;
	sa->key_len = c->key_len;
	if (t->sa_pairs > 1) {
		err = sa_derive_key(c->key, c->key_len, sa->spi, sa->key);
		if (err)
			return err;
	} else {
		memcpy(sa->key, c->key, c->key_len);
	}
	sa->tunnel = tun;
	atomic_init(&sa->seq, 0);
	atomic_init(&sa->exhausted, 0);
	sa->seq_max = t->esn ? UINT64_MAX : UINT32_MAX;
	if (dir == SA_IN)
		/* a pair every worker uses: its window's slots apart */
		return replay_init_spread(&sa->replay, t->replay_window,
					  t->esn, sa->owner < 0);
	return 0;
}

int sadb_init(struct sadb *db, const struct cfg *c, int nqueues)
{
	int i, p, err, n = 0;

	memset(db, 0, sizeof(*db));
	for (i = 0; i < c->ntunnels; i++)
		n += c->tunnels[i].sa_pairs;
	db->tunnels = calloc_lines(c->ntunnels, sizeof(*db->tunnels));
	db->in = calloc(n, sizeof(*db->in));
	db->out = calloc(n, sizeof(*db->out));
	if (!db->tunnels || !db->in || !db->out) {
		sadb_free(db);
		return -ENOMEM;
	}
	db->ntunnels = c->ntunnels;
	for (i = 0; i < c->ntunnels; i++) {
		struct tunnel *t = &db->tunnels[i];
		const struct cfg_tunnel *ct = &c->tunnels[i];

		t->cfg = ct;
		t->index = i;
		t->overhead = esp_overhead(ct->encap);
		atomic_init(&t->nh_mac, 0);
		atomic_init(&t->nh_wanted, 0);
		t->in = calloc_lines(ct->sa_pairs, sizeof(*t->in));
		t->out = calloc_lines(ct->sa_pairs, sizeof(*t->out));
		if (!t->in || !t->out) {
			sadb_free(db);
			return -ENOMEM;
		}
		t->npairs = ct->sa_pairs;
		for (p = 0; p < ct->sa_pairs; p++) {
			err = sa_setup(&t->out[p], ct, &ct->out, SA_OUT, t, p,
				       nqueues);
			if (!err)
				err = sa_setup(&t->in[p], ct, &ct->in, SA_IN, t,
					       p, nqueues);
			if (err) {
				sadb_free(db);
				return err;
			}
			t->in[p].index = db->nin;
			t->out[p].index = db->nout;
			db->in[db->nin++] = &t->in[p];
			db->out[db->nout++] = &t->out[p];
		}
	}
	return 0;
}

void sadb_free(struct sadb *db)
{
	int i, p;

	for (i = 0; db->tunnels && i < db->ntunnels; i++) {
		struct tunnel *t = &db->tunnels[i];

		for (p = 0; p < t->npairs; p++) {
			replay_free(&t->in[p].replay);
			OPENSSL_cleanse(t->in[p].key, CFG_KEY_MAX);
			OPENSSL_cleanse(t->out[p].key, CFG_KEY_MAX);
		}
		free(t->in);
		free(t->out);
	}
	free(db->tunnels);
	free(db->in);
	free(db->out);
	memset(db, 0, sizeof(*db));
}

struct sa *sadb_in_by_spi(const struct sadb *db, uint32_t spi)
{
	int i;

	for (i = 0; i < db->nin; i++)
		if (db->in[i]->spi == spi)
			return db->in[i];
	return NULL;
}

struct tunnel *sadb_route(const struct sadb *db, int family, const void *dst)
{
	int i, j;

	/* Config validation refuses overlapping routes, so the first hit is
	 * the only one. */
	for (i = 0; i < db->ntunnels; i++) {
		const struct cfg_tunnel *ct = db->tunnels[i].cfg;

		for (j = 0; j < ct->nroutes; j++)
			if (config_prefix_contains(&ct->routes[j], family, dst))
				return &db->tunnels[i];
	}
	return NULL;
}

uint64_t sa_seq_reserve(struct sa *sa, uint32_t n)
{
	uint64_t last = atomic_load_explicit(&sa->seq, memory_order_relaxed);

	if (n == 0)
		return 0;
	do {
		/* last + n > seq_max, written so that nothing overflows */
		if (last > sa->seq_max || n > sa->seq_max - last) {
			if (last >= sa->seq_max) /* not even one left */
				atomic_store_explicit(&sa->exhausted, 1,
						      memory_order_relaxed);
			return 0;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&sa->seq, &last, last + n, memory_order_relaxed,
		memory_order_relaxed));
	return last + 1;
}
