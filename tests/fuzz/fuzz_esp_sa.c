// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: ESP with a real SA (fixed keys, AES-GCM-128 and -256;
 * with intel-ipsec-mb built in, each side on either backend).
 *
 * Input: [flags][seq, 8 bytes BE][outer IP id, 2 bytes][bit to flip,
 * 2 bytes BE][data] (a shorter input: zeros for what is missing). flags: 1 ESN, 2 AES-GCM-256, 4 UDP encapsulation
 * (ports from the seq bytes when 0x20 is set), 8 encrypt with ipsec-mb,
 * 0x10 decrypt with ipsec-mb.
 *
 *  1. data as a received ESP packet (header to ICV): esp_open, and
 *     esp_decap_inner when it verifies. -EINVAL exactly when shorter than
 *     ESP_MIN_LEN; never anything but 0/-EINVAL/-EBADMSG.
 *  2. data as an inner packet from the tun: esp_encap4 refuses it exactly
 *     when it is not IPv4/IPv6 or shorter than its header; else the outer
 *     headers are checked field by field (reference checksum code), the
 *     ESP packet opens with the other context, a wrong ESN high half does
 *     not (when ESN), and esp_decap_inner gives back the very bytes given
 *     when they are a valid IP packet (IPv4: ihl >= 5, total length equal
 *     to the bytes; IPv6: payload length + 40), else drops it as
 *     rx_inner_len: the trailer encap wrote is always accepted.
 *  3. data as any plaintext a key holder could send: esp_seal, esp_open
 *     gives it back (refuses it, -EINVAL, under the 2 bytes of a
 *     trailer); with one bit flipped (SPI to ICV) it fails -EBADMSG;
 *     esp_decap_inner on it agrees with itself on the original bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/esp.h"
#include "espresso/common.h"

/* Coverage feedback from the code under test only, not these checks. */
#pragma clang attribute push(__attribute__((no_sanitize("coverage"))), \
			     apply_to = function)
#include "fuzz_ref.h"

static const uint8_t key36[36] = {
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
	0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
	0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xca, 0xfe, 0xba, 0xbe,
};

/* [backend][cipher][encrypt] */
static struct esp_aead ctx[2][CIPHER_MAX + 1][2];
static int nbackends = 1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int b, c, e;

	(void)argc;
	(void)argv;
	if (!crypto_backend_available(CRYPTO_IPSECMB))
		nbackends = 2;
	for (b = 0; b < nbackends; b++)
		for (c = 0; c <= CIPHER_MAX; c++)
			for (e = 0; e < 2; e++)
				if (crypto_aead_init_backend(&ctx[b][c][e], b, c,
							     key36,
							     params_key_len(c),
							     e)) {
					fprintf(stderr, "fuzz_esp_sa: cannot key backend %d cipher %d\n",
						b, c);
					exit(1);
				}
	return 0;
}

static bool inner_valid(const uint8_t *p, size_t len)
{
	if (len >= 20 && (p[0] >> 4) == 4)
		return (p[0] & 15) >= 5 && fz_get16(p + 2) == len &&
		       (p[0] & 15) * 4u <= len;
	if (len >= 40 && (p[0] >> 4) == 6)
		return fz_get16(p + 4) + 40u == len;
	return false;
}

/* 1: a received ESP packet. */
static void as_received(struct esp_aead *dec, bool esn, uint64_t hi,
			const uint8_t *d, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	struct esp_inner in = { .len = 0 };
	uint64_t seq = len >= 8 ? hi << 32 | fz_get32(d + 4) : 0;
	int r;

	memcpy(buf, d, len);
	r = esp_open(dec, seq, esn, buf, len);
	if ((r == -EINVAL) != (len < ESP_MIN_LEN) ||
	    (r && r != -EINVAL && r != -EBADMSG))
		abort();
	if (!r) {
		r = esp_decap_inner(buf + 16, len - 32, &in);
		if (r < 0 || r >= DROP_MAX)
			abort();
	}
	free(buf);
}

/* 2: an inner packet through esp_encap4 and back. */
static void round_trip(const struct esp_sa_params *sp, struct esp_aead *enc,
		       struct esp_aead *dec, uint64_t seq, uint16_t ip_id,
		       const uint8_t *d, size_t len)
{
	size_t cap = ESP_HEADROOM + len + ESP_TAILROOM, outer_len = 0;
	size_t hdr = 20 + (sp->encap == ENCAP_UDP ? 8 : 0), pad, esp_len;
	uint8_t *buf = malloc(cap), *inner = buf + ESP_HEADROOM, *outer = NULL;
	uint8_t *e, *e2, v = len ? d[0] >> 4 : 0;
	struct esp_inner in;
	bool bad = len < 1 || (v != 4 && v != 6) || (v == 4 && len < 20) ||
		   (v == 6 && len < 40);
	uint16_t df, tos;
	int r;

	memcpy(inner, d, len);
	r = esp_encap4(sp, enc, seq, ip_id, inner, len, &outer, &outer_len);
	if (bad) {
		if (r != DROP_tx_malformed)
			abort();
		goto out;
	}
	pad = (4 - ((len + 2) & 3)) & 3;
	if (r || outer != inner - hdr - 16 ||
	    outer_len != hdr + 16 + len + pad + 2 + 16)
		abort();
	/* outer IPv4 */
	df = v == 4 ? fz_get16(d + 6) & 0x4000 : 0x4000;
	tos = v == 4 ? d[1] : (uint8_t)(fz_get32(d) >> 20);
	if (outer[0] != 0x45 || outer[1] != tos ||
	    fz_get16(outer + 2) != outer_len ||
	    fz_get16(outer + 4) != ip_id || fz_get16(outer + 6) != df ||
	    outer[8] != 64 ||
	    outer[9] != (sp->encap == ENCAP_UDP ? IPPROTO_UDP : IPPROTO_ESP) ||
	    memcmp(outer + 12, &sp->local, 4) ||
	    memcmp(outer + 16, &sp->remote, 4) ||
	    fz_fold(fz_sum(0, outer, 20)) != 0xffff)
		abort();
	if (sp->encap == ENCAP_UDP &&
	    (fz_get16(outer + 20) != (sp->sport ? sp->sport : 4500) ||
	     fz_get16(outer + 22) != (sp->dport ? sp->dport : 4500) ||
	     fz_get16(outer + 24) != outer_len - 20 || fz_get16(outer + 26)))
		abort();
	e = outer + hdr;
	esp_len = outer_len - hdr;
	if (fz_get32(e) != sp->spi || fz_get32(e + 4) != (uint32_t)seq ||
	    fz_get32(e + 8) != (uint32_t)(seq >> 32) ||
	    fz_get32(e + 12) != (uint32_t)seq)
		abort();
	/* exact-size copies; a wrong ESN high half fails */
	e2 = malloc(esp_len);
	if (sp->esn) {
		memcpy(e2, e, esp_len);
		if (esp_open(dec, seq ^ (1ull << 32), true, e2, esp_len) !=
		    -EBADMSG)
			abort();
	}
	memcpy(e2, e, esp_len);
	if (esp_open(dec, seq, sp->esn, e2, esp_len))
		abort();
	memset(&in, 0, sizeof(in));
	r = esp_decap_inner(e2 + 16, esp_len - 32, &in);
	if (inner_valid(d, len)) {
		if (r || in.len != len || memcmp(e2 + 16, d, len) ||
		    in.family != (v == 4 ? AF_INET : AF_INET6) ||
		    in.src != e2 + 16 + (v == 4 ? 12 : 8) ||
		    in.dst != e2 + 16 + (v == 4 ? 16 : 24))
			abort();
	} else if (r != DROP_rx_inner_len) {
		abort();
	}
	free(e2);
out:
	free(buf);
}

/* 3: any plaintext, sealed and opened. */
static void sealed(struct esp_aead *enc, struct esp_aead *dec, bool esn,
		   uint64_t seq, unsigned int flip, const uint8_t *d,
		   size_t len)
{
	size_t n = 16 + len + 16;
	uint8_t *buf = malloc(n), *t = malloc(n), iv[8];
	struct esp_inner a, b;
	int ra, rb;

	fz_put32(iv, (uint32_t)(seq >> 32));
	fz_put32(iv + 4, (uint32_t)seq);
	memcpy(buf + 16, d, len);
	if (esp_seal(enc, 0x1000, seq, esn, iv, buf, len) != (int)n)
		abort();
	if (len < 2) { /* no room for the trailer: refused before the ICV */
		if (esp_open(dec, seq, esn, buf, n) != -EINVAL)
			abort();
		goto out;
	}
	memcpy(t, buf, n);
	t[(flip / 8) % n] ^= 1 << (flip % 8);
	/* a flip in the sequence number is caught before the ICV */
	if (esp_open(dec, seq, esn, t, n) != -EBADMSG)
		abort();
	if (esp_open(dec, seq, esn, buf, n) || memcmp(buf + 16, d, len))
		abort();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	ra = esp_decap_inner(buf + 16, len, &a);
	rb = esp_decap_inner(d, len, &b);
	if (ra != rb || a.len != b.len || a.family != b.family ||
	    (!ra && (a.src - (buf + 16) != b.src - d ||
		     a.dst - (buf + 16) != b.dst - d)))
		abort();
out:
	free(t);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct esp_sa_params sp = {
		.spi = 0xc0000001,
		.local.s_addr = htonl(0xc0000201),
		.remote.s_addr = htonl(0xc6336407),
	};
	struct esp_aead *enc, *dec;
	uint64_t seq;
	uint16_t ip_id;
	unsigned int flip;
	uint8_t h[13] = { 0 }; /* a short input: the rest of it zero */
	uint8_t f, *d;
	size_t len;
	int c;

	memcpy(h, data, size < 13 ? size : 13);
	f = h[0];
	seq = (uint64_t)fz_get32(h + 1) << 32 | fz_get32(h + 5);
	ip_id = fz_get16(h + 9);
	flip = fz_get16(h + 11);
	c = f & 0x40 ? CIPHER_CHACHA20_POLY1305
		     : f & 2 ? CIPHER_AES_GCM_256 : CIPHER_AES_GCM_128;
	enc = &ctx[(f & 8) && nbackends > 1][c][1];
	dec = &ctx[(f & 0x10) && nbackends > 1][c][0];
	sp.esn = f & 1;
	sp.encap = f & 4 ? ENCAP_UDP : ENCAP_ESP;
	if (f & 0x20) {
		sp.sport = fz_get16(h + 1);
		sp.dport = fz_get16(h + 3);
	}
	len = size < 13 ? 0 : size - 13;
	/* exact-size heap copy: ASan sees any read past the end */
	d = malloc(len ? len : 1);
	memcpy(d, data + 13, len);
	as_received(dec, sp.esn, seq >> 32, d, len);
	round_trip(&sp, enc, dec, seq, ip_id, d, len);
	sealed(enc, dec, sp.esn, seq, flip, d, len);
	free(d);
	return 0;
}

#pragma clang attribute pop
