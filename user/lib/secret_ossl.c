// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "lib/secret.h"
#include "lib/secret_ossl.h"

/*
 * Each block is a secret slot with a header of HDR bytes before what
 * OpenSSL gets: the size asked for, so that free and realloc know the
 * slot (secret_free needs it). HDR keeps the 16-byte alignment malloc
 * gives (slots are aligned to 64 at least).
 */
#define HDR 16

static atomic_ulong n_allocs, n_held;
static atomic_size_t held_bytes;
/* secret_ossl_track: this thread's largest block while on */
static __thread bool hot_on;
static __thread void *hot_ptr;
static __thread size_t hot_len;

static void *ossl_malloc(size_t n, const char *file, int line)
{
	uint8_t *b;

	(void)file;
	(void)line;
	if (n > SIZE_MAX - HDR)
		return NULL;
	b = secret_alloc(n + HDR); /* zeroed */
	if (!b)
		return NULL;
	memcpy(b, &n, sizeof(n));
	if (hot_on && n > hot_len) {
		hot_ptr = b + HDR;
		hot_len = n;
	}
	atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n_held, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&held_bytes, n, memory_order_relaxed);
	return b + HDR;
}

size_t secret_ossl_size(const void *p)
{
	size_t n;

	memcpy(&n, (const uint8_t *)p - HDR, sizeof(n));
	return n;
}

static void ossl_free(void *p, const char *file, int line)
{
	size_t n;

	(void)file;
	(void)line;
	if (!p)
		return;
	n = secret_ossl_size(p);
	atomic_fetch_sub_explicit(&n_held, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&held_bytes, n, memory_order_relaxed);
	secret_free((uint8_t *)p - HDR, n + HDR); /* wiped, header and all */
}

/* A new block, the old one copied and wiped: never a plain realloc, which
 * would leave the old bytes in the heap. */
static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	void *q;
	size_t old;

	if (!p)
		return ossl_malloc(n, file, line);
	if (!n) {
		ossl_free(p, file, line);
		return NULL;
	}
	q = ossl_malloc(n, file, line);
	if (!q)
		return NULL;
	old = secret_ossl_size(p);
	memcpy(q, p, old < n ? old : n);
	ossl_free(p, file, line);
	return q;
}

int secret_ossl_install(void)
{
	return CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) ?
		       0 : -EBUSY;
}

/* Before main, so before any library's first OpenSSL call (criterion's
 * main, for one, calls it before the tests): every program linked with
 * this file keeps OpenSSL's memory in the pool. main() installs again
 * and warns if it could not be done here. */
__attribute__((constructor)) static void secret_ossl_early(void)
{
	(void)secret_ossl_install();
}

void secret_ossl_track(bool on)
{
	hot_on = on;
	if (on) {
		hot_ptr = NULL;
		hot_len = 0;
	}
}

void *secret_ossl_tracked(size_t *len)
{
	*len = hot_len;
	return hot_ptr;
}

void secret_ossl_get_stats(struct secret_ossl_stats *st)
{
	st->allocs = atomic_load(&n_allocs);
	st->held = atomic_load(&n_held);
	st->held_bytes = atomic_load(&held_bytes);
}
