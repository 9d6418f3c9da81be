// SPDX-License-Identifier: GPL-2.0
/*
 * ChaCha20-Poly1305 in ESP (RFC 7634) through esp_seal/esp_open, with each
 * backend chosen the way espressod does (crypto_set_backend at start-up):
 *
 *   - "rfc8439-aead": the AEAD vector of RFC 8439 section 2.8.2 read as an
 *     ESP packet. RFC 7634's nonce is salt (4) || IV (8) and its AAD with
 *     ESN is SPI || seq_hi || seq_lo, so the RFC's constant 07000000 is the
 *     salt, its IV 4041424344454647 the ESP IV, and its 12-byte AAD
 *     50515253 c0c1c2c3 c4c5c6c7 is SPI 0x50515253 with the 64-bit ESN
 *     0xc0c1c2c3c4c5c6c7. Ciphertext and tag are the RFC's.
 *   - "esp-tunnel": a tunnel-mode ESP packet with a real inner IPv4 echo
 *     request and its trailer, 32-bit sequence number (8-byte AAD), key
 *     80..9f, salt a0a1a2a3, SPI 0x01020304, seq 5, IV 1011121314151617
 *     (RFC 7634 appendix A's parameters), built with scapy and sealed with
 *     Python cryptography's ChaCha20Poly1305: an implementation that is
 *     not ours. The RFC 8439 vector above checks cryptography itself.
 *
 * Each: seal gives the bytes, open gives the plaintext, every bit of the
 * header, the ends of the ciphertext and the ICV tampered gives -EBADMSG.
 * The ipsec-mb half is skipped where the backend is not available.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "config/config.h"
#include "proto/crypto.h"
#include "proto/esp.h"

struct cvec {
	const char *name;
	const char *key; /* 32-byte key then 4-byte salt */
	uint32_t spi;
	uint64_t seq;
	bool esn;
	const char *iv;
	const char *pt;  /* what is encrypted (ESP: inner + trailer) */
	const char *esp; /* SPI | seq_lo | IV | ciphertext | ICV */
};

static const struct cvec cvecs[] = {
	{
		.name = "rfc8439-aead",
		.key = "808182838485868788898a8b8c8d8e8f"
		       "909192939495969798999a9b9c9d9e9f" "07000000",
		.spi = 0x50515253,
		.seq = 0xc0c1c2c3c4c5c6c7ull,
		.esn = true,
		.iv = "4041424344454647",
		/* "Ladies and Gentlemen of the class of '99: ..." */
		.pt = "4c616469657320616e642047656e746c656d656e206f662074686520"
		      "636c617373206f66202739393a204966204920636f756c64206f6666"
		      "657220796f75206f6e6c79206f6e652074697020666f722074686520"
		      "6675747572652c2073756e73637265656e20776f756c642062652069"
		      "742e",
		.esp = "50515253" "c4c5c6c7" "4041424344454647"
		       "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a7"
		       "36ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b29"
		       "05d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4"
		       "fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b"
		       "6116"
		       "1ae10b594f09e26a7e902ecbd0600691",
	},
	{
		.name = "esp-tunnel",
		.key = "808182838485868788898a8b8c8d8e8f"
		       "909192939495969798999a9b9c9d9e9f" "a0a1a2a3",
		.spi = 0x01020304,
		.seq = 5,
		.esn = false,
		.iv = "1011121314151617",
		.pt = "45000044a6f200004001e788c6336405c00002050800ff243a080000"
		      "101112131415161718191a1b1c1d1e1f202122232425262728292a2b"
		      "2c2d2e2f303132333435363701020204",
		.esp = "01020304" "00000005" "1011121314151617"
		       "24039438b97f417e3c1375ca4f05087b67c352e6a7fa15e782d466ef"
		       "05501bc500fca0a9c53854fb71ba85cf9b7c32c71a972e4c7c7f54f9"
		       "8ece1f9cd628f8e3"
		       "dbfc062f856db37f30566f827712b915e5bd2df842b4f8a7",
	},
};
#define NCVECS (sizeof(cvecs) / sizeof(cvecs[0]))

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2, i;
	unsigned int v;

	cr_assert_leq(n, max);
	for (i = 0; i < n; i++) {
		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

struct cbytes {
	uint8_t key[36], iv[8], pt[256], esp[512];
	size_t key_len, pt_len, esp_len;
};

static void load(const struct cvec *v, struct cbytes *b)
{
	b->key_len = unhex(v->key, b->key, sizeof(b->key));
	cr_assert_eq(b->key_len, 36);
	cr_assert_eq(unhex(v->iv, b->iv, sizeof(b->iv)), 8);
	b->pt_len = unhex(v->pt, b->pt, sizeof(b->pt));
	b->esp_len = unhex(v->esp, b->esp, sizeof(b->esp));
	cr_assert_eq(b->esp_len, 8 + 8 + b->pt_len + 16, "%s", v->name);
}

struct cparam {
	int vec;
	int backend;
};

#define BNAME(b) ((b) == 0 ? "openssl" : (b) == 1 ? "ipsec-mb" : "ipsec-mb/job")

/* backend: 0 OpenSSL, 1 ipsec-mb (direct API: the shared manager),
 * 2 ipsec-mb in a thread with its own copy (job API), as workers run */
#define NB 3
static struct cparam cparams[NCVECS * NB];

static struct criterion_test_params make_params(void)
{
	int i, b;

	for (b = 0; b < NB; b++)
		for (i = 0; i < (int)NCVECS; i++)
			cparams[b * NCVECS + i] = (struct cparam){ i, b };
	return cr_make_param_array(struct cparam, cparams, NCVECS * NB);
}

static void key_with(struct esp_aead *a, int backend, const struct cbytes *k,
		     int encrypt)
{
	enum crypto_backend b = backend ? CRYPTO_IPSECMB : CRYPTO_OPENSSL;
	int r = crypto_backend_available(b);

	if (r == -ENOTSUP)
		cr_skip_test("backend %s not available here",
			     crypto_backend_name(b));
	cr_assert_eq(crypto_set_backend(b), 0);
	if (backend == 2)
		cr_assert_eq(crypto_thread_init(), 0, "no private copy");
	cr_assert_eq(crypto_aead_init(a, CIPHER_CHACHA20_POLY1305, k->key,
				      k->key_len, encrypt),
		     0);
	cr_assert_eq(a->backend, b);
	cr_assert_eq(a->cipher, CIPHER_CHACHA20_POLY1305);
}

ParameterizedTestParameters(rfc7634, seal)
{
	return make_params();
}

ParameterizedTest(struct cparam *p, rfc7634, seal)
{
	const struct cvec *v = &cvecs[p->vec];
	struct cbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	int n, round;

	load(v, &b);
	key_with(&a, p->backend, &b, 1);
	for (round = 0; round < 2; round++) {
		memset(buf, 0xee, sizeof(buf));
		memcpy(buf + 16, b.pt, b.pt_len);
		n = esp_seal(&a, v->spi, v->seq, v->esn, b.iv, buf, b.pt_len);
		cr_assert_eq(n, (int)b.esp_len, "%s: esp_seal: %d", v->name, n);
		cr_assert_arr_eq(buf, b.esp, b.esp_len, "%s/%s: ESP differs",
				 v->name, BNAME(p->backend));
		cr_assert_eq(buf[b.esp_len], 0xee, "wrote past the ICV");
	}
	crypto_aead_free(&a);
}

ParameterizedTestParameters(rfc7634, open)
{
	return make_params();
}

ParameterizedTest(struct cparam *p, rfc7634, open)
{
	const struct cvec *v = &cvecs[p->vec];
	struct cbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	int r;

	load(v, &b);
	key_with(&a, p->backend, &b, 0);
	memset(buf, 0xee, sizeof(buf));
	memcpy(buf, b.esp, b.esp_len);
	r = esp_open(&a, v->seq, v->esn, buf, b.esp_len);
	cr_assert_eq(r, 0, "%s/%s: esp_open: %d", v->name,
		     BNAME(p->backend), r);
	cr_assert_arr_eq(buf + 16, b.pt, b.pt_len);
	cr_assert_eq(buf[b.esp_len], 0xee);
	crypto_aead_free(&a);
}

ParameterizedTestParameters(rfc7634, tamper)
{
	return make_params();
}

ParameterizedTest(struct cparam *p, rfc7634, tamper)
{
	const struct cvec *v = &cvecs[p->vec];
	struct cbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	size_t off;
	int bit, r;

	load(v, &b);
	key_with(&a, p->backend, &b, 0);
	for (off = 0; off < b.esp_len; off++) {
		if (off >= 17 && off + 17 < b.esp_len)
			off = b.esp_len - 17;
		for (bit = 0; bit < 8; bit++) {
			uint64_t seq = v->seq;

			memcpy(buf, b.esp, b.esp_len);
			buf[off] ^= (uint8_t)(1u << bit);
			if (off >= 4 && off < 8) /* the wire seq: keep it so */
				seq = (seq & ~0xffffffffull) |
				      ((uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
						 (uint32_t)buf[6] << 8 | buf[7]);
			r = esp_open(&a, seq, v->esn, buf, b.esp_len);
			cr_assert_eq(r, -EBADMSG, "%s: bit %d of byte %zu: %d",
				     v->name, bit, off, r);
		}
	}
	/* the ESN high half, in the AAD only */
	memcpy(buf, b.esp, b.esp_len);
	r = esp_open(&a, v->seq ^ (1ull << 32), v->esn, buf, b.esp_len);
	cr_assert_eq(r, v->esn ? -EBADMSG : 0);
	/* the context is still good after failures */
	memcpy(buf, b.esp, b.esp_len);
	cr_assert_eq(esp_open(&a, v->seq, v->esn, buf, b.esp_len), 0);
	crypto_aead_free(&a);
}

/* the config and the control commands know the name and the key length */
Test(rfc7634, names_and_keys)
{
	uint8_t k[36] = { 0 };
	struct esp_aead a;

	cr_assert_str_eq(config_cipher_name(CIPHER_CHACHA20_POLY1305),
			 "chacha20-poly1305");
	cr_assert_eq(config_cipher_key_len(CIPHER_CHACHA20_POLY1305), 36);
	cr_assert_eq(params_key_len(CIPHER_CHACHA20_POLY1305), 36);
	/* 32-byte key + 4-byte salt, nothing else */
	cr_assert_eq(crypto_aead_init_backend(&a, CRYPTO_OPENSSL,
					      CIPHER_CHACHA20_POLY1305, k, 32,
					      1),
		     -EINVAL);
	cr_assert_eq(crypto_aead_init_backend(&a, CRYPTO_OPENSSL,
					      CIPHER_CHACHA20_POLY1305, k, 20,
					      1),
		     -EINVAL);
	cr_assert_eq(crypto_aead_init_backend(&a, CRYPTO_OPENSSL,
					      (enum cfg_cipher)3, k, 36, 1),
		     -EINVAL);
}
