/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crypto: AES-GCM for ESP (RFC 4106) over OpenSSL EVP. One pre-keyed context
 * per SA per thread; per packet only the nonce (salt || IV), the AAD and the
 * tag are set. Nothing here allocates on the packet path.
 */
#ifndef ESPRESSO_CRYPTO_H
#define ESPRESSO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define ESP_GCM_ICV_LEN 16
#define ESP_GCM_IV_LEN 8
#define ESP_GCM_SALT_LEN 4

struct evp_cipher_ctx_st;

struct esp_aead {
	struct evp_cipher_ctx_st *ctx;
	uint8_t salt[ESP_GCM_SALT_LEN];
	uint8_t encrypt;
};

/*
 * Key a context. key is the key followed by the 4-byte salt (20 or 36 bytes,
 * as xfrm's rfc4106(gcm(aes))). Returns 0, -EINVAL (bad length) or -ENOMEM.
 */
int crypto_aead_init(struct esp_aead *a, enum cfg_cipher cipher,
		     const uint8_t *key, size_t key_len, int encrypt);
/* Free the context; OpenSSL wipes the key schedule. Safe on a zeroed one. */
void crypto_aead_free(struct esp_aead *a);

/* Encrypt buf[0..len) in place and write the 16-byte tag. 0 or -EIO. */
int crypto_aead_seal(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     uint8_t *tag);
/* Decrypt buf[0..len) in place; -EBADMSG when the tag does not verify. */
int crypto_aead_open(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     const uint8_t *tag);

#endif
