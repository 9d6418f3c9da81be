// SPDX-License-Identifier: GPL-2.0
/*
 * crypto_ipsecmb: the CRYPTO_IPSECMB backend of crypto.h over intel-ipsec-mb
 * (1.3+), compiled only with HAVE_IPSECMB (the Makefile defines it where
 * /usr/include/intel-ipsec-mb.h exists; crypto.c has the stubs otherwise).
 *
 * One IMB_MGR for the process, allocated and set up for the best the CPU
 * has (init_mb_mgr_auto: SSE, AVX, AVX2, AVX-512, with VAES/VPCLMULQDQ where
 * present) the first time it is needed, read-only afterwards. The direct GCM
 * API keeps all its state in the caller's gcm_key_data and gcm_context_data
 * and never writes the manager, which is only its table of functions for
 * this CPU: every thread can use the one manager, with no per-thread set-up.
 *
 * That was the plan; but intel-ipsec-mb 1.3 (Debian 12's) begins every GCM
 * call by storing 0 to a library-global error word (intel-ipsec-mb#112,
 * fixed in 1.4): eight threads sharing it ran at ~3x one thread, eight
 * processes at 7.5x. So each packet thread takes a private copy of the
 * library (crypto_imb_thread_init: dlmopen into a new link namespace, its
 * own manager, its own error word); the shared manager stays for key
 * expansion and for threads that got no copy. The contexts are plain data
 * (struct gcm_key_data) that every copy of the same file reads alike.
 * glibc has room for about ten copies (its static TLS surplus), 15 with
 * GLIBC_TUNABLES=glibc.rtld.optional_static_tls=8192 (the systemd unit
 * sets it; 15 is its limit of link namespaces).
 *
 * Per context: struct gcm_key_data (AES round keys and GHASH key powers,
 * about 1 KiB, 64-byte aligned, so allocated apart from struct esp_aead,
 * whose arrays the workers calloc; in lib/secret.h memory: locked, out of
 * core dumps), expanded once by IMB_AES*_GCM_PRE and wiped when freed.
 * Per packet: one IMB_AES*_GCM_ENC/DEC call with the 12-byte nonce
 * salt || IV, the AAD and a 16-byte tag, in place; decryption then
 * compares the tag with CRYPTO_memcmp.
 *
 * ChaCha20-Poly1305 (RFC 7634): the "key data" is the raw 32-byte key.
 * A thread with its private copy of the library uses the job API
 * (IMB_CIPHER_CHACHA20_POLY1305 submitted and, should it queue, flushed at
 * once): its manager's job ring is mutable state, and that copy is the
 * thread's alone. Elsewhere (the shared manager: key set-up, self-test,
 * threads without a copy) the direct API (IMB_CHACHA20_POLY1305_INIT /
 * UPDATE / FINALIZE), whose state is on the stack. The job API was 1.5 to
 * 3 times faster here for 64 to 1400 bytes.
 */
#ifdef HAVE_IPSECMB

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>

#include "proto/crypto.h"
#include "lib/log.h"
#include "lib/secret.h"

struct crypto_imb {
	union {
		struct gcm_key_data key; /* aligned(64) by the header */
		uint8_t chacha_key[32];  /* ChaCha20-Poly1305: the raw key */
	};
};

static IMB_ARCH mgr_arch;

/*
 * The lib/secret.h memory a context's key data takes: the whole
 * gcm_key_data for AES-GCM, ChaCha20-Poly1305's 32-byte key alone (a
 * 64-byte slot). In 1 KiB slots, every ChaCha key would begin a 1 KiB-
 * aligned block, and a burst's keys would all fall in 4 of the L1 cache's
 * 64 sets, evicting each other between the prefetch pass and the crypto
 * pass (bench_spread, 10,000 tunnels: the RX crypto pass 9 to 11 ns per
 * packet slower than with one, against 2 with the keys in 64-byte slots;
 * RX 0.94-0.95 of one tunnel's rate against 0.97-0.98).
 */
static size_t imb_size(int cipher)
{
	return cipher == CIPHER_CHACHA20_POLY1305 ?
		       sizeof(((struct crypto_imb *)0)->chacha_key) :
		       sizeof(struct crypto_imb);
}

/*
 * The AVX-512 code keeps the round keys first and the hash keys last,
 * H^48 down to H^1 (measured: prefetching the round keys and the last
 * 256 bytes beats the whole 1 KB for 64-byte packets): a message of n
 * blocks, the AAD's included, reads H^n .. H^1. len: the plaintext's or
 * ciphertext's length, without ESP's header, IV and ICV. Other code paths
 * lay the keys out otherwise: all of it. A wrong guess costs speed, never
 * a fault.
 */
void crypto_imb_prefetch(const struct esp_aead *a, size_t len)
{
	const uint8_t *k = (const uint8_t *)&a->imb->key;
	size_t end = sizeof(a->imb->key), hk;

	if (a->cipher == CIPHER_CHACHA20_POLY1305) {
		crypto_prefetch_range(k, sizeof(a->imb->chacha_key), 0);
		return;
	}
	if (mgr_arch != IMB_ARCH_AVX512 || !len) {
		crypto_prefetch_range(k, end, 0);
		return;
	}
	hk = 16 * ((len + 15) / 16 + 1);
	if (hk > end - 16 * 15)
		hk = end - 16 * 15;
	/* AES-128 has 11 round keys, AES-256 15 */
	crypto_prefetch_range(k, 16 * (a->cipher == CIPHER_AES_GCM_128 ? 11
								       : 15), 0);
	crypto_prefetch_range(k + end - hk, hk, 0);
}

static IMB_MGR *mgr;
static int mgr_err;
static pthread_once_t mgr_once = PTHREAD_ONCE_INIT;

/* this thread's private copy of the library, if it has one */
static __thread IMB_MGR *tmgr;
static __thread void *tdl;
static __thread void (*tfree)(IMB_MGR *);

static inline IMB_MGR *cur_mgr(void)
{
	return tmgr ? tmgr : mgr;
}

static void mgr_setup(void)
{
	const uint64_t need = IMB_FEATURE_AESNI | IMB_FEATURE_PCLMULQDQ;
	IMB_ARCH arch = IMB_ARCH_NONE;
	IMB_MGR *m;

	/* the macros below read IMB_MGR fields: no older library than ours */
	if (imb_get_version() < IMB_VERSION_NUM) {
		mgr_err = -ENOTSUP;
		return;
	}
	m = alloc_mb_mgr(0);
	if (!m) {
		mgr_err = -ENOMEM;
		return;
	}
	init_mb_mgr_auto(m, &arch);
	/* IMB_ARCH_NOAESNI is a software emulation: not worth having */
	if (imb_get_errno(m) || arch < IMB_ARCH_SSE ||
	    (m->features & need) != need) {
		free_mb_mgr(m);
		mgr_err = -ENOTSUP;
		return;
	}
	mgr = m;
	mgr_arch = arch;
}

int crypto_imb_thread_init(void)
{
	IMB_MGR *(*alloc)(uint64_t);
	void (*init)(IMB_MGR *, IMB_ARCH *);
	int (*get_errno)(IMB_MGR *);
	IMB_ARCH arch = IMB_ARCH_NONE;
	Dl_info info;
	IMB_MGR *m;
	void *h;
	int err = crypto_imb_available();

	if (err)
		return err;
	if (tmgr)
		return 0;
	if (!dladdr((void *)alloc_mb_mgr, &info) || !info.dli_fname)
		return -ENOENT;
	h = dlmopen(LM_ID_NEWLM, info.dli_fname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		log_warn("crypto: ipsec-mb: no private copy for this thread "
			 "(%s): it shares the library's state", dlerror());
		return -ENOMEM;
	}
	alloc = (IMB_MGR * (*)(uint64_t))dlsym(h, "alloc_mb_mgr");
	init = (void (*)(IMB_MGR *, IMB_ARCH *))dlsym(h, "init_mb_mgr_auto");
	get_errno = (int (*)(IMB_MGR *))dlsym(h, "imb_get_errno");
	tfree = (void (*)(IMB_MGR *))dlsym(h, "free_mb_mgr");
	m = alloc && init && get_errno && tfree ? alloc(0) : NULL;
	if (m)
		init(m, &arch);
	/* the same file on the same CPU picks the same code: the key data
	 * the shared manager expanded fits it; refuse anything else */
	if (!m || get_errno(m) || arch != mgr_arch) {
		if (m)
			tfree(m);
		dlclose(h);
		tfree = NULL;
		return -ENOTSUP;
	}
	tmgr = m;
	tdl = h;
	return 0;
}

void crypto_imb_thread_exit(void)
{
	if (!tmgr)
		return;
	tfree(tmgr);
	dlclose(tdl);
	tmgr = NULL;
	tdl = NULL;
	tfree = NULL;
}

int crypto_imb_available(void)
{
	pthread_once(&mgr_once, mgr_setup);
	return mgr_err;
}

int crypto_imb_init(struct esp_aead *a, enum cfg_cipher cipher,
		    const uint8_t *key, size_t klen)
{
	DECLARE_ALIGNED(uint8_t k[32], 16);
	void *p;
	int err = crypto_imb_available();

	if (err)
		return err;
	if (klen != 16 && klen != 32)
		return -EINVAL;
	/* the key schedule, in locked memory out of core dumps; slots are
	 * aligned to their size (64 at least) */
	p = secret_alloc(imb_size(cipher));
	if (!p)
		return -ENOMEM;
	a->imb = p;
	if (cipher == CIPHER_CHACHA20_POLY1305) {
		/* no schedule to expand: the direct API takes the key */
		if (klen != sizeof(a->imb->chacha_key))
			return -EINVAL;
		memcpy(a->imb->chacha_key, key, klen);
		return 0;
	}
	memcpy(k, key, klen);
	if (klen == 16)
		IMB_AES128_GCM_PRE(mgr, k, &a->imb->key);
	else
		IMB_AES256_GCM_PRE(mgr, k, &a->imb->key);
	OPENSSL_cleanse(k, sizeof(k));
	return 0;
}

void crypto_imb_free(struct esp_aead *a)
{
	if (!a->imb)
		return;
	secret_free(a->imb, imb_size(a->cipher)); /* wipes it */
	a->imb = NULL;
}

/*
 * ChaCha20-Poly1305 through this thread's own manager's job API: encrypt
 * (tag out) or decrypt (the computed tag out, for the caller to compare).
 * 0, or -EIO when the library says the job failed.
 */
static int chacha_job(IMB_MGR *m, const struct esp_aead *a,
		      const uint8_t n[12], const uint8_t *aad, int aad_len,
		      uint8_t *buf, int len, uint8_t *tag, int encrypt)
{
	IMB_JOB *j = IMB_GET_NEXT_JOB(m);

	j->cipher_direction = encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
	j->chain_order = encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
	j->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
	j->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
	j->enc_keys = a->imb->chacha_key;
	j->dec_keys = a->imb->chacha_key;
	j->key_len_in_bytes = 32;
	j->src = buf;
	j->dst = buf;
	j->cipher_start_src_offset_in_bytes = 0;
	j->msg_len_to_cipher_in_bytes = (uint64_t)len;
	j->hash_start_src_offset_in_bytes = 0;
	j->msg_len_to_hash_in_bytes = (uint64_t)len;
	j->iv = n;
	j->iv_len_in_bytes = 12;
	j->u.CHACHA20_POLY1305.aad = aad;
	j->u.CHACHA20_POLY1305.aad_len_in_bytes = (uint64_t)aad_len;
	j->auth_tag_output = tag;
	j->auth_tag_output_len_in_bytes = ESP_GCM_ICV_LEN;
	j = IMB_SUBMIT_JOB(m);
	if (!j)
		j = IMB_FLUSH_JOB(m); /* one job at a time: it is this one */
	return j && j->status == IMB_STATUS_COMPLETED ? 0 : -EIO;
}

static inline void nonce(uint8_t n[IMB_GCM_IV_DATA_LEN],
			 const struct esp_aead *a,
			 const uint8_t iv[ESP_GCM_IV_LEN])
{
	memcpy(n, a->salt, ESP_GCM_SALT_LEN);
	memcpy(n + ESP_GCM_SALT_LEN, iv, ESP_GCM_IV_LEN);
}

int crypto_imb_seal(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		    const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		    uint8_t *tag)
{
	IMB_MGR *m = cur_mgr();
	struct gcm_context_data ctx;
	uint8_t n[IMB_GCM_IV_DATA_LEN];

	if (__builtin_expect(len < 0 || aad_len < 0, 0))
		return -EIO;
	nonce(n, a, iv);
	if (a->cipher == CIPHER_CHACHA20_POLY1305 && tmgr) {
		return chacha_job(tmgr, a, n, aad, aad_len, buf, len, tag, 1);
	} else if (a->cipher == CIPHER_CHACHA20_POLY1305) {
		struct chacha20_poly1305_context_data cc;

		IMB_CHACHA20_POLY1305_INIT(m, a->imb->chacha_key, &cc, n, aad,
					   aad_len);
		IMB_CHACHA20_POLY1305_ENC_UPDATE(m, a->imb->chacha_key, &cc,
						 buf, buf, len);
		IMB_CHACHA20_POLY1305_ENC_FINALIZE(m, &cc, tag,
						   ESP_GCM_ICV_LEN);
		OPENSSL_cleanse(&cc, sizeof(cc)); /* holds keystream */
	} else if (a->cipher == CIPHER_AES_GCM_256)
		IMB_AES256_GCM_ENC(m, &a->imb->key, &ctx, buf, buf, len, n,
				   aad, aad_len, tag, ESP_GCM_ICV_LEN);
	else
		IMB_AES128_GCM_ENC(m, &a->imb->key, &ctx, buf, buf, len, n,
				   aad, aad_len, tag, ESP_GCM_ICV_LEN);
	return 0;
}

int crypto_imb_open(struct esp_aead *a, const uint8_t iv[ESP_GCM_IV_LEN],
		    const uint8_t *aad, int aad_len, uint8_t *buf, int len,
		    const uint8_t *tag)
{
	IMB_MGR *m = cur_mgr();
	struct gcm_context_data ctx;
	uint8_t n[IMB_GCM_IV_DATA_LEN], calc[ESP_GCM_ICV_LEN];
	int i;

	if (__builtin_expect(len < 0 || aad_len < 0, 0))
		return -EIO;
	/* should the library ever return without writing calc: no match */
	for (i = 0; i < ESP_GCM_ICV_LEN; i++)
		calc[i] = (uint8_t)~tag[i];
	nonce(n, a, iv);
	if (a->cipher == CIPHER_CHACHA20_POLY1305 && tmgr) {
		if (chacha_job(tmgr, a, n, aad, aad_len, buf, len, calc, 0))
			return -EIO;
	} else if (a->cipher == CIPHER_CHACHA20_POLY1305) {
		struct chacha20_poly1305_context_data cc;

		IMB_CHACHA20_POLY1305_INIT(m, a->imb->chacha_key, &cc, n, aad,
					   aad_len);
		IMB_CHACHA20_POLY1305_DEC_UPDATE(m, a->imb->chacha_key, &cc,
						 buf, buf, len);
		IMB_CHACHA20_POLY1305_DEC_FINALIZE(m, &cc, calc,
						   ESP_GCM_ICV_LEN);
		OPENSSL_cleanse(&cc, sizeof(cc));
	} else if (a->cipher == CIPHER_AES_GCM_256)
		IMB_AES256_GCM_DEC(m, &a->imb->key, &ctx, buf, buf, len, n,
				   aad, aad_len, calc, ESP_GCM_ICV_LEN);
	else
		IMB_AES128_GCM_DEC(m, &a->imb->key, &ctx, buf, buf, len, n,
				   aad, aad_len, calc, ESP_GCM_ICV_LEN);
	if (CRYPTO_memcmp(calc, tag, ESP_GCM_ICV_LEN))
		return -EBADMSG;
	return 0;
}

#endif /* HAVE_IPSECMB */
