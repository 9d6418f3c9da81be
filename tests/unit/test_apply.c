// SPDX-License-Identifier: GPL-2.0
/*
 * The config into the live state (user/control/apply.c): apply_config at
 * start-up and the reload diff, apply_reload(running, new). Each test
 * writes its config files into a mkdtemp directory and loads them with
 * config_load(check_system = false), so the uplink need not exist; the live
 * model has no callbacks (no BPF, no netlink), two workers.
 *
 * The running config "A" has four tunnels, each for one kind of change
 * the new config "B" makes:
 *   keep   unchanged SAs (a route added in B)  -> the very same SA objects
 *   gone   not in B                            -> removed with its routes
 *   rekey  new keys, same SPIs                 -> new SAs, the old inbound
 *                                                 one dying for its grace
 *   wire   encap esp -> udp                    -> a new tunnel
 * and B adds "added".
 *
 * Objects the reload may free are compared by pointer only while the test
 * holds a reference (sa_get/tunnel_get): a freed address could come back.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "control/apply.h"
#include "control/live.h"

#define NWORKERS 2

static struct live L;
static struct cfg A, B;
static bool a_loaded, b_loaded;
static char err[1024];
static char tmpdir[64];

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void setup(void)
{
	static const struct live_ops ops = { 0 };

	err[0] = '\0';
	strcpy(tmpdir, "/tmp/test_apply.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	cr_assert_eq(live_init(&L, NWORKERS, 1500, &ops, NULL), 0);
}

static void teardown(void)
{
	live_destroy(&L);
	if (a_loaded)
		config_free(&A);
	if (b_loaded)
		config_free(&B);
	a_loaded = b_loaded = false;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(apply, .init = setup, .fini = teardown);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/* ---- config files ---- */

/* 36 key bytes: seed, seed + 1, ... as hex */
static const char *hexkey(unsigned int seed)
{
	static char buf[8][73];
	static int n;
	char *s = buf[n++ % 8];
	int i;

	for (i = 0; i < 36; i++)
		sprintf(s + 2 * i, "%02x", (seed * 37 + i * 3 + 1) & 0xff);
	return s;
}

static void key_bytes(unsigned int seed, uint8_t *k)
{
	int i;

	for (i = 0; i < 36; i++)
		k[i] = (seed * 37 + i * 3 + 1) & 0xff;
}

struct ctun {
	const char *name, *remote, *encap;
	uint32_t out_spi, in_spi;
	unsigned int out_key, in_key; /* seeds */
	const char *routes;           /* "\"a\", \"b\"" */
};

struct csys {
	int queues;
	const char *uplink, *tun;
	const char *crypto; /* workers.crypto; NULL: not set ("auto") */
};

static const struct csys SYS = { 2, "eth0", "esp0", NULL };

static void write_conf(const char *file, const struct csys *sys,
		       const struct ctun *t, int n, struct cfg *c)
{
	char path[256];
	FILE *f;
	int i, ret;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fchmod(fileno(f), 0600);
	fprintf(f, "espresso: {\n  instance = \"gw\";\n"
		"  workers = { queues = %d;%s%s%s };\n"
		"  uplink = { name = \"%s\"; };\n"
		"  tun = { name = \"%s\"; };\n  tunnels = (\n",
		sys->queues, sys->crypto ? " crypto = \"" : "",
		sys->crypto ? sys->crypto : "", sys->crypto ? "\";" : "",
		sys->uplink, sys->tun);
	for (i = 0; i < n; i++)
		fprintf(f, "    { name = \"%s\"; local = \"192.0.2.1\"; "
			"remote = \"%s\"; encap = \"%s\"; cipher = "
			"\"aes-gcm-256\";\n"
			"      outbound = { spi = 0x%x; key = \"%s\"; };\n"
			"      inbound = { spi = 0x%x; key = \"%s\"; };\n"
			"      routes = [ %s ]; }%s\n",
			t[i].name, t[i].remote, t[i].encap ? t[i].encap : "esp",
			t[i].out_spi, hexkey(t[i].out_key), t[i].in_spi,
			hexkey(t[i].in_key), t[i].routes,
			i + 1 < n ? "," : "");
	fprintf(f, "  );\n};\n");
	fclose(f);
	ret = config_load(path, c, false, err, sizeof(err));
	cr_assert_eq(ret, 0, "config_load %s: %d %s", file, ret, err);
}

static const struct ctun TA[] = {
	{ "keep", "192.0.2.2", "esp", 0x1000, 0x2000, 1, 2, "\"10.1.0.0/16\"" },
	{ "gone", "192.0.2.3", "esp", 0x1001, 0x2001, 3, 4,
	  "\"10.2.0.0/16\", \"fd00:2::/64\"" },
	{ "rekey", "192.0.2.4", "esp", 0x1002, 0x2002, 5, 6,
	  "\"10.3.0.0/16\"" },
	{ "wire", "192.0.2.5", "esp", 0x1003, 0x2003, 7, 8, "\"10.4.0.0/16\"" },
};

static const struct ctun TB[] = {
	{ "keep", "192.0.2.2", "esp", 0x1000, 0x2000, 1, 2,
	  "\"10.1.0.0/16\", \"10.11.0.0/16\"" },
	{ "rekey", "192.0.2.4", "esp", 0x1002, 0x2002, 15, 16,
	  "\"10.3.0.0/16\"" },
	{ "wire", "192.0.2.5", "udp", 0x1003, 0x2003, 7, 8, "\"10.4.0.0/16\"" },
	{ "added", "192.0.2.6", "esp", 0x1005, 0x2005, 9, 10,
	  "\"10.6.0.0/16\", \"fd00:6::/64\"" },
};

#define N(x) ((int)(sizeof(x) / sizeof((x)[0])))

static void load_a(const struct ctun *t, int n)
{
	write_conf("a.conf", &SYS, t, n, &A);
	a_loaded = true;
}

static void load_b(const struct csys *sys, const struct ctun *t, int n)
{
	write_conf("b.conf", sys, t, n, &B);
	b_loaded = true;
}

static void apply_a(void)
{
	int ret = apply_config(&L, &A, err, sizeof(err));

	cr_assert_eq(ret, 0, "apply_config: %d %s", ret, err);
}

/* ---- lookups in the published version ---- */

static struct tunnel *route_of(const char *addr)
{
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	uint8_t a[16];

	cr_assert_eq(inet_pton(family, addr, a), 1);
	return tables_route(live_tables(&L), family, a);
}

static struct tunnel *tun(const char *name)
{
	return live_tunnel_find(&L, name);
}

static struct sa *in_sa(uint32_t spi)
{
	return live_sa_find(&L, spi, SA_IN);
}

static struct sa *out_sa(const char *name)
{
	struct tunnel *t = tun(name);

	cr_assert_not_null(t, "tunnel %s", name);
	return tunnel_out_sa(t, 0);
}

static void assert_published(struct sa *sa)
{
	struct tables *tb = live_tables(&L);

	cr_assert_not_null(sa);
	cr_assert_eq(tables_sa_slot(tb, sa->slot, sa->spi), sa,
		     "0x%x not at its slot", sa->spi);
	cr_assert_not_null(tables_sa_spi(tb, sa->spi));
}

/* ---- tests ---- */

Test(apply, config_into_live)
{
	struct tables *tb;
	int i;

	load_a(TA, N(TA));
	apply_a();
	tb = live_tables(&L);
	cr_assert_eq(L.tun_count, 4u);
	for (i = 0; i < N(TA); i++) {
		struct tunnel *t = tun(TA[i].name);
		struct sa *in = in_sa(TA[i].in_spi), *out = out_sa(TA[i].name);
		uint8_t k[36];

		cr_assert_not_null(t);
		cr_assert_eq(tables_tunnel_id(tb, t->slot, t->id), t);
		cr_assert_not_null(out);
		cr_assert_eq(out->spi, TA[i].out_spi);
		key_bytes(TA[i].out_key, k);
		cr_assert_arr_eq(out->key, k, 36);
		cr_assert_str_eq(out->origin, "config");
		cr_assert_eq(tables_sa_spi(tb, TA[i].in_spi), in);
		key_bytes(TA[i].in_key, k);
		cr_assert_arr_eq(in->key, k, 36);
		cr_assert_str_eq(in->origin, "config");
		cr_assert_eq(in->tunnel, t);
	}
	cr_assert_eq(route_of("10.1.0.1"), tun("keep"));
	cr_assert_eq(route_of("10.2.0.1"), tun("gone"));
	cr_assert_eq(route_of("fd00:2::1"), tun("gone"));
	cr_assert_eq(route_of("10.4.0.1"), tun("wire"));
	cr_assert_null(route_of("10.6.0.1"));
	/* nothing differs: nothing restart-only */
	cr_assert_eq(apply_restart_only(&A, &A, err, sizeof(err)), 0);
}

Test(apply, reload_diff)
{
	struct tunnel *keep, *gone, *wire, *t;
	struct sa *keep_out, *keep_in, *rk_out, *rk_in, *sa;
	uint64_t gone_id, wire_id;
	uint32_t gone_slot, wire_slot;
	struct tables *tb;
	uint8_t k[36];
	int ret;

	load_a(TA, N(TA));
	load_b(&SYS, TB, N(TB));
	apply_a();
	cr_assert_eq(apply_restart_only(&A, &B, err, sizeof(err)), 0, "%s",
		     err);
	keep = tun("keep");
	gone = tun("gone");
	wire = tun("wire");
	keep_out = out_sa("keep");
	keep_in = in_sa(0x2000);
	rk_out = out_sa("rekey");
	rk_in = in_sa(0x2002);
	gone_id = gone->id, gone_slot = gone->slot;
	wire_id = wire->id, wire_slot = wire->slot;
	tunnel_get(wire);
	sa_get(rk_out);
	sa_get(rk_in);
	/* traffic so far: a sequence counter and a replay window */
	atomic_store(&keep_out->seq, 12345);
	cr_assert_eq(replay_update(&keep_in->replay, 777), REPLAY_OK);

	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	cr_assert_eq(ret, 0, "apply_reload: %d %s", ret, err);
	tb = live_tables(&L);
	cr_assert_eq(L.tun_count, 4u);

	/* keep: the very same objects, their state untouched */
	cr_assert_eq(tun("keep"), keep);
	cr_assert_eq(out_sa("keep"), keep_out);
	cr_assert_eq(tunnel_out_sa(keep, 1), keep_out);
	cr_assert_eq(atomic_load(&keep_out->seq), 12345u);
	cr_assert_eq(in_sa(0x2000), keep_in);
	cr_assert_eq(keep_in->state, SA_MATURE);
	cr_assert_eq(tables_sa_spi(tb, 0x2000), keep_in);
	cr_assert_eq(atomic_load(&keep_in->replay.top), 777u);
	cr_assert_neq(replay_check(&keep_in->replay, 777), REPLAY_OK);
	cr_assert_eq(keep->nin, 1);
	cr_assert_eq(tables_tunnel_id(tb, keep->slot, keep->id), keep);
	/* its new route */
	cr_assert_eq(route_of("10.1.0.1"), keep);
	cr_assert_eq(route_of("10.11.0.1"), keep);

	/* gone: with its routes and SAs */
	cr_assert_null(tun("gone"));
	cr_assert_null(tables_tunnel_id(tb, gone_slot, gone_id));
	cr_assert_null(route_of("10.2.0.1"));
	cr_assert_null(route_of("fd00:2::1"));
	cr_assert_null(live_sa_find(&L, 0x1001, -1));
	cr_assert_null(live_sa_find(&L, 0x2001, -1));
	cr_assert_null(tables_sa_spi(tb, 0x2001));

	/* added: with its SAs and routes */
	t = tun("added");
	cr_assert_not_null(t);
	cr_assert_eq(tables_tunnel_id(tb, t->slot, t->id), t);
	cr_assert_eq(route_of("10.6.0.1"), t);
	cr_assert_eq(route_of("fd00:6::1"), t);
	sa = out_sa("added");
	cr_assert(sa && sa->spi == 0x1005);
	assert_published(in_sa(0x2005));
	cr_assert_eq(tables_sa_spi(tb, 0x2005), in_sa(0x2005));

	/* rekey: new SAs with the new keys; the old inbound one dying */
	sa = out_sa("rekey");
	cr_assert_not_null(sa);
	cr_assert_neq(sa, rk_out);
	cr_assert_eq(sa->spi, 0x1002u);
	key_bytes(15, k);
	cr_assert_arr_eq(sa->key, k, 36);
	cr_assert_eq(atomic_load(&sa->seq), 0u);
	cr_assert_eq(rk_out->state, SA_DEAD);
	sa = in_sa(0x2002);
	cr_assert_not_null(sa);
	cr_assert_neq(sa, rk_in);
	key_bytes(16, k);
	cr_assert_arr_eq(sa->key, k, 36);
	assert_published(sa);
	cr_assert_eq(rk_in->state, SA_DYING);
	cr_assert_eq(tables_sa_slot(tb, rk_in->slot, 0x2002), rk_in,
		     "the old inbound SA left before its grace period");
	cr_assert_eq(tun("rekey")->nin, 1);
	cr_assert_eq(route_of("10.3.0.1"), tun("rekey"));

	/* wire: a new tunnel of the same name, its routes moved along */
	t = tun("wire");
	cr_assert_not_null(t);
	cr_assert_neq(t, wire);
	cr_assert_neq(t->id, wire_id);
	cr_assert_eq(t->encap, ENCAP_UDP);
	cr_assert_null(tables_tunnel_id(tb, wire_slot, wire_id));
	cr_assert_eq(tables_tunnel_id(tb, t->slot, t->id), t);
	cr_assert_eq(route_of("10.4.0.1"), t);
	sa = out_sa("wire");
	cr_assert(sa && sa->tunnel == t);
	cr_assert_eq(sa_wire(sa)->encap, ENCAP_UDP);
	cr_assert_eq(in_sa(0x2003)->tunnel, t);
	assert_published(in_sa(0x2003));

	/* after the grace period only the new inbound SA is left */
	live_tick(&L, now_ms() + LIVE_IN_GRACE_MS + 1);
	tb = live_tables(&L);
	cr_assert_null(tables_sa_slot(tb, rk_in->slot, 0x2002));
	cr_assert_eq(tables_sa_spi(tb, 0x2002), in_sa(0x2002));
	cr_assert_eq(rk_in->refs, 1, "only ours is left");
	cr_assert_eq(rk_out->refs, 1, "only ours is left");
	cr_assert_eq(wire->refs, 1, "only ours is left");
	sa_put(rk_in);
	sa_put(rk_out);
	tunnel_put(wire);

	/* and back: B -> A */
	ret = apply_reload(&L, &B, &A, err, sizeof(err));
	cr_assert_eq(ret, 0, "apply_reload back: %d %s", ret, err);
	cr_assert_eq(out_sa("keep"), keep_out);
	cr_assert_eq(atomic_load(&keep_out->seq), 12345u);
	cr_assert_null(tun("added"));
	cr_assert_null(route_of("10.11.0.1"));
	cr_assert_null(route_of("10.6.0.1"));
	cr_assert_not_null(tun("gone"));
	cr_assert_eq(route_of("10.2.0.1"), tun("gone"));
	cr_assert_eq(tun("wire")->encap, ENCAP_ESP);
	key_bytes(5, k);
	cr_assert_arr_eq(out_sa("rekey")->key, k, 36);
}

/* New keys with new SPIs: the outbound SA switched in one store, the two
 * inbound SAs side by side until the old one's grace is over. */
Test(apply, reload_rekey_new_spis)
{
	struct ctun tb[N(TA)];
	struct sa *old_out, *old_in, *sa;
	struct tables *v;
	int ret;

	memcpy(tb, TA, sizeof(TA));
	tb[2].out_spi = 0x1012, tb[2].in_spi = 0x2012;
	tb[2].out_key = 25, tb[2].in_key = 26;
	load_a(TA, N(TA));
	load_b(&SYS, tb, N(tb));
	apply_a();
	old_out = out_sa("rekey");
	old_in = in_sa(0x2002);
	sa_get(old_out);
	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	cr_assert_eq(ret, 0, "%d %s", ret, err);
	v = live_tables(&L);
	sa = out_sa("rekey");
	cr_assert(sa && sa != old_out && sa->spi == 0x1012);
	cr_assert_null(live_sa_find(&L, 0x1002, -1));
	cr_assert_eq(tables_sa_spi(v, 0x2012), in_sa(0x2012));
	cr_assert_eq(tables_sa_spi(v, 0x2002), old_in, "make before break");
	cr_assert_eq(old_in->state, SA_DYING);
	cr_assert_null(in_sa(0x2002));
	live_tick(&L, now_ms() + LIVE_IN_GRACE_MS + 1);
	v = live_tables(&L);
	cr_assert_null(tables_sa_spi(v, 0x2002));
	cr_assert_eq(tables_sa_spi(v, 0x2012), in_sa(0x2012));
	sa_put(old_out);
}

/*
 * Regression (once in apply.c reload_sa / live.c build): a new key under the same inbound
 * SPI. The old SA is deleted (dying, still in the version for
 * LIVE_IN_GRACE_MS) and the new one added with the same SPI; build() puts
 * both into the SPI hash in slot order, so for the whole grace period
 * tables_sa_spi() -- the lookup of frames without metadata and of packets
 * reassembled from outer fragments -- finds the OLD SA with the old key,
 * and every such packet the peer sends with the new key fails its ICV.
 */
Test(apply, reload_same_spi_new_key_lookup_finds_new_sa)
{
	struct ctun tb[1] = { TA[2] };
	struct sa *old_in, *new_in;
	struct tables *v;
	int ret;

	tb[0].in_key = 16;
	load_a(&TA[2], 1);
	load_b(&SYS, tb, 1);
	apply_a();
	old_in = in_sa(0x2002);
	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	cr_assert_eq(ret, 0, "%d %s", ret, err);
	v = live_tables(&L);
	new_in = in_sa(0x2002);
	cr_assert(new_in && new_in != old_in);
	cr_assert_eq(old_in->state, SA_DYING);
	cr_assert_eq(tables_sa_slot(v, new_in->slot, 0x2002), new_in);
	cr_assert_eq(tables_sa_slot(v, old_in->slot, 0x2002), old_in);
	cr_assert_eq(tables_sa_spi(v, 0x2002), new_in,
		     "during the grace period the SPI lookup finds the "
		     "dying SA (old key), not the new one");
}

#include "probe_out.h"

/*
 * Regression (once in apply.c reload_sa, outbound, same SPI): the old SA is deleted
 * (tunnel_set_out(NULL)) before the new one is created and stored, so
 * while sa_create keys the new SA's contexts the workers find no outbound
 * SA and cannot send, against "an outbound SA is replaced in one store".
 */
Test(apply, reload_same_spi_new_key_out_never_null)
{
	struct ctun tb[1] = { TA[2] };
	int ret;

	tb[0].out_key = 15;
	load_a(&TA[2], 1);
	load_b(&SYS, tb, 1);
	apply_a();
	probe_calls = probe_nulls = 0;
	probe_t = tun("rekey");
	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	probe_t = NULL;
	cr_assert_eq(ret, 0, "%d %s", ret, err);
	cr_assert_gt(probe_calls, 0u, "the probe saw no SA being made");
	cr_assert_eq(probe_nulls, 0u, "while the new outbound SA was "
		     "made, %llu of %llu looks found no outbound SA (deleted "
		     "first)", (unsigned long long)probe_nulls,
		     (unsigned long long)probe_calls);
	cr_assert_eq(out_sa("rekey")->key[0], (15 * 37 + 1) & 0xff);
}

/* The same seen by a worker thread while the key changes back and forth
 * (timing-dependent: may miss the gap, never reports one that is not). */
struct watch {
	struct tunnel *t;
	_Atomic int stop;
	_Atomic uint64_t reads, nulls;
};

static void *watch_thread(void *arg)
{
	struct watch *w = arg;

	epoch_online(&L.epoch, 0);
	while (!atomic_load(&w->stop)) {
		struct sa *sa = tunnel_out_sa(w->t, 0);

		if (!sa || sa->spi != 0x1002)
			atomic_fetch_add(&w->nulls, 1);
		atomic_fetch_add(&w->reads, 1);
		epoch_quiescent(&L.epoch, 0);
	}
	epoch_offline(&L.epoch, 0);
	return NULL;
}

Test(apply, reload_same_spi_new_key_out_under_a_reader, .timeout = 20)
{
	struct ctun tb[1] = { TA[2] };
	struct watch w = { 0 };
	pthread_t th;
	int i, ret = 0;

	tb[0].out_key = 15;
	load_a(&TA[2], 1);
	load_b(&SYS, tb, 1);
	apply_a();
	w.t = tun("rekey");
	pthread_create(&th, NULL, watch_thread, &w);
	while (atomic_load(&w.reads) < 10)
		sched_yield();
	/* no assertion while the reader runs: it would outlive the test */
	for (i = 0; i < 300 && !ret; i++) {
		ret = i % 2 ? apply_reload(&L, &B, &A, err, sizeof(err))
			    : apply_reload(&L, &A, &B, err, sizeof(err));
		live_tick(&L, now_ms() + LIVE_IN_GRACE_MS + 1);
	}
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	cr_assert_eq(ret, 0, "reload %d: %d %s", i, ret, err);
	cr_assert_eq(tun("rekey"), w.t);
	cr_assert_eq(atomic_load(&w.nulls), 0u,
		     "%llu of %llu reads found no outbound SA while "
		     "its key changed",
		     (unsigned long long)atomic_load(&w.nulls),
		     (unsigned long long)atomic_load(&w.reads));
}

/*
 * Regression (once in apply.c apply_reload, order of the changes): an SPI that moves from
 * a tunnel that stays to a tunnel listed before it. The new tunnel is
 * added while the old SA still holds the SPI: -EEXIST, and the reload
 * stops half-way ("the tunnels before it were applied") although the new
 * config is valid. Removing what goes (changed SAs too) before adding
 * anything would apply it.
 */
Test(apply, reload_spi_moves_to_a_new_tunnel)
{
	struct ctun tb[2] = { TA[0], TA[0] };
	int ret;

	/* "keep" gives its inbound SPI to "first" and takes another */
	tb[0].name = "first";
	tb[0].remote = "192.0.2.9";
	tb[0].out_spi = 0x1009;
	tb[0].out_key = 40, tb[0].in_key = 41;
	tb[0].routes = "\"10.9.0.0/16\"";
	tb[1].in_spi = 0x2010;
	tb[1].in_key = 42;
	load_a(&TA[0], 1);
	load_b(&SYS, tb, 2);
	apply_a();
	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	cr_assert_eq(ret, 0, "a valid reload refused half-way: %d %s",
		     ret, err);
	cr_assert_eq(in_sa(0x2000)->tunnel, tun("first"));
	cr_assert_eq(in_sa(0x2010)->tunnel, tun("keep"));
}

/* Settings only a restart can change: refused by name, nothing changed
 * (not even the tunnel changes the same file makes). */
static void restart_only(const struct csys *sys, const char *what)
{
	struct tables *tb;
	struct tunnel *gone;
	struct sa *out;
	int ret;

	load_a(TA, N(TA));
	load_b(sys, TB, N(TB));
	apply_a();
	tb = live_tables(&L);
	gone = tun("gone");
	out = out_sa("rekey");
	ret = apply_restart_only(&A, &B, err, sizeof(err));
	cr_assert_eq(ret, -EINVAL);
	cr_assert(strstr(err, what) && strstr(err, "restart"), "%s", err);
	err[0] = '\0';
	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	cr_assert_eq(ret, -EINVAL);
	cr_assert(strstr(err, what), "%s", err);
	cr_assert(strstr(err, "b.conf"), "the file: %s", err);
	cr_assert_eq(live_tables(&L), tb, "a new version was published");
	cr_assert_eq(tun("gone"), gone);
	cr_assert_null(tun("added"));
	cr_assert_eq(out_sa("rekey"), out);
	cr_assert_eq(tun("wire")->encap, ENCAP_ESP);
	cr_assert_eq(L.tun_count, 4u);
}

Test(apply, restart_only_queues)
{
	struct csys s = SYS;

	s.queues = 3;
	restart_only(&s, "workers.queues");
}

/*
 * workers.crypto: "auto" is the backend it chose at start-up, so naming
 * that one (or going back to "auto") reloads; naming the other takes a
 * restart. Here the running backend is OpenSSL (this process never set
 * another).
 */
Test(apply, reload_crypto_auto_is_what_runs)
{
	struct csys s = SYS;

	cr_assert_eq(crypto_get_backend(), CRYPTO_OPENSSL);
	load_a(TA, N(TA)); /* "auto", which chose OpenSSL here */
	s.crypto = "openssl";
	load_b(&s, TA, N(TA));
	cr_assert_eq(apply_restart_only(&A, &B, err, sizeof(err)), 0, "%s",
		     err);
	/* and back: explicit "openssl" running -> "auto", which takes
	 * ipsec-mb wherever it can be used (and passes its self-test) */
	cr_assert_eq(apply_restart_only(&B, &A, err, sizeof(err)),
		     crypto_auto_backend() == CRYPTO_OPENSSL ? 0 : -EINVAL,
		     "%s", err);
	s.crypto = "ipsec-mb";
	config_free(&B);
	b_loaded = false;
	load_b(&s, TA, N(TA));
	cr_assert_eq(apply_restart_only(&A, &B, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "workers.crypto") && strstr(err, "restart"),
		  "%s", err);
}

Test(apply, restart_only_uplink)
{
	struct csys s = SYS;

	s.uplink = "eth1";
	restart_only(&s, "uplink");
}

Test(apply, restart_only_tun)
{
	struct csys s = SYS;

	s.tun = "esp1";
	restart_only(&s, "tun");
}

/* A tunnel added through the control socket, whose name the new config
 * takes: refused, nothing changed. */
Test(apply, clash_with_ctl_tunnel)
{
	struct ctun tb[N(TA) + 1];
	struct cfg_tunnel ct;
	struct tunnel *extra, *gone;
	struct tables *tb0;
	int ret;

	memcpy(tb, TA, sizeof(TA));
	tb[1] = TB[3]; /* "gone" replaced by "added" */
	tb[N(TA)] = (struct ctun){ "extra", "192.0.2.7", "esp", 0x1007,
				   0x2007, 11, 12, "\"10.7.0.0/16\"" };
	load_a(TA, N(TA));
	load_b(&SYS, tb, N(tb));
	apply_a();
	memset(&ct, 0, sizeof(ct));
	strcpy(ct.name, "extra");
	inet_pton(AF_INET, "192.0.2.1", &ct.local);
	inet_pton(AF_INET, "198.51.100.1", &ct.remote);
	ct.cipher = CIPHER_AES_GCM_128;
	ct.replay_window = 64;
	ct.sa_pairs = 1;
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0);
	cr_assert_eq(live_commit(&L), 0);
	extra = tun("extra");
	gone = tun("gone");
	tb0 = live_tables(&L);

	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	cr_assert_eq(ret, -EEXIST);
	cr_assert(strstr(err, "extra") && strstr(err, "espressoctl"), "%s",
		  err);
	cr_assert_eq(live_tables(&L), tb0, "a new version was published");
	cr_assert_eq(tun("extra"), extra);
	cr_assert_eq(extra->cipher, CIPHER_AES_GCM_128);
	cr_assert_eq(tun("gone"), gone);
	cr_assert_null(tun("added"));
	cr_assert_eq(route_of("10.2.0.1"), gone);
	cr_assert_null(route_of("10.7.0.1"));
}

/* An SPI taken by an SA added through the control socket. */
Test(apply, clash_with_ctl_sa)
{
	struct ctun tb[N(TA)];
	struct cfg_tunnel ct;
	struct sa *ctl_sa, *gone_out;
	struct tables *tb0;
	uint8_t key[36] = { 1, 2, 3 };
	struct live_sa_args a = {
		.tunnel = "ctl", .dir = SA_IN, .spi = 0x2005, .key = key,
		.key_len = 36, .origin = "ctl",
	};
	int ret;

	memcpy(tb, TA, sizeof(TA));
	tb[1] = TB[3]; /* "gone" replaced by "added", inbound 0x2005 */
	load_a(TA, N(TA));
	load_b(&SYS, tb, N(tb));
	apply_a();
	memset(&ct, 0, sizeof(ct));
	strcpy(ct.name, "ctl");
	inet_pton(AF_INET, "192.0.2.1", &ct.local);
	inet_pton(AF_INET, "198.51.100.1", &ct.remote);
	ct.cipher = CIPHER_AES_GCM_256;
	ct.replay_window = 1024;
	ct.sa_pairs = 1;
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0);
	cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(live_commit(&L), 0);
	ctl_sa = in_sa(0x2005);
	gone_out = out_sa("gone");
	tb0 = live_tables(&L);

	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	cr_assert_eq(ret, -EEXIST);
	cr_assert(strstr(err, "0x2005") && strstr(err, "espressoctl"), "%s",
		  err);
	cr_assert_eq(live_tables(&L), tb0, "a new version was published");
	cr_assert_eq(in_sa(0x2005), ctl_sa);
	cr_assert_eq(out_sa("gone"), gone_out);
	cr_assert_null(tun("added"));
	/* a tunnel the config never had is left alone by a reload */
	config_free(&B);
	load_b(&SYS, TA, N(TA));
	config_free(&A);
	load_a(TA, N(TA));
	ret = apply_reload(&L, &A, &B, err, sizeof(err));
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_eq(in_sa(0x2005), ctl_sa);
	cr_assert_not_null(tun("ctl"));
}

/* ---- P2MP (control/p2mp.h): a hub, its peers as tunnels HUB/NEXTHOP ---- */

#include "config/check.h"
#include "control/p2mp.h"

/* A hub with peers 10.255.0.(1+i) -> 192.0.2.(1+i), i in first..last. */
static void p2mp_conf(const char *file, const char *encap, int first,
		      int last, struct cfg *c)
{
	char path[256];
	FILE *f;
	int i, ret;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, file);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fchmod(fileno(f), 0600);
	fprintf(f, "espresso: {\n  instance = \"gw\";\n"
		"  uplink = { name = \"eth0\"; };\n  tunnels = (\n"
		"    { name = \"hub\"; local = \"192.0.2.1\"; encap = \"%s\";\n"
		"      cipher = \"aes-gcm-256\"; peers = (\n", encap);
	for (i = first; i <= last; i++)
		fprintf(f, "        { nexthop = \"10.255.0.%d\"; remote = "
			"\"192.0.2.%d\";\n"
			"          outbound = { spi = 0x1%d00; key = \"%s\"; };\n"
			"          inbound = { spi = 0x2%d00; key = \"%s\"; };\n"
			"          routes = [ \"10.1%d.0.0/16\" ]; }%s\n",
			1 + i, 1 + i, i, hexkey(10 * i), i,
			hexkey(10 * i + 1), i, i < last ? "," : "");
	fprintf(f, "      ); }\n  );\n};\n");
	fclose(f);
	ret = config_load(path, c, false, err, sizeof(err));
	cr_assert_eq(ret, 0, "config_load %s: %d %s", file, ret, err);
}

Test(apply, p2mp)
{
	struct tunnel *p1, *p2;
	struct cfg_prefix pfx;
	uint8_t key[36];
	char name[CFG_NAME_MAX];
	struct live_sa_args a = {
		.dir = SA_OUT, .spi = 0x1300, .key = key,
		.key_len = sizeof(key), .origin = "ctl",
	};

	p2mp_conf("a.conf", "esp", 1, 2, &A);
	a_loaded = true;
	apply_a();
	cr_assert_not_null(p2mp_find(&L, "hub"));
	cr_assert_null(tun("hub"), "a hub is no tunnel of the tables");
	p1 = tun("hub/10.255.0.2");
	p2 = tun("hub/10.255.0.3");
	cr_assert_not_null(p1);
	cr_assert_not_null(p2);
	cr_assert_eq(p1->remote.s_addr, inet_addr("192.0.2.2"));
	cr_assert_eq(route_of("10.11.0.1"), p1);
	cr_assert_eq(route_of("10.12.0.1"), p2);
	cr_assert_eq(in_sa(0x2100)->tunnel, p1);
	cr_assert_eq(p2mp_peer_count(&L, "hub"), 2);

	/* espressoctl's way: peer add, sa add ... peer, route add ... via */
	cr_assert_eq(p2mp_peer_add(&L, "hub", "10.255.0.4", AF_INET,
				   (struct in_addr){ inet_addr("192.0.2.4") },
				   NULL, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_neq(p2mp_peer_add(&L, "hub", "10.255.0.4", AF_INET,
				    (struct in_addr){ inet_addr("192.0.2.9") },
				    NULL, 0, err, sizeof(err)), 0);
	cr_assert_eq(p2mp_peer_name(&L, "hub", "10.255.0.4", name, err,
				    sizeof(err)), 0);
	cr_assert_str_eq(name, "hub/10.255.0.4");
	cr_assert_eq(p2mp_peer_name(&L, "nohub", "10.255.0.4", name, err,
				    sizeof(err)), -ENOENT);
	key_bytes(77, key);
	a.tunnel = name;
	cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg_parse_route("10.13.0.0/16", &pfx, err, sizeof(err)), 0);
	cr_assert_eq(live_route_add(&L, &pfx, name, err, sizeof(err)), 0);
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_eq(route_of("10.13.0.1"), tun("hub/10.255.0.4"));
	cr_assert_eq(out_sa("hub/10.255.0.4")->spi, 0x1300);
	cr_assert_eq(p2mp_peer_count(&L, "hub"), 3);

	/* peer del: its route and SAs go, the others stay */
	cr_assert_eq(p2mp_peer_del(&L, "hub", "10.255.0.3", err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_null(route_of("10.12.0.1"));
	cr_assert_eq(route_of("10.11.0.1"), p1);
	cr_assert_eq(p2mp_peer_del(&L, "hub", "10.255.0.3", err, sizeof(err)),
		     -ENOENT);

	/* a reload whose hub changed (its encapsulation) replaces every peer
	 * of the file; the one added by espressoctl goes with the hub */
	tunnel_get(p1);
	p2mp_conf("b.conf", "udp", 1, 2, &B);
	b_loaded = true;
	cr_assert_eq(apply_reload(&L, &A, &B, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(tun("hub/10.255.0.2"));
	cr_assert_neq(tun("hub/10.255.0.2"), p1, "the peer was not replaced");
	cr_assert_eq(tun("hub/10.255.0.2")->encap, ENCAP_UDP);
	cr_assert_eq(route_of("10.11.0.1"), tun("hub/10.255.0.2"));
	cr_assert_eq(route_of("10.12.0.1"), tun("hub/10.255.0.3"));
	cr_assert_null(tun("hub/10.255.0.4"));
	cr_assert_null(route_of("10.13.0.1"));
	cr_assert_eq(p2mp_peer_count(&L, "hub"), 2);
	tunnel_put(p1);
}

Test(apply, p2mp_reload_keeps_peers)
{
	struct tunnel *p1;
	struct sa *o1;

	p2mp_conf("a.conf", "esp", 1, 2, &A);
	a_loaded = true;
	apply_a();
	p1 = tun("hub/10.255.0.2");
	o1 = out_sa("hub/10.255.0.2");
	tunnel_get(p1);
	sa_get(o1);
	/* the same hub, peer 2 gone: peer 1 keeps its tunnel and SAs */
	p2mp_conf("b.conf", "esp", 1, 1, &B);
	b_loaded = true;
	cr_assert_eq(apply_reload(&L, &A, &B, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(tun("hub/10.255.0.2"), p1);
	cr_assert_eq(out_sa("hub/10.255.0.2"), o1);
	cr_assert_null(tun("hub/10.255.0.3"));
	cr_assert_null(route_of("10.12.0.1"));
	cr_assert_eq(route_of("10.11.0.1"), p1);
	sa_put(o1);
	tunnel_put(p1);
}

Test(apply, p2mp_del)
{
	p2mp_conf("a.conf", "esp", 1, 3, &A);
	a_loaded = true;
	apply_a();
	cr_assert_eq(p2mp_peer_count(&L, "hub"), 3);
	cr_assert_eq(p2mp_del(&L, "hub", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_null(p2mp_find(&L, "hub"));
	cr_assert_null(tun("hub/10.255.0.2"));
	cr_assert_null(route_of("10.11.0.1"));
	cr_assert_null(in_sa(0x2100));
}
