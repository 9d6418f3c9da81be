// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the crypto backends of user/proto/crypto.h (OpenSSL EVP and
 * intel-ipsec-mb), through esp_seal/esp_open as the workers use them:
 *   - the RFC 4106 known answers (tests/unit/vectors_rfc4106.h) with each
 *     backend chosen the way espressod does, crypto_set_backend() at start;
 *   - random round trips across backends: sealed by one, opened by the
 *     other, byte-identical ESP from both, every length 0..1500 step 7,
 *     AES-GCM-128 and -256 and ChaCha20-Poly1305, ESN on and off, buffers
 *     at odd addresses (the RFC 7634 vectors: test_chacha.c);
 *   - tampered tag, ciphertext or AAD -> -EBADMSG from both, the context
 *     still usable afterwards;
 *   - backend selection, names, bad keys, free, threads sharing contexts.
 * The ipsec-mb half is skipped when espresso is built without it or the
 * CPU cannot run it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "config/config.h"
#include "proto/crypto.h"
#include "proto/esp.h"
#include "vectors_rfc4106.h"
#include "vectors_util.h"

/* ---- helpers ---------------------------------------------------------- */

static const enum crypto_backend backends[] = { CRYPTO_OPENSSL,
						CRYPTO_IPSECMB };
#define NBACKENDS 2

static void need(enum crypto_backend b)
{
	int r = crypto_backend_available(b);

	if (r == -ENOTSUP)
		cr_skip_test("backend %s not available here (%s)",
			     crypto_backend_name(b),
#ifdef HAVE_IPSECMB
			     "CPU"
#else
			     "built without intel-ipsec-mb"
#endif
		);
	cr_assert_eq(r, 0, "backend %s: %d", crypto_backend_name(b), r);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* xorshift64*: reproducible "random" bytes */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

static void rnd_fill(uint8_t *p, size_t n)
{
	while (n--)
		*p++ = (uint8_t)(rnd() >> 56);
}


/* ---- RFC 4106 vectors through each backend ---------------------------- */

/* parameters carry no pointers (criterion may exec each test afresh) */
struct vparam {
	int vec;
	int backend;
};

static struct vparam vparams[RFC4106_NVECTORS * NBACKENDS];

static struct criterion_test_params make_vparams(void)
{
	int i, b;

	for (b = 0; b < NBACKENDS; b++)
		for (i = 0; i < (int)RFC4106_NVECTORS; i++)
			vparams[b * RFC4106_NVECTORS + i] =
				(struct vparam){ i, (int)backends[b] };
	return cr_make_param_array(struct vparam, vparams,
				   RFC4106_NVECTORS * NBACKENDS);
}

/* The start-up path: crypto_set_backend, then plain crypto_aead_init. */
static void key_with(struct esp_aead *a, enum crypto_backend b,
		     enum cfg_cipher c, const uint8_t *key, size_t klen,
		     int encrypt)
{
	need(b);
	cr_assert_eq(crypto_set_backend(b), 0, "crypto_set_backend(%s)",
		     crypto_backend_name(b));
	cr_assert_eq(crypto_get_backend(), b);
	cr_assert_eq(crypto_aead_init(a, c, key, klen, encrypt), 0);
	cr_assert_eq(a->backend, b);
	cr_assert_not_null(a->ctx);
}

ParameterizedTestParameters(rfc4106_backend, seal)
{
	return make_vparams();
}

ParameterizedTest(struct vparam *p, rfc4106_backend, seal)
{
	const struct rfc4106_vector *v = &rfc4106_vectors[p->vec];
	struct vbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	int n, round;

	vec_load(v, &b);
	key_with(&a, p->backend, v->cipher, b.key, b.key_len, 1);
	for (round = 0; round < 2; round++) {
		memset(buf, 0xee, sizeof(buf));
		memcpy(buf + 16, b.pt, b.pt_len);
		n = esp_seal(&a, v->spi, v->seq, v->esn, b.iv, buf, b.pt_len);
		cr_assert_eq(n, (int)b.esp_len, "%s/%s: esp_seal returned %d",
			     v->name, crypto_backend_name(p->backend), n);
		cr_assert_arr_eq(buf, b.esp, b.esp_len,
				 "%s/%s: ESP differs from the draft (round %d)",
				 v->name, crypto_backend_name(p->backend),
				 round);
		cr_assert_eq(buf[b.esp_len], 0xee, "wrote past the ICV");
	}
	crypto_aead_free(&a);
	cr_assert_null(a.ctx);
}

ParameterizedTestParameters(rfc4106_backend, open)
{
	return make_vparams();
}

ParameterizedTest(struct vparam *p, rfc4106_backend, open)
{
	const struct rfc4106_vector *v = &rfc4106_vectors[p->vec];
	struct vbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	int round, r;

	vec_load(v, &b);
	key_with(&a, p->backend, v->cipher, b.key, b.key_len, 0);
	for (round = 0; round < 2; round++) {
		memset(buf, 0xee, sizeof(buf));
		memcpy(buf, b.esp, b.esp_len);
		r = esp_open(&a, v->seq, v->esn, buf, b.esp_len);
		cr_assert_eq(r, 0, "%s/%s: esp_open returned %d", v->name,
			     crypto_backend_name(p->backend), r);
		cr_assert_arr_eq(buf + 16, b.pt, b.pt_len,
				 "%s/%s: plaintext differs", v->name,
				 crypto_backend_name(p->backend));
		cr_assert_arr_eq(buf, b.esp, 16);
		cr_assert_arr_eq(buf + b.esp_len - 16, b.esp + b.esp_len - 16,
				 16);
		cr_assert_eq(buf[b.esp_len], 0xee);
	}
	crypto_aead_free(&a);
}

ParameterizedTestParameters(rfc4106_backend, tamper)
{
	return make_vparams();
}

/* every bit of the ICV, the first and last ciphertext bytes, SPI, seq, IV */
ParameterizedTest(struct vparam *p, rfc4106_backend, tamper)
{
	const struct rfc4106_vector *v = &rfc4106_vectors[p->vec];
	struct vbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	size_t off;
	int bit, r;

	vec_load(v, &b);
	key_with(&a, p->backend, v->cipher, b.key, b.key_len, 0);
	for (off = 0; off < b.esp_len; off++) {
		if (off >= 17 && off + 17 < b.esp_len)
			off = b.esp_len - 17; /* skip the middle */
		for (bit = 0; bit < 8; bit++) {
			uint64_t seq;

			memcpy(buf, b.esp, b.esp_len);
			buf[off] ^= (uint8_t)(1u << bit);
			seq = (v->seq & ~0xffffffffull) | get32(buf + 4);
			r = esp_open(&a, seq, v->esn, buf, b.esp_len);
			cr_assert_eq(r, -EBADMSG,
				     "%s/%s: bit %d of byte %zu: got %d",
				     v->name, crypto_backend_name(p->backend),
				     bit, off, r);
		}
	}
	/* the ESN high half, only in the AAD */
	memcpy(buf, b.esp, b.esp_len);
	r = esp_open(&a, v->seq ^ (1ull << 32), v->esn, buf, b.esp_len);
	cr_assert_eq(r, v->esn ? -EBADMSG : 0);
	/* a failure leaves the context usable */
	memcpy(buf, b.esp, b.esp_len);
	cr_assert_eq(esp_open(&a, v->seq, v->esn, buf, b.esp_len), 0);
	cr_assert_arr_eq(buf + 16, b.pt, b.pt_len);
	crypto_aead_free(&a);
}

/* ---- random round trips across backends ------------------------------- */

#define MAXPT 1500

/*
 * For each length 0..1500 step 7 (below ESP's least payload, so at the
 * crypto_aead level): random key, IV, AAD (8 or 12 bytes, as ESP's) and
 * payload; seal with both backends (byte-identical ciphertext and tag), open
 * each with both, and fail each with a flipped tag bit.
 * off: where the payload starts in the buffer, to try odd addresses.
 */
static void cross(enum cfg_cipher c, int aad_len, size_t off)
{
	static uint8_t bufs[NBACKENDS][MAXPT + 64], work[MAXPT + 64];
	struct esp_aead enc[NBACKENDS], dec[NBACKENDS];
	uint8_t key[36], iv[ESP_GCM_IV_LEN], aad[12], pt[MAXPT],
		tags[NBACKENDS][ESP_GCM_ICV_LEN], tag[ESP_GCM_ICV_LEN];
	const char *name = config_cipher_name(c);
	int s, o, r, len;
	size_t klen = cipher_key_len(c);

	need(CRYPTO_IPSECMB);
	for (len = 0; len <= MAXPT; len += 7) {
		rnd_fill(key, klen);
		rnd_fill(iv, sizeof(iv));
		rnd_fill(aad, sizeof(aad));
		rnd_fill(pt, len);
		for (s = 0; s < NBACKENDS; s++) {
			cr_assert_eq(crypto_aead_init_backend(&enc[s],
							      backends[s], c,
							      key, klen, 1),
				     0);
			cr_assert_eq(crypto_aead_init_backend(&dec[s],
							      backends[s], c,
							      key, klen, 0),
				     0);
			memset(bufs[s], 0xcc, sizeof(bufs[s]));
			memcpy(bufs[s] + off, pt, len);
			cr_assert_eq(crypto_aead_seal(&enc[s], iv, aad, aad_len,
						      bufs[s] + off, len,
						      tags[s]),
				     0);
			cr_assert_eq(bufs[s][off + len], 0xcc);
		}
		cr_assert_arr_eq(bufs[1], bufs[0], sizeof(bufs[0]),
				 "%s len %d aad %d: ipsec-mb's ciphertext "
				 "differs from openssl's",
				 name, len, aad_len);
		cr_assert_arr_eq(tags[1], tags[0], ESP_GCM_ICV_LEN,
				 "%s len %d aad %d: ipsec-mb's tag differs "
				 "from openssl's",
				 name, len, aad_len);
		if (len >= 16)
			cr_assert(memcmp(bufs[0] + off, pt, len),
				  "not encrypted");
		for (s = 0; s < NBACKENDS; s++)
			for (o = 0; o < NBACKENDS; o++) {
				memcpy(work, bufs[s], sizeof(work));
				r = crypto_aead_open(&dec[o], iv, aad, aad_len,
						     work + off, len, tags[s]);
				cr_assert_eq(r, 0,
					     "%s len %d: sealed by %s, "
					     "opened by %s: %d",
					     name, len,
					     crypto_backend_name(backends[s]),
					     crypto_backend_name(backends[o]),
					     r);
				cr_assert_arr_eq(work + off, pt, len);
				cr_assert_eq(work[off + len], 0xcc);
				memcpy(work, bufs[s], sizeof(work));
				memcpy(tag, tags[s], sizeof(tag));
				tag[len % 16] ^= (uint8_t)(1u << (len % 8));
				cr_assert_eq(crypto_aead_open(&dec[o], iv, aad,
							      aad_len,
							      work + off, len,
							      tag),
					     -EBADMSG);
			}
		for (s = 0; s < NBACKENDS; s++) {
			crypto_aead_free(&enc[s]);
			crypto_aead_free(&dec[s]);
		}
	}
}

Test(crypto_cross, aes128)
{
	cross(CIPHER_AES_GCM_128, 8, 0);
	cross(CIPHER_AES_GCM_128, 12, 3);
}

Test(crypto_cross, aes256)
{
	cross(CIPHER_AES_GCM_256, 12, 0);
	cross(CIPHER_AES_GCM_256, 8, 1);
}

Test(crypto_cross, chacha20_poly1305)
{
	cross(CIPHER_CHACHA20_POLY1305, 12, 0);
	cross(CIPHER_CHACHA20_POLY1305, 8, 5);
}

/* and whole ESP packets, esp_seal by one backend, esp_open by the other */
Test(crypto_cross, esp_packets)
{
	static uint8_t buf[16 + MAXPT + 16 + 8];
	struct esp_aead e[NBACKENDS], d[NBACKENDS];
	uint8_t key[36], iv[8], pt[MAXPT];
	enum cfg_cipher c;
	int s, n;
	size_t len;

	need(CRYPTO_IPSECMB);
	for (c = CIPHER_AES_GCM_128; c <= CIPHER_MAX; c++)
		for (len = 2; len <= MAXPT; len += 7) {
			uint64_t seq = rnd();
			bool esn = len & 1;

			rnd_fill(key, cipher_key_len(c));
			rnd_fill(iv, 8);
			rnd_fill(pt, len);
			for (s = 0; s < NBACKENDS; s++) {
				cr_assert_eq(crypto_aead_init_backend(
						     &e[s], backends[s], c, key,
						     cipher_key_len(c), 1),
					     0);
				cr_assert_eq(crypto_aead_init_backend(
						     &d[s], backends[s], c, key,
						     cipher_key_len(c), 0),
					     0);
			}
			for (s = 0; s < NBACKENDS; s++) {
				memcpy(buf + 16, pt, len);
				n = esp_seal(&e[s], 0x4242, seq, esn, iv, buf,
					     len);
				cr_assert_eq(n, (int)len + 32);
				cr_assert_eq(esp_open(&d[!s], seq, esn, buf,
						      (size_t)n),
					     0, "len %zu sealed by %s", len,
					     crypto_backend_name(backends[s]));
				cr_assert_arr_eq(buf + 16, pt, len);
				buf[n - 1] ^= 4;
				cr_assert_eq(esp_open(&d[!s], seq, esn, buf,
						      (size_t)n),
					     -EBADMSG);
			}
			for (s = 0; s < NBACKENDS; s++) {
				crypto_aead_free(&e[s]);
				crypto_aead_free(&d[s]);
			}
		}
}

/* ---- tampering, both backends ----------------------------------------- */

ParameterizedTestParameters(crypto_tamper, every_tag_bit)
{
	static int b[] = { CRYPTO_OPENSSL, CRYPTO_IPSECMB };

	return cr_make_param_array(int, b, 2);
}

ParameterizedTest(int *bk, crypto_tamper, every_tag_bit)
{
	enum crypto_backend b = (enum crypto_backend)*bk;
	enum cfg_cipher c;

	need(b);
	for (c = CIPHER_AES_GCM_128; c <= CIPHER_MAX; c++) {
		uint8_t key[36], iv[8], aad[12], buf[300], ct[300], tag[16],
			t2[16];
		struct esp_aead e, d;
		int i, len = 100 + c;

		rnd_fill(key, sizeof(key));
		rnd_fill(iv, sizeof(iv));
		rnd_fill(aad, sizeof(aad));
		rnd_fill(buf, sizeof(buf));
		cr_assert_eq(crypto_aead_init_backend(&e, b, c, key,
						      cipher_key_len(c), 1),
			     0);
		cr_assert_eq(crypto_aead_init_backend(&d, b, c, key,
						      cipher_key_len(c), 0),
			     0);
		cr_assert_eq(crypto_aead_seal(&e, iv, aad, 12, buf, len, tag),
			     0);
		memcpy(ct, buf, len);
		for (i = 0; i < 128; i++) {
			memcpy(t2, tag, 16);
			t2[i / 8] ^= (uint8_t)(1u << (i % 8));
			memcpy(buf, ct, len);
			cr_assert_eq(crypto_aead_open(&d, iv, aad, 12, buf, len,
						      t2),
				     -EBADMSG, "%s: tag bit %d",
				     crypto_backend_name(b), i);
		}
		/* AAD, IV, length */
		memcpy(buf, ct, len);
		aad[11] ^= 1;
		cr_assert_eq(crypto_aead_open(&d, iv, aad, 12, buf, len, tag),
			     -EBADMSG);
		aad[11] ^= 1;
		memcpy(buf, ct, len);
		cr_assert_eq(crypto_aead_open(&d, iv, aad, 8, buf, len, tag),
			     -EBADMSG, "AAD cut to 8 bytes");
		memcpy(buf, ct, len);
		iv[0] ^= 0x80;
		cr_assert_eq(crypto_aead_open(&d, iv, aad, 12, buf, len, tag),
			     -EBADMSG);
		iv[0] ^= 0x80;
		memcpy(buf, ct, len);
		cr_assert_eq(crypto_aead_open(&d, iv, aad, 12, buf, len - 1,
					      tag),
			     -EBADMSG);
		/* all-zero tag */
		memset(t2, 0, 16);
		memcpy(buf, ct, len);
		cr_assert_eq(crypto_aead_open(&d, iv, aad, 12, buf, len, t2),
			     -EBADMSG);
		/* still good */
		memcpy(buf, ct, len);
		cr_assert_eq(crypto_aead_open(&d, iv, aad, 12, buf, len, tag),
			     0);
		crypto_aead_free(&e);
		crypto_aead_free(&d);
	}
}

/* ---- selection, names, keys ------------------------------------------- */

Test(crypto_backend, names)
{
	enum crypto_backend b = CRYPTO_IPSECMB;

	cr_assert_str_eq(crypto_backend_name(CRYPTO_OPENSSL), "openssl");
	cr_assert_str_eq(crypto_backend_name(CRYPTO_IPSECMB), "ipsec-mb");
	cr_assert_eq(crypto_backend_parse("openssl", &b), 0);
	cr_assert_eq(b, CRYPTO_OPENSSL);
	cr_assert_eq(crypto_backend_parse("ipsec-mb", &b), 0);
	cr_assert_eq(b, CRYPTO_IPSECMB);
	cr_assert_eq(crypto_backend_parse("ipsecmb", &b), -EINVAL);
	cr_assert_eq(crypto_backend_parse("", &b), -EINVAL);
	cr_assert_eq(b, CRYPTO_IPSECMB, "unchanged on error");
}

Test(crypto_backend, set_and_get)
{
	struct esp_aead a;
	uint8_t key[20] = { 1 };
	int r;

	cr_assert_eq(crypto_get_backend(), CRYPTO_OPENSSL, "the default");
	cr_assert_eq(crypto_set_backend((enum crypto_backend)5), -EINVAL);
	cr_assert_eq(crypto_get_backend(), CRYPTO_OPENSSL);
	r = crypto_set_backend(CRYPTO_IPSECMB);
#ifdef HAVE_IPSECMB
	cr_assert(r == 0 || r == -ENOTSUP, "%d", r);
#else
	cr_assert_eq(r, -ENOTSUP, "not built in: %d", r);
#endif
	cr_assert_eq(r, crypto_backend_available(CRYPTO_IPSECMB));
	cr_assert_eq(crypto_get_backend(),
		     r ? CRYPTO_OPENSSL : CRYPTO_IPSECMB);
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_128, key, 20, 1), 0);
	cr_assert_eq(a.backend, crypto_get_backend());
	crypto_aead_free(&a);
	if (r) {
		/* not available: keying with it explicitly fails cleanly */
		cr_assert_eq(crypto_aead_init_backend(&a, CRYPTO_IPSECMB,
						      CIPHER_AES_GCM_128, key,
						      20, 1),
			     -ENOTSUP);
		cr_assert_null(a.ctx);
		crypto_aead_free(&a);
	}
	cr_assert_eq(crypto_set_backend(CRYPTO_OPENSSL), 0);
	cr_assert_eq(crypto_get_backend(), CRYPTO_OPENSSL);
	cr_assert_eq(crypto_aead_init_backend(&a, (enum crypto_backend)9,
					      CIPHER_AES_GCM_128, key, 20, 1),
		     -EINVAL);
	cr_assert_null(a.ctx);
}

ParameterizedTestParameters(crypto_backend, init_rejects_bad_keys)
{
	static int b[] = { CRYPTO_OPENSSL, CRYPTO_IPSECMB };

	return cr_make_param_array(int, b, 2);
}

ParameterizedTest(int *bk, crypto_backend, init_rejects_bad_keys)
{
	enum crypto_backend b = (enum crypto_backend)*bk;
	struct esp_aead a;
	uint8_t key[64];
	int i;

	need(b);
	for (i = 0; i < 64; i++)
		key[i] = (uint8_t)(0x40 + i);
	cr_assert_eq(crypto_aead_init_backend(&a, b, CIPHER_AES_GCM_128, key,
					      16, 1),
		     -EINVAL);
	cr_assert_null(a.ctx);
	cr_assert_eq(crypto_aead_init_backend(&a, b, CIPHER_AES_GCM_128, key,
					      36, 1),
		     -EINVAL);
	cr_assert_eq(crypto_aead_init_backend(&a, b, CIPHER_AES_GCM_256, key,
					      20, 1),
		     -EINVAL);
	cr_assert_eq(crypto_aead_init_backend(&a, b, (enum cfg_cipher)7, key,
					      20, 1),
		     -EINVAL);
	/* an odd key address is fine */
	cr_assert_eq(crypto_aead_init_backend(&a, b, CIPHER_AES_GCM_256,
					      key + 1, 36, 0),
		     0);
	cr_assert_not_null(a.ctx);
	cr_assert_eq(a.backend, b);
	cr_assert_eq(a.encrypt, 0);
	cr_assert_arr_eq(a.salt, key + 1 + 32, 4);
	crypto_aead_free(&a);
	cr_assert_null(a.ctx);
	crypto_aead_free(&a); /* twice: safe */
}

/* ---- contexts keyed in one thread, used by others (as the workers), with
 * private copies of the library (crypto_thread_init) and without ---------- */

struct thr {
	struct esp_aead *enc, *dec, *ref; /* ref: OpenSSL, the same key */
	int id, fails, init;              /* init: crypto_thread_init() */
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	uint8_t buf[16 + 1500 + 16], rbuf[16 + 1500 + 16], pt[1500];
	uint8_t iv[8] = { 0 };
	int i, n;

	/* even threads take a private copy of the library, odd ones share */
	if (t->id % 2 == 0)
		t->init = crypto_thread_init();
	for (i = 0; i < 3000; i++) {
		size_t len = 2 + (size_t)(i * 13 + t->id) % 1498;

		memset(pt, (uint8_t)(i + t->id), len);
		memcpy(buf + 16, pt, len);
		iv[0] = (uint8_t)t->id;
		memcpy(iv + 4, &i, 4);
		n = esp_seal(t->enc, 0x100 + t->id, (uint64_t)i + 1, true, iv,
			     buf, len);
		memcpy(rbuf + 16, pt, len);
		if (esp_seal(t->ref, 0x100 + t->id, (uint64_t)i + 1, true, iv,
			     rbuf, len) != n ||
		    memcmp(buf, rbuf, (size_t)n))
			t->fails++; /* not what OpenSSL makes of it */
		if (n != (int)len + 32 ||
		    esp_open(t->dec, (uint64_t)i + 1, true, buf, (size_t)n) ||
		    memcmp(buf + 16, pt, len))
			t->fails++;
	}
	crypto_thread_exit();
	return NULL;
}

Test(crypto_threads, ipsecmb_contexts_in_four_threads)
{
	struct esp_aead enc[4], dec[4], ref[4];
	struct thr t[4];
	pthread_t th[4];
	uint8_t key[36];
	int i;

	need(CRYPTO_IPSECMB);
	cr_assert_eq(crypto_set_backend(CRYPTO_IPSECMB), 0);
	for (i = 0; i < 4; i++) {
		rnd_fill(key, sizeof(key));
		cr_assert_eq(crypto_aead_init(&enc[i], i & 1 ? CIPHER_AES_GCM_128
							     : CIPHER_AES_GCM_256,
					      key, i & 1 ? 20 : 36, 1),
			     0);
		cr_assert_eq(crypto_aead_init(&dec[i], i & 1 ? CIPHER_AES_GCM_128
							     : CIPHER_AES_GCM_256,
					      key, i & 1 ? 20 : 36, 0),
			     0);
		cr_assert_eq(crypto_aead_init_backend(&ref[i], CRYPTO_OPENSSL,
						      i & 1 ? CIPHER_AES_GCM_128
							    : CIPHER_AES_GCM_256,
						      key, i & 1 ? 20 : 36, 1),
			     0);
		t[i] = (struct thr){ &enc[i], &dec[i], &ref[i], i, 0, 0 };
	}
	for (i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(t[i].fails, 0, "thread %d: %d failures", i,
			     t[i].fails);
		cr_assert_eq(t[i].init, 0, "thread %d: no private copy", i);
		crypto_aead_free(&enc[i]);
		crypto_aead_free(&dec[i]);
		crypto_aead_free(&ref[i]);
	}
}
