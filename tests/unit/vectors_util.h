/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the unit tests that run the RFC 4106 vectors (test_esp.c,
 * test_crypto.c): hex decoding and a vector's bytes. Include after
 * <criterion/criterion.h> and vectors_rfc4106.h.
 */
#ifndef ESPRESSO_TEST_VECTORS_UTIL_H
#define ESPRESSO_TEST_VECTORS_UTIL_H

#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "proto/crypto.h"

static inline int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode hex into out (at most max bytes); fails the test on bad input. */
static inline size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex), i;

	cr_assert_eq(n % 2, 0, "odd hex string length %zu", n);
	cr_assert_leq(n / 2, max, "hex string too long (%zu bytes)", n / 2);
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		cr_assert(hi >= 0 && lo >= 0, "bad hex digit at %zu", 2 * i);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return n / 2;
}

static inline size_t cipher_key_len(enum cfg_cipher c)
{
	return c == CIPHER_AES_GCM_128 ? 20 : 36;
}

/* A vector's bytes. */
struct vbytes {
	uint8_t key[CFG_KEY_MAX];
	size_t key_len;
	uint8_t iv[ESP_GCM_IV_LEN];
	uint8_t pt[256];
	size_t pt_len;
	uint8_t esp[512];
	size_t esp_len;
};

static inline void vec_load(const struct rfc4106_vector *v, struct vbytes *b)
{
	memset(b, 0, sizeof(*b));
	b->key_len = unhex(v->key, b->key, sizeof(b->key));
	cr_assert_eq(b->key_len, cipher_key_len(v->cipher), "%s: key length",
		     v->name);
	cr_assert_eq(unhex(v->iv, b->iv, sizeof(b->iv)), ESP_GCM_IV_LEN);
	b->pt_len = unhex(v->pt, b->pt, sizeof(b->pt));
	b->esp_len = unhex(v->esp, b->esp, sizeof(b->esp));
	/* the vector itself: header + IV + ciphertext (as long as pt) + ICV */
	cr_assert_eq(b->esp_len, 8 + 8 + b->pt_len + 16, "%s: esp length",
		     v->name);
}

#endif
