// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of user/proto/esp.c and user/proto/crypto.c:
 *   - RFC 4106 known answers from draft-mcgrew-gcm-test-01
 *     (tests/unit/vectors_rfc4106.h): esp_seal, esp_open, tampering;
 *   - tunnel-mode round trips esp_encap4 -> esp_open -> esp_decap_inner for
 *     IPv4/IPv6 inner packets, raw ESP and UDP encapsulation (default and
 *     given ports), ESN on/off, AES-GCM-128/256, with the outer headers
 *     checked field by field;
 *   - every drop reason of esp_decap_inner, and the inner family and
 *     address pointers it reports (the route checks are the caller's);
 *   - one independent decryption of esp_encap4's output with Python's
 *     cryptography AESGCM.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "proto/crypto.h"
#include "proto/esp.h"
#include "proto/params.h"
#include "espresso/common.h"
#include "core/stats.h"
#include "vectors_rfc4106.h"
#include "vectors_util.h"
#include "refcsum.h"

/* ---- helpers ---------------------------------------------------------- */

static void tohex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Reference RFC 1071 checksum, computed on big-endian 16-bit words; returns
 * the value as it is stored in the header (network byte order).
 */
static uint16_t ref_ip_check(const uint8_t *hdr, size_t n)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += get16(hdr + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* ---- RFC 4106 vectors ------------------------------------------------- */

static void vec_load_checked(const struct rfc4106_vector *v, struct vbytes *b)
{
	vec_load(v, b);
	cr_assert_eq(get32(b->esp), v->spi, "%s: SPI in vector", v->name);
	cr_assert_eq(get32(b->esp + 4), (uint32_t)v->seq, "%s: seq in vector",
		     v->name);
	cr_assert_arr_eq(b->esp + 8, b->iv, 8, "%s: IV in vector", v->name);
}

/*
 * Criterion may run each test in a freshly exec'd process, so parameters
 * carry no pointers: they are indices into rfc4106_vectors.
 */
static int vector_idx[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
_Static_assert(RFC4106_NVECTORS == sizeof(vector_idx) / sizeof(int),
	       "one index per vector");

ParameterizedTestParameters(rfc4106, seal)
{
	return cr_make_param_array(int, vector_idx, RFC4106_NVECTORS);
}

ParameterizedTest(int *idx, rfc4106, seal)
{
	const struct rfc4106_vector *v = &rfc4106_vectors[*idx];
	struct vbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	int n, round;

	vec_load_checked(v, &b);
	cr_assert_eq(crypto_aead_init(&a, v->cipher, b.key, b.key_len, 1), 0,
		     "%s: init", v->name);
	/* twice with the same context: the per-packet state is reset */
	for (round = 0; round < 2; round++) {
		memset(buf, 0xee, sizeof(buf));
		memcpy(buf + 16, b.pt, b.pt_len);
		n = esp_seal(&a, v->spi, v->seq, v->esn, b.iv, buf, b.pt_len);
		cr_assert_eq(n, (int)b.esp_len, "%s: esp_seal returned %d",
			     v->name, n);
		cr_assert_arr_eq(buf, b.esp, b.esp_len,
				 "%s: ESP bytes differ from the draft (round %d)",
				 v->name, round);
		cr_assert_eq(buf[b.esp_len], 0xee, "%s: wrote past the ICV",
			     v->name);
	}
	crypto_aead_free(&a);
	cr_assert_null(a.ctx);
}

ParameterizedTestParameters(rfc4106, open)
{
	return cr_make_param_array(int, vector_idx, RFC4106_NVECTORS);
}

ParameterizedTest(int *idx, rfc4106, open)
{
	const struct rfc4106_vector *v = &rfc4106_vectors[*idx];
	struct vbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	int round;

	vec_load_checked(v, &b);
	cr_assert_eq(crypto_aead_init(&a, v->cipher, b.key, b.key_len, 0), 0);
	for (round = 0; round < 2; round++) {
		memset(buf, 0xee, sizeof(buf));
		memcpy(buf, b.esp, b.esp_len);
		cr_assert_eq(esp_open(&a, v->seq, v->esn, buf, b.esp_len), 0,
			     "%s: esp_open failed", v->name);
		cr_assert_arr_eq(buf + 16, b.pt, b.pt_len,
				 "%s: plaintext differs", v->name);
		/* header, IV and ICV are left alone */
		cr_assert_arr_eq(buf, b.esp, 16);
		cr_assert_arr_eq(buf + b.esp_len - 16, b.esp + b.esp_len - 16,
				 16);
		cr_assert_eq(buf[b.esp_len], 0xee);
	}
	crypto_aead_free(&a);
}

ParameterizedTestParameters(rfc4106, tamper)
{
	return cr_make_param_array(int, vector_idx, RFC4106_NVECTORS);
}

/* Any flipped bit of SPI, seq (both in the AAD), IV (nonce), ciphertext or
 * ICV fails the ICV check; so do a wrong ESN high half and a wrong ESN mode. */
ParameterizedTest(int *idx, rfc4106, tamper)
{
	const struct rfc4106_vector *v = &rfc4106_vectors[*idx];
	struct vbytes b;
	struct esp_aead a;
	uint8_t buf[600];
	size_t offs[] = {
		0,		 /* SPI, first byte */
		3,		 /* SPI, last byte */
		4,		 /* seq */
		7,		 /* seq */
		8,		 /* IV */
		15,		 /* IV */
		16,		 /* first ciphertext byte */
		0,		 /* set below: last ciphertext byte */
		0,		 /* set below: first ICV byte */
		0,		 /* set below: last ICV byte */
	};
	size_t i;
	int bit, r;

	vec_load_checked(v, &b);
	offs[7] = b.esp_len - 17;
	offs[8] = b.esp_len - 16;
	offs[9] = b.esp_len - 1;
	cr_assert_eq(crypto_aead_init(&a, v->cipher, b.key, b.key_len, 0), 0);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (bit = 0; bit < 8; bit += 7) {
			uint64_t seq;

			memcpy(buf, b.esp, b.esp_len);
			buf[offs[i]] ^= (uint8_t)(1u << bit);
			/*
			 * esp_open takes the full sequence number from its
			 * caller, who reads the low half from the wire (and
			 * infers the high half): so does this test.
			 */
			seq = (v->seq & ~0xffffffffull) | get32(buf + 4);
			r = esp_open(&a, seq, v->esn, buf, b.esp_len);
			cr_assert_eq(r, -EBADMSG,
				     "%s: flipped bit %d of byte %zu: got %d",
				     v->name, bit, offs[i], r);
		}
	}
	/* the sequence number given to esp_open is what is authenticated */
	memcpy(buf, b.esp, b.esp_len);
	r = esp_open(&a, v->seq ^ 1, v->esn, buf, b.esp_len);
	cr_assert_eq(r, -EBADMSG, "%s: wrong seq low half: %d", v->name, r);
	memcpy(buf, b.esp, b.esp_len);
	r = esp_open(&a, v->seq ^ (1ull << 32), v->esn, buf, b.esp_len);
	if (v->esn)
		cr_assert_eq(r, -EBADMSG, "%s: wrong ESN high half: %d",
			     v->name, r);
	else
		cr_assert_eq(r, 0, "%s: no ESN: the high half is not in the AAD",
			     v->name);
	memcpy(buf, b.esp, b.esp_len);
	r = esp_open(&a, v->seq, !v->esn, buf, b.esp_len);
	cr_assert_eq(r, -EBADMSG, "%s: wrong ESN mode: %d", v->name, r);
	/* truncated by one byte: the ICV is read from the wrong place */
	memcpy(buf, b.esp, b.esp_len);
	cr_assert_eq(esp_open(&a, v->seq, v->esn, buf, b.esp_len - 1),
		     -EBADMSG);
	/* a failure leaves the context usable */
	memcpy(buf, b.esp, b.esp_len);
	cr_assert_eq(esp_open(&a, v->seq, v->esn, buf, b.esp_len), 0);
	cr_assert_arr_eq(buf + 16, b.pt, b.pt_len);
	crypto_aead_free(&a);
}

Test(rfc4106, open_too_short)
{
	struct esp_aead a;
	uint8_t key[20] = { 1 }, buf[64] = { 0 };

	cr_assert_eq(ESP_MIN_LEN, 34);
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_128, key, 20, 0), 0);
	cr_assert_eq(esp_open(&a, 1, false, buf, ESP_MIN_LEN - 1), -EINVAL);
	cr_assert_eq(esp_open(&a, 1, false, buf, 0), -EINVAL);
	/* exactly the minimum is parsed (and fails authentication) */
	cr_assert_eq(esp_open(&a, 1, false, buf, ESP_MIN_LEN), -EBADMSG);
	crypto_aead_free(&a);
}

Test(crypto, init_rejects_bad_keys)
{
	struct esp_aead a;
	uint8_t key[64] = { 0 };

	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_128, key, 16, 1),
		     -EINVAL, "AES-128 key without salt");
	cr_assert_null(a.ctx);
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_128, key, 36, 1),
		     -EINVAL);
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_256, key, 20, 1),
		     -EINVAL);
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_256, key, 32, 1),
		     -EINVAL, "AES-256 key without salt");
	cr_assert_eq(crypto_aead_init(&a, (enum cfg_cipher)7, key, 20, 1),
		     -EINVAL);
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_256, key, 36, 1), 0);
	cr_assert_not_null(a.ctx);
	crypto_aead_free(&a);
	cr_assert_null(a.ctx);
	/* freeing a zeroed (or already freed) context is safe */
	crypto_aead_free(&a);
}

Test(crypto, salt_is_the_last_four_key_bytes)
{
	struct esp_aead a;
	uint8_t key[36];
	int i;

	for (i = 0; i < 36; i++)
		key[i] = (uint8_t)(0x40 + i);
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_256, key, 36, 1), 0);
	cr_assert_arr_eq(a.salt, key + 32, 4);
	cr_assert_eq(a.encrypt, 1);
	crypto_aead_free(&a);
	cr_assert_eq(crypto_aead_init(&a, CIPHER_AES_GCM_128, key, 20, 0), 0);
	cr_assert_arr_eq(a.salt, key + 16, 4);
	cr_assert_eq(a.encrypt, 0);
	crypto_aead_free(&a);
}

/* ---- the outer IPv4 checksum ------------------------------------------ */

Test(esp, ip_csum)
{
	/* a classic IPv4 header, checksum 0xb861 */
	uint8_t hdr[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00,
			    0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01,
			    0xc0, 0xa8, 0x00, 0xc7 };
	uint16_t c = esp_ip_csum(hdr, sizeof(hdr));

	cr_assert_eq(c, htons(0xb861), "got %04x", c);
	cr_assert_eq(ref_ip_check(hdr, 20), htons(0xb861));
	memcpy(hdr + 10, &c, 2);
	cr_assert_eq(hdr[10], 0xb8);
	cr_assert_eq(hdr[11], 0x61);
	/* over a header that carries its valid checksum: zero */
	cr_assert_eq(esp_ip_csum(hdr, sizeof(hdr)), 0);
	hdr[15] ^= 1;
	cr_assert_neq(esp_ip_csum(hdr, sizeof(hdr)), 0);
}

Test(esp, sizes)
{
	cr_assert_eq(ESP_HEADROOM, 44);
	cr_assert_eq(ESP_TAILROOM, 21);
	cr_assert_eq(esp_overhead(ENCAP_ESP), 57);
	cr_assert_eq(esp_overhead(ENCAP_UDP), 65);
}

/* ---- a hand-built SA --------------------------------------------------- */

#define LOCAL4 "192.0.2.1"
#define REMOTE4 "198.51.100.2"
#define TEST_SPI 0x00001000u

struct tfix {
	struct esp_sa_params sp;
	uint8_t key_out[CFG_KEY_MAX], key_in[CFG_KEY_MAX];
	size_t key_len;
	struct esp_aead enc, dec;
};

/*
 * An outbound SA 192.0.2.1 -> 198.51.100.2 (UDP ports 0: the default), one
 * key for both directions (so what esp_encap4 seals, the inbound side opens).
 */
static void tfix_init(struct tfix *f, enum cfg_encap encap, bool esn,
		      enum cfg_cipher cipher)
{
	size_t klen = cipher_key_len(cipher), i;

	memset(f, 0, sizeof(*f));
	f->sp.spi = TEST_SPI;
	f->sp.esn = esn;
	f->sp.encap = encap;
	cr_assert_eq(inet_pton(AF_INET, LOCAL4, &f->sp.local), 1);
	cr_assert_eq(inet_pton(AF_INET, REMOTE4, &f->sp.remote), 1);
	for (i = 0; i < klen; i++)
		f->key_out[i] = (uint8_t)(0x11 * i + 3);
	f->key_len = klen;
	memcpy(f->key_in, f->key_out, klen);
	cr_assert_eq(crypto_aead_init(&f->enc, cipher, f->key_out, klen, 1),
		     0);
	cr_assert_eq(crypto_aead_init(&f->dec, cipher, f->key_in, klen, 0),
		     0);
}

static void tfix_fini(struct tfix *f)
{
	crypto_aead_free(&f->enc);
	crypto_aead_free(&f->dec);
}

/* An IPv4/UDP packet of 20 + payload bytes with a valid header checksum. */
static size_t build_inner4(uint8_t *p, size_t payload, uint8_t tos, bool df,
			   const char *src, const char *dst)
{
	struct iphdr *ip = (struct iphdr *)p;
	size_t i;

	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = tos;
	ip->tot_len = htons((uint16_t)(20 + payload));
	ip->id = htons(0x1234);
	ip->frag_off = df ? htons(IP_DF) : 0;
	ip->ttl = 63;
	ip->protocol = IPPROTO_UDP;
	cr_assert_eq(inet_pton(AF_INET, src, &ip->saddr), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, &ip->daddr), 1);
	ip->check = ref_ip_check(p, 20);
	for (i = 0; i < payload; i++)
		p[20 + i] = (uint8_t)(i * 31 + payload);
	return 20 + payload;
}

/* An IPv6/UDP packet of 40 + payload bytes. */
static size_t build_inner6(uint8_t *p, size_t payload, uint8_t tclass,
			   const char *src, const char *dst)
{
	struct ip6_hdr *h = (struct ip6_hdr *)p;
	size_t i;

	memset(h, 0, sizeof(*h));
	h->ip6_flow = htonl(6u << 28 | (uint32_t)tclass << 20 | 0xabcde);
	h->ip6_plen = htons((uint16_t)payload);
	h->ip6_nxt = IPPROTO_UDP;
	h->ip6_hlim = 64;
	cr_assert_eq(inet_pton(AF_INET6, src, &h->ip6_src), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, &h->ip6_dst), 1);
	for (i = 0; i < payload; i++)
		p[40 + i] = (uint8_t)(i * 7 + payload);
	return 40 + payload;
}

#define BUF_LEN 2048
#define CANARY 0xa5

/*
 * esp_encap4 one inner packet at buf + ESP_HEADROOM, check every outer
 * field, open it, check the trailer and esp_decap_inner. pads[] counts the
 * padding lengths seen.
 */
static void roundtrip_one(struct tfix *f, int family, size_t payload,
			  uint64_t seq, uint8_t tos, bool df, int pads[4])
{
	uint8_t buf[BUF_LEN], orig[1600], *inner = buf + ESP_HEADROOM, *outer,
		*esp, *pt;
	bool udp = f->sp.encap == ENCAP_UDP;
	size_t len, hdr = 20 + (udp ? 8 : 0), esp_len, outer_len = 0, i;
	struct esp_inner in = { 0 };
	uint16_t ip_id = (uint16_t)(0x4000 + seq * 7);
	const struct iphdr *ip;
	unsigned int pad;
	int r;

	memset(buf, CANARY, sizeof(buf));
	if (family == 4)
		len = build_inner4(inner, payload, tos, df, "10.1.2.3",
				   "10.200.0.5");
	else
		len = build_inner6(inner, payload, tos, "fd00:1::3",
				   "fd00:2::5");
	memcpy(orig, inner, len);
	pad = (4 - ((len + 2) & 3)) & 3;
	esp_len = 8 + 8 + len + pad + 2 + 16;

	r = esp_encap4(&f->sp, &f->enc, seq, ip_id, inner, len, &outer,
		       &outer_len);
	cr_assert_eq(r, 0, "IPv%d len %zu: esp_encap4 returned %d", family,
		     len, r);
	cr_assert_eq(outer, inner - 16 - hdr, "outer header misplaced");
	cr_assert_eq(outer_len, hdr + esp_len, "IPv%d len %zu: outer_len %zu",
		     family, len, outer_len);
	cr_assert_leq(outer_len, len + esp_overhead(f->sp.encap));
	cr_assert_eq((outer_len - hdr - 16 - 16) % 4, 0,
		     "encrypted part not a multiple of 4");
	/* nothing written outside [outer, outer + outer_len) */
	for (i = 0; i < (size_t)(outer - buf); i++)
		cr_assert_eq(buf[i], CANARY, "headroom byte %zu written", i);
	for (i = (size_t)(outer - buf) + outer_len; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], CANARY, "byte %zu past the packet written",
			     i);

	/* outer IPv4 */
	ip = (const struct iphdr *)outer;
	cr_assert_eq(ip->version, 4);
	cr_assert_eq(ip->ihl, 5);
	cr_assert_eq(ip->tos, tos, "tos %02x, inner %02x", ip->tos, tos);
	cr_assert_eq(ntohs(ip->tot_len), outer_len);
	cr_assert_eq(ntohs(ip->id), ip_id);
	if (family == 4 && !df)
		cr_assert_eq(ip->frag_off, 0);
	else
		cr_assert_eq(ip->frag_off, htons(IP_DF));
	cr_assert_eq(ip->ttl, 64);
	cr_assert_eq(ip->protocol, udp ? IPPROTO_UDP : IPPROTO_ESP);
	cr_assert_eq(ip->saddr, f->sp.local.s_addr);
	cr_assert_eq(ip->daddr, f->sp.remote.s_addr);
	cr_assert_eq(esp_ip_csum(ip, 20), 0, "outer checksum invalid");
	{
		uint8_t h[20];

		memcpy(h, outer, 20);
		h[10] = h[11] = 0;
		cr_assert_eq(ip->check, ref_ip_check(h, 20));
	}
	if (udp) {
		const struct udphdr *u = (const struct udphdr *)(outer + 20);

		cr_assert_eq(ntohs(u->source),
			     f->sp.sport ? f->sp.sport : ESPRESSO_NATT_PORT);
		cr_assert_eq(ntohs(u->dest),
			     f->sp.dport ? f->sp.dport : ESPRESSO_NATT_PORT);
		cr_assert_eq(ntohs(u->len), 8 + esp_len);
		cr_assert_eq(u->check, 0);
	}

	/* ESP header and IV */
	esp = outer + hdr;
	cr_assert_eq(get32(esp), TEST_SPI);
	cr_assert_eq(get32(esp + 4), (uint32_t)seq);
	cr_assert_eq(get64(esp + 8), seq, "IV is not the big-endian seq");
	cr_assert(memcmp(esp + 16, orig, len) != 0, "payload left in clear");

	/* decrypt */
	r = esp_open(&f->dec, seq, f->sp.esn, esp, esp_len);
	cr_assert_eq(r, 0, "IPv%d len %zu seq %llx: esp_open %d", family, len,
		     (unsigned long long)seq, r);
	pt = esp + 16;
	cr_assert_arr_eq(pt, orig, len, "inner packet changed");
	for (i = 0; i < pad; i++)
		cr_assert_eq(pt[len + i], i + 1, "pad byte %zu", i);
	cr_assert_eq(pt[len + pad], pad);
	cr_assert_eq(pt[len + pad + 1], family == 4 ? IPPROTO_IPIP :
						      IPPROTO_IPV6);
	r = esp_decap_inner(pt, esp_len - 32, &in);
	cr_assert_eq(r, 0, "IPv%d len %zu: esp_decap_inner %d (%s)", family,
		     len, r, r > 0 && r < DROP_MAX ? stats_drop_names[r] : "?");
	cr_assert_eq(in.len, len);
	cr_assert_eq(in.family, family == 4 ? AF_INET : AF_INET6);
	cr_assert_eq(in.src, pt + (family == 4 ? 12 : 8));
	cr_assert_eq(in.dst, pt + (family == 4 ? 16 : 24));
	pads[pad]++;
}

struct combo {
	enum cfg_encap encap;
	bool esn;
	enum cfg_cipher cipher;
};

static struct combo combos[] = {
	{ ENCAP_ESP, false, CIPHER_AES_GCM_128 },
	{ ENCAP_ESP, false, CIPHER_AES_GCM_256 },
	{ ENCAP_ESP, true, CIPHER_AES_GCM_128 },
	{ ENCAP_ESP, true, CIPHER_AES_GCM_256 },
	{ ENCAP_UDP, false, CIPHER_AES_GCM_128 },
	{ ENCAP_UDP, false, CIPHER_AES_GCM_256 },
	{ ENCAP_UDP, true, CIPHER_AES_GCM_128 },
	{ ENCAP_UDP, true, CIPHER_AES_GCM_256 },
};

ParameterizedTestParameters(esp_roundtrip, sizes)
{
	return cr_make_param_array(struct combo, combos,
				   sizeof(combos) / sizeof(combos[0]));
}

ParameterizedTest(struct combo *c, esp_roundtrip, sizes)
{
	static const size_t big[] = { 100, 255, 256, 511, 512, 999, 1000,
				      1001, 1002, 1003, 1399, 1400 };
	struct tfix f;
	int family, pads[4] = { 0 }, k = 0;
	size_t payload, i;

	tfix_init(&f, c->encap, c->esn, c->cipher);
	for (family = 4; family <= 6; family += 2) {
		for (i = 0; i < 64 + sizeof(big) / sizeof(big[0]); i++, k++) {
			/* ESN: cross 2^33; no ESN: stay below 2^32 */
			uint64_t seq = c->esn ? 0x00000001ffffffc0ull + k :
						0xffffff00ull + k;

			payload = i < 64 ? i + 1 : big[i - 64];
			roundtrip_one(&f, family, payload, seq,
				      (uint8_t)(k * 4 + (k & 3)), k & 1, pads);
		}
	}
	for (i = 0; i < 4; i++)
		cr_assert_gt(pads[i], 0, "pad length %zu never used", i);
	tfix_fini(&f);
}

Test(esp_roundtrip, last_sequence_numbers)
{
	struct tfix f;
	int pads[4] = { 0 };

	tfix_init(&f, ENCAP_ESP, false, CIPHER_AES_GCM_128);
	roundtrip_one(&f, 4, 10, 0xffffffffull, 0, true, pads);
	roundtrip_one(&f, 6, 10, 1, 0, true, pads);
	tfix_fini(&f);
	tfix_init(&f, ENCAP_UDP, true, CIPHER_AES_GCM_256);
	roundtrip_one(&f, 4, 10, UINT64_MAX, 0, true, pads);
	roundtrip_one(&f, 6, 10, 0x100000000ull, 0, true, pads);
	tfix_fini(&f);
}

/* With ESN the high half is authenticated though it is not on the wire. */
Test(esp_roundtrip, esn_high_half_authenticated)
{
	uint8_t buf[BUF_LEN], copy[BUF_LEN], *inner = buf + ESP_HEADROOM,
					     *outer;
	uint64_t seq = 0x0000000500000010ull;
	size_t len, outer_len, esp_len;
	struct tfix f;

	tfix_init(&f, ENCAP_ESP, true, CIPHER_AES_GCM_128);
	len = build_inner4(inner, 50, 0, true, "10.1.0.1", "10.9.0.1");
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, seq, 1, inner, len, &outer,
				&outer_len),
		     0);
	esp_len = outer_len - 20;
	cr_assert_eq(get32(outer + 24), 0x10, "only the low half on the wire");
	memcpy(copy, outer + 20, esp_len);
	cr_assert_eq(esp_open(&f.dec, 0x0000000400000010ull, true, copy,
			      esp_len),
		     -EBADMSG);
	memcpy(copy, outer + 20, esp_len);
	cr_assert_eq(esp_open(&f.dec, 0x0000000600000010ull, true, copy,
			      esp_len),
		     -EBADMSG);
	memcpy(copy, outer + 20, esp_len);
	cr_assert_eq(esp_open(&f.dec, seq, false, copy, esp_len), -EBADMSG);
	memcpy(copy, outer + 20, esp_len);
	cr_assert_eq(esp_open(&f.dec, seq, true, copy, esp_len), 0);
	tfix_fini(&f);
}

/* A packet sealed for one SA does not open with another key. */
Test(esp_roundtrip, wrong_key)
{
	uint8_t buf[BUF_LEN], *inner = buf + ESP_HEADROOM, *outer;
	size_t len, outer_len;
	struct tfix f, g;

	tfix_init(&f, ENCAP_ESP, false, CIPHER_AES_GCM_128);
	tfix_init(&g, ENCAP_ESP, false, CIPHER_AES_GCM_128);
	crypto_aead_free(&g.dec);
	g.key_in[0] ^= 0x80;
	cr_assert_eq(crypto_aead_init(&g.dec, CIPHER_AES_GCM_128, g.key_in,
				      20, 0),
		     0);
	len = build_inner4(inner, 50, 0, true, "10.1.0.1", "10.9.0.1");
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, 7, 1, inner, len, &outer,
				&outer_len),
		     0);
	cr_assert_eq(esp_open(&g.dec, 7, false, outer + 20, outer_len - 20),
		     -EBADMSG);
	tfix_fini(&f);
	tfix_fini(&g);
}

Test(esp_encap, malformed_inner)
{
	uint8_t buf[BUF_LEN], *inner = buf + ESP_HEADROOM, *outer = NULL;
	size_t outer_len = 0;
	struct tfix f;

	tfix_init(&f, ENCAP_ESP, false, CIPHER_AES_GCM_128);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, 1, 1, inner, 0, &outer,
				&outer_len),
		     DROP_tx_malformed);
	inner[0] = 0x45;
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, 1, 1, inner, 19, &outer,
				&outer_len),
		     DROP_tx_malformed, "IPv4 shorter than its header");
	inner[0] = 0x60;
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, 1, 1, inner, 39, &outer,
				&outer_len),
		     DROP_tx_malformed, "IPv6 shorter than its header");
	inner[0] = 0x55;
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, 1, 1, inner, 60, &outer,
				&outer_len),
		     DROP_tx_malformed, "IP version 5");
	inner[0] = 0x00;
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, 1, 1, inner, 60, &outer,
				&outer_len),
		     DROP_tx_malformed, "IP version 0");
	cr_assert_null(outer);
	cr_assert_eq(outer_len, 0);
	tfix_fini(&f);
}

/* UDP encapsulation (RFC 3948) uses the SA's ports; 0 means 4500. */
Test(esp_encap, udp_ports)
{
	static const struct {
		uint16_t sport, dport, want_sport, want_dport;
	} t[] = {
		{ 0, 0, 4500, 4500 },
		{ 12345, 4501, 12345, 4501 },
		{ 4500, 61000, 4500, 61000 },
		{ 1024, 0, 1024, 4500 },
		{ 0, 65535, 4500, 65535 },
	};
	uint8_t buf[BUF_LEN], *inner = buf + ESP_HEADROOM, *outer, *pt;
	size_t len, outer_len, esp_len, k;
	struct esp_inner in;
	struct tfix f;

	cr_assert_eq(ESPRESSO_NATT_PORT, 4500);
	tfix_init(&f, ENCAP_UDP, false, CIPHER_AES_GCM_128);
	for (k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		const struct udphdr *u;

		f.sp.sport = t[k].sport;
		f.sp.dport = t[k].dport;
		memset(buf, CANARY, sizeof(buf));
		len = build_inner4(inner, 40, 0, true, "10.1.0.1", "10.9.0.1");
		cr_assert_eq(esp_encap4(&f.sp, &f.enc, k + 1, 1, inner, len,
					&outer, &outer_len),
			     0);
		cr_assert_eq(outer, inner - 16 - 28);
		cr_assert_eq(outer[9], IPPROTO_UDP);
		u = (const struct udphdr *)(outer + 20);
		cr_assert_eq(ntohs(u->source), t[k].want_sport,
			     "case %zu: source port %u", k, ntohs(u->source));
		cr_assert_eq(ntohs(u->dest), t[k].want_dport,
			     "case %zu: destination port %u", k,
			     ntohs(u->dest));
		esp_len = outer_len - 28;
		cr_assert_eq(ntohs(u->len), 8 + esp_len);
		cr_assert_eq(u->check, 0);
		cr_assert_eq(esp_ip_csum(outer, 20), 0);
		cr_assert_eq(esp_open(&f.dec, k + 1, false, outer + 28, esp_len),
			     0);
		pt = outer + 28 + 16;
		cr_assert_eq(esp_decap_inner(pt, esp_len - 32, &in), 0);
		cr_assert_eq(in.len, len);
	}
	/* raw ESP: no UDP header, whatever the ports say */
	tfix_fini(&f);
	tfix_init(&f, ENCAP_ESP, false, CIPHER_AES_GCM_128);
	f.sp.sport = 12345;
	f.sp.dport = 4501;
	len = build_inner4(inner, 40, 0, true, "10.1.0.1", "10.9.0.1");
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, 1, 1, inner, len, &outer,
				&outer_len),
		     0);
	cr_assert_eq(outer, inner - 16 - 20);
	cr_assert_eq(outer[9], IPPROTO_ESP);
	cr_assert_eq(get32(outer + 20), TEST_SPI);
	cr_assert_eq(esp_open(&f.dec, 1, false, outer + 20, outer_len - 20), 0);
	tfix_fini(&f);
}

/* ---- esp_decap_inner drop reasons -------------------------------------- */

/* Append an RFC 4303 trailer (pad bytes 1, 2, ..., pad length, next header)
 * to the len bytes at p; returns the plaintext length. */
static size_t add_trailer(uint8_t *p, size_t len, unsigned int pad,
			  uint8_t next)
{
	unsigned int i;

	for (i = 0; i < pad; i++)
		p[len + i] = (uint8_t)(i + 1);
	p[len + pad] = (uint8_t)pad;
	p[len + pad + 1] = next;
	return len + pad + 2;
}

/*
 * esp_decap_inner with *inner_len its inner length on success, left alone
 * on a drop; checks that a drop leaves struct esp_inner untouched and that
 * a success points src/dst at the inner header's address fields.
 */
static int decap(const uint8_t *pt, size_t pt_len, size_t *inner_len)
{
	static const uint8_t sentinel[1];
	struct esp_inner in = { .len = 0xdead, .family = -1,
				.src = sentinel, .dst = sentinel };
	int r = esp_decap_inner(pt, pt_len, &in);

	if (r) {
		cr_assert(in.len == 0xdead && in.family == -1 &&
				  in.src == sentinel && in.dst == sentinel,
			  "struct esp_inner written on drop %d", r);
		return r;
	}
	cr_assert_leq(in.len, pt_len - 2);
	if (in.family == AF_INET) {
		cr_assert_eq(pt[0] >> 4, 4);
		cr_assert_eq(in.src, pt + 12);
		cr_assert_eq(in.dst, pt + 16);
	} else {
		cr_assert_eq(in.family, AF_INET6, "family %d", in.family);
		cr_assert_eq(pt[0] >> 4, 6);
		cr_assert_eq(in.src, pt + 8);
		cr_assert_eq(in.dst, pt + 24);
	}
	*inner_len = in.len;
	return 0;
}

Test(esp_decap, valid_with_every_pad_length)
{
	uint8_t pt[2048];
	size_t len, n, il;
	unsigned int pad;

	/* RFC 4303 2.4: 0 to 255 bytes of padding */
	for (pad = 0; pad <= 255; pad++) {
		len = build_inner4(pt, 33, 0, false, "10.1.255.254",
				   "192.168.7.7");
		n = add_trailer(pt, len, pad, IPPROTO_IPIP);
		cr_assert_eq(decap(pt, n, &il), 0, "pad %u", pad);
		cr_assert_eq(il, len);
		len = build_inner6(pt, 17, 0, "fd00:1:0:ffff::1", "2001:db8::1");
		n = add_trailer(pt, len, pad, IPPROTO_IPV6);
		cr_assert_eq(decap(pt, n, &il), 0, "v6 pad %u", pad);
		cr_assert_eq(il, len);
	}
}

Test(esp_decap, short)
{
	uint8_t pt[4] = { 0, 4 };
	size_t il;

	cr_assert_eq(decap(pt, 0, &il), DROP_rx_short);
	cr_assert_eq(decap(pt, 1, &il), DROP_rx_short);
	/* trailer only, next header IPv4: no room for the inner header */
	cr_assert_eq(decap(pt, 2, &il), DROP_rx_inner_len);
}

Test(esp_decap, bad_padding_bytes)
{
	uint8_t pt[256];
	size_t len, n, il;

	len = build_inner4(pt, 30, 0, false, "10.1.0.1", "10.2.0.1");
	n = add_trailer(pt, len, 3, IPPROTO_IPIP);
	cr_assert_eq(decap(pt, n, &il), 0);
	cr_assert_eq(il, len);
	pt[len + 2] = 4; /* 1, 2, 4 */
	cr_assert_eq(decap(pt, n, &il), DROP_rx_padding);
	pt[len + 2] = 3;
	pt[len] = 0; /* 0, 2, 3 */
	cr_assert_eq(decap(pt, n, &il), DROP_rx_padding);
	memset(pt + len, 0, 3); /* zero padding */
	cr_assert_eq(decap(pt, n, &il), DROP_rx_padding);
	n = add_trailer(pt, len, 1, IPPROTO_IPIP);
	pt[len] = 2; /* single pad byte must be 1 */
	cr_assert_eq(decap(pt, n, &il), DROP_rx_padding);
}

Test(esp_decap, pad_length_too_big)
{
	uint8_t pt[256];
	size_t len, n, il;

	len = build_inner4(pt, 30, 0, false, "10.1.0.1", "10.2.0.1");
	n = add_trailer(pt, len, 2, IPPROTO_IPIP);
	pt[n - 2] = (uint8_t)(n - 1); /* pad + 2 > pt_len */
	cr_assert_eq(decap(pt, n, &il), DROP_rx_padding);
	pt[n - 2] = 255;
	cr_assert_eq(decap(pt, n, &il), DROP_rx_padding);
	pt[0] = 1;
	pt[1] = 7; /* pad length 7 of a 2-byte plaintext */
	cr_assert_eq(decap(pt, 2, &il), DROP_rx_padding);
}

Test(esp_decap, next_header)
{
	uint8_t pt[256];
	size_t len, n, il;

	/* RFC 4303 2.6: a dummy packet, next header 59, random payload */
	memset(pt, 0x5a, 40);
	n = add_trailer(pt, 40, 2, IPPROTO_NONE_ESP);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_dummy);
	n = add_trailer(pt, 0, 0, 59);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_dummy);

	len = build_inner4(pt, 30, 0, false, "10.1.0.1", "10.2.0.1");
	n = add_trailer(pt, len, 0, IPPROTO_UDP); /* transport mode UDP */
	cr_assert_eq(decap(pt, n, &il), DROP_rx_next_hdr);
	n = add_trailer(pt, len, 0, IPPROTO_TCP);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_next_hdr);
	n = add_trailer(pt, len, 0, IPPROTO_ESP);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_next_hdr);
	n = add_trailer(pt, len, 0, 0);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_next_hdr);
	n = add_trailer(pt, len, 0, 255);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_next_hdr);
}

Test(esp_decap, inner_length)
{
	uint8_t pt[256];
	struct iphdr *ip = (struct iphdr *)pt;
	struct ip6_hdr *ip6 = (struct ip6_hdr *)pt;
	size_t len, n, il;

	len = build_inner4(pt, 30, 0, false, "10.1.0.1", "10.2.0.1");
	n = add_trailer(pt, len, 2, IPPROTO_IPIP);
	cr_assert_eq(decap(pt, n, &il), 0);
	ip->tot_len = htons((uint16_t)(len + 1));
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len, "tot_len + 1");
	ip->tot_len = htons((uint16_t)(len - 1));
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len, "tot_len - 1");
	ip->tot_len = htons((uint16_t)len);
	ip->ihl = 4;
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len, "ihl 4");
	ip->ihl = 15; /* 60-byte header in a 50-byte packet */
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len, "ihl 15");
	ip->ihl = 5;
	ip->version = 6;
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len,
		     "next header 4, version 6");
	/* an IPv4 packet shorter than an IPv4 header */
	n = add_trailer(pt, 19, 0, IPPROTO_IPIP);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len);

	len = build_inner6(pt, 30, 0, "fd00:1::1", "fd00:2::1");
	n = add_trailer(pt, len, 0, IPPROTO_IPV6);
	cr_assert_eq(decap(pt, n, &il), 0);
	ip6->ip6_plen = htons(31);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len, "plen + 1");
	ip6->ip6_plen = htons(29);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len, "plen - 1");
	ip6->ip6_plen = htons(30);
	pt[0] = 0x40;
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len,
		     "next header 41, version 4");
	n = add_trailer(pt, 39, 0, IPPROTO_IPV6);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len);
	/* IPv4 packet announced as IPv6 */
	len = build_inner4(pt, 40, 0, false, "10.1.0.1", "10.2.0.1");
	n = add_trailer(pt, len, 0, IPPROTO_IPV6);
	cr_assert_eq(decap(pt, n, &il), DROP_rx_inner_len);
}

/* The inner addresses as esp_decap_inner reports them: the caller checks
 * them against its routes (DROP_rx_inner_src, DROP_rx_inner_dst). */
static void check_addrs(const uint8_t *pt, size_t n, int family,
			const char *src, const char *dst, size_t inner_len)
{
	struct esp_inner in;
	uint8_t a[16];
	size_t alen = family == AF_INET ? 4 : 16;

	memset(&in, 0, sizeof(in));
	cr_assert_eq(esp_decap_inner(pt, n, &in), 0, "%s -> %s", src, dst);
	cr_assert_eq(in.len, inner_len);
	cr_assert_eq(in.family, family, "%s: family %d", src, in.family);
	cr_assert_eq(inet_pton(family, src, a), 1);
	cr_assert_arr_eq(in.src, a, alen, "source %s", src);
	cr_assert_eq(inet_pton(family, dst, a), 1);
	cr_assert_arr_eq(in.dst, a, alen, "destination %s", dst);
	/* pointers into pt, not copies */
	cr_assert(in.src >= pt && in.src + alen <= pt + inner_len);
	cr_assert(in.dst >= pt && in.dst + alen <= pt + inner_len);
}

Test(esp_decap, inner_addresses)
{
	uint8_t pt[256];
	struct iphdr *ip = (struct iphdr *)pt;
	size_t len, n;

	len = build_inner4(pt, 8, 0, false, "10.2.0.1", "10.3.0.1");
	n = add_trailer(pt, len, 2, IPPROTO_IPIP);
	check_addrs(pt, n, AF_INET, "10.2.0.1", "10.3.0.1", len);
	len = build_inner4(pt, 8, 0, false, "0.0.0.0", "255.255.255.255");
	n = add_trailer(pt, len, 0, IPPROTO_IPIP);
	check_addrs(pt, n, AF_INET, "0.0.0.0", "255.255.255.255", len);
	/* with IPv4 options the addresses stay at 12 and 16 */
	len = build_inner4(pt, 28, 0, false, "10.1.0.1", "10.1.200.1");
	ip->ihl = 6;
	n = add_trailer(pt, len, 1, IPPROTO_IPIP);
	check_addrs(pt, n, AF_INET, "10.1.0.1", "10.1.200.1", len);

	len = build_inner6(pt, 8, 0, "fd00:2::1", "fd00:3::1");
	n = add_trailer(pt, len, 2, IPPROTO_IPV6);
	check_addrs(pt, n, AF_INET6, "fd00:2::1", "fd00:3::1", len);
	/* a v4-mapped source is still IPv6 (not the IPv4 routes' business) */
	len = build_inner6(pt, 8, 0, "::ffff:10.1.0.1", "fd00:3::1");
	n = add_trailer(pt, len, 2, IPPROTO_IPV6);
	check_addrs(pt, n, AF_INET6, "::ffff:10.1.0.1", "fd00:3::1", len);
	len = build_inner6(pt, 8, 0, "fd00:1:0:ffff:ffff:ffff:ffff:ffff",
			   "fd00:1::2");
	n = add_trailer(pt, len, 3, IPPROTO_IPV6);
	check_addrs(pt, n, AF_INET6, "fd00:1:0:ffff:ffff:ffff:ffff:ffff",
		    "fd00:1::2", len);
}

/* ---- independent check with Python's cryptography ---------------------- */

#define PY_AESGCM                                                             \
	"import sys, struct\n"                                                \
	"try:\n"                                                              \
	"    from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n" \
	"except ImportError:\n"                                               \
	"    print(\"NOCRYPTO\"); sys.exit(0)\n"                              \
	"key, salt = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])\n" \
	"hi, esp = int(sys.argv[3], 16), bytes.fromhex(sys.argv[4])\n"        \
	"aad = esp[0:4] + struct.pack(\">I\", hi) + esp[4:8]\n"               \
	"pt = AESGCM(key).decrypt(salt + esp[8:16], esp[16:], aad)\n"         \
	"print(pt.hex())\n"

Test(esp_python, aesgcm_decrypts_encap4_output)
{
	uint8_t buf[BUF_LEN], orig[256], *inner = buf + ESP_HEADROOM, *outer,
		expect[300], got[300];
	static char cmd[8192], line[2048];
	char keyhex[80], salthex[16], esphex[1024];
	uint64_t seq = 0x0000000700000009ull;
	const char *py = getenv("PYTHON");
	size_t len, outer_len, esp_len, n;
	struct tfix f;
	FILE *p;
	int st;

	if (!py)
		py = "/usr/bin/python3";
	/* UDP encapsulation, ESN, AES-256: the fullest case */
	tfix_init(&f, ENCAP_UDP, true, CIPHER_AES_GCM_256);
	len = build_inner4(inner, 101, 0x10, true, "10.1.4.4", "172.16.0.1");
	memcpy(orig, inner, len);
	cr_assert_eq(esp_encap4(&f.sp, &f.enc, seq, 99, inner, len, &outer,
				&outer_len),
		     0);
	esp_len = outer_len - 28;
	tohex(f.key_out, 32, keyhex);
	tohex(f.key_out + 32, 4, salthex);
	tohex(outer + 28, esp_len, esphex);
	snprintf(cmd, sizeof(cmd), "%s -c '%s' %s %s %x %s", py, PY_AESGCM,
		 keyhex, salthex, (unsigned int)(seq >> 32), esphex);
	p = popen(cmd, "r");
	cr_assert_not_null(p, "popen: %s", strerror(errno));
	cr_assert_not_null(fgets(line, sizeof(line), p), "no output from %s",
			   py);
	st = pclose(p);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "python failed (status %d): %s", st, line);
	line[strcspn(line, "\n")] = 0;
	if (!strcmp(line, "NOCRYPTO"))
		cr_skip_test("python3 has no cryptography module");
	n = unhex(line, got, sizeof(got));
	/* inner packet (121 bytes) + pad 1 + pad length + next header 4 */
	memcpy(expect, orig, len);
	cr_assert_eq(add_trailer(expect, len, 1, IPPROTO_IPIP), 124);
	cr_assert_eq(n, 124, "python returned %zu bytes", n);
	cr_assert_arr_eq(got, expect, n, "python's plaintext differs");
	tfix_fini(&f);
}

/* ---- outer IPv6 (esp6.c) ------------------------------------------------ */

#define LOCAL6 "2001:db8::1"
#define REMOTE6 "2001:db8:1::2"

/* esp_encap6 of one inner packet: outer IPv6 (+UDP with a checksum an
 * independent sum verifies), ESP that opens, esp_outer_parse agreeing. */
static void roundtrip6(enum cfg_encap encap, int family, size_t payload,
		       uint64_t seq)
{
	uint8_t buf[BUF_LEN], orig[1600], *inner = buf + ESP_HEADROOM6, *outer;
	bool udp = encap == ENCAP_UDP;
	size_t len, hdr = 40 + (udp ? 8 : 0), outer_len = 0, esp_len, i;
	struct espresso_meta m;
	struct esp_inner in;
	struct tfix f;
	struct ip6_hdr h;
	int r;

	tfix_init(&f, encap, true, CIPHER_AES_GCM_256);
	f.sp.family = AF_INET6;
	cr_assert_eq(inet_pton(AF_INET6, LOCAL6, &f.sp.local6), 1);
	cr_assert_eq(inet_pton(AF_INET6, REMOTE6, &f.sp.remote6), 1);
	memset(buf, CANARY, sizeof(buf));
	if (family == 4)
		len = build_inner4(inner, payload, 0xb8, true, "10.1.2.3",
				   "10.200.0.5");
	else
		len = build_inner6(inner, payload, 0xb8, "fd00:1::3",
				   "fd00:2::5");
	memcpy(orig, inner, len);
	r = esp_encap6(&f.sp, &f.enc, seq, inner, len, &outer, &outer_len);
	cr_assert_eq(r, 0);
	cr_assert_eq(outer, inner - 16 - hdr);
	cr_assert_leq(outer_len, len + esp_overhead6(encap));
	for (i = 0; i < (size_t)(outer - buf); i++)
		cr_assert_eq(buf[i], CANARY, "headroom byte %zu written", i);
	for (i = (size_t)(outer - buf) + outer_len; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], CANARY, "byte %zu past the packet", i);
	memcpy(&h, outer, sizeof(h));
	cr_assert_eq(ntohl(h.ip6_flow), 6u << 28 | 0xb8u << 20,
		     "version 6, traffic class of the inner, no flow label");
	cr_assert_eq(ntohs(h.ip6_plen), outer_len - 40);
	cr_assert_eq(h.ip6_nxt, udp ? IPPROTO_UDP : IPPROTO_ESP);
	cr_assert_eq(h.ip6_hlim, 64);
	cr_assert(!memcmp(&h.ip6_src, &f.sp.local6, 16));
	cr_assert(!memcmp(&h.ip6_dst, &f.sp.remote6, 16));
	if (udp) {
		uint8_t ph[40] = { 0 };
		uint32_t s;

		cr_assert_eq(get32(outer + 40), 4500u << 16 | 4500u);
		cr_assert_eq(outer[44] << 8 | outer[45], outer_len - 40);
		cr_assert_neq(outer[46] << 8 | outer[47], 0,
			      "UDP over IPv6 needs its checksum");
		memcpy(ph, outer + 8, 32); /* RFC 8200 8.1 pseudo-header */
		ph[34] = (uint8_t)((outer_len - 40) >> 8);
		ph[35] = (uint8_t)(outer_len - 40);
		ph[39] = IPPROTO_UDP;
		s = ref_add(ref_add(0, ph, 40), outer + 40, outer_len - 40);
		cr_assert_eq(ref_fold(s), 0xffff, "UDP checksum does not verify");
	}
	esp_len = outer_len - hdr;
	cr_assert_eq(esp_open(&f.dec, seq, true, outer + hdr, esp_len), 0);
	cr_assert_eq(esp_decap_inner(outer + hdr + 16, esp_len - 32, &in), 0);
	cr_assert_eq(in.len, len);
	cr_assert_arr_eq(outer + hdr + 16, orig, len);
	/* what rx makes of it after reassembly */
	cr_assert_eq(esp_outer_parse(outer, outer_len, &m), 0);
	cr_assert_eq(m.l3_proto, 6);
	cr_assert_eq(m.encap, udp);
	cr_assert_eq(m.esp_off, hdr);
	cr_assert_eq(m.spi, TEST_SPI);
	cr_assert_eq(esp_outer_len(outer, 6), outer_len);
	/* the receiver's view: its local is our remote */
	{
		struct esp_sa_params rs = f.sp;

		rs.local6 = f.sp.remote6;
		rs.remote6 = f.sp.local6;
		cr_assert(esp_outer6_match(&rs, outer, udp));
		rs.remote6.s6_addr[15] ^= 1;
		cr_assert_eq(esp_outer6_match(&rs, outer, udp), udp,
			     "raw ESP checks the source, NAT-T does not");
		rs.local6.s6_addr[15] ^= 1;
		cr_assert_not(esp_outer6_match(&rs, outer, udp));
	}
	tfix_fini(&f);
}

Test(esp6, roundtrip)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 100, 1000, 1400 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		roundtrip6(ENCAP_ESP, 4, sizes[i], 1 + i);
		roundtrip6(ENCAP_ESP, 6, sizes[i], 0x100000000ull + i);
		roundtrip6(ENCAP_UDP, 4, sizes[i], 7 + i);
		roundtrip6(ENCAP_UDP, 6, sizes[i], 0xfffffffeull + i);
	}
}

/* The tunnel MTU over IPv6: the largest inner packet fits the uplink, 4
 * bytes more would not; 20 bytes less than over IPv4. */
Test(esp6, max_inner)
{
	int e;

	for (e = ENCAP_ESP; e <= ENCAP_UDP; e++) {
		unsigned int mtu = 1500, mi = esp_max_inner6(mtu, e);
		unsigned int hdr = 40 + (e == ENCAP_UDP ? 8 : 0);
		unsigned int esp = 8 + 8 + ((mi + 2 + 3) & ~3u) + 16;

		cr_assert_leq(hdr + esp, mtu);
		cr_assert_gt(hdr + 8 + 8 + ((mi + 4 + 2 + 3) & ~3u) + 16, mtu);
		cr_assert_eq(mi, esp_max_inner(mtu, e) - 20);
		cr_assert_eq(esp_overhead6(e), esp_overhead(e) + 20);
	}
}

Test(esp6, outer_parse)
{
	uint8_t p[128] = { 0 };
	struct espresso_meta m;

	/* IPv6 / hop-by-hop (8) / destination options (16) / ESP */
	p[0] = 0x60;
	p[5] = 8 + 16 + 8 + 24;
	p[6] = 0;
	p[40] = 60;
	p[48] = IPPROTO_ESP;
	p[49] = 1;
	p[64] = 0x12; p[65] = 0x34; p[66] = 0x56; p[67] = 0x78;
	cr_assert_eq(esp_outer_parse(p, 40 + p[5], &m), 0);
	cr_assert_eq(m.esp_off, 64);
	cr_assert_eq(m.spi, 0x12345678u);
	cr_assert_eq(m.encap, 0);
	/* shorter than its own payload length */
	cr_assert_eq(esp_outer_parse(p, 40 + p[5] - 1, &m), -1);
	/* an extension header running past the packet */
	p[49] = 10;
	cr_assert_eq(esp_outer_parse(p, 40 + p[5], &m), -1);
	p[49] = 1;
	/* UDP: to 4500 and not the zero marker */
	p[48] = IPPROTO_UDP;
	p[66] = 0x11; p[67] = 0x94; /* dport 4500 at 64 + 2 */
	p[72] = 0xab;
	cr_assert_eq(esp_outer_parse(p, 40 + p[5], &m), 0);
	cr_assert_eq(m.encap, 1);
	cr_assert_eq(m.esp_off, 72);
	cr_assert_eq(m.spi, 0xab000000u);
	p[72] = 0;
	cr_assert_eq(esp_outer_parse(p, 40 + p[5], &m), -1, "IKE's zero marker");
	/* IPv4 with options, ESP */
	memset(p, 0, sizeof(p));
	p[0] = 0x46;
	p[3] = 24 + 16;
	p[9] = IPPROTO_ESP;
	p[24] = 0xcc;
	cr_assert_eq(esp_outer_parse(p, 40, &m), 0);
	cr_assert_eq(m.l3_proto, 4);
	cr_assert_eq(m.esp_off, 24);
	cr_assert_eq(m.spi, 0xcc000000u);
	/* neither */
	p[0] = 0x50;
	cr_assert_eq(esp_outer_parse(p, 40, &m), -1);
}
