// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "lib/secret.h"
#include "tables/sa.h"
#include "tables/tunnel.h"

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

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static void sa_free(struct sa *sa)
{
	struct esp_sa_params *w = atomic_load(&sa->wire);
	int q;

	for (q = 0; sa->pw && q < sa->nworkers; q++)
		crypto_aead_free(&sa->pw[q].aead);
	replay_free(&sa->replay);
	if (sa_wire_owned(sa, w))
		free(w);
	secret_free(sa->key, CFG_KEY_MAX); /* wipes it */
	if (sa->tunnel)
		tunnel_put(sa->tunnel);
	free(sa); /* the block: wire0, pw and the slots too */
}

int sa_create(struct sa **out, const struct sa_spec *s, struct tunnel *t,
	      int nworkers)
{
	static uint64_t next_id = 1;
	size_t off_wire, off_pw, off_slots, slots = 0;
	/* a pair every worker uses: its window's slots apart (several
	 * workers write neighbouring slots at once); with one worker nobody
	 * shares them: 8 times less memory, 3.5 KB per SA of a 1024 window,
	 * at 10,000 tunnels 35 MB */
	bool spread = s->owner < 0 && nworkers > 1;
	struct esp_sa_params *wire;
	struct sa *sa;
	int q, err;

	if (s->key_len > CFG_KEY_MAX || nworkers < 1 ||
	    nworkers > ESPRESSO_MAX_QUEUES)
		return -EINVAL;
	if (s->dir == SA_IN) {
		slots = replay_slots_size(s->replay_window, spread);
		if (!slots)
			return -EINVAL;
	}
	/* the block: the struct, wire0, pw[nworkers], the replay slots */
	off_wire = cacheline_round(sizeof(*sa));
	off_pw = off_wire + cacheline_round(sizeof(*wire));
	off_slots = off_pw + cacheline_round((size_t)nworkers * sizeof(*sa->pw));
	sa = calloc_lines(1, off_slots + slots);
	if (!sa)
		return -ENOMEM;
	sa->key = secret_alloc(CFG_KEY_MAX);
	if (!sa->key) {
		free(sa);
		return -ENOMEM;
	}
	wire = sa->wire0 = (struct esp_sa_params *)((char *)sa + off_wire);
	sa->pw = (struct sa_worker *)((char *)sa + off_pw);
	*wire = s->wire;
	atomic_init(&sa->wire, wire);
	sa->spi = s->spi;
	sa->id = next_id++;
	sa->pair = s->pair;
	sa->owner = s->owner;
	sa->dir = s->dir;
	sa->state = SA_MATURE;
	sa->cipher = s->cipher;
	sa->esn = s->esn;
	memcpy(sa->key, s->key, s->key_len);
	sa->key_len = s->key_len;
	sa->life = s->life;
	sa->created_ms = mono_ms();
	snprintf(sa->origin, sizeof(sa->origin), "%s",
		 s->origin ? s->origin : "ctl");
	sa->reqid = s->reqid;
	snprintf(sa->child, sizeof(sa->child), "%s", s->child ? s->child : "");
	sa->refs = 1;
	sa->nworkers = nworkers;
	sa->seq_max = s->esn ? UINT64_MAX : UINT32_MAX;
	/* an outbound hard packet limit, exact: packet k carries number k,
	 * so none past the limit is sent (the control thread's tick would
	 * see the count up to a tick late: thousands more at speed) */
	if (s->dir == SA_OUT && s->life.hard_packets &&
	    s->life.hard_packets < sa->seq_max)
		sa->seq_max = s->life.hard_packets;
	atomic_init(&sa->seq, 0);
	atomic_init(&sa->seq_limit, sa->seq_max);
	atomic_init(&sa->exhausted, 0);
	atomic_init(&sa->blocked, 0);
	atomic_init(&sa->rx_limit, UINT64_MAX);
	atomic_init(&sa->rx_ask, UINT64_MAX);
	atomic_init(&sa->rx_want, 0);
	atomic_init(&sa->rx_asked, 0);
	sa->asks = NULL;
	if (s->dir == SA_IN) {
		err = replay_init_at(&sa->replay, s->replay_window, s->esn,
				     spread, (char *)sa + off_slots);
		if (err)
			goto fail;
	}
	/*
	 * Cipher contexts for the workers that will use the SA: for an
	 * outbound pair, those that send with it (tunnel_out_sa), or all of
	 * them when it is shared. An inbound SA is keyed on every
	 * worker: a packet reassembled from outer fragments is decrypted on
	 * the worker where its last fragment landed.
	 */
	for (q = 0; q < nworkers; q++) {
		if (s->dir == SA_OUT && s->npairs > 1 &&
		    q % s->npairs != s->pair)
			continue;
		err = crypto_aead_init(&sa->pw[q].aead, s->cipher, s->key,
				       s->key_len, s->dir == SA_OUT);
		if (err)
			goto fail;
	}
	if (t) {
		tunnel_get(t);
		sa->tunnel = t;
	}
	*out = sa;
	return 0;
fail:
	sa_free(sa);
	return err;
}

void sa_get(struct sa *sa)
{
	sa->refs++;
}

void sa_put(struct sa *sa)
{
	if (sa && --sa->refs == 0)
		sa_free(sa);
}

uint64_t sa_seq_reserve(struct sa *sa, uint32_t n)
{
	uint64_t last = atomic_load_explicit(&sa->seq, memory_order_relaxed);
	uint64_t max = atomic_load_explicit(&sa->seq_limit,
					    memory_order_acquire);
	bool limited = max < sa->seq_max;

	if (!limited)
		max = sa->seq_max;
	if (n == 0)
		return 0;
	do {
		/* last + n > max, written so that nothing overflows */
		if (last > max || n > max - last) {
			if (last >= max) { /* not even one left */
				if (limited)
					atomic_store_explicit(&sa->blocked, 1,
							      memory_order_relaxed);
				else
					atomic_store_explicit(&sa->exhausted, 1,
							      memory_order_relaxed);
			}
			return 0;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&sa->seq, &last, last + n, memory_order_relaxed,
		memory_order_relaxed));
	return last + 1;
}

/* Once per block: the SA's bit, then a wake unless one is pending. */
static void sa_ask(struct sa_asks *a, uint32_t slot)
{
	uint64_t one = 1;
	ssize_t r;

	atomic_fetch_or_explicit(&a->bits[slot / 64], 1ull << (slot % 64),
				 memory_order_release);
	if (atomic_exchange_explicit(&a->wake, 1, memory_order_acq_rel))
		return;
	/* EAGAIN (counter full) means awake anyway */
	r = write(a->fd, &one, sizeof(one));
	(void)r;
}

bool sa_rx_limit_slow(struct sa *sa, uint64_t seq)
{
	uint64_t limit, want;
	bool ok;

	/* rx_ask was loaded with acquire: this limit is at least the one
	 * published with it, and only grows */
	limit = atomic_load_explicit(&sa->rx_limit, memory_order_acquire);
	ok = seq <= limit;
	/* the number wanted is in place before the control thread is woken:
	 * woken first, it could read the old one, find the limit enough and
	 * clear the ask (in_limit_tick), and nothing would raise it */
	want = atomic_load_explicit(&sa->rx_want, memory_order_relaxed);
	while (!ok && seq > want &&
	       !atomic_compare_exchange_weak_explicit(&sa->rx_want, &want, seq,
						      memory_order_release,
						      memory_order_relaxed))
		;
	/* test before the exchange: the line is not written per packet */
	if (!atomic_load_explicit(&sa->rx_asked, memory_order_relaxed) &&
	    !atomic_exchange_explicit(&sa->rx_asked, 1,
				      memory_order_acq_rel) &&
	    sa->asks)
		sa_ask(sa->asks, sa->slot);
	return ok;
}

uint64_t sa_asks_clear(struct sa_asks *a)
{
	uint64_t n = 0;

	if (read(a->fd, &n, sizeof(n)) != sizeof(n))
		n = 0; /* EAGAIN: nothing pending */
	/* before the bits are taken: an ask after this writes a wake */
	atomic_store_explicit(&a->wake, 0, memory_order_seq_cst);
	return n;
}

void sa_asks_take(struct sa_asks *a, uint64_t *out)
{
	size_t i;

	for (i = 0; i < ESPRESSO_MAX_SA / 64; i++) {
		uint64_t v = atomic_load_explicit(&a->bits[i],
						  memory_order_relaxed);

		if (v)
			v = atomic_exchange_explicit(&a->bits[i], 0,
						     memory_order_acq_rel);
		if (out)
			out[i] = v;
	}
}

/*
 * A number above the published limit (a new SA's first packets, a jump
 * after the peer restarted, a ramp faster than a write): the control
 * thread is asked (sa_rx_limit_slow) and syncs the next limit in about a
 * write's time. Waiting for it here costs this worker that long, once per
 * block and only then; refusing would cost the packets (and a TCP stall).
 * The worker passes no quiescent point meanwhile, so the SA stays. Bounded
 * (SA_RX_WAIT_MS): a disk that slow, or no control thread to ask, and the
 * caller refuses the packet and counts it. The yield lets the control
 * thread run on a machine with fewer cores than threads.
 */
bool sa_rx_limit_wait(struct sa *sa, uint64_t seq)
{
	struct timespec t0, t;

	if (sa_rx_limit_slow(sa, seq))
		return true;
	if (!sa->asks)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		sched_yield();
		if (seq <= atomic_load_explicit(&sa->rx_limit,
						memory_order_acquire))
			return true;
		/* asks again if the control thread cleared the ask meanwhile
		 * (a tick that ran between this worker's want and its ask) */
		if (sa_rx_limit_slow(sa, seq))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
			    (t.tv_nsec - t0.tv_nsec) / 1000000 >
		    SA_RX_WAIT_MS)
			return false;
	}
}

void sa_sum(const struct sa *sa, struct sa_worker *sum)
{
	int q, i;

	memset(sum, 0, sizeof(*sum));
	for (q = 0; q < sa->nworkers; q++) {
		const struct sa_worker *x = &sa->pw[q];

		sum->packets += x->packets;
		sum->bytes += x->bytes;
		if (x->last_ms > sum->last_ms)
			sum->last_ms = x->last_ms;
		for (i = 0; i < DROP_MAX; i++)
			sum->errors[i] += x->errors[i];
	}
}
