/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crypto: the AEADs of ESP, AES-GCM (RFC 4106) and ChaCha20-Poly1305
 * (RFC 7634: the same 8-byte IV, salt || IV nonce and 16-byte ICV), one
 * small interface, two backends:
 *
 *   CRYPTO_OPENSSL  OpenSSL EVP: one pre-keyed EVP_CIPHER_CTX per SA per
 *                   thread; per packet only the nonce (salt || IV), the AAD
 *                   and the tag are set.
 *   CRYPTO_IPSECMB  intel-ipsec-mb (user/crypto_ipsecmb.c, built only with
 *                   HAVE_IPSECMB): the key schedule and GHASH powers
 *                   (struct gcm_key_data) expanded once per context, then
 *                   one direct-API call per packet (IMB_AES*_GCM_ENC/DEC).
 *
 * The backend is chosen once at start-up with crypto_set_backend(); every
 * context keyed afterwards with crypto_aead_init() uses it and remembers it
 * (a->backend), so the packet path is one predictable branch on that field,
 * no indirect call of ours. Contexts of both backends can coexist
 * (crypto_aead_init_backend()); the wire format is the same.
 * Nothing here allocates on the packet path.
 */
#ifndef ESPRESSO_CRYPTO_H
#define ESPRESSO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "proto/params.h"

#define ESP_GCM_ICV_LEN 16
#define ESP_GCM_IV_LEN 8
#define ESP_GCM_SALT_LEN 4

enum crypto_backend {
	CRYPTO_OPENSSL = 0, /* default */
	CRYPTO_IPSECMB = 1,
};

struct evp_cipher_ctx_st;
struct crypto_imb; /* user/crypto_ipsecmb.c */

struct esp_aead {
	union {
		struct evp_cipher_ctx_st *ctx; /* CRYPTO_OPENSSL */
		struct crypto_imb *imb;        /* CRYPTO_IPSECMB */
	};                                     /* NULL: not keyed */
	uint8_t salt[ESP_GCM_SALT_LEN];
	uint8_t encrypt;
	uint8_t backend; /* enum crypto_backend */
	uint8_t cipher;  /* enum cfg_cipher */
	uint8_t hot_len16; /* hot's length in 16-byte units, rounded up */
	/* OpenSSL: its provider's state for this context (key schedule,
	 * GHASH table), as seen allocated while keying; only ever
	 * prefetched (crypto_aead_prefetch), NULL when unknown */
	const void *hot;
};

/* 24 bytes: with an SA's per-worker counters and more in one line
 * (tables/sa.h struct sa_worker) */
_Static_assert(sizeof(struct esp_aead) <= 24, "struct esp_aead in 24 bytes");

/*
 * Select the backend of the contexts keyed from now on (process-wide; call
 * once at start-up, before the workers key their SAs). Returns 0, -ENOTSUP
 * when espresso was built without intel-ipsec-mb or the CPU lacks AES-NI and
 * PCLMULQDQ, -EIO when the backend fails its self-test against OpenSSL,
 * -ENOMEM or -EINVAL (unknown backend). On failure the backend is unchanged
 * and a message saying why is logged.
 */
int crypto_set_backend(enum crypto_backend b);
enum crypto_backend crypto_get_backend(void);
/* Whether backend b can be used here, without logging: 0 or as above. */
int crypto_backend_available(enum crypto_backend b);
/* What workers.crypto = "auto" takes here: intel-ipsec-mb where it can be
 * used and passes its self-test (run once, its answer kept), else
 * OpenSSL. Logs nothing. */
enum crypto_backend crypto_auto_backend(void);
/* "openssl" / "ipsec-mb", and back (0 or -EINVAL). */
const char *crypto_backend_name(enum crypto_backend b);
int crypto_backend_parse(const char *s, enum crypto_backend *b);

/*
 * Key a context with the current backend. key is the key followed by the
 * 4-byte salt (20 or 36 bytes, as xfrm's rfc4106(gcm(aes)) and
 * rfc7539esp(chacha20,poly1305)). Returns 0,
 * -EINVAL (bad length), -ENOMEM or -ENOTSUP (backend not available).
 */
int crypto_aead_init(struct esp_aead *a, enum cfg_cipher cipher,
		     const uint8_t *key, size_t key_len, int encrypt);
/* The same with an explicit backend (tests, benchmarks). */
int crypto_aead_init_backend(struct esp_aead *a, enum crypto_backend b,
			     enum cfg_cipher cipher, const uint8_t *key,
			     size_t key_len, int encrypt);
/* Free the context and wipe its key schedule. Safe on a zeroed one. */
void crypto_aead_free(struct esp_aead *a);

/* Encrypt buf[0..len) in place and write the 16-byte tag. 0 or -EIO. */
int crypto_aead_seal(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     uint8_t *tag);
/*
 * Decrypt buf[0..len) in place; -EBADMSG when the tag does not verify (the
 * tag is compared in constant time; buf then holds unauthenticated
 * plaintext, which the caller drops), -EIO on a library error.
 */
int crypto_aead_open(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     const uint8_t *tag);

/*
 * Warm what sealing or opening len bytes with a reads (a burst's prefetch
 * pass, core/prefetch.h): ipsec-mb's round keys and the hash keys a
 * message of that length needs (len 0: all), OpenSSL's EVP_CIPHER_CTX and
 * the provider context noted when it was keyed (a->hot).
 */
void crypto_aead_prefetch(const struct esp_aead *a, size_t len);

/* Every cache line [p, p + len) touches (malloc's blocks rarely start a
 * line). Hints only. */
static inline void crypto_prefetch_range(const void *p, size_t len, int write)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, e = (uintptr_t)p + len;

	for (; a < e; a += 64) {
		if (write)
			__builtin_prefetch((const void *)a, 1, 3);
		else
			__builtin_prefetch((const void *)a, 0, 3);
	}
}
/*
 * Per-thread state of the backends, for threads that run the packet path
 * (workers, benchmark threads): crypto_thread_init() in the thread before
 * its first packet, crypto_thread_exit() before it ends. OpenSSL needs
 * none; ipsec-mb gives the thread a private copy of the library (why: see
 * user/crypto_ipsecmb.c). Returns 0, or -errno when the thread goes on
 * with the shared state: correct, only slower with many threads.
 */
int crypto_thread_init(void);
void crypto_thread_exit(void);

/* ---- backend internals (user/crypto_ipsecmb.c), for crypto.c only ---- */
int crypto_imb_thread_init(void);
void crypto_imb_thread_exit(void);
int crypto_imb_available(void);
void crypto_imb_prefetch(const struct esp_aead *a, size_t len);
int crypto_imb_init(struct esp_aead *a, enum cfg_cipher cipher,
		    const uint8_t *key, size_t klen);
void crypto_imb_free(struct esp_aead *a);
int crypto_imb_seal(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		    const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		    uint8_t *tag);
int crypto_imb_open(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		    const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		    const uint8_t *tag);

#endif
