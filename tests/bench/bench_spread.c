// SPDX-License-Identifier: GPL-2.0
/*
 * bench_spread: the packet rate of the real worker paths (core/tx.c
 * tx_burst, core/rx.c rx_burst) when traffic to 10,000 destinations is
 * spread over N tunnels, N = 1, 1,000 and 10,000: the same traffic, only
 * the number of tunnels (SA pairs, contexts, routes) differs. The point is
 * the cache: with 10,000 tunnels each packet's SA, cipher context, replay
 * window and tunnel are cold.
 *
 * Two gateways in one process, each a struct worker over the state the
 * control code builds (control/live.c, as espressoctl's commands do):
 *   A  N tunnels, tunnel k: outbound SPI 0x100000+k, inbound 0x200000+k,
 *      a key of its own; its routes the destinations' /24s d with
 *      d % N == k (N = 1: one route, 100.64.0.0/10).
 *   B  the mirror: inbound SPI 0x100000+k, routes the sources' /24s.
 * Destination d (0..9999) is 100.64.0.0 + d * 256 + 1, its source
 * 100.128.0.0 + d * 256 + 1 (B's inner-source check needs a source per
 * tunnel); the order of destinations is random (fixed seed), the same for
 * every N. Packets: IPv4/UDP with LEN bytes of payload (default 64).
 *
 * What stands in for the kernel (outside the timed part):
 *   A's tun   an AF_UNIX datagram socket pair: the harness writes a burst
 *             of inner packets, tx_burst reads them with readv as from a
 *             tun (one syscall each, as there);
 *   A's XSK   TX ring and completion ring in plain memory: the harness
 *             takes the ESP frames off the TX ring (the wire) and
 *             completes them;
 *   B's XSK   fill and RX rings in plain memory: the harness copies each
 *             wire frame into a fill frame at the XDP headroom and writes
 *             the metadata the XDP program would (slot from the SPI);
 *   B's tun   /dev/null (one writev per packet, as to a tun).
 * Timed: tx_burst + xsk_port_complete on A; rx_burst on B (each burst
 * timed on its own, so the harness's work is not counted). The two
 * gateways run in alternate phases of PHASE packets so that each meets
 * the cache the other left, as two gateways on one core would, but not
 * one packet at a time.
 * Every run ends with exact checks: every packet sealed and opened, no
 * drop anywhere, and each of B's inbound SAs counted exactly the packets
 * sent to its tunnel.
 *
 * Output: per N and direction, packets/s (the median of REPS runs, the N
 * alternated within each rep so drift hits all alike) and the ratio to
 * N = 1; then memory: bytes per tunnel (SA pair, its contexts and
 * counters, routes) from mallinfo2 while building A at each N.
 *   bench_spread [-b auto|openssl|ipsec-mb] [-c CIPHER] [-s SECS] [-l LEN]
 *                [-r REPS] [-n N,N,...] [-t DIR] [-p] [-P MB] [--csv]
 * -b: the crypto backend; auto (the default, as espressod's) takes
 * intel-ipsec-mb wherever it can be used. -c: the tunnels' cipher, as
 * the config names it (aes-gcm-256 unless told; aes-gcm-128,
 * chacha20-poly1305). Both are said on stderr.
 * -t DIR: B's inbound SAs keep their exact tops in a tops file under DIR
 * (control/topmap.h), as the daemon's persisted SAs do: the cost of that
 * store per packet.
 * -p: where the time goes, pass by pass (core/worker.h enum worker_pass):
 * ns per packet in each pass of A's tx_burst and B's rx_burst over the
 * timed runs, and what each costs more than with the first N.
 * -P MB: with a neighbour on another CPU streaming through MB of memory
 * during the runs (pressure_start): the rates on a busy machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "control/live.h"
#include "config/check.h"
#include "control/topmap.h"
#include "core/pkt.h"
#include "core/rx.h"
#include "core/tx.h"
#include "core/worker.h"
#include "fakexsk.h"
#include "lib/secret.h"

#define NDST 10000     /* destinations */
#define NSEQ 65536     /* the destination order, cycled (a power of 2) */
#define MAXN 16
#define MAXREPS 15
#define BURST 64
#define PHASE 4096     /* packets per phase (A then B) */
#define MTU 1500
#define KEY_LEN 36     /* the longest: a 32-byte key + salt */

static enum cfg_cipher cipher = CIPHER_AES_GCM_256; /* -c */
#define FILL 1024

static char err[512];

static const char *const pass_names[PASS_MAX] = {
	[PASS_RX_PREFETCH] = "rx prefetch", [PASS_RX_PREPARE] = "rx prepare",
	[PASS_RX_CRYPTO] = "rx crypto", [PASS_RX_INNER] = "rx inner src",
	[PASS_RX_POST] = "rx post+tun", [PASS_TX_READ] = "tx read+route",
	[PASS_TX_CRYPTO] = "tx crypto", [PASS_TX_POST] = "tx post",
};

static void die(const char *what, int ret)
{
	fprintf(stderr, "bench_spread: %s: %d %s\n", what, ret, err);
	exit(1);
}

/* the thread's CPU time: what the other tenants of a shared machine take
 * while it waits for a CPU is not counted (their cache pollution is) */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* the heap's bytes in use, and the key memory's (lib/secret.h: the
 * contexts' key schedules and the SAs' keys, outside the heap) */
static size_t mem_now(void)
{
	struct mallinfo2 m = mallinfo2();
	struct secret_stats s;

	secret_get_stats(&s);
	return m.uordblks + m.hblkhd + s.bytes_used;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) /* xorshift64* */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (rng * 2685821657736338717ull) >> 32;
}

/* ---- one gateway ---- */

struct gw {
	struct live l;
	struct worker w;
	struct worker_env env;
	struct fport f;
	_Atomic(struct tables *) *cur;
	_Atomic int stop;
	int tun_in;   /* A: the harness writes inner packets here */
	int n;        /* tunnels */
	/* allocated (malloc, OpenSSL's included) by the tunnels, the SA
	 * pairs (keyed for one worker), the routes, the table version */
	size_t mem_tun, mem_sa, mem_route, mem_tables;
	struct sa **in; /* B: inbound SA of tunnel k */
	struct topmap *tops; /* B with -t: the exact tops */
	uint32_t *slot; /* B: by tunnel, what the XDP map gives */
};

static uint32_t net24(unsigned int base, unsigned int d)
{
	return htonl((100u << 24 | base << 16) + d * 256);
}

/* SA k's key (k: 2 * tunnel + direction, A -> B 0): one of its own, as
 * live.c wants */
static void key_of(unsigned int k, uint8_t *key)
{
	unsigned int i;

	for (i = 0; i < KEY_LEN; i++)
		key[i] = (uint8_t)(k * 131 + i * 7 + (k >> 8));
	memcpy(key, &k, sizeof(k));
}

static void route_add(struct live *l, uint32_t net, int len, const char *t)
{
	struct cfg_prefix p;
	char s[48];
	int ret;

	inet_ntop(AF_INET, &net, s, sizeof(s));
	snprintf(s + strlen(s), sizeof(s) - strlen(s), "/%d", len);
	if (config_parse_prefix(s, &p))
		die(s, -EINVAL);
	ret = live_route_add(l, &p, t, err, sizeof(err));
	if (ret)
		die("route add", ret);
}

/* a: true for A (routes by destination, sends), false for B. Built in
 * three rounds (tunnels, SA pairs, routes, then the table version) so
 * that what each costs can be told apart. */
static void gw_build(struct gw *g, int n, bool a)
{
	static const struct live_ops ops; /* no BPF map, no kernel routes */
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 2 };
	size_t m0, m1, m2, m3;
	struct nexthop *nh = NULL;
	unsigned int k, d;
	int ret, dir;
	char name[16];

	memset(g, 0, sizeof(*g));
	g->n = n;
	ret = live_init(&g->l, 1, MTU, &ops, NULL);
	if (ret)
		die("live_init", ret);
	if (a) {
		struct in_addr gwip = { htonl(0xc0000202) };

		nh = nexthop_get(&g->l.nhs, 1, gwip);
		if (!nh)
			die("nexthop", -ENOMEM);
		atomic_store(&nh->mac, tunnel_mac_pack(mac));
	}
	if (!a && (!(g->in = calloc(n, sizeof(*g->in))) ||
		   !(g->slot = calloc(n, sizeof(*g->slot)))))
		die("calloc", -ENOMEM);
	m0 = mem_now();
	for (k = 0; k < (unsigned int)n; k++) {
		struct cfg_tunnel ct;
		struct tunnel *t;

		memset(&ct, 0, sizeof(ct));
		snprintf(ct.name, sizeof(ct.name), "t%u", k);
		ct.local.s_addr = htonl(a ? 0xc0000201 : 0xc0000202);
		ct.remote.s_addr = htonl(a ? 0xc0000202 : 0xc0000201);
		ct.encap = ENCAP_ESP;
		ct.cipher = cipher;
		ct.replay_window = 1024;
		ct.esn = true;
		ct.fragment = FRAG_INNER;
		ct.sa_pairs = 1;
		ret = live_tunnel_add(&g->l, &ct, err, sizeof(err));
		if (ret)
			die("tunnel add", ret);
		t = live_tunnel_find(&g->l, ct.name);
		if (a) {
			nh->refs++; /* one per tunnel, as neigh.c's set_nh */
			atomic_store(&t->nh, nh);
		}
	}
	m1 = mem_now();
	for (k = 0; k < (unsigned int)n; k++) {
		uint8_t key[KEY_LEN];

		snprintf(name, sizeof(name), "t%u", k);
		for (dir = SA_IN; dir <= SA_OUT; dir++) {
			/* A -> B: 0x100000 + k; B -> A: 0x200000 + k */
			bool ab = (dir == SA_OUT) == a;
			struct live_sa_args sa = {
				.tunnel = name, .dir = dir,
				.spi = (ab ? 0x100000 : 0x200000) + k,
				.key = key,
				.key_len = config_cipher_key_len(cipher),
				.origin = "ctl",
			};

			key_of(2 * k + !ab, key);
			ret = live_sa_add(&g->l, &sa, err, sizeof(err));
			if (ret)
				die("sa add", ret);
		}
	}
	m2 = mem_now();
	for (k = 0; k < (unsigned int)n; k++) {
		snprintf(name, sizeof(name), "t%u", k);
		if (n == 1)
			route_add(&g->l, net24(a ? 64 : 128, 0), 10, name);
		else
			for (d = k; d < NDST; d += n)
				route_add(&g->l, net24(a ? 64 : 128, d), 24,
					  name);
	}
	m3 = mem_now();
	if (a)
		nexthop_put(&g->l.nhs, nh); /* the tunnels hold it now */
	ret = live_commit(&g->l);
	if (ret)
		die("live_commit", ret);
	epoch_reclaim(&g->l.epoch);
	g->mem_tun = m1 - m0;
	g->mem_sa = m2 - m1;
	g->mem_route = m3 - m2;
	g->mem_tables = mem_now() - m3;
	for (k = 0; !a && k < (unsigned int)n; k++) {
		g->in[k] = live_sa_find(&g->l, 0x100000 + k, SA_IN);
		if (!g->in[k])
			die("inbound SA", -ENOENT);
		g->slot[k] = g->in[k]->slot;
	}
}

static void gw_start(struct gw *g, bool a)
{
	int sp[2], ret;

	g->env.tables = &g->l.cur;
	g->env.epoch = &g->l.epoch;
	g->env.workers = &g->w;
	g->env.nworkers = 1;
	g->env.uplink_mtu = MTU;
	g->env.batch = BURST;
	g->env.offload = false;
	g->env.mss_clamp = true;
	g->env.stop = &g->stop;
	g->env.uplink_mac[5] = a ? 1 : 2;
	if (a) {
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sp))
			die("socketpair", -errno);
		g->tun_in = sp[0];
	} else {
		sp[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (sp[1] < 0)
			die("/dev/null", -errno);
		g->tun_in = -1;
	}
	ret = worker_init(&g->w, 0, -1, &g->env, sp[1]);
	if (ret)
		die("worker_init", ret);
	fport_init(&g->w.port, &g->f, FILL);
	g->w.tb = live_tables(&g->l);
	g->w.now_ms = worker_now_ms();
}

/* -t: B's inbound SAs note their tops in DIR/b<i>/tops. */
static void gw_tops(struct gw *g, const char *dir, int i)
{
	char d[512];
	uint8_t fp[TOPMAP_FP_LEN] = { 0 };
	uint64_t top;
	bool found;
	int k, ret;

	snprintf(d, sizeof(d), "%s/b%d", dir, i);
	mkdir(dir, 0700);
	mkdir(d, 0700);
	ret = topmap_open(&g->tops, d, err, sizeof(err));
	if (ret)
		die(err, ret);
	for (k = 0; k < g->n; k++) {
		memcpy(fp, &k, sizeof(k));
		g->in[k]->rx_exact = topmap_claim(g->tops, g->in[k]->spi, fp, 0,
						  &top, &found);
		if (!g->in[k]->rx_exact)
			die("topmap_claim", -ENOSPC);
		if (found)
			atomic_store(g->in[k]->rx_exact, 0);
	}
}

static void gw_free(struct gw *g)
{
	close(g->w.tun_fd);
	if (g->tun_in >= 0)
		close(g->tun_in);
	fport_free(&g->w.port, &g->f);
	worker_free(&g->w);
	live_destroy(&g->l);
	topmap_close(g->tops);
	free(g->in);
	free(g->slot);
}

/* ---- traffic ---- */

static uint16_t order[NSEQ]; /* destination of packet i % NSEQ */

/* The inner packet to destination d, len bytes of UDP payload. */
static size_t inner(uint8_t *buf, unsigned int d, size_t len)
{
	struct iphdr *ip = (void *)buf;
	struct udphdr *u = (void *)(buf + 20);

	memset(buf, 0, 28);
	memset(buf + 28, 0x5a, len);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(28 + len);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = net24(128, d) | htonl(1);
	ip->daddr = net24(64, d) | htonl(1);
	ip->check = esp_ip_csum(ip, 20);
	u->source = htons(5000);
	u->dest = htons(6000);
	u->len = htons(8 + len);
	return 28 + len;
}

struct wire {
	uint8_t *buf;     /* PHASE frames of stride bytes */
	size_t stride;
	uint16_t *len;
	unsigned int n;
};

struct totals {
	double tx_ns, rx_ns;
	uint64_t pkts;
};

/* A's TX ring -> the wire; the frames go to the completion ring. */
static void drain_tx(struct gw *a, struct wire *wi)
{
	const struct xdp_desc *d;

	while ((d = fport_tx_peek(&a->f))) {
		if (d->len > wi->stride)
			die("frame too long", -EMSGSIZE);
		memcpy(wi->buf + wi->n * wi->stride,
		       xsk_port_frame(&a->w.port, d->addr), d->len);
		wi->len[wi->n++] = d->len;
		fport_tx_done(&a->f, d->addr);
	}
}

/* wire frames [from, from + n) into B's fill frames and RX ring */
static void inject_rx(struct gw *b, const struct wire *wi, unsigned int from,
		      unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		const uint8_t *pkt = wi->buf + (from + i) * wi->stride;
		uint64_t addr = fport_fill_take(&b->f);
		uint8_t *data = xsk_port_frame(&b->w.port, addr) +
				FAKEXSK_HEADROOM;
		uint32_t spi;
		struct sa *sa;

		memcpy(data, pkt, wi->len[from + i]);
		/* as espresso.bpf.c: the SPI map gives the slot */
		memcpy(&spi, pkt + 14 + 20, 4);
		spi = ntohl(spi);
		sa = tables_sa_spi(b->w.tb, spi);
		fport_rx_esp4(&b->f, data, addr, wi->len[from + i], spi,
			      sa ? sa->slot : UINT32_MAX);
	}
}

/* npkts packets A -> B, phase by phase; adds the timed ns */
static void run(struct gw *a, struct gw *b, uint64_t npkts, size_t len,
		uint64_t *pos, struct wire *wi, struct totals *tot)
{
	uint8_t buf[2048];
	uint64_t done = 0;

	while (done < npkts) {
		unsigned int i, k, np = PHASE;

		if (np > npkts - done)
			np = npkts - done;
		wi->n = 0;
		/* A: bursts from its tun, sealed onto its TX ring */
		for (i = 0; i < np; i += BURST) {
			unsigned int nb = np - i < BURST ? np - i : BURST;
			double t0;

			for (k = 0; k < nb; k++) {
				size_t l = inner(buf, order[(*pos)++ & (NSEQ - 1)],
						 len);

				if (send(a->tun_in, buf, l, 0) != (ssize_t)l)
					die("send", -errno);
			}
			a->w.tb = live_tables(&a->l);
			t0 = now_ns();
			a->w.now_ms = worker_now_ms();
			if (tx_burst(&a->w) != nb)
				die("tx_burst read fewer", -EIO);
			a->w.st.tx_completed += xsk_port_complete(&a->w.port);
			tot->tx_ns += now_ns() - t0;
			drain_tx(a, wi);
		}
		a->w.st.tx_completed += xsk_port_complete(&a->w.port);
		if (wi->n != np)
			die("frames on the wire", -EIO);
		/* B: the wire, burst by burst */
		for (i = 0; i < np; i += BURST) {
			unsigned int nb = np - i < BURST ? np - i : BURST;
			double t0;

			inject_rx(b, wi, i, nb);
			b->w.tb = live_tables(&b->l);
			t0 = now_ns();
			b->w.now_ms = worker_now_ms();
			if (rx_burst(&b->w) != nb)
				die("rx_burst took fewer", -EIO);
			tot->rx_ns += now_ns() - t0;
		}
		done += np;
	}
	tot->pkts += npkts;
}

/* Exact: no drop, every packet sealed and opened by its own SA. */
static void check(struct gw *a, struct gw *b, uint64_t sent, uint64_t start)
{
	uint64_t *want = calloc(b->n, sizeof(*want));
	uint64_t i, tx = 0;
	int k, r;

	if (!want)
		die("calloc", -ENOMEM);
	for (i = start; i < start + sent; i++)
		want[order[i & (NSEQ - 1)] % b->n]++;
	for (r = 0; r < DROP_MAX; r++)
		if (a->w.st.drops[r] || b->w.st.drops[r]) {
			fprintf(stderr, "bench_spread: N=%d: drop %s: A %llu "
				"B %llu\n", a->n, stats_drop_names[r],
				(unsigned long long)a->w.st.drops[r],
				(unsigned long long)b->w.st.drops[r]);
			exit(1);
		}
	for (k = 0; k < b->n; k++) {
		struct sa *in = b->in[k];
		char name[16];
		struct tunnel *t;

		snprintf(name, sizeof(name), "t%d", k);
		t = live_tunnel_find(&a->l, name);
		tx += tunnel_out_sa(t, 0)->pw[0].packets;
		if (in->pw[0].packets != want[k]) {
			fprintf(stderr, "bench_spread: N=%d: SA 0x%x opened "
				"%llu packets, %llu sent\n", b->n, in->spi,
				(unsigned long long)in->pw[0].packets,
				(unsigned long long)want[k]);
			exit(1);
		}
	}
	if (tx != sent || b->w.st.rx_decrypted != sent ||
	    a->w.st.tx_frames != sent || b->w.st.tun_tx != sent) {
		fprintf(stderr, "bench_spread: N=%d: %llu sent, %llu sealed, "
			"%llu opened, %llu written\n", a->n,
			(unsigned long long)sent, (unsigned long long)tx,
			(unsigned long long)b->w.st.rx_decrypted,
			(unsigned long long)b->w.st.tun_tx);
		exit(1);
	}
	free(want);
}

/* -P: a neighbour on another CPU streaming through MB of its own memory,
 * one load and store per line, for as long as the runs last: the L3 and
 * memory bandwidth a busy machine's other tenants take. Its CPU time is
 * not counted (the timed thread's is); what it evicts is. */
struct pressure {
	pthread_t th;
	size_t bytes;
	_Atomic int stop;
};

static void *pressure_main(void *arg)
{
	struct pressure *pr = arg;
	volatile uint64_t *a = malloc(pr->bytes);
	size_t i, n = pr->bytes / sizeof(*a);

	if (!a)
		die("pressure", -ENOMEM);
	memset((void *)a, 1, pr->bytes);
	while (!atomic_load_explicit(&pr->stop, memory_order_relaxed))
		for (i = 0; i < n; i += 64 / sizeof(*a))
			a[i]++;
	free((void *)a);
	return NULL;
}

static void pressure_start(struct pressure *pr, size_t mb)
{
	int self = sched_getcpu(), cpu, ncpu = get_nprocs();
	pthread_attr_t at;
	cpu_set_t set;

	pr->bytes = mb << 20;
	atomic_store(&pr->stop, 0);
	pthread_attr_init(&at);
	CPU_ZERO(&set);
	for (cpu = 0; cpu < ncpu; cpu++)
		if (cpu != self)
			CPU_SET(cpu, &set);
	if (CPU_COUNT(&set))
		pthread_attr_setaffinity_np(&at, sizeof(set), &set);
	else
		fprintf(stderr, "bench_spread: -P: one CPU, the neighbour "
			"shares it\n");
	if (pthread_create(&pr->th, &at, pressure_main, pr))
		die("pthread_create", -errno);
	pthread_attr_destroy(&at);
}

static void pressure_stop(struct pressure *pr)
{
	atomic_store(&pr->stop, 1);
	pthread_join(pr->th, NULL);
}

/* ns per pass_now() tick, against the monotonic clock over 50 ms */
static double pass_tick_ns(void)
{
	struct timespec a, b;
	uint64_t t0, t1;
	double ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = pass_now();
	do {
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	} while (ns < 5e7);
	t1 = pass_now();
	return ns / (double)(t1 - t0);
}

static int cmp_dbl(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static struct gw A[MAXN], B[MAXN];
	int ns[MAXN] = { 1, 1000, 10000 }, nn = 3, reps = 5, i, r, j;
	double secs = 3, txpps[MAXN][MAXREPS], rxpps[MAXN][MAXREPS];
	double mtx[MAXN], mrx[MAXN];
	uint64_t per, pos[MAXN] = { 0 };
	struct wire wi;
	size_t len = 64;
	enum crypto_backend backend = CRYPTO_OPENSSL;
	bool autob = true; /* -b auto: as espressod's default */
	const char *tops = NULL;
	bool csv = false, passes = false;
	struct pressure pr;
	long pressure_mb = 0;
	static uint64_t ticks[MAXN][PASS_MAX];
	double tick_ns = 1;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-b") && i + 1 < argc) {
			autob = !strcmp(argv[++i], "auto");
			if (!autob && crypto_backend_parse(argv[i], &backend)) {
				fprintf(stderr, "bench_spread: -b auto|openssl|"
					"ipsec-mb\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
			char why[128];

			if (cfg_parse_cipher(argv[++i], &cipher, why,
					     sizeof(why))) {
				fprintf(stderr, "bench_spread: -c: %s\n", why);
				return 2;
			}
		} else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "-l") && i + 1 < argc)
			len = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			char *s = argv[++i], *e;

			for (nn = 0; nn < MAXN && *s; nn++) {
				ns[nn] = strtol(s, &e, 10);
				if (e == s || ns[nn] < 1 || ns[nn] > NDST)
					nn = MAXN + 1;
				s = *e == ',' ? e + 1 : e;
			}
			if (nn > MAXN || !nn) {
				fprintf(stderr, "bench_spread: -n 1..%d, "
					"comma-separated\n", NDST);
				return 2;
			}
		} else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			tops = argv[++i];
		else if (!strcmp(argv[i], "-p"))
			passes = true;
		else if (!strcmp(argv[i], "-P") && i + 1 < argc)
			pressure_mb = atol(argv[++i]);
		else if (!strcmp(argv[i], "--csv"))
			csv = true;
		else {
			fprintf(stderr, "usage: bench_spread [-b BACKEND] [-c CIPHER] [-s SECS] [-l LEN] "
				"[-r REPS] [-n N,N,...] [-t DIR] [-p] [-P MB] [--csv]\n");
			return 2;
		}
	}
	if (secs <= 0 || len < 8 || len > 1400 || reps < 1 || reps > MAXREPS ||
	    pressure_mb < 0 || pressure_mb > 4096) {
		fprintf(stderr, "bench_spread: bad -s, -l, -r or -P\n");
		return 2;
	}
	if (autob) /* as espressod picks */
		backend = crypto_auto_backend();
	if (crypto_set_backend(backend) || crypto_thread_init())
		return 1;
	fprintf(stderr, "bench_spread: %s, %s\n", crypto_backend_name(backend),
		config_cipher_name(cipher));
	for (i = 0; i < NSEQ; i++)
		order[i] = rnd() % NDST;
	wi.stride = (len + 28 + 128 + 63) & ~(size_t)63;
	wi.buf = malloc(PHASE * wi.stride);
	wi.len = malloc(PHASE * sizeof(*wi.len));
	if (!wi.buf || !wi.len)
		die("malloc", -ENOMEM);
	for (i = 0; i < nn; i++) {
		gw_build(&A[i], ns[i], true);
		gw_build(&B[i], ns[i], false);
		if (tops)
			gw_tops(&B[i], tops, i);
		gw_start(&A[i], true);
		gw_start(&B[i], false);
	}
	if (pressure_mb)
		pressure_start(&pr, pressure_mb);
	/* calibrate on N = the first: packets for secs / reps / nn per run
	 * (this also warms everything up) */
	{
		struct totals t = { 0 };
		double c;

		for (i = 0; i < nn; i++) {
			struct totals w = { 0 };

			run(&A[i], &B[i], 2 * PHASE, len, &pos[i], &wi, &w);
		}
		run(&A[0], &B[0], 8 * PHASE, len, &pos[0], &wi, &t);
		c = (t.tx_ns + t.rx_ns) / t.pkts;
		per = secs * 1e9 / reps / nn / c;
		per = (per + PHASE - 1) / PHASE * PHASE;
	}
	/* -p: the passes of the timed runs only; the clock's rate */
	for (i = 0; passes && i < nn; i++)
		A[i].w.pass_ticks = B[i].w.pass_ticks = ticks[i];
	if (passes)
		tick_ns = pass_tick_ns();
	for (r = 0; r < reps; r++)
		for (i = 0; i < nn; i++) {
			struct totals t = { 0 };

			run(&A[i], &B[i], per, len, &pos[i], &wi, &t);
			txpps[i][r] = t.pkts * 1e9 / t.tx_ns;
			rxpps[i][r] = t.pkts * 1e9 / t.rx_ns;
		}
	if (pressure_mb)
		pressure_stop(&pr);
	for (i = 0; i < nn; i++) {
		check(&A[i], &B[i], pos[i], 0);
		for (j = 0; tops && j < ns[i]; j++)
			if (atomic_load(B[i].in[j]->rx_exact) !=
			    atomic_load(&B[i].in[j]->replay.top))
				die("an exact top was not noted", -EIO);
		mtx[i] = median(txpps[i], reps);
		mrx[i] = median(rxpps[i], reps);
	}
	if (csv)
		printf("tunnels,dir,pps,ratio_to_first\n");
	for (i = 0; i < nn; i++)
		for (j = 0; j < 2; j++) {
			double v = j ? mrx[i] : mtx[i], v0 = j ? mrx[0] : mtx[0];
			const char *dir = j ? "rx" : "tx";

			if (csv)
				printf("%d,%s,%.0f,%.3f\n", ns[i], dir, v,
				       v / v0);
			else
				printf("spread N=%-5d %s %9.0f pkt/s  %.3f of "
				       "N=%d\n", ns[i], dir, v, v / v0, ns[0]);
		}
	/* memory, gw-a: per tunnel, per SA pair, routes, the version */
	if (csv)
		printf("tunnels,tunnel_bytes,sa_pair_bytes,route_bytes,"
		       "routes,tables_bytes,total_per_tunnel\n");
	for (i = 0; i < nn; i++) {
		const struct gw *g = &A[i];
		int nr = ns[i] == 1 ? 1 : NDST;
		double tot = (double)(g->mem_tun + g->mem_sa + g->mem_route +
				      g->mem_tables) / ns[i];

		if (csv)
			printf("%d,%.0f,%.0f,%.0f,%d,%zu,%.0f\n", ns[i],
			       (double)g->mem_tun / ns[i],
			       (double)g->mem_sa / ns[i],
			       (double)g->mem_route / nr, nr, g->mem_tables,
			       tot);
		else
			printf("memory N=%-5d per tunnel %.0f B, per SA pair "
			       "%.0f B (keyed for 1 worker), per route %.0f B "
			       "(%d), table version %zu B; all: %.0f B per "
			       "tunnel\n", ns[i], (double)g->mem_tun / ns[i],
			       (double)g->mem_sa / ns[i],
			       (double)g->mem_route / nr, nr, g->mem_tables,
			       tot);
	}
	/* -p: ns per packet in each pass, and more than with the first N */
	if (passes && csv)
		printf("tunnels,pass,ns_per_packet,over_first\n");
	for (i = 0; passes && i < nn; i++)
		for (j = 0; j < PASS_MAX; j++) {
			double v = ticks[i][j] * tick_ns / (per * reps),
			       v0 = ticks[0][j] * tick_ns / (per * reps);

			if (csv)
				printf("%d,%s,%.1f,%.1f\n", ns[i],
				       pass_names[j], v, v - v0);
			else
				printf("pass N=%-5d %-13s %6.1f ns/packet  "
				       "%+6.1f against N=%d\n", ns[i],
				       pass_names[j], v, v - v0, ns[0]);
		}
	for (i = 0; i < nn; i++) {
		gw_free(&A[i]);
		gw_free(&B[i]);
	}
	free(wi.buf);
	free(wi.len);
	return 0;
}
