// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "proto/crypto.h"
#include "lib/secret_ossl.h"
#include "lib/log.h"

/* Written once at start-up (crypto_set_backend), read when keying SAs. */
static enum crypto_backend default_backend = CRYPTO_OPENSSL;

/* ---- OpenSSL EVP ------------------------------------------------------ */

/*
 * Where OpenSSL keeps a context's state. The EVP_CIPHER_CTX points to its
 * provider's context (key schedule, GHASH table), which no public call
 * returns; with thousands of SAs carrying traffic it is the last cache
 * miss of a packet's chain. OpenSSL's allocations go through
 * lib/secret_ossl (locked, wiped memory, installed before main); while a
 * context is keyed it notes the largest block allocated: the provider
 * context. A wrong guess costs a useless prefetch, never a fault.
 */
static int ossl_init(struct esp_aead *a, enum cfg_cipher cipher,
		     const uint8_t *key, int encrypt)
{
	const EVP_CIPHER *c;
	size_t hot_len;
	int ok;

	switch (cipher) {
	case CIPHER_AES_GCM_128:
		c = EVP_aes_128_gcm();
		break;
	case CIPHER_AES_GCM_256:
		c = EVP_aes_256_gcm();
		break;
	case CIPHER_CHACHA20_POLY1305:
		c = EVP_chacha20_poly1305();
		break;
	default:
		return -EINVAL;
	}
	{
		static __thread bool warm[CIPHER_MAX + 1][2];
		bool *wm = &warm[cipher][!!encrypt];

		if (!*wm) {
			/* the first context of a kind also fills OpenSSL's
			 * caches (algorithm fetch): keyed once and dropped,
			 * so that only the provider context is allocated
			 * while a is keyed */
			EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();

			if (x)
				EVP_CipherInit_ex(x, c, NULL, key, NULL,
						  encrypt);
			EVP_CIPHER_CTX_free(x);
			*wm = true;
		}
	}
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx)
		return -ENOMEM;
	/* the AEAD controls are common to GCM and ChaCha20-Poly1305 (the
	 * EVP_CTRL_GCM_* names are aliases of EVP_CTRL_AEAD_*) */
	secret_ossl_track(true);
	ok = EVP_CipherInit_ex(a->ctx, c, NULL, NULL, NULL, encrypt) &&
	     EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_IVLEN,
				 ESP_GCM_SALT_LEN + ESP_GCM_IV_LEN, NULL) &&
	     EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, encrypt);
	secret_ossl_track(false);
	if (!ok)
		return -EINVAL;
	a->hot = secret_ossl_tracked(&hot_len);
	a->hot_len16 = (uint8_t)(((hot_len < 2048 ? hot_len : 2048) + 15) / 16);
	return 0;
}

static int set_nonce(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN])
{
	uint8_t nonce[ESP_GCM_SALT_LEN + ESP_GCM_IV_LEN];

	memcpy(nonce, a->salt, ESP_GCM_SALT_LEN);
	memcpy(nonce + ESP_GCM_SALT_LEN, iv, ESP_GCM_IV_LEN);
	return EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, -1);
}

static int ossl_seal(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     uint8_t *tag)
{
	int outl;

	if (!set_nonce(a, iv) ||
	    !EVP_EncryptUpdate(a->ctx, NULL, &outl, aad, aad_len) ||
	    !EVP_EncryptUpdate(a->ctx, buf, &outl, buf, len) ||
	    !EVP_EncryptFinal_ex(a->ctx, buf + outl, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, ESP_GCM_ICV_LEN,
				 tag))
		return -EIO;
	return 0;
}

static int ossl_open(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     const uint8_t *tag)
{
	int outl;

	if (!set_nonce(a, iv) ||
	    !EVP_DecryptUpdate(a->ctx, NULL, &outl, aad, aad_len) ||
	    !EVP_DecryptUpdate(a->ctx, buf, &outl, buf, len) ||
	    !EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, ESP_GCM_ICV_LEN,
				 (void *)tag))
		return -EIO;
	/* OpenSSL compares the tag with CRYPTO_memcmp */
	if (EVP_DecryptFinal_ex(a->ctx, buf + outl, &outl) <= 0)
		return -EBADMSG;
	return 0;
}

/* ---- without intel-ipsec-mb: the stubs crypto.c links against --------- */

#ifndef HAVE_IPSECMB
int crypto_imb_available(void)
{
	return -ENOTSUP;
}

void crypto_imb_prefetch(const struct esp_aead *a, size_t len)
{
	(void)a;
	(void)len;
}

int crypto_imb_thread_init(void)
{
	return 0;
}

void crypto_imb_thread_exit(void)
{
}

int crypto_imb_init(struct esp_aead *a, enum cfg_cipher cipher,
		    const uint8_t *key, size_t klen)
{
	(void)a, (void)cipher, (void)key, (void)klen;
	return -ENOTSUP;
}

void crypto_imb_free(struct esp_aead *a)
{
	(void)a;
}

int crypto_imb_seal(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		    const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		    uint8_t *tag)
{
	(void)a, (void)iv, (void)aad, (void)aad_len, (void)buf, (void)len;
	(void)tag;
	return -EIO;
}

int crypto_imb_open(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		    const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		    const uint8_t *tag)
{
	(void)a, (void)iv, (void)aad, (void)aad_len, (void)buf, (void)len;
	(void)tag;
	return -EIO;
}
#endif

/* ---- the interface ---------------------------------------------------- */

const char *crypto_backend_name(enum crypto_backend b)
{
	switch (b) {
	case CRYPTO_OPENSSL:
		return "openssl";
	case CRYPTO_IPSECMB:
		return "ipsec-mb";
	}
	return "?";
}

int crypto_backend_parse(const char *s, enum crypto_backend *b)
{
	if (!strcmp(s, "openssl"))
		*b = CRYPTO_OPENSSL;
	else if (!strcmp(s, "ipsec-mb"))
		*b = CRYPTO_IPSECMB;
	else
		return -EINVAL;
	return 0;
}

int crypto_thread_init(void)
{
	if (crypto_get_backend() != CRYPTO_IPSECMB)
		return 0;
	return crypto_imb_thread_init();
}

void crypto_thread_exit(void)
{
	crypto_imb_thread_exit();
}

int crypto_backend_available(enum crypto_backend b)
{
	switch (b) {
	case CRYPTO_OPENSSL:
		return 0;
	case CRYPTO_IPSECMB:
		return crypto_imb_available();
	}
	return -EINVAL;
}

/*
 * Known-answer self-test of backend b against OpenSSL: every cipher, an
 * empty, a short, an odd and a long payload, each sealed by both and opened
 * by b, plus one forged tag. 0 or -EIO.
 */
static int selftest(enum crypto_backend b)
{
	static const int lens[] = { 0, 1, 15, 16, 17, 64, 255, 1400 };
	uint8_t key[36], iv[ESP_GCM_IV_LEN], aad[12], ref[1400], buf[1400],
		rtag[ESP_GCM_ICV_LEN], tag[ESP_GCM_ICV_LEN];
	struct esp_aead re, e, d;
	int c, i, j, err = 0;

	for (i = 0; i < 36; i++)
		key[i] = (uint8_t)(0x5a ^ i * 29);
	for (i = 0; i < 12; i++)
		aad[i] = (uint8_t)(0xa0 + i);
	for (i = 0; i < ESP_GCM_IV_LEN; i++)
		iv[i] = (uint8_t)(i * 3 + 1);
	for (c = CIPHER_AES_GCM_128; c <= CIPHER_MAX && !err; c++) {
		size_t klen = params_key_len(c); /* salt included */

		memset(&re, 0, sizeof(re));
		memset(&e, 0, sizeof(e));
		memset(&d, 0, sizeof(d));
		if (crypto_aead_init_backend(&re, CRYPTO_OPENSSL, c, key, klen,
					     1) ||
		    crypto_aead_init_backend(&e, b, c, key, klen, 1) ||
		    crypto_aead_init_backend(&d, b, c, key, klen, 0))
			err = -EIO;
		for (i = 0; !err && i < (int)(sizeof(lens) / sizeof(*lens));
		     i++) {
			int n = lens[i];

			for (j = 0; j < n; j++)
				ref[j] = buf[j] = (uint8_t)(j * 7 + n);
			if (crypto_aead_seal(&re, iv, aad, 8 + 4 * (i & 1), ref,
					     n, rtag) ||
			    crypto_aead_seal(&e, iv, aad, 8 + 4 * (i & 1), buf,
					     n, tag) ||
			    memcmp(ref, buf, n) ||
			    memcmp(rtag, tag, sizeof(tag)) ||
			    crypto_aead_open(&d, iv, aad, 8 + 4 * (i & 1), buf,
					     n, tag))
				err = -EIO;
			for (j = 0; !err && j < n; j++)
				if (buf[j] != (uint8_t)(j * 7 + n))
					err = -EIO;
			tag[i % ESP_GCM_ICV_LEN] ^= 0x10;
			if (!err && crypto_aead_open(&d, iv, aad,
						     8 + 4 * (i & 1), ref, n,
						     tag) != -EBADMSG)
				err = -EIO;
		}
		crypto_aead_free(&re);
		crypto_aead_free(&e);
		crypto_aead_free(&d);
	}
	OPENSSL_cleanse(key, sizeof(key));
	return err;
}

/* selftest's answer, once per backend: the library and the CPU stay */
static int selftest_once(enum crypto_backend b)
{
	static bool done[CRYPTO_IPSECMB + 1];
	static int err[CRYPTO_IPSECMB + 1];

	if (!done[b]) {
		err[b] = selftest(b);
		done[b] = true;
	}
	return err[b];
}

enum crypto_backend crypto_auto_backend(void)
{
	return !crypto_backend_available(CRYPTO_IPSECMB) &&
			       !selftest_once(CRYPTO_IPSECMB) ?
		       CRYPTO_IPSECMB :
		       CRYPTO_OPENSSL;
}

int crypto_set_backend(enum crypto_backend b)
{
	int err = crypto_backend_available(b);

	if (err == -EINVAL) {
		log_err("crypto: unknown backend %d", (int)b);
		return err;
	}
	if (err == -ENOTSUP && b == CRYPTO_IPSECMB) {
#ifdef HAVE_IPSECMB
		log_err("crypto: backend ipsec-mb: this CPU lacks AES-NI or "
			"PCLMULQDQ (or intel-ipsec-mb could not set up); use "
			"openssl");
#else
		log_err("crypto: backend ipsec-mb: espresso was built without "
			"intel-ipsec-mb (install libipsec-mb-dev, then run make "
			"again); use openssl");
#endif
		return err;
	}
	if (err) {
		log_err("crypto: backend %s: %s", crypto_backend_name(b),
			strerror(-err));
		return err;
	}
	if (b != CRYPTO_OPENSSL && (err = selftest_once(b))) {
		log_err("crypto: backend %s fails its self-test against "
			"OpenSSL; use openssl",
			crypto_backend_name(b));
		return err;
	}
	default_backend = b;
	return 0;
}

enum crypto_backend crypto_get_backend(void)
{
	return default_backend;
}

int crypto_aead_init_backend(struct esp_aead *a, enum crypto_backend b,
			     enum cfg_cipher cipher, const uint8_t *key,
			     size_t key_len, int encrypt)
{
	size_t klen;
	int err;

	memset(a, 0, sizeof(*a));
	switch (cipher) {
	case CIPHER_AES_GCM_128:
		klen = 16;
		break;
	case CIPHER_AES_GCM_256:
	case CIPHER_CHACHA20_POLY1305:
		klen = 32;
		break;
	default:
		return -EINVAL;
	}
	if (key_len != klen + ESP_GCM_SALT_LEN)
		return -EINVAL;
	a->encrypt = !!encrypt;
	a->backend = (uint8_t)b;
	a->cipher = (uint8_t)cipher;
	switch (b) {
	case CRYPTO_OPENSSL:
		err = ossl_init(a, cipher, key, encrypt);
		break;
	case CRYPTO_IPSECMB:
		err = crypto_imb_init(a, cipher, key, klen);
		break;
	default:
		err = -EINVAL;
	}
	if (err) {
		crypto_aead_free(a);
		return err;
	}
	memcpy(a->salt, key + klen, ESP_GCM_SALT_LEN);
	return 0;
}

int crypto_aead_init(struct esp_aead *a, enum cfg_cipher cipher,
		     const uint8_t *key, size_t key_len, int encrypt)
{
	return crypto_aead_init_backend(a, default_backend, cipher, key,
					key_len, encrypt);
}

void crypto_aead_free(struct esp_aead *a)
{
	if (a->ctx) {
		if (a->backend == CRYPTO_IPSECMB)
			crypto_imb_free(a); /* wipes the key data */
		else
			EVP_CIPHER_CTX_free(a->ctx); /* wipes the schedule */
	}
	OPENSSL_cleanse(a, sizeof(*a));
}

void crypto_aead_prefetch(const struct esp_aead *a, size_t len)
{
	if (!a->ctx)
		return;
	if (a->backend == CRYPTO_IPSECMB) {
		crypto_imb_prefetch(a, len);
		return;
	}
	/* the EVP_CIPHER_CTX (its size is not public: about 200 bytes in
	 * OpenSSL 3), then the provider context, all of which a packet
	 * reads (a prefetch of only its first 640 bytes measured slower) */
	crypto_prefetch_range(a->ctx, 200, 0);
	if (a->hot)
		crypto_prefetch_range(a->hot, (size_t)a->hot_len16 * 16, 1);
}

int crypto_aead_seal(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     uint8_t *tag)
{
	if (a->backend == CRYPTO_IPSECMB)
		return crypto_imb_seal(a, iv, aad, aad_len, buf, len, tag);
	return ossl_seal(a, iv, aad, aad_len, buf, len, tag);
}

int crypto_aead_open(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     const uint8_t *tag)
{
	if (a->backend == CRYPTO_IPSECMB)
		return crypto_imb_open(a, iv, aad, aad_len, buf, len, tag);
	return ossl_open(a, iv, aad, aad_len, buf, len, tag);
}
