// SPDX-License-Identifier: GPL-2.0
/*
 * bench_esp: the ESP pipelines on synthetic bursts, no kernel I/O. One
 * thread, one core: encrypt = esp_encap4 (trailer, seal, outer IPv4) with
 * sequence numbers from sa_seq_reserve; decrypt = replay check, esp_open,
 * replay update, esp_decap_inner and the daemon's two FIB lookups of the
 * inner addresses (source in the tunnel, destination not). Prints packets/s, Gbit/s (inner bytes) and
 * ns/packet per size, as CSV when asked (backend in the last column).
 *   bench_esp [-c aes-gcm-128|aes-gcm-256|chacha20-poly1305]
 *             [-b openssl|ipsec-mb]
 *             [-s seconds] [--csv]
 */
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/check.h"
#include "config/config.h"
#include "proto/esp.h"
#include "proto/replay.h"
#include "tables/fib.h"
#include "tables/sa.h"

#define BURST 64
#define FRAME 2048
#define OFF 128
#define TUN 1 /* the FIB value of the bench's tunnel */

/* As the daemon's rx_post: the inner source must route to the tunnel, the
 * destination must not. */
static inline bool inner_ok(const struct fib *fib4, const struct esp_inner *in)
{
	return in->family == AF_INET && fib_lookup(fib4, in->src) == TUN &&
	       fib_lookup(fib4, in->dst) != TUN;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void make_inner(uint8_t *p, size_t len)
{
	struct iphdr *ip = (void *)p;

	memset(p, 0xab, len);
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(len);
	ip->ttl = 64;
	ip->protocol = 17;
	ip->saddr = htonl(0x0a010001);
	ip->daddr = htonl(0x0a020001);
}

struct result {
	double pps, gbps, ns;
};

/* sizes: inner IP packet lengths, cycled (IMIX: several) */
static void run(enum crypto_backend backend, enum cfg_cipher cipher,
		const size_t *sizes, int nsizes, double secs,
		struct result *enc, struct result *dec)
{
	static uint8_t frames[BURST][FRAME], wire[BURST][FRAME];
	uint8_t key[36];
	struct fib_route route = { .addr = { 10, 1 }, .len = 16, .value = TUN };
	struct sa_spec spec = {
		.spi = 0x1000,
		.wire = { .spi = 0x1000, .esn = true, .encap = ENCAP_ESP },
		.pair = 0,
		.npairs = 1,
		.cipher = cipher,
		.esn = true,
		.replay_window = 1024,
		.key = key,
		.origin = "bench",
	};
	struct sa *out_sa, *in_sa;
	struct fib *fib4;
	struct esp_aead ea, da;
	size_t klen = config_cipher_key_len(cipher), lens[BURST], outl[BURST];
	uint64_t pkts = 0, bytes = 0;
	double t0, el;
	int i;

	for (i = 0; i < 36; i++)
		key[i] = i * 7 + 1;
	inet_pton(AF_INET, "192.0.2.1", &spec.wire.local);
	inet_pton(AF_INET, "192.0.2.2", &spec.wire.remote);
	spec.key_len = klen;
	fib4 = fib_build(AF_INET, &route, 1);
	if (!fib4) {
		perror("bench_esp: fib_build");
		exit(1);
	}
	/* the SAs for the sequence counter and the replay window (a window of
	 * one owner: not spread, as a per-queue pair's) */
	spec.dir = SA_OUT;
	spec.owner = -1;
	if (sa_create(&out_sa, &spec, NULL, 1)) {
		fprintf(stderr, "bench_esp: cannot create the SAs\n");
		exit(1);
	}
	spec.dir = SA_IN;
	spec.owner = 0;
	if (sa_create(&in_sa, &spec, NULL, 1)) {
		fprintf(stderr, "bench_esp: cannot create the SAs\n");
		exit(1);
	}
	if (crypto_aead_init_backend(&ea, backend, cipher, key, klen, 1) ||
	    crypto_aead_init_backend(&da, backend, cipher, key, klen, 0)) {
		fprintf(stderr, "bench_esp: cannot key %s\n",
			crypto_backend_name(backend));
		exit(1);
	}

	/* encrypt */
	t0 = now();
	do {
		for (i = 0; i < BURST; i++) {
			uint8_t *outer;
			uint64_t seq = sa_seq_reserve(out_sa, 1);

			lens[i] = sizes[(pkts + i) % nsizes];
			make_inner(frames[i] + OFF, lens[i]);
			esp_encap4(sa_wire(out_sa), &ea, seq, 0, frames[i] + OFF, lens[i],
				   &outer, &outl[i]);
			bytes += lens[i];
		}
		pkts += BURST;
		el = now() - t0;
	} while (el < secs);
	enc->pps = pkts / el;
	enc->gbps = bytes * 8 / el / 1e9;
	enc->ns = el * 1e9 / pkts;

	/* decrypt: a fresh burst of valid ESP, copied in each time */
	for (i = 0; i < BURST; i++) {
		uint8_t *outer;

		lens[i] = sizes[i % nsizes];
		make_inner(frames[i] + OFF, lens[i]);
		esp_encap4(sa_wire(out_sa), &ea, i + 1, 0, frames[i] + OFF,
			   lens[i], &outer, &outl[i]);
		memcpy(wire[i], outer, outl[i]);
	}
	pkts = bytes = 0;
	t0 = now();
	do {
		for (i = 0; i < BURST; i++) {
			uint8_t *esp = frames[i] + 20;
			size_t esp_len = outl[i] - 20;
			struct esp_inner in;
			uint64_t seq = pkts + i + 1;

			/* The burst was sealed once with numbers 1..64; the
			 * window is driven with fresh numbers so its cost is
			 * the one of a live SA. */
			memcpy(frames[i], wire[i], outl[i]);
			if (replay_check(&in_sa->replay, seq) ||
			    esp_open(&da, i + 1, true, esp, esp_len) ||
			    replay_update(&in_sa->replay, seq) ||
			    esp_decap_inner(esp + 16, esp_len - 32, &in) ||
			    !inner_ok(fib4, &in))
				abort();
			bytes += in.len;
		}
		pkts += BURST;
		el = now() - t0;
	} while (el < secs);
	dec->pps = pkts / el;
	dec->gbps = bytes * 8 / el / 1e9;
	dec->ns = el * 1e9 / pkts;
	crypto_aead_free(&ea);
	crypto_aead_free(&da);
	sa_put(out_sa);
	sa_put(in_sa);
	fib_free(fib4);
}

int main(int argc, char **argv)
{
	static const size_t s64[] = { 64 }, s512[] = { 512 }, s1400[] = { 1400 };
	/* IMIX 7:4:1 of 40/576/1500-byte IP packets, with 1500 cut to what a
	 * 1500-byte uplink carries after ESP (1400 here). */
	static const size_t imix[] = { 40, 40, 40, 40, 40, 40, 40,
				       576, 576, 576, 576, 1400 };
	struct {
		const char *name;
		const size_t *sizes;
		int n;
	} cases[] = {
		{ "64", s64, 1 }, { "512", s512, 1 }, { "1400", s1400, 1 },
		{ "imix", imix, 12 },
	};
	enum cfg_cipher cipher = CIPHER_AES_GCM_256;
	enum crypto_backend backend = CRYPTO_OPENSSL;
	double secs = 1.0;
	bool csv = false;
	size_t i;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "-c") && a + 1 < argc) {
			if (cfg_parse_cipher(argv[++a], &cipher, NULL, 0)) {
				fprintf(stderr, "bench_esp: -c aes-gcm-128|"
						"aes-gcm-256|chacha20-poly1305\n");
				return 2;
			}
		} else if (!strcmp(argv[a], "-b") && a + 1 < argc) {
			if (crypto_backend_parse(argv[++a], &backend)) {
				fprintf(stderr, "bench_esp: -b openssl|ipsec-mb\n");
				return 2;
			}
		} else if (!strcmp(argv[a], "-s") && a + 1 < argc)
			secs = atof(argv[++a]);
		else if (!strcmp(argv[a], "--csv"))
			csv = true;
	}
	if (crypto_set_backend(backend))
		return 1; /* logged why */
	/* as a worker: ipsec-mb's private copy (and its job API) */
	if (crypto_thread_init())
		fprintf(stderr, "bench_esp: no private copy of the backend for "
				"this thread: the shared one\n");
	if (csv)
		printf("cipher,size,dir,pps,gbps,ns_per_pkt,backend\n");
	else
		printf("%-12s %-5s %-8s %12s %9s %9s  %s\n", "cipher", "size",
		       "dir", "packets/s", "Gbit/s", "ns/pkt", "backend");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result e, d;

		run(backend, cipher, cases[i].sizes, cases[i].n, secs, &e, &d);
		if (csv) {
			printf("%s,%s,encrypt,%.0f,%.3f,%.1f,%s\n",
			       config_cipher_name(cipher), cases[i].name, e.pps,
			       e.gbps, e.ns, crypto_backend_name(backend));
			printf("%s,%s,decrypt,%.0f,%.3f,%.1f,%s\n",
			       config_cipher_name(cipher), cases[i].name, d.pps,
			       d.gbps, d.ns, crypto_backend_name(backend));
		} else {
			printf("%-12s %-5s %-8s %12.0f %9.2f %9.1f  %s\n",
			       config_cipher_name(cipher), cases[i].name,
			       "encrypt", e.pps, e.gbps, e.ns,
			       crypto_backend_name(backend));
			printf("%-12s %-5s %-8s %12.0f %9.2f %9.1f  %s\n",
			       config_cipher_name(cipher), cases[i].name,
			       "decrypt", d.pps, d.gbps, d.ns,
			       crypto_backend_name(backend));
		}
	}
	return 0;
}
