// SPDX-License-Identifier: GPL-2.0
/*
 * VRFs (tables.h, live.c): tunnels bound to routing tables, the same
 * prefixes in two VRFs, lookups that never cross tables, kernel routes
 * per VRF, lazy (empty) tables. No BPF, no netlink.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "control/live.h"

static struct live L;
static char err[512];
static int kadd[8], kdel[8]; /* kernel routes by VRF (mod 8) */

static int on_add(void *arg, const struct cfg_prefix *p)
{
	(void)arg, (void)p;
	kadd[0]++;
	return 0;
}

static void on_del(void *arg, const struct cfg_prefix *p)
{
	(void)arg, (void)p;
	kdel[0]++;
}

static int on_vadd(void *arg, const struct cfg_prefix *p, uint32_t vrf)
{
	(void)arg, (void)p;
	cr_assert(vrf > 0);
	kadd[vrf & 7]++;
	return 0;
}

static void on_vdel(void *arg, const struct cfg_prefix *p, uint32_t vrf)
{
	(void)arg, (void)p;
	cr_assert(vrf > 0);
	kdel[vrf & 7]++;
}

static const struct live_ops OPS = {
	.route_add = on_add, .route_del = on_del,
	.vrf_route_add = on_vadd, .vrf_route_del = on_vdel,
};

static void setup(void)
{
	memset(kadd, 0, sizeof(kadd));
	memset(kdel, 0, sizeof(kdel));
	cr_assert_eq(live_init(&L, 1, 1500, &OPS, NULL), 0);
}

static void teardown(void)
{
	live_destroy(&L);
}

TestSuite(vrf, .init = setup, .fini = teardown);

static struct tunnel *tun(const char *name, const char *remote, int vrf)
{
	struct cfg_tunnel ct;

	memset(&ct, 0, sizeof(ct));
	snprintf(ct.name, sizeof(ct.name), "%s", name);
	inet_pton(AF_INET, "192.0.2.1", &ct.local);
	inet_pton(AF_INET, remote, &ct.remote);
	ct.encap = ENCAP_ESP;
	ct.cipher = CIPHER_AES_GCM_256;
	ct.replay_window = 1024;
	ct.sa_pairs = 1;
	ct.vrf = (uint16_t)vrf;
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0, "%s", err);
	return live_tunnel_find(&L, name);
}

static struct cfg_prefix pfx(const char *s)
{
	struct cfg_prefix p;

	cr_assert_eq(config_parse_prefix(s, &p), 0);
	return p;
}

static int route(const char *p, const char *t)
{
	struct cfg_prefix x = pfx(p);

	return live_route_add(&L, &x, t, err, sizeof(err));
}

static const struct tables *commit(void)
{
	cr_assert_eq(live_commit(&L), 0);
	return live_tables(&L);
}

static struct tunnel *look(const struct tables *tb, int vrf, const char *a)
{
	uint8_t x[16];

	if (strchr(a, ':')) {
		cr_assert_eq(inet_pton(AF_INET6, a, x), 1);
		return tables_route_vrf(tb, vrf, AF_INET6, x);
	}
	cr_assert_eq(inet_pton(AF_INET, a, x), 1);
	return tables_route_vrf(tb, vrf, AF_INET, x);
}

static bool has(const struct tables *tb, const char *a, struct tunnel *t)
{
	uint8_t x[4];

	cr_assert_eq(inet_pton(AF_INET, a, x), 1);
	return tables_route_has(tb, AF_INET, x, t);
}

Test(vrf, same_prefixes_isolated)
{
	struct tunnel *t0 = tun("def", "198.51.100.1", 0);
	struct tunnel *red = tun("red", "198.51.100.2", 1);
	struct tunnel *blue = tun("blue", "198.51.100.3", 2);
	const struct tables *tb;

	cr_assert_eq(route("10.2.0.0/16", "def"), 0, "%s", err);
	cr_assert_eq(route("10.2.0.0/16", "red"), 0, "%s", err);
	cr_assert_eq(route("10.2.0.0/16", "blue"), 0, "%s", err);
	cr_assert_eq(route("10.9.0.0/16", "blue"), 0, "%s", err);
	cr_assert_eq(route("fd00:2::/32", "red"), 0, "%s", err);
	/* the same prefix twice in one VRF is still refused */
	cr_assert_eq(route("10.2.0.0/16", "red"), -EEXIST);
	cr_assert_eq(kadd[0], 1);
	cr_assert_eq(kadd[1], 2);
	cr_assert_eq(kadd[2], 2);
	tb = commit();
	cr_assert_eq(tb->nvrf, 2);
	cr_assert_eq(look(tb, 0, "10.2.3.4"), t0);
	cr_assert_eq(look(tb, 1, "10.2.3.4"), red);
	cr_assert_eq(look(tb, 2, "10.2.3.4"), blue);
	/* what only blue routes is nowhere else */
	cr_assert_eq(look(tb, 2, "10.9.0.1"), blue);
	cr_assert_null(look(tb, 0, "10.9.0.1"));
	cr_assert_null(look(tb, 1, "10.9.0.1"));
	cr_assert_eq(look(tb, 1, "fd00:2::1"), red);
	cr_assert_null(look(tb, 0, "fd00:2::1"));
	cr_assert_null(look(tb, 2, "fd00:2::1")); /* blue: no IPv6 table */
	cr_assert_null(tables_fib(tb, 2, AF_INET6));
	cr_assert_null(look(tb, 3, "10.2.3.4")); /* no such VRF */
	/* inbound: each tunnel accepts its own VRF's sources only */
	cr_assert(has(tb, "10.2.3.4", red));
	cr_assert(has(tb, "10.2.3.4", blue));
	cr_assert(has(tb, "10.2.3.4", t0));
	cr_assert(has(tb, "10.9.0.1", blue));
	cr_assert(!has(tb, "10.9.0.1", red));
	cr_assert(!has(tb, "10.9.0.1", t0));
}

Test(vrf, delete_stays_in_its_vrf)
{
	struct cfg_prefix p = pfx("10.2.0.0/16");
	struct tunnel *red = tun("red", "198.51.100.2", 1);
	const struct tables *tb;

	tun("blue", "198.51.100.3", 2);
	cr_assert_eq(route("10.2.0.0/16", "red"), 0, "%s", err);
	cr_assert_eq(route("10.2.0.0/16", "blue"), 0, "%s", err);
	cr_assert(!live_route_has(&L, &p));
	cr_assert(live_route_has_vrf(&L, &p, 1));
	cr_assert_eq(live_route_del(&L, &p, err, sizeof(err)), -ENOENT);
	cr_assert_eq(live_route_del_vrf(&L, &p, 2, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(kdel[2], 1);
	cr_assert_eq(kdel[1], 0);
	tb = commit();
	cr_assert_eq(look(tb, 1, "10.2.0.1"), red);
	cr_assert_null(look(tb, 2, "10.2.0.1"));
	cr_assert_null(tables_fib(tb, 2, AF_INET)); /* empty: no table */
	/* a tunnel that goes takes its own VRF's routes only */
	cr_assert_eq(route("10.2.0.0/16", "blue"), 0, "%s", err);
	cr_assert_eq(live_tunnel_del(&L, "red", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(kdel[1], 1);
	tb = commit();
	cr_assert_null(look(tb, 1, "10.2.0.1"));
	cr_assert_not_null(look(tb, 2, "10.2.0.1"));
}

Test(vrf, ecmp_within_a_vrf)
{
	struct tunnel *a = tun("a", "198.51.100.2", 1);
	struct tunnel *b = tun("b", "198.51.100.3", 1);
	struct tunnel *c = tun("c", "198.51.100.4", 2);
	struct cfg_prefix p = pfx("10.2.0.0/16");
	const struct tables *tb;

	cr_assert_eq(route("10.2.0.0/16", "a"), 0, "%s", err);
	cr_assert_eq(live_route_add_ecmp(&L, &p, "b", err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(route("10.2.0.0/16", "c"), 0, "%s", err);
	cr_assert_eq(kadd[1], 1); /* one kernel route for the group */
	cr_assert_eq(kadd[2], 1);
	tb = commit();
	cr_assert(has(tb, "10.2.0.1", a));
	cr_assert(has(tb, "10.2.0.1", b));
	cr_assert(has(tb, "10.2.0.1", c));
	cr_assert_eq(look(tb, 2, "10.2.0.1"), c);
	cr_assert(look(tb, 1, "10.2.0.1") == a || look(tb, 1, "10.2.0.1") == b);
}

Test(vrf, thousand_vrfs_small)
{
	char name[32], pf[32];
	const struct tables *tb;
	size_t mem = 0;
	int v;

	for (v = 1; v <= 1000; v++) {
		snprintf(name, sizeof(name), "t%d", v);
		tun(name, "198.51.100.2", v);
		snprintf(pf, sizeof(pf), "10.%d.%d.0/24", v / 250, v % 250);
		cr_assert_eq(route(pf, name), 0, "%s", err);
	}
	tb = commit();
	cr_assert_eq(tb->nvrf, 1000);
	for (v = 1; v <= 1000; v++) {
		snprintf(pf, sizeof(pf), "10.%d.%d.9", v / 250, v % 250);
		cr_assert_eq(look(tb, v, pf)->vrf, v);
		cr_assert_null(look(tb, v == 1000 ? 1 : v + 1, pf));
		mem += fib_mem(tables_fib(tb, v, AF_INET)) +
		       fib_mem(tables_fib(tb, v, AF_INET6));
	}
	/* one /24: a compact table, no IPv6 table */
	cr_assert_lt(mem / 1000, 128, "%zu bytes per VRF", mem / 1000);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The compact table (VRFs' small tables) gives what the trie gives, for
 * every size up to where it hands over to the trie, in both families,
 * with overlapping prefixes and duplicates (the later wins). */
Test(vrf, compact_fib_matches_trie)
{
	struct fib_route r[FIB_COMPACT_MAX + 1];
	uint64_t s = 0x2545f4914f6cdd1dull;
	int fam, n, i, k, round;

	for (fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET, max = fam ? 128 : 32;

		for (round = 0; round < 200; round++) {
			n = round % (FIB_COMPACT_MAX + 2);
			for (i = 0; i < n; i++) {
				memset(&r[i], 0, sizeof(r[i]));
				r[i].addr[0] = 10;
				for (k = 1; k < 16; k++)
					r[i].addr[k] = rnd(&s) & 3;
				r[i].len = rnd(&s) % (max + 1);
				r[i].value = 1 + rnd(&s) % 5;
				if (i && rnd(&s) % 4 == 0) /* a duplicate */
					memcpy(r[i].addr, r[i - 1].addr, 16),
					r[i].len = r[i - 1].len;
			}
			struct fib *t = fib_build(family, r, n);
			struct fib *c = fib_build_compact(family, r, n);

			cr_assert(t && c);
			for (k = 0; k < 500; k++) {
				uint8_t a[16];
				int j;

				a[0] = rnd(&s) % 8 ? 10 : rnd(&s);
				for (j = 1; j < 16; j++)
					a[j] = rnd(&s) & 3;
				cr_assert_eq(fib_lookup(c, a), fib_lookup(t, a),
					     "family %d, %d routes", family, n);
			}
			if (n <= FIB_COMPACT_MAX)
				cr_assert_eq(fib_nodes(c), 0);
			fib_free(t);
			fib_free(c);
		}
	}
	cr_assert_null(fib_build_compact(AF_INET, NULL, 1));
}

/* ---- reload (apply.c) ---- */

#include "control/apply.h"

static void conf_load(struct cfg *c, const char *vrfs, const char *tvrf)
{
	static const char *const key =
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223";
	static const char *const key2 =
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3";
	char path[] = "/tmp/test_vrf.XXXXXX", text[2048];
	int fd = mkstemp(path);
	FILE *f;

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert(f);
	snprintf(text, sizeof(text),
		 "espresso: { instance = \"v\"; uplink = { name = \"lo\"; }; %s\n"
		 "tunnels = ( { name = \"t\"; local = \"192.0.2.1\"; "
		 "remote = \"192.0.2.2\"; cipher = \"aes-gcm-256\"; %s "
		 "outbound = { spi = 0x1000; key = \"%s\"; }; "
		 "inbound = { spi = 0x2000; key = \"%s\"; }; "
		 "routes = [ \"10.2.0.0/16\" ]; } ); };\n", vrfs, tvrf, key, key2);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(config_load(path, c, false, err, sizeof(err)), 0, "%s", err);
	unlink(path);
}

#define TWO_VRFS "vrfs = ( { name = \"red\"; table = 10; tun = \"r\"; }, " \
		 "{ name = \"blue\"; table = 20; tun = \"b\"; } );"

Test(vrf, reload_moves_a_tunnel_to_another_vrf)
{
	struct cfg o, n, m;
	struct tunnel *t;
	struct cfg_prefix p = pfx("10.2.0.0/16");

	conf_load(&o, TWO_VRFS, "vrf = \"red\";");
	cr_assert_eq(apply_config(&L, &o, err, sizeof(err)), 0, "%s", err);
	t = live_tunnel_find(&L, "t");
	cr_assert_eq(t->vrf, 1);
	cr_assert(live_route_has_vrf(&L, &p, 1));
	cr_assert_eq(kadd[1], 1);
	conf_load(&n, TWO_VRFS, "vrf = \"blue\";");
	cr_assert_eq(apply_reload(&L, &o, &n, err, sizeof(err)), 0, "%s", err);
	t = live_tunnel_find(&L, "t");
	cr_assert_eq(t->vrf, 2);
	cr_assert(!live_route_has_vrf(&L, &p, 1));
	cr_assert(live_route_has_vrf(&L, &p, 2));
	cr_assert_eq(kdel[1], 1);
	cr_assert_eq(kadd[2], 1);
	cr_assert_eq(look(live_tables(&L), 2, "10.2.0.9"), t);
	cr_assert_null(look(live_tables(&L), 1, "10.2.0.9"));
	/* the VRFs themselves (their tuns) take a restart */
	conf_load(&m, "vrfs = ( { name = \"red\"; table = 11; tun = \"r\"; }, "
		  "{ name = \"blue\"; table = 20; tun = \"b\"; } );",
		  "vrf = \"blue\";");
	cr_assert_eq(apply_reload(&L, &n, &m, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "vrfs changed"), "%s", err);
	config_free(&o);
	config_free(&n);
	config_free(&m);
}
