// SPDX-License-Identifier: GPL-2.0
/*
 * bench_tables: what the workers' per-packet lookups in the published
 * table version cost, with 1 tunnel and with 10,001 tunnels configured,
 * while the traffic uses one tunnel. No kernel I/O, no crypto: the state is
 * built by the control thread's model (control/live.c, no BPF or netlink)
 * and the lookups are the ones user/core/{tx,rx}.c make.
 *
 * The state, as tools/bench_tables.sh configures the gateway A:
 *   - the active tunnel "to-peer" (192.0.2.1 -> 192.0.2.2), outbound SPI
 *     0x1000, inbound 0x2000, routes 10.2.0.0/16 and fd00:2::/64;
 *   - with N = 10001, 10,000 more as tools/gen_tunnels.py makes them:
 *     tunnel i remote 198.18.(i/256).(i%256), outbound SPI 0x100000+i,
 *     inbound 0x200000+i, route 100.(64+i/256).(i%256).0/24.
 * Cases, per packet:
 *   tx:        tables_route(inner destination in 10.2.0.0/16, random)
 *              + tunnel_out_sa(t, q), q = 0 read at run time as the
 *              worker's id is (the pair's modulo is not folded away)
 *   rx:        tables_sa_slot(slot, 0x2000), then the inner checks:
 *              tables_route(source in 10.2.0.0/16, random) must be the
 *              tunnel, tables_route(10.1.0.1) must not
 *   tx-spread: (N = 10001 only) as tx, destinations spread over the 10,000
 *              tunnels' routes in random order
 *   rx-spread: (N = 10001 only) as rx, packets of all 10,000 tunnels'
 *              inbound SAs in random order, inner sources in their routes
 * The spread cases show the cache behaviour when traffic hits every
 * tunnel: reported, never compared.
 * Addresses come from precomputed arrays of 64K entries (fixed seed).
 * Every case runs REPS times, N = 1 and N = 10001 alternated so drift hits
 * both; the median is printed, then the ratio of the medians (10001 / 1),
 * then memory: fib_mem of the IPv4 FIB per N and what building the whole
 * state at N = 10001 allocated (mallinfo2, before and after), per tunnel.
 * Last, the control thread's full turn (live_tick: every SA's lifetime
 * and persisted numbers, every LIVE_TICK_FULL_MS) at N = 10001, the SAs
 * persisted in a seqstore in a temporary directory, the caches evicted
 * before each turn (64 MiB walked) as the workers' traffic evicts them:
 * the median of TICKS turns, and the share of a core it takes.
 *   bench_tables [-s SECS] [-w WORKERS] [--csv]
 * SECS: per case, all repetitions together (default 1); WORKERS: what the
 * SAs are keyed for (default 1, as the e2e gateways' one queue).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <time.h>
#include <unistd.h>

#include "control/live.h"
#include "control/seqstore.h"

#define MANY 10001     /* the active tunnel + 10,000 */
#define NADDR 65536    /* addresses per array, a power of 2 */
#define REPS 5
#define ACTIVE_OUT 0x1000
#define ACTIVE_IN 0x2000
#define MTU 1500
#define KEY_LEN 36     /* AES-GCM-256 + salt */
#define TICKS 21
#define EVICT_BYTES (64u << 20)

#define unlikely(x) __builtin_expect(!!(x), 0)

struct state {
	struct live l;
	unsigned int n;        /* tunnels */
	struct tables *tb;
	struct tunnel *t;      /* the active one */
	uint32_t slot;         /* its inbound SA's */
	size_t bytes;          /* allocated while building */
	struct seqstore *store; /* NULL: nothing persisted */
};

/* one received packet of the spread case: the SA's slot and SPI, the
 * inner source */
struct rxp {
	uint32_t slot, spi, src;
};

static struct state S1, SN;
static char err[512];
static uintptr_t volatile sink;
/* the worker's id, as tunnel_out_sa gets it: not a constant to fold */
static int volatile worker_id;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) /* xorshift64* */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (rng * 2685821657736338717ull) >> 32;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static size_t mem_now(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

static void die(const char *what, int ret)
{
	fprintf(stderr, "bench_tables: %s: %d %s\n", what, ret, err);
	exit(1);
}

static void tunnel_add(struct live *l, const char *name, const char *remote,
		       uint32_t out_spi, uint32_t in_spi, const char *route)
{
	static const int dirs[2] = { SA_OUT, SA_IN };
	uint8_t key[KEY_LEN];
	struct cfg_tunnel ct;
	struct cfg_prefix p;
	int ret, d;

	memset(&ct, 0, sizeof(ct));
	snprintf(ct.name, sizeof(ct.name), "%s", name);
	inet_pton(AF_INET, "192.0.2.1", &ct.local);
	inet_pton(AF_INET, remote, &ct.remote);
	ct.encap = ENCAP_ESP;
	ct.cipher = CIPHER_AES_GCM_256;
	ct.replay_window = 1024;
	ct.esn = true;
	ct.fragment = FRAG_INNER;
	ct.sa_pairs = 1;
	ret = live_tunnel_add(l, &ct, err, sizeof(err));
	if (ret)
		die(name, ret);
	memset(key, 0x5e, sizeof(key)); /* a test key, as gen_tunnels.py */
	for (d = 0; d < 2; d++) {
		struct live_sa_args a = {
			.tunnel = name, .dir = dirs[d],
			.spi = dirs[d] == SA_OUT ? out_spi : in_spi,
			.key = key, .key_len = sizeof(key), .origin = "ctl",
		};

		/* a key per SA (live.c refuses a key another SA holds) */
		memcpy(key, &a.spi, sizeof(a.spi));
		key[4] = (uint8_t)d;

		ret = live_sa_add(l, &a, err, sizeof(err));
		if (ret)
			die("sa add", ret);
	}
	if (config_parse_prefix(route, &p))
		die(route, -EINVAL);
	ret = live_route_add(l, &p, name, err, sizeof(err));
	if (ret)
		die("route add", ret);
}

static uint32_t ip4(unsigned int a, unsigned int b, unsigned int c,
		    unsigned int d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

static uint32_t spread_net(unsigned int i) /* tunnel i's /24 */
{
	return ip4(100, 64 + i / 256, i % 256, 0);
}

static void build(struct state *s, unsigned int n, int nworkers,
		  struct seqstore *store)
{
	static const struct live_ops ops; /* all NULL */
	size_t before = mem_now();
	struct sa *in;
	uint32_t a;
	unsigned int i;
	int ret;

	s->n = n;
	s->store = store;
	ret = live_init(&s->l, nworkers, MTU, &ops, store);
	if (ret)
		die("live_init", ret);
	tunnel_add(&s->l, "to-peer", "192.0.2.2", ACTIVE_OUT, ACTIVE_IN,
		   "10.2.0.0/16");
	{
		struct cfg_prefix p;

		if (config_parse_prefix("fd00:2::/64", &p))
			die("fd00:2::/64", -EINVAL);
		ret = live_route_add(&s->l, &p, "to-peer", err, sizeof(err));
		if (ret)
			die("route add", ret);
	}
	for (i = 0; i + 1 < n; i++) {
		char name[16], remote[32], route[32];

		snprintf(name, sizeof(name), "t%u", i);
		snprintf(remote, sizeof(remote), "198.18.%u.%u", i / 256 % 256,
			 i % 256);
		snprintf(route, sizeof(route), "100.%u.%u.0/24", 64 + i / 256,
			 i % 256);
		tunnel_add(&s->l, name, remote, 0x100000 + i, 0x200000 + i,
			   route);
	}
	ret = live_commit(&s->l);
	if (ret)
		die("live_commit", ret);
	epoch_reclaim(&s->l.epoch); /* the versions replaced (no readers) */
	s->bytes = mem_now() - before;
	s->tb = live_tables(&s->l);
	s->t = live_tunnel_find(&s->l, "to-peer");
	in = live_sa_find(&s->l, ACTIVE_IN, SA_IN);
	if (!s->tb || !s->t || !in || in->tunnel != s->t)
		die("state", 0);
	s->slot = in->slot;
	/* what the cases rely on */
	a = ip4(10, 2, 0, 1);
	if (tables_sa_slot(s->tb, s->slot, ACTIVE_IN) != in ||
	    tables_route(s->tb, AF_INET, &a) != s->t ||
	    !tunnel_out_sa(s->t, 0) || s->l.tun_count != n)
		die("active tunnel lookups", 0);
	a = ip4(10, 1, 0, 1);
	if (tables_route(s->tb, AF_INET, &a) == s->t)
		die("10.1.0.1 routed into the tunnel", 0);
}

/* ---- the timed loops: no inlining, so each case is the same code
 * whatever the state ---- */

static __attribute__((noinline)) uint64_t
loop_tx(const struct tables *tb, const uint32_t *dst, int q, uint64_t iters)
{
	uintptr_t x = 0;
	uint64_t miss = 0, i;

	for (i = 0; i < iters; i++) {
		struct tunnel *t = tables_route(tb, AF_INET,
						&dst[i & (NADDR - 1)]);

		if (unlikely(!t)) {
			miss++;
			continue;
		}
		x += (uintptr_t)tunnel_out_sa(t, q);
	}
	sink = x;
	return miss;
}

static __attribute__((noinline)) uint64_t
loop_rx(const struct tables *tb, uint32_t slot, uint32_t spi,
	const uint32_t *src, const uint32_t *dst, uint64_t iters)
{
	uintptr_t x = 0;
	uint64_t bad = 0, i;

	for (i = 0; i < iters; i++) {
		struct sa *sa = tables_sa_slot(tb, slot, spi);
		struct tunnel *t;

		if (unlikely(!sa)) {
			bad++;
			continue;
		}
		t = sa->tunnel;
		if (unlikely(tables_route(tb, AF_INET,
					  &src[i & (NADDR - 1)]) != t) ||
		    unlikely(tables_route(tb, AF_INET, dst) == t)) {
			bad++;
			continue;
		}
		x += (uintptr_t)t;
	}
	sink = x;
	return bad;
}

static __attribute__((noinline)) uint64_t
loop_rx_spread(const struct tables *tb, const struct rxp *pk,
	       const uint32_t *dst, uint64_t iters)
{
	uintptr_t x = 0;
	uint64_t bad = 0, i;

	for (i = 0; i < iters; i++) {
		const struct rxp *p = &pk[i & (NADDR - 1)];
		struct sa *sa = tables_sa_slot(tb, p->slot, p->spi);
		struct tunnel *t;

		if (unlikely(!sa)) {
			bad++;
			continue;
		}
		t = sa->tunnel;
		if (unlikely(tables_route(tb, AF_INET, &p->src) != t) ||
		    unlikely(tables_route(tb, AF_INET, dst) == t)) {
			bad++;
			continue;
		}
		x += (uintptr_t)t;
	}
	sink = x;
	return bad;
}

/* ---- cases ---- */

enum kind { TX, RX, TX_SPREAD, RX_SPREAD, NKIND };
static const char *const kind_name[NKIND] = { "tx", "rx", "tx-spread",
					      "rx-spread" };

struct arrays {
	uint32_t act[NADDR];     /* random in 10.2.0.0/16 */
	uint32_t spread[NADDR];  /* random in the 10,000 tunnels' /24s */
	struct rxp rx[NADDR];    /* random packets of their inbound SAs */
	uint32_t local;          /* 10.1.0.1 */
};

static uint64_t run_case(enum kind k, const struct state *s,
			 const struct arrays *ar, uint64_t iters)
{
	switch (k) {
	case TX:
		return loop_tx(s->tb, ar->act, worker_id, iters);
	case RX:
		return loop_rx(s->tb, s->slot, ACTIVE_IN, ar->act, &ar->local,
			       iters);
	case TX_SPREAD:
		return loop_tx(s->tb, ar->spread, worker_id, iters);
	case RX_SPREAD:
		return loop_rx_spread(s->tb, ar->rx, &ar->local, iters);
	default:
		abort();
	}
}

/* ns per packet of iters runs; any lookup that went wrong is fatal */
static double timed(enum kind k, const struct state *s,
		    const struct arrays *ar, uint64_t iters)
{
	double t0 = now_ns(), t1;
	uint64_t bad = run_case(k, s, ar, iters);

	t1 = now_ns();
	if (bad) {
		fprintf(stderr, "bench_tables: N=%u %s: %llu of %llu packets "
			"looked up wrong\n", s->n, kind_name[k],
			(unsigned long long)bad, (unsigned long long)iters);
		exit(1);
	}
	return (t1 - t0) / iters;
}

static void arrays_fill(struct arrays *ar, struct state *sn)
{
	unsigned int i, nt = sn->n - 1;

	for (i = 0; i < NADDR; i++) {
		uint32_t r = rnd(), k = rnd() % nt;
		struct sa *sa;

		ar->act[i] = ip4(10, 2, r >> 8 & 255, r & 255);
		ar->spread[i] = spread_net(rnd() % nt) | htonl(r >> 16 & 255);
		sa = live_sa_find(&sn->l, 0x200000 + k, SA_IN);
		if (!sa)
			die("spread SA", 0);
		ar->rx[i].slot = sa->slot;
		ar->rx[i].spi = sa->spi;
		ar->rx[i].src = spread_net(k) | htonl(r & 255);
	}
	ar->local = ip4(10, 1, 0, 1);
	/* the spread destinations each reach the tunnel of their route */
	for (i = 0; i < NADDR; i++) {
		uint32_t h = ntohl(ar->spread[i]);
		unsigned int t = ((h >> 16 & 255) - 64) * 256 + (h >> 8 & 255);
		char name[16];

		snprintf(name, sizeof(name), "t%u", t);
		if (tables_route(sn->tb, AF_INET, &ar->spread[i]) !=
		    live_tunnel_find(&sn->l, name))
			die("spread route", 0);
	}
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The control thread's full turn over s, the caches evicted first: the
 * median of TICKS, in ns. */
static double tick_ns(struct state *s)
{
	uint8_t *evict = malloc(EVICT_BYTES);
	double t[TICKS], t0;
	size_t i;
	int r;

	if (!evict)
		die("malloc", -ENOMEM);
	memset(evict, 1, EVICT_BYTES);
	for (r = 0; r < TICKS; r++) {
		for (i = 0; i < EVICT_BYTES; i += 64)
			evict[i]++;
		sink += evict[r];
		t0 = now_ns();
		live_tick(&s->l, (uint64_t)(t0 / 1e6));
		t[r] = now_ns() - t0;
	}
	free(evict);
	return median(t, TICKS);
}

int main(int argc, char **argv)
{
	static struct arrays ar;
	struct state *st[2] = { &S1, &SN };
	double secs = 1.0, ns[NKIND][2][REPS], med[NKIND][2];
	uint64_t iters[NKIND][2];
	int nworkers = 1, a, r, k, j;
	bool csv = false;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "-s") && a + 1 < argc)
			secs = atof(argv[++a]);
		else if (!strcmp(argv[a], "-w") && a + 1 < argc)
			nworkers = atoi(argv[++a]);
		else if (!strcmp(argv[a], "--csv"))
			csv = true;
		else {
			fprintf(stderr, "usage: bench_tables [-s SECS] "
				"[-w WORKERS] [--csv]\n");
			return 2;
		}
	}
	if (secs <= 0 || nworkers < 1 || nworkers > CFG_MAX_QUEUES) {
		fprintf(stderr, "bench_tables: bad -s or -w\n");
		return 2;
	}
	char sdir[] = "/tmp/bench_tables.XXXXXX";
	struct seqstore *store;
	double tick;

	if (!mkdtemp(sdir))
		die("mkdtemp", -errno);
	if (seqstore_open(&store, sdir, err, sizeof(err)))
		die("seqstore_open", -EIO);
	build(&S1, 1, nworkers, NULL);
	build(&SN, MANY, nworkers, store);
	arrays_fill(&ar, &SN);

	/* calibrate: iterations for secs / REPS per repetition (this also
	 * warms the caches and the branch predictors) */
	for (k = 0; k < NKIND; k++)
		for (j = 0; j < 2; j++) {
			double c;

			if (k >= TX_SPREAD && j == 0)
				continue;
			timed(k, st[j], &ar, 1u << 20);
			c = timed(k, st[j], &ar, 1u << 22);
			iters[k][j] = secs / REPS * 1e9 / c;
			if (iters[k][j] < NADDR)
				iters[k][j] = NADDR;
		}
	/* alternate: N = 1, N = 10001, case by case, rep by rep */
	for (r = 0; r < REPS; r++)
		for (k = 0; k < NKIND; k++)
			for (j = 0; j < 2; j++) {
				if (k >= TX_SPREAD && j == 0)
					continue;
				ns[k][j][r] = timed(k, st[j], &ar,
						    iters[k][j]);
			}
	for (k = 0; k < NKIND; k++)
		for (j = 0; j < 2; j++)
			if (k < TX_SPREAD || j == 1)
				med[k][j] = median(ns[k][j], REPS);

	if (csv)
		printf("tunnels,case,value,unit\n");
	for (k = 0; k < NKIND; k++)
		for (j = 0; j < 2; j++) {
			if (k >= TX_SPREAD && j == 0)
				continue;
			if (csv)
				printf("%u,%s,%.3f,ns/pkt\n", st[j]->n,
				       kind_name[k], med[k][j]);
			else
				printf("tables N=%u %s %.2f ns/pkt\n",
				       st[j]->n, kind_name[k], med[k][j]);
		}
	if (csv) {
		printf("%u,tx_ratio,%.3f,x\n", MANY, med[TX][1] / med[TX][0]);
		printf("%u,rx_ratio,%.3f,x\n", MANY, med[RX][1] / med[RX][0]);
	} else {
		printf("lookup cost with %u tunnels / 1 tunnel: TX %.2f, "
		       "RX %.2f\n", MANY, med[TX][1] / med[TX][0],
		       med[RX][1] / med[RX][0]);
	}
	for (j = 0; j < 2; j++) {
		const struct fib *f = st[j]->tb->fib4;

		if (csv) {
			printf("%u,fib4_mem,%zu,bytes\n", st[j]->n, fib_mem(f));
			printf("%u,fib4_nodes,%zu,nodes\n", st[j]->n,
			       fib_nodes(f));
		} else {
			printf("tables N=%u fib4 %zu bytes (%zu nodes)\n",
			       st[j]->n, fib_mem(f), fib_nodes(f));
		}
	}
	if (csv) {
		printf("%u,state_mem,%zu,bytes\n", MANY, SN.bytes);
		printf("%u,state_per_tunnel,%.0f,bytes\n", MANY,
		       (double)SN.bytes / MANY);
	} else {
		printf("tables N=%u state %zu bytes allocated, %.0f bytes per "
		       "tunnel (2 SAs keyed for %d worker%s, 1 route)\n", MANY,
		       SN.bytes, (double)SN.bytes / MANY, nworkers,
		       nworkers == 1 ? "" : "s");
	}
	tick = tick_ns(&SN);
	if (csv) {
		printf("%u,control_tick,%.0f,us\n", MANY, tick / 1e3);
		printf("%u,control_tick_core,%.2f,%%\n", MANY,
		       100 * tick / (LIVE_TICK_FULL_MS * 1e6));
	} else {
		printf("tables N=%u control thread's full turn %.0f us (caches "
		       "evicted; every %d ms: %.2f %% of a core)\n", MANY,
		       tick / 1e3, LIVE_TICK_FULL_MS,
		       100 * tick / (LIVE_TICK_FULL_MS * 1e6));
	}
	live_destroy(&SN.l);
	live_destroy(&S1.l);
	seqstore_close(store);
	nftw(sdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}
