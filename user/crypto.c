// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "crypto.h"

int crypto_aead_init(struct esp_aead *a, enum cfg_cipher cipher,
		     const uint8_t *key, size_t key_len, int encrypt)
{
	const EVP_CIPHER *c;
	size_t klen;

	memset(a, 0, sizeof(*a));
	switch (cipher) {
	case CIPHER_AES_GCM_128:
		c = EVP_aes_128_gcm();
		klen = 16;
		break;
	case CIPHER_AES_GCM_256:
		c = EVP_aes_256_gcm();
		klen = 32;
		break;
	default:
		return -EINVAL;
	}
	if (key_len != klen + ESP_GCM_SALT_LEN)
		return -EINVAL;
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx)
		return -ENOMEM;
	if (!EVP_CipherInit_ex(a->ctx, c, NULL, NULL, NULL, encrypt) ||
	    !EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_IVLEN,
				 ESP_GCM_SALT_LEN + ESP_GCM_IV_LEN, NULL) ||
	    !EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, encrypt)) {
		crypto_aead_free(a);
		return -EINVAL;
	}
	memcpy(a->salt, key + klen, ESP_GCM_SALT_LEN);
	a->encrypt = encrypt;
	return 0;
}

void crypto_aead_free(struct esp_aead *a)
{
	if (a->ctx)
		EVP_CIPHER_CTX_free(a->ctx);
	OPENSSL_cleanse(a, sizeof(*a));
}

static int set_nonce(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN])
{
	uint8_t nonce[ESP_GCM_SALT_LEN + ESP_GCM_IV_LEN];

	memcpy(nonce, a->salt, ESP_GCM_SALT_LEN);
	memcpy(nonce + ESP_GCM_SALT_LEN, iv, ESP_GCM_IV_LEN);
	return EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, -1);
}

int crypto_aead_seal(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     uint8_t *tag)
{
	int outl;

	if (!set_nonce(a, iv) ||
	    !EVP_EncryptUpdate(a->ctx, NULL, &outl, aad, aad_len) ||
	    !EVP_EncryptUpdate(a->ctx, buf, &outl, buf, len) ||
	    !EVP_EncryptFinal_ex(a->ctx, buf + outl, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_GET_TAG, ESP_GCM_ICV_LEN,
				 tag))
		return -EIO;
	return 0;
}

int crypto_aead_open(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		     const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		     const uint8_t *tag)
{
	int outl;

	if (!set_nonce(a, iv) ||
	    !EVP_DecryptUpdate(a->ctx, NULL, &outl, aad, aad_len) ||
	    !EVP_DecryptUpdate(a->ctx, buf, &outl, buf, len) ||
	    !EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_TAG, ESP_GCM_ICV_LEN,
				 (void *)tag))
		return -EIO;
	if (EVP_DecryptFinal_ex(a->ctx, buf + outl, &outl) <= 0)
		return -EBADMSG;
	return 0;
}
