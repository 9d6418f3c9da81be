/* SPDX-License-Identifier: GPL-2.0 */
/*
 * secret_ossl: every allocation OpenSSL makes comes from the secret pool
 * (lib/secret.h): locked in RAM, out of core dumps, wiped when freed. The
 * EVP_CIPHER_CTX of an SA and the provider's context under it hold the
 * expanded AES key (or the ChaCha20 key): OpenSSL allocates them with
 * OPENSSL_zalloc, not from its secure heap, so they are routed here with
 * the rest (OpenSSL's allocations are few in espressod: its start-up
 * tables, then two contexts per SA; none per packet).
 *
 * secret_ossl_install() must run before anything calls OpenSSL (the first
 * allocation fixes the functions): a constructor does it before main(),
 * and main() again, to warn if it could not.
 */
#ifndef ESPRESSO_SECRET_OSSL_H
#define ESPRESSO_SECRET_OSSL_H

#include <stdbool.h>
#include <stddef.h>

/* 0, or -EBUSY when OpenSSL had already allocated (then its memory stays
 * in the ordinary heap: the caller warns). */
int secret_ossl_install(void);
/* OpenSSL's allocations so far (malloc and realloc calls) and those still
 * held: for tests, to see that nothing is allocated per packet. */
struct secret_ossl_stats {
	unsigned long allocs;
	unsigned long held;
	size_t held_bytes;
};
void secret_ossl_get_stats(struct secret_ossl_stats *st);
/* The size OpenSSL asked for the block at p (allocated through here). */
size_t secret_ossl_size(const void *p);
/* While on (this thread), note the largest block OpenSSL allocates:
 * crypto.c finds a cipher context's provider state this way, to prefetch
 * it. secret_ossl_tracked gives it and its size (NULL: none). */
void secret_ossl_track(bool on);
void *secret_ossl_tracked(size_t *len);

#endif
