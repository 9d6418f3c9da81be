// SPDX-License-Identifier: GPL-2.0
/*
 * bench_scale: how the ESP engine scales with workers, no kernel I/O.
 * N threads, each with its own cipher contexts (as workers have), encrypt
 * bursts of SIZE-byte inner packets and decrypt them again, for SECS:
 *   pairs: one SA pair per thread (RFC 9611 per-queue SAs): nothing shared
 *   fat:   one SA pair for all threads: the outbound sequence counter and
 *          the inbound replay window are shared (lock-free)
 * Each thread encrypts a burst (sequence numbers reserved once per burst),
 * then decrypts it with replay check/update and the inner checks (trailer,
 * then the daemon's two FIB lookups: source in the tunnel, destination not),
 * so both directions count.
 * Prints packets/s in total and per thread, and Gbit/s of inner bytes.
 *   bench_scale [-t THREADS] [-m pairs|fat] [-s SECS] [-l SIZE]
 *               [-b openssl|ipsec-mb] [-c CPU_STRIDE] [--csv]
 * Thread i runs on CPU i * CPU_STRIDE (default 1); -c 0: not pinned.
 */
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/esp.h"
#include "proto/replay.h"
#include "tables/fib.h"
#include "tables/sa.h"

#define BURST 64
#define FRAME 2048
#define OFF 128
#define TUN 1 /* the FIB value of the bench's tunnel */

struct shared {
	struct fib *fib4;
	struct sa *out[64], *in[64];
	uint8_t key[36];
	size_t size;
	double secs;
	int fat;
	int stride; /* thread i runs on CPU i * stride; 0: not pinned */
	_Atomic int go;
};

struct thr {
	_Alignas(CACHELINE) struct shared *sh; /* no two threads share a line */
	int id;
	uint64_t pkts, late;
	double el;
	pthread_t th;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct thr *th = arg;
	struct shared *sh = th->sh;
	int k = sh->fat ? 0 : th->id, i;
	struct sa *out = sh->out[k], *in = sh->in[k];
	struct esp_aead ea, da;
	uint8_t (*f)[FRAME] = aligned_alloc(64, BURST * FRAME);
	size_t outl[BURST];
	struct esp_inner inner;
	uint8_t *outer[BURST];
	double t0;
	cpu_set_t set;

	if (!f)
		abort();
	memset(f, 0xab, BURST * FRAME); /* payloads: defined bytes */
	if (sh->stride > 0) {
		CPU_ZERO(&set);
		CPU_SET((th->id * sh->stride) % CPU_SETSIZE, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	if (crypto_thread_init())
		fprintf(stderr, "thread %d: shared crypto state\n", th->id);
	crypto_aead_init(&ea, CIPHER_AES_GCM_256, sh->key, 36, 1);
	crypto_aead_init(&da, CIPHER_AES_GCM_256, sh->key, 36, 0);
	while (!atomic_load(&sh->go))
		;
	t0 = now();
	do {
		uint64_t seq = sa_seq_reserve(out, BURST);

		for (i = 0; i < BURST; i++) {
			struct iphdr *ip = (void *)(f[i] + OFF);

			memset(ip, 0, sizeof(*ip));
			ip->version = 4;
			ip->ihl = 5;
			ip->tot_len = htons(sh->size);
			ip->ttl = 64;
			ip->protocol = 17;
			ip->saddr = htonl(0x0a010001);
			ip->daddr = htonl(0x0a020001);
			esp_encap4(sa_wire(out), &ea, seq + i, 0, f[i] + OFF,
				   sh->size, &outer[i], &outl[i]);
		}
		for (i = 0; i < BURST; i++) {
			uint8_t *esp = outer[i] + 20;
			size_t len = outl[i] - 20;

			/* a fat tunnel's thread that lags more than the
			 * window behind sees its packets refused: counted */
			if (replay_check(&in->replay, seq + i)) {
				th->late++;
				continue;
			}
			/* as the daemon's rx_post: the inner source must
			 * route to the tunnel, the destination must not */
			if (esp_open(&da, seq + i, true, esp, len) ||
			    esp_decap_inner(esp + 16, len - 32, &inner) ||
			    inner.family != AF_INET ||
			    fib_lookup(sh->fib4, inner.src) != TUN ||
			    fib_lookup(sh->fib4, inner.dst) == TUN)
				abort();
			if (replay_update(&in->replay, seq + i))
				th->late++;
		}
		th->pkts += BURST;
		th->el = now() - t0;
	} while (th->el < sh->secs);
	crypto_aead_free(&ea);
	crypto_aead_free(&da);
	crypto_thread_exit();
	free(f);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct shared sh;
	struct thr th[64];
	struct fib_route route = { .addr = { 10, 1 }, .len = 16, .value = TUN };
	struct sa_spec spec = {
		.wire = { .esn = true, .encap = ENCAP_ESP },
		.npairs = 1,
		.cipher = CIPHER_AES_GCM_256,
		.esn = true,
		.replay_window = 4096,
		.key = sh.key,
		.key_len = 36,
		.origin = "bench",
	};
	int n = 1, a, i, npairs;
	bool csv = false;
	uint64_t total = 0, late = 0;
	double el = 0;

	sh.size = 1400;
	sh.secs = 2;
	sh.stride = 1;
	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "-t") && a + 1 < argc)
			n = atoi(argv[++a]);
		else if (!strcmp(argv[a], "-m") && a + 1 < argc)
			sh.fat = !strcmp(argv[++a], "fat");
		else if (!strcmp(argv[a], "-s") && a + 1 < argc)
			sh.secs = atof(argv[++a]);
		else if (!strcmp(argv[a], "-c") && a + 1 < argc)
			sh.stride = atoi(argv[++a]) > 0 ? atoi(argv[a]) : 0;
		else if (!strcmp(argv[a], "-l") && a + 1 < argc)
			sh.size = atoi(argv[++a]);
		else if (!strcmp(argv[a], "-b") && a + 1 < argc) {
			enum crypto_backend b;

			if (crypto_backend_parse(argv[++a], &b) ||
			    crypto_set_backend(b))
				return 2;
		} else if (!strcmp(argv[a], "--csv"))
			csv = true;
	}
	if (n < 1 || n > 64 || sh.size < 28 || sh.size > 1500) {
		fprintf(stderr, "usage: bench_scale [-t 1..64] [-m pairs|fat] "
				"[-s SECS] [-l 28..1500] [--csv]\n");
		return 2;
	}
	for (i = 0; i < 36; i++)
		sh.key[i] = i * 7 + 1;
	sh.fib4 = fib_build(AF_INET, &route, 1);
	if (!sh.fib4)
		return 1;
	inet_pton(AF_INET, "192.0.2.1", &spec.wire.local);
	inet_pton(AF_INET, "192.0.2.2", &spec.wire.remote);
	/* one SA pair per thread, or one for all (fat: owner -1, its replay
	 * window spread a slot per cache line, as the daemon's) */
	npairs = sh.fat ? 1 : n;
	for (i = 0; i < npairs; i++) {
		spec.spi = spec.wire.spi = 0x1000 + i;
		spec.pair = 0;
		spec.owner = sh.fat ? -1 : i;
		spec.dir = SA_OUT;
		if (sa_create(&sh.out[i], &spec, NULL, 1))
			return 1;
		spec.dir = SA_IN;
		if (sa_create(&sh.in[i], &spec, NULL, 1))
			return 1;
	}
	for (i = 0; i < n; i++) {
		th[i] = (struct thr){ .sh = &sh, .id = i };
		pthread_create(&th[i].th, NULL, run, &th[i]);
	}
	atomic_store(&sh.go, 1);
	for (i = 0; i < n; i++) {
		pthread_join(th[i].th, NULL);
		total += th[i].pkts;
		late += th[i].late;
		if (th[i].el > el)
			el = th[i].el;
	}
	if (csv)
		printf("%s,%s,%d,%zu,%.0f,%.0f,%.3f,%llu\n",
		       crypto_backend_name(crypto_get_backend()),
		       sh.fat ? "fat" : "pairs", n, sh.size, total / el,
		       total / el / n, total * sh.size * 8 / el / 1e9,
		       (unsigned long long)late);
	else
		printf("%-5s threads %2d size %4zu: %10.0f packets/s (%9.0f per "
		       "thread), %7.2f Gbit/s encrypt+decrypt, %llu behind the "
		       "window\n",
		       sh.fat ? "fat" : "pairs", n, sh.size, total / el,
		       total / el / n, total * sh.size * 8 / el / 1e9,
		       (unsigned long long)late);
	for (i = 0; i < npairs; i++) {
		sa_put(sh.out[i]);
		sa_put(sh.in[i]);
	}
	fib_free(sh.fib4);
	return 0;
}
