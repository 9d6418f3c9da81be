// SPDX-License-Identifier: GPL-2.0
/*
 * OpenSSL's allocations in the secret pool (user/lib/secret_ossl.c): an
 * SA's cipher contexts (AES-GCM and ChaCha20-Poly1305) lie in locked,
 * non-dumpable pages; the key bytes are nowhere else in writable memory
 * (the AES-128 key schedule starts with the key itself; ChaCha20 keeps
 * the key as is); freeing the contexts wipes them; sealing and opening
 * packets allocates nothing.
 *
 * The install runs in a constructor, before criterion's main: that one
 * makes OpenSSL allocate (through libgit2) before any test starts.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/secret.h"
#include "lib/secret_ossl.h"
#include "proto/crypto.h"

/* 16 distinctive key bytes (then the salt): found in memory only where
 * OpenSSL keeps the key. Static const: in a read-only mapping. */
static const uint8_t key36[36] = {
	0x8e, 0x31, 0x5a, 0xc7, 0x02, 0xf4, 0x99, 0x6b, 0x1d, 0xe0, 0x47,
	0xb3, 0x2c, 0x75, 0xd8, 0x5f, 0x10, 0x20, 0x30, 0x40, 0x11, 0x22,
	0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
	0xee, 0xff, 0x01,
};

static int installed = -1;

__attribute__((constructor)) static void install_early(void)
{
	installed = secret_ossl_install();
}

static void install(void)
{
	cr_assert_eq(installed, 0, "installed before OpenSSL allocated");
}

struct mapping {
	uintptr_t lo, hi;
	bool locked, dontdump;
};

/* The writable private mappings, with their smaps flags; not the stack
 * (the key passes through it in calls) nor what cannot be read. */
static size_t writable_mappings(struct mapping *m, size_t max)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512], perms[8], name[256];
	size_t n = 0;
	bool in = false;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;

		name[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &lo, &hi,
			   perms, name) >= 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = perms[0] == 'r' && perms[1] == 'w' &&
			     perms[3] == 'p' && strcmp(name, "[stack]") &&
			     strcmp(name, "[vvar]") && n < max;
			if (in)
				m[n++] = (struct mapping){ lo, hi, false, false };
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			m[n - 1].locked = strstr(line, " lo") != NULL;
			m[n - 1].dontdump = strstr(line, " dd") != NULL;
		}
	}
	fclose(f);
	return n;
}

/* Where the first 16 key bytes occur in writable memory: how many times
 * in locked, non-dumpable mappings and how many elsewhere. */
static void find_key(int *in_secret, int *elsewhere)
{
	static struct mapping m[4096];
	size_t n = writable_mappings(m, 4096), i;

	*in_secret = *elsewhere = 0;
#ifdef __SANITIZE_ADDRESS__
	/* ASan's shadow is terabytes of writable mappings: not scanned */
	*in_secret = 1;
	return;
#endif
	for (i = 0; i < n; i++) {
		const uint8_t *p = (const uint8_t *)m[i].lo;
		const uint8_t *end = (const uint8_t *)m[i].hi;

		while ((p = memmem(p, (size_t)(end - p), key36, 16))) {
			if (m[i].dontdump)
				(*in_secret)++;
			else
				(*elsewhere)++;
			p += 16;
		}
	}
}

static bool can_lock(void)
{
	struct rlimit rl;

	getrlimit(RLIMIT_MEMLOCK, &rl);
#ifdef __SANITIZE_ADDRESS__
	return false; /* ASan's mlock() is a no-op (make check SANITIZE=1) */
#else
	return rl.rlim_cur >= (1u << 20);
#endif
}

/* the smaps flags of the mapping that holds p */
static struct mapping mapping_of(const void *p)
{
	static struct mapping m[4096];
	size_t n = writable_mappings(m, 4096), i;

	for (i = 0; i < n; i++)
		if ((uintptr_t)p >= m[i].lo && (uintptr_t)p < m[i].hi)
			return m[i];
	cr_assert_fail("%p in no writable mapping", p);
	return m[0];
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void contexts_locked_and_wiped(enum cfg_cipher cipher, size_t klen)
{
	uint8_t key[36], iv[ESP_GCM_IV_LEN] = { 1 }, buf[64] = { 0 }, tag[16];
	struct esp_aead a = { 0 };
	struct mapping m;
	int in_secret, elsewhere;
	size_t ctx_size;
	uint8_t *ctx;

	install();
	memcpy(key, key36, sizeof(key));
	cr_assert_eq(crypto_aead_init_backend(&a, CRYPTO_OPENSSL, cipher, key,
					      klen + 4, 1), 0);
	explicit_bzero(key, sizeof(key)); /* the caller's copy, as sa.c does */
	cr_assert_eq(crypto_aead_seal(&a, iv, buf, 8, buf + 8, 32, tag), 0);
	ctx = (uint8_t *)a.ctx;
	m = mapping_of(ctx);
	cr_assert(m.dontdump, "the EVP_CIPHER_CTX is in a MADV_DONTDUMP mapping");
	if (can_lock())
		cr_assert(m.locked, "the EVP_CIPHER_CTX is in locked pages");
	find_key(&in_secret, &elsewhere);
	cr_assert_geq(in_secret, 1, "the key (schedule) is in the secret pool");
	cr_assert_eq(elsewhere, 0, "the key is in %d other writable places",
		     elsewhere);
	ctx_size = secret_ossl_size(ctx);
	cr_assert_gt(ctx_size, 0u);
	crypto_aead_free(&a);
	/* the pool keeps its chunks mapped: the freed block reads as zero */
	cr_assert(all_zero(ctx, ctx_size), "the context is wiped when freed");
	find_key(&in_secret, &elsewhere);
#ifndef __SANITIZE_ADDRESS__
	cr_assert_eq(in_secret + elsewhere, 0, "the key is gone after free");
#endif
}

Test(secret_ossl, aes_gcm_context_locked_and_wiped)
{
	contexts_locked_and_wiped(CIPHER_AES_GCM_128, 16);
}

Test(secret_ossl, chacha20_poly1305_context_locked_and_wiped)
{
	contexts_locked_and_wiped(CIPHER_CHACHA20_POLY1305, 32);
}

/* key36 is only 36 bytes: ChaCha20's 32-byte key + salt needs 36 too */
_Static_assert(sizeof(key36) == 32 + 4, "ChaCha20-Poly1305 key + salt");

Test(secret_ossl, no_allocation_per_packet_and_bounded)
{
	static const enum cfg_cipher ciphers[] = {
		CIPHER_AES_GCM_128, CIPHER_AES_GCM_256,
		CIPHER_CHACHA20_POLY1305,
	};
	static const size_t klen[] = { 16, 32, 32 };
	struct esp_aead enc[3], dec[3];
	uint8_t iv[ESP_GCM_IV_LEN] = { 0 }, buf[1500], tag[16];
	struct secret_ossl_stats before, after;
	struct secret_stats pool;
	int c, i;

	install();
	for (c = 0; c < 3; c++) {
		cr_assert_eq(crypto_aead_init_backend(&enc[c], CRYPTO_OPENSSL,
						      ciphers[c], key36,
						      klen[c] + 4, 1), 0);
		cr_assert_eq(crypto_aead_init_backend(&dec[c], CRYPTO_OPENSSL,
						      ciphers[c], key36,
						      klen[c] + 4, 0), 0);
	}
	secret_ossl_get_stats(&before);
	for (i = 0; i < 1000; i++) {
		for (c = 0; c < 3; c++) {
			memcpy(iv, &i, sizeof(i));
			memset(buf, i, sizeof(buf));
			cr_assert_eq(crypto_aead_seal(&enc[c], iv, buf, 8,
						      buf + 8, 1400, tag), 0);
			cr_assert_eq(crypto_aead_open(&dec[c], iv, buf, 8,
						      buf + 8, 1400, tag), 0);
		}
	}
	secret_ossl_get_stats(&after);
	cr_assert_eq(after.allocs, before.allocs,
		     "%lu allocations in 6000 packets",
		     after.allocs - before.allocs);
	secret_get_stats(&pool);
	cr_log_info("OpenSSL after 6 contexts: %lu allocations, %lu held "
		    "(%zu bytes asked), pool %zu bytes mapped",
		    after.allocs, after.held, after.held_bytes,
		    pool.bytes_mapped);
	/* OpenSSL's start-up tables and the contexts: a few hundred KiB */
	cr_assert_lt(pool.bytes_mapped, 4u << 20, "%zu bytes", pool.bytes_mapped);
	/* what one more context of each costs (cipher already fetched) */
	for (c = 0; c < 3; c++) {
		struct esp_aead x;

		secret_ossl_get_stats(&before);
		cr_assert_eq(crypto_aead_init_backend(&x, CRYPTO_OPENSSL,
						      ciphers[c], key36,
						      klen[c] + 4, 1), 0);
		secret_ossl_get_stats(&after);
		cr_log_info("one more context of cipher %d: %lu blocks held, "
			    "%zu bytes asked", c, after.held - before.held,
			    after.held_bytes - before.held_bytes);
		cr_assert_leq(after.held_bytes - before.held_bytes, 4096u);
		crypto_aead_free(&x);
	}
	for (c = 0; c < 3; c++) {
		crypto_aead_free(&enc[c]);
		crypto_aead_free(&dec[c]);
	}
	secret_ossl_get_stats(&after);
	cr_assert_lt(after.held, before.held, "the contexts were given back");
}

Test(secret_ossl, realloc_copies_and_install_again_keeps_it)
{
	uint8_t *p, *q;

	install();
	p = OPENSSL_malloc(10);
	cr_assert_not_null(p);
	memcpy(p, "0123456789", 10);
	q = OPENSSL_realloc(p, 5000); /* past the slot sizes: its own mapping */
	cr_assert_not_null(q);
	cr_assert_eq(memcmp(q, "0123456789", 10), 0);
	cr_assert_eq(secret_ossl_size(q), 5000u);
	cr_assert(mapping_of(q).dontdump);
	OPENSSL_free(q);
	OPENSSL_free(NULL);
	/* installed again: the same functions, still in place */
	cr_assert_eq(secret_ossl_install(), 0);
	p = OPENSSL_zalloc(100);
	cr_assert(mapping_of(p).dontdump);
	OPENSSL_free(p);
}
