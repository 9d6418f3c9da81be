// SPDX-License-Identifier: GPL-2.0
/*
 * ECMP (tables/ecmp.h, live_route_add_ecmp): several tunnels toward one
 * prefix in the control model and the tables it publishes. Flows (inner
 * UDP packets with xorshift-random ports, fixed seed) spread over every
 * member, a flow always takes one tunnel, a removed tunnel's flows go to
 * the others while every other flow stays exactly where it was, the
 * inbound checks accept each member, the kernel route comes with the first
 * tunnel and goes with the last. No BPF, no netlink.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <string.h>

#include "control/live.h"

#define NWORKERS 2
#define NFLOWS 3000

static struct live L;
static char err[512];
static int kroutes_add, kroutes_del;

static int on_route_add(void *arg, const struct cfg_prefix *p)
{
	(void)arg, (void)p;
	kroutes_add++;
	return 0;
}

static void on_route_del(void *arg, const struct cfg_prefix *p)
{
	(void)arg, (void)p;
	kroutes_del++;
}

static const struct live_ops OPS = { .route_add = on_route_add,
				     .route_del = on_route_del };

static void setup(void)
{
	kroutes_add = kroutes_del = 0;
	cr_assert_eq(live_init(&L, NWORKERS, 1500, &OPS, NULL), 0);
}

static void teardown(void)
{
	live_destroy(&L);
}

TestSuite(ecmp, .init = setup, .fini = teardown);

static struct tunnel *tun(const char *name, const char *remote)
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
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0, "%s", err);
	return live_tunnel_find(&L, name);
}

static struct cfg_prefix pfx(const char *s)
{
	struct cfg_prefix p;

	cr_assert_eq(config_parse_prefix(s, &p), 0);
	return p;
}

static int route(const char *p, const char *t, bool ecmp)
{
	struct cfg_prefix x = pfx(p);

	return ecmp ? live_route_add_ecmp(&L, &x, t, err, sizeof(err))
		    : live_route_add(&L, &x, t, err, sizeof(err));
}

/* flow i: UDP 10.1.x.y:sport -> 10.9.a.b:dport, fixed by i */
static void flow(int i, uint8_t pkt[28])
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	struct iphdr *ip = (void *)pkt;
	struct udphdr *u = (void *)(pkt + 20);

	s ^= s >> 29;
	s *= 0xbf58476d1ce4e5b9ull;
	s ^= s >> 32;
	memset(pkt, 0, 28);
	ip->version = 4;
	ip->ihl = 5;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons(28);
	ip->saddr = htonl(0x0a010000 | (uint32_t)(s & 0xffff));
	ip->daddr = htonl(0x0a090000 | (uint32_t)((s >> 16) & 0xffff));
	u->source = htons((uint16_t)(s >> 32));
	u->dest = htons((uint16_t)(s >> 48));
}

static struct tunnel *route_of(const uint8_t pkt[28])
{
	return tables_route_pkt(live_tables(&L), AF_INET,
				&((const struct iphdr *)pkt)->daddr, pkt, 28);
}

static struct tunnel *before[NFLOWS];

Test(ecmp, spread_stable_and_resilient)
{
	struct tunnel *a = tun("a", "192.0.2.2"), *b = tun("b", "192.0.2.3"),
		      *c = tun("c", "192.0.2.4"), *d = tun("d", "192.0.2.5");
	int n[3] = { 0 }, moved = 0, i;
	uint8_t pkt[28];
	uint8_t src[4] = { 10, 9, 7, 7 };

	cr_assert_eq(route("10.9.0.0/16", "a", false), 0, "%s", err);
	cr_assert_eq(route("10.9.0.0/16", "b", true), 0, "%s", err);
	cr_assert_eq(route("10.9.0.0/16", "c", true), 0, "%s", err);
	cr_assert_eq(route("10.8.0.0/16", "d", false), 0, "%s", err);
	cr_assert_eq(kroutes_add, 2, "one kernel route per prefix");
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_eq(live_tables(&L)->ngroups, 1);
	for (i = 0; i < NFLOWS; i++) {
		flow(i, pkt);
		before[i] = route_of(pkt);
		cr_assert(before[i] == a || before[i] == b || before[i] == c,
			  "flow %d", i);
		cr_assert_eq(route_of(pkt), before[i], "flow %d moved", i);
		n[before[i] == a ? 0 : before[i] == b ? 1 : 2]++;
	}
	for (i = 0; i < 3; i++)
		cr_assert_geq(n[i], NFLOWS / 6, "member %d has %d of %d flows",
			      i, n[i], NFLOWS);
	/* the inbound checks: any member, nothing else */
	cr_assert(tables_route_has(live_tables(&L), AF_INET, src, a));
	cr_assert(tables_route_has(live_tables(&L), AF_INET, src, b));
	cr_assert(tables_route_has(live_tables(&L), AF_INET, src, c));
	cr_assert(!tables_route_has(live_tables(&L), AF_INET, src, d));

	/* b goes: its flows to a and c, every other flow stays */
	cr_assert_eq(live_tunnel_del(&L, "b", err, sizeof(err)), 0);
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_eq(kroutes_del, 0, "the prefix still has tunnels");
	for (i = 0; i < NFLOWS; i++) {
		struct tunnel *now;

		flow(i, pkt);
		now = route_of(pkt);
		if (before[i] == b) {
			cr_assert(now == a || now == c, "flow %d", i);
			moved++;
		} else {
			cr_assert_eq(now, before[i], "flow %d of %s moved", i,
				     before[i]->name);
		}
	}
	cr_assert_eq(moved, n[1]);
	cr_assert(!tables_route_has(live_tables(&L), AF_INET, src, b));
	/* c goes too: one tunnel left, no group */
	cr_assert_eq(live_tunnel_del(&L, "c", err, sizeof(err)), 0);
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_eq(live_tables(&L)->ngroups, 0);
	flow(1, pkt);
	cr_assert_eq(route_of(pkt), a);
	cr_assert_eq(kroutes_del, 0);
}

Test(ecmp, refusals_and_route_del)
{
	char name[8];
	int i;

	tun("a", "192.0.2.2");
	tun("b", "192.0.2.3");
	cr_assert_eq(route("10.9.0.0/16", "a", false), 0);
	cr_assert_eq(route("10.9.0.0/16", "b", false), -EEXIST);
	cr_assert(strstr(err, "already routed to tunnel a"), "%s", err);
	cr_assert_eq(route("10.9.0.0/16", "a", true), -EEXIST);
	cr_assert_eq(route("10.9.0.0/16", "b", true), 0);
	/* one route del takes the prefix with all its tunnels */
	{
		struct cfg_prefix p = pfx("10.9.0.0/16");

		cr_assert_eq(live_route_del(&L, &p, err, sizeof(err)), 0);
		cr_assert(!live_route_has(&L, &p));
	}
	cr_assert_eq(kroutes_add, 1);
	cr_assert_eq(kroutes_del, 1);
	/* at most ECMP_MAX tunnels for one prefix */
	for (i = 0; i < ECMP_MAX + 1; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		tun(name, "192.0.2.9");
		cr_assert_eq(route("10.7.0.0/16", name, true),
			     i < ECMP_MAX ? 0 : -ENOSPC, "%d: %s", i, err);
	}
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_eq(live_tables(&L)->groups[0].n, ECMP_MAX);
}

/* the hash: the 5-tuple, nothing else (not the TTL, not the payload) */
Test(ecmp, hash_is_the_five_tuple)
{
	uint8_t p[28], q[28];

	flow(5, p);
	memcpy(q, p, sizeof(q));
	q[8] = 17; /* TTL */
	cr_assert_eq(ecmp_flow_hash(p, 28), ecmp_flow_hash(q, 28));
	q[20] ^= 1; /* source port */
	cr_assert_neq(ecmp_flow_hash(p, 28), ecmp_flow_hash(q, 28));
	memcpy(q, p, sizeof(q));
	q[6] = 0x20; /* a first fragment (MF): no ports, same flow anyway */
	q[20] ^= 1;
	p[6] = 0x20;
	cr_assert_eq(ecmp_flow_hash(p, 28), ecmp_flow_hash(q, 28));
}

/* a reload that drops a tunnel's config route keeps the prefix's others */
Test(ecmp, del_one_member)
{
	struct cfg_prefix p = pfx("10.9.0.0/16");

	tun("a", "192.0.2.2");
	tun("b", "192.0.2.3");
	cr_assert_eq(route("10.9.0.0/16", "a", false), 0);
	cr_assert_eq(route("10.9.0.0/16", "b", true), 0);
	cr_assert_eq(live_route_del_tunnel(&L, &p, "a", err, sizeof(err)), 0);
	cr_assert(live_route_has(&L, &p));
	cr_assert_eq(kroutes_del, 0);
	cr_assert_eq(live_route_del_tunnel(&L, &p, "a", err, sizeof(err)),
		     -ENOENT);
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_eq(live_tables(&L)->ngroups, 0);
	cr_assert_eq(live_route_del_tunnel(&L, &p, "b", err, sizeof(err)), 0);
	cr_assert(!live_route_has(&L, &p));
	cr_assert_eq(kroutes_del, 1);
}
