// SPDX-License-Identifier: GPL-2.0
/*
 * The inbound checks that answer from what an SA keeps in its hot lines
 * (core/rx.c), never otherwise than the tables would:
 * - the inner source check (rx_inner_src_ok): a decrypted packet's source
 *   must route to the tunnel of its SA. Each SA remembers, per worker,
 *   the range of IPv4 sources the FIB's leaf of its last lookup covers,
 *   and the table version. Not to be used across a more specific route
 *   inside the covering prefix (to another tunnel), a new table version
 *   (the route gone, or moved), within a burst or across bursts;
 * - the outer IPv4 addresses of raw ESP (rx_check), from the SA's wire
 *   parameters, which an `sa update` replaces under traffic: after it the
 *   new peer's packets pass and the old peer's do not. (A copy of the
 *   addresses in the SA's line 0 was tried against this test and not
 *   kept: no faster, the wire's line being next to the replay line.)
 *
 * The worker's own rx_burst over tables the control code builds
 * (control/live.c), its RX ring plain memory (fakexsk.h) filled with ESP
 * frames sealed here with OpenSSL's EVP (not espresso's crypto code), its
 * tun a datagram socket pair read back here.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/live.h"
#include "control/seqstore.h"
#include "core/rx.h"
#include "core/worker.h"
#include "fakexsk.h"
#include "rig.h"

#define NTUN 2
#define KEY_LEN 36 /* AES-GCM-256 and its salt */
#define LOCAL 0xc0000201u
#define REMOTE 0xc0000202u

static void key_of(int k, uint8_t *key)
{
	int i;

	for (i = 0; i < KEY_LEN; i++)
		key[i] = (uint8_t)(k * 91 + i * 3 + 7);
}

static struct rig rig;          /* rig.h */
#define NSENT 8
static uint32_t sent[NSENT];   /* the last number sent on t0, t1, ... */

static void route(const char *prefix, const char *tunnel, bool add)
{
	struct cfg_prefix p;
	char err[256];

	cr_assert_eq(config_parse_prefix(prefix, &p), 0, "%s", prefix);
	if (add)
		cr_assert_eq(live_route_add(&rig.l, &p, tunnel, err,
					    sizeof(err)), 0, "%s: %s", prefix,
			     err);
	else
		cr_assert_eq(live_route_del(&rig.l, &p, err, sizeof(err)), 0,
			     "%s: %s", prefix, err);
}

static void commit(void)
{
	cr_assert_eq(live_commit(&rig.l), 0);
	rig.w.tb = live_tables(&rig.l);
}

/* tunnel tK (LOCAL to REMOTE, raw ESP, AES-GCM-256) with inbound SPI
 * 0x2000 + k keyed by key_of(k) */
static void tunnel_with_sa(int k)
{
	char name[16], err[256];
	uint8_t key[KEY_LEN];
	struct cfg_tunnel ct = { 0 };
	struct live_sa_args sa = {
		.tunnel = name, .dir = SA_IN, .spi = 0x2000 + k,
		.key = key, .key_len = sizeof(key), .origin = "ctl",
	};

	snprintf(name, sizeof(name), "t%d", k);
	snprintf(ct.name, sizeof(ct.name), "%s", name);
	ct.local.s_addr = htonl(LOCAL);
	ct.remote.s_addr = htonl(REMOTE);
	ct.encap = ENCAP_ESP;
	ct.cipher = CIPHER_AES_GCM_256;
	ct.replay_window = 64;
	ct.sa_pairs = 1;
	cr_assert_eq(live_tunnel_add(&rig.l, &ct, err, sizeof(err)), 0, "%s",
		     err);
	key_of(k, key);
	cr_assert_eq(live_sa_add(&rig.l, &sa, err, sizeof(err)), 0, "%s", err);
}

/* tunnels t0, t1, inbound SPI 0x2000 + k; routes: 10.1.0.0/16 and
 * fd00:1::/32 to t0, 10.1.5.0/24 inside it to t1, 24 more /24s (a trie,
 * not a compact table) */
static void rig_up(void)
{
	static const struct live_ops ops;
	int k;

	memset(&rig, 0, sizeof(rig));
	memset(sent, 0, sizeof(sent));
	cr_assert_eq(live_init(&rig.l, 1, 1500, &ops, NULL), 0);
	for (k = 0; k < NTUN; k++)
		tunnel_with_sa(k);
	route("10.1.0.0/16", "t0", true);
	route("fd00:1::/32", "t0", true);
	route("10.1.5.0/24", "t1", true);
	for (k = 0; k < 24; k++) {
		char pfx[32];

		snprintf(pfx, sizeof(pfx), "10.%d.7.0/24", 100 + k);
		route(pfx, "t1", true);
	}
	cr_assert_eq(live_commit(&rig.l), 0);
	cr_assert_gt(fib_nodes(live_tables(&rig.l)->fib4), 0, "a trie");
	rig_worker_up(&rig, 1500, 64, false);
}

/* The inner packet: UDP from src (IPv4 dotted or IPv6) to the host. */
static size_t inner(uint8_t *buf, const char *src)
{
	memset(buf, 0, 64);
	if (strchr(src, ':')) {
		struct ip6_hdr *ip6 = (void *)buf;

		ip6->ip6_flow = htonl(6u << 28);
		ip6->ip6_plen = htons(8);
		ip6->ip6_nxt = IPPROTO_UDP;
		ip6->ip6_hlim = 64;
		cr_assert_eq(inet_pton(AF_INET6, src, &ip6->ip6_src), 1);
		cr_assert_eq(inet_pton(AF_INET6, "fd00:2::1", &ip6->ip6_dst), 1);
		buf[45] = 8; /* UDP length */
		return 48;
	} else {
		struct iphdr *ip = (void *)buf;

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(20 + 8);
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		cr_assert_eq(inet_pton(AF_INET, src, &ip->saddr), 1);
		ip->daddr = htonl(0x0a020001); /* 10.2.0.1: no route */
		ip->check = esp_ip_csum(ip, 20);
		buf[25] = 8;
		return 28;
	}
}

/* An Ethernet/IPv4/ESP frame of tunnel k's SA carrying the inner packet
 * from src, sealed with EVP, into the next fill frame and the RX ring
 * with the metadata the XDP program writes. */
static void inject_at(int k, const char *src, uint32_t from, uint32_t to)
{
	uint8_t pt[128] __attribute__((aligned(8)));
	uint8_t key[KEY_LEN], *f, *esp;
	struct fport *fp = &rig.f;
	struct iphdr ip = { 0 }; /* the frame's is at 2 mod 4: copied */
	size_t n = inner(pt, src), pad, ctlen;
	uint32_t spi = htonl(0x2000 + k), seq = htonl(++sent[k]);
	uint64_t addr, iv = sent[k];

	addr = fport_fill_take(fp);
	f = xsk_port_frame(&rig.w.port, addr) + FAKEXSK_HEADROOM;
	memset(f, 0, 14 + 20);
	f[12] = 0x08;
	esp = f + 14 + 20;
	/* the trailer: padding 1, 2, ..., its length, next header */
	for (pad = 0; (n + pad + 2) % 4; pad++)
		pt[n + pad] = (uint8_t)(pad + 1);
	pt[n + pad] = (uint8_t)pad;
	pt[n + pad + 1] = strchr(src, ':') ? 41 : 4;
	ctlen = n + pad + 2;
	memcpy(esp, &spi, 4);
	memcpy(esp + 4, &seq, 4);
	memcpy(esp + 8, &iv, 8);
	key_of(k, key);
	evp_esp(true, key, esp, pt, (int)ctlen);
	ip.version = 4;
	ip.ihl = 5;
	ip.tot_len = htons((uint16_t)(20 + 16 + ctlen + 16));
	ip.ttl = 64;
	ip.protocol = IPPROTO_ESP;
	ip.saddr = htonl(from);
	ip.daddr = htonl(to);
	ip.check = esp_ip_csum(&ip, 20);
	memcpy(f + 14, &ip, sizeof(ip));

	fport_rx_esp4(fp, f, addr, (uint32_t)(14 + ntohs(ip.tot_len)),
		      0x2000 + k, tables_sa_spi(rig.w.tb, 0x2000 + k)->slot);
}

static void inject(int k, const char *src)
{
	inject_at(k, src, REMOTE, LOCAL);
}

struct want {
	int k;
	const char *src;
	bool ok; /* delivered; else dropped as rx_inner_src */
};

/* One burst of these packets: exactly the ones to be delivered reach
 * the tun, in order, and the rest are counted as rx_inner_src. */
static void burst(const struct want *x, size_t n)
{
	uint64_t drops0 = rig.w.st.drops[DROP_rx_inner_src], ndrop = 0;
	uint8_t buf[256];
	size_t i;
	ssize_t r;

	for (i = 0; i < n; i++)
		inject(x[i].k, x[i].src);
	cr_assert_eq(rx_burst(&rig.w), n);
	for (i = 0; i < n; i++) {
		char got[INET6_ADDRSTRLEN];

		if (!x[i].ok) {
			ndrop++;
			continue;
		}
		r = recv(rig.sp[0], buf, sizeof(buf), 0);
		cr_assert_gt(r, 20, "packet %zu (t%d from %s) not delivered",
			     i, x[i].k, x[i].src);
		if ((buf[0] >> 4) == 6)
			inet_ntop(AF_INET6, buf + 8, got, sizeof(got));
		else
			inet_ntop(AF_INET, buf + 12, got, sizeof(got));
		cr_assert_str_eq(got, x[i].src, "packet %zu: from %s, want %s",
				 i, got, x[i].src);
	}
	r = recv(rig.sp[0], buf, sizeof(buf), 0);
	cr_assert_eq(r, -1, "a packet too many reached the tun");
	cr_assert_eq(rig.w.st.drops[DROP_rx_inner_src] - drops0, ndrop);
}

Test(rxcheck, inner_source_range_never_overrides_the_fib)
{
	/* one burst: the first lookup's /24 covers the second; a more
	 * specific route to t1 inside t0's /16; IPv6, uncached */
	static const struct want b1[] = {
		{ 0, "10.1.1.1", true },   /* looked up: 10.1.1.0/24 */
		{ 0, "10.1.1.200", true }, /* the same range */
		{ 0, "10.1.5.1", false },  /* t1's /24 inside t0's /16 */
		{ 1, "10.1.5.1", true },
		{ 0, "10.1.2.1", true },
		{ 1, "10.1.2.1", false },  /* t1's range misses, t0's */
		{ 0, "10.9.0.1", false },  /* no route */
		{ 0, "fd00:1::5", true },
		{ 1, "fd00:1::5", false },
		{ 0, "10.1.1.7", true },
	};
	/* each alone: the answers kept from the burst before */
	static const struct want b2[] = {
		{ 0, "10.1.2.9", true }, { 0, "10.1.5.9", false },
		{ 1, "10.1.5.9", true }, { 1, "10.1.1.9", false },
	};
	size_t i;

	rig_up();
	burst(b1, sizeof(b1) / sizeof(b1[0]));
	for (i = 0; i < sizeof(b2) / sizeof(b2[0]); i++)
		burst(&b2[i], 1);

	/* a new table version: 10.1.2.0/24 moved to t1; the /16 gone */
	route("10.1.2.0/24", "t1", true);
	commit();
	{
		static const struct want b3[] = {
			{ 0, "10.1.2.9", false }, { 1, "10.1.2.9", true },
			{ 0, "10.1.1.9", true },
		};
		burst(b3, 3);
	}
	route("10.1.0.0/16", NULL, false);
	commit();
	{
		static const struct want b4[] = {
			{ 0, "10.1.1.9", false }, { 0, "10.1.1.1", false },
			{ 1, "10.1.5.2", true },
		};
		burst(b4, 3);
	}
	cr_assert_eq(rig.w.st.drops[DROP_rx_inner_src], 4 + 2 + 1 + 2);
	rig_worker_down(&rig);
}

/* Frames of t0 from from to to, one burst: how many reach the tun, and
 * how many are counted as rx_outer_addr. */
static void outer(uint32_t from, uint32_t to, int n, int delivered)
{
	uint64_t d0 = rig.w.st.drops[DROP_rx_outer_addr];
	uint8_t buf[256];
	int i, got = 0;

	for (i = 0; i < n; i++)
		inject_at(0, "10.1.1.1", from, to);
	cr_assert_eq(rx_burst(&rig.w), (unsigned int)n);
	while (recv(rig.sp[0], buf, sizeof(buf), 0) > 0)
		got++;
	cr_assert_eq(got, delivered, "%d of %d from %#x to %#x delivered, "
		     "want %d", got, n, from, to, delivered);
	cr_assert_eq(rig.w.st.drops[DROP_rx_outer_addr] - d0,
		     (uint64_t)(n - delivered));
}

Test(rxcheck, outer_addresses_follow_an_update)
{
	const uint32_t moved = 0xc0000209u;
	struct in_addr to = { htonl(moved) };
	char err[256];

	rig_up();
	outer(REMOTE, LOCAL, 3, 3);
	outer(moved, LOCAL, 2, 0);            /* not the peer */
	outer(REMOTE, LOCAL + 7, 2, 0);       /* not this gateway */
	cr_assert_eq(live_sa_update(&rig.l, 0x2000, to, 0, 0, err,
				    sizeof(err)), 0, "%s", err);
	outer(REMOTE, LOCAL, 2, 0);           /* the old peer */
	outer(moved, LOCAL, 3, 3);
	outer(moved, LOCAL + 7, 1, 0);
	rig_worker_down(&rig);
}

/*
 * Persisted inbound SAs accept numbers only up to a limit on disk, which
 * the control thread raises when a worker asks (tables/sa.h rx_limit). A
 * burst over several SAs, each of them above its limit (their senders
 * restarted a reserved block further on): the worker asks for all of
 * them before it waits for the first, so one tick raises them all. (Asked
 * for one by one as rx_post reached each, every SA took a tick and a
 * sync of its own: 2 k packets/s against 250 k end to end over 1,000
 * tunnels re-added with their keys.)
 */
#define LIM_SAS NSENT
static char err_buf[256];

static void *burst_thread(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)rx_burst(&rig.w);
}

Test(rxcheck, limits_asked_for_the_whole_burst_at_once)
{
	static const struct live_ops ops;
	char dir[] = "/tmp/espresso-rxlim.XXXXXX", name[16], pfx[32];
	char src[LIM_SAS][32], cmd[64];
	struct seqstore *st;
	struct sa *sas[LIM_SAS];
	struct pollfd pfd;
	uint8_t buf[256];
	pthread_t th;
	uint64_t t0, t1;
	void *ret;
	int k, asked = 0, got = 0;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(seqstore_open(&st, dir, err_buf, sizeof(err_buf)), 0,
		     "%s", err_buf);
	memset(&rig, 0, sizeof(rig));
	memset(sent, 0, sizeof(sent));
	cr_assert_eq(live_init(&rig.l, 1, 1500, &ops, st), 0);
	for (k = 0; k < LIM_SAS; k++) {
		tunnel_with_sa(k);
		snprintf(name, sizeof(name), "t%d", k);
		snprintf(pfx, sizeof(pfx), "10.1.%d.0/24", k);
		route(pfx, name, true);
	}
	cr_assert_eq(live_commit(&rig.l), 0);
	live_tick(&rig.l, worker_now_ms()); /* the first limits on disk */
	rig_worker_up(&rig, 1500, 64, false);
	for (k = 0; k < LIM_SAS; k++) {
		sas[k] = live_sa_find(&rig.l, 0x2000 + k, SA_IN);
		cr_assert(sas[k] && sas[k]->persist);
		cr_assert_lt(atomic_load(&sas[k]->rx_limit), 1000u);
		sent[k] = 999; /* number 1000: above the limit */
		snprintf(src[k], sizeof(src[k]), "10.1.%d.1", k);
		inject(k, src[k]);
	}
	pfd.fd = live_wake_fd(&rig.l);
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 0) == 1) /* what the set-up asked for */
		live_wake_clear(&rig.l);
	cr_assert_eq(pthread_create(&th, NULL, burst_thread, NULL), 0);
	cr_assert_eq(poll(&pfd, 1, 1000), 1, "the worker asked for nothing");
	t0 = worker_now_ms();
	usleep(20 * 1000); /* the worker waits (up to SA_RX_WAIT_MS) */
	for (k = 0; k < LIM_SAS; k++)
		asked += atomic_load(&sas[k]->rx_want) == 1000;
	/* as the control thread does: one tick */
	live_wake_clear(&rig.l);
	live_tick(&rig.l, worker_now_ms());
	t1 = worker_now_ms();
	pthread_join(th, &ret);
	cr_assert_eq(asked, LIM_SAS, "%d of %d SAs asked for before the "
		     "worker waited", asked, LIM_SAS);
	cr_assert_eq((uintptr_t)ret, (uintptr_t)LIM_SAS);
	while (recv(rig.sp[0], buf, sizeof(buf), 0) > 0)
		got++;
	cr_assert_eq(got + rig.w.st.drops[DROP_rx_seq_unpersisted], LIM_SAS);
	/* the first refused only if the tick came after its wait ended (a
	 * slow disk or a busy machine) */
	cr_assert(got == LIM_SAS || t1 - t0 >= SA_RX_WAIT_MS - 20,
		  "%d of %d delivered though the tick ran %llu ms after the "
		  "ask", got, LIM_SAS, (unsigned long long)(t1 - t0));
	for (k = 0; k < LIM_SAS; k++)
		cr_assert_geq(atomic_load(&sas[k]->rx_limit), 1000u);
	rig_worker_down(&rig);
	seqstore_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
