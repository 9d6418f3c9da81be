// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "esp.h"
#include "sa.h"

static int sa_setup(struct sa *sa, const struct cfg_tunnel *t,
		    const struct cfg_sa *c, enum sa_dir dir, struct tunnel *tun)
{
	sa->spi = c->spi;
	sa->dir = dir;
	sa->cipher = t->cipher;
	sa->encap = t->encap;
	sa->esn = t->esn;
	memcpy(sa->key, c->key, c->key_len);
	sa->key_len = c->key_len;
	sa->tunnel = tun;
	atomic_init(&sa->seq, 0);
	atomic_init(&sa->exhausted, 0);
	sa->seq_max = t->esn ? UINT64_MAX : UINT32_MAX;
	if (dir == SA_IN)
		return replay_init(&sa->replay, t->replay_window, t->esn);
	return 0;
}

int sadb_init(struct sadb *db, const struct cfg *c)
{
	int i, err;

	db->tunnels = calloc(c->ntunnels, sizeof(*db->tunnels));
	if (!db->tunnels)
		return -ENOMEM;
	db->ntunnels = c->ntunnels;
	for (i = 0; i < c->ntunnels; i++) {
		struct tunnel *t = &db->tunnels[i];
		const struct cfg_tunnel *ct = &c->tunnels[i];

		t->cfg = ct;
		t->index = i;
		t->overhead = esp_overhead(ct->encap);
		atomic_init(&t->nh_mac, 0);
		atomic_init(&t->nh_wanted, 0);
		err = sa_setup(&t->out, ct, &ct->out, SA_OUT, t);
		if (!err)
			err = sa_setup(&t->in, ct, &ct->in, SA_IN, t);
		if (err) {
			sadb_free(db);
			return err;
		}
	}
	return 0;
}

void sadb_free(struct sadb *db)
{
	int i;

	for (i = 0; i < db->ntunnels; i++) {
		replay_free(&db->tunnels[i].in.replay);
		OPENSSL_cleanse(db->tunnels[i].in.key, CFG_KEY_MAX);
		OPENSSL_cleanse(db->tunnels[i].out.key, CFG_KEY_MAX);
	}
	free(db->tunnels);
	db->tunnels = NULL;
	db->ntunnels = 0;
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
			atomic_store_explicit(&sa->exhausted, 1,
					      memory_order_relaxed);
			return 0;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&sa->seq, &last, last + n, memory_order_relaxed,
		memory_order_relaxed));
	return last + 1;
}
