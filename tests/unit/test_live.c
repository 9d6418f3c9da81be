// SPDX-License-Identifier: GPL-2.0
/*
 * The control thread's model (user/control/live.c): tunnels, SAs and routes
 * added and deleted, and what each live_commit publishes (struct tables)
 * for the workers. No BPF, no netlink: every callback is NULL except
 * `event`, which records what live_tick reports. Two workers (epoch
 * readers, offline unless a test brings one online), a 1500-byte uplink.
 *
 * The persistence tests give the model a seqstore in a mkdtemp directory
 * and restart it (live_destroy, seqstore_close, open again).
 *
 * The churn test uses a fixed-seed xorshift64*; the seed is in its failure
 * messages.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "control/live.h"
#include "control/neigh.h"
#include "control/spialloc.h"
#include "control/seqstore.h"
#include "control/topmap.h"
#include "proto/esp.h"

#define NWORKERS 2
#define MTU 1500

static struct live L;
static char err[512];

struct rec_ev {
	enum live_ev type;
	char tunnel[TUNNEL_NAME_MAX];
	uint32_t spi;
	int dir;
	char what[64];
};

static struct rec_ev evs[64];
static int nev;

static void on_event(void *arg, const struct live_event *ev)
{
	struct rec_ev *r;

	(void)arg;
	cr_assert_lt(nev, 64, "too many events");
	r = &evs[nev++];
	r->type = ev->type;
	snprintf(r->tunnel, sizeof(r->tunnel), "%s",
		 ev->tunnel ? ev->tunnel : "");
	r->spi = ev->spi;
	r->dir = ev->dir;
	snprintf(r->what, sizeof(r->what), "%s", ev->what ? ev->what : "");
}

static const struct live_ops OPS = { .event = on_event };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static void setup(void)
{
	nev = 0;
	err[0] = '\0';
	cr_assert_eq(live_init(&L, NWORKERS, MTU, &OPS, NULL), 0);
}

static void teardown(void)
{
	live_destroy(&L);
}

TestSuite(live, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static struct cfg_tunnel ct_make(const char *name, int pairs,
				 enum cfg_cipher cipher)
{
	struct cfg_tunnel ct;

	memset(&ct, 0, sizeof(ct));
	snprintf(ct.name, sizeof(ct.name), "%s", name);
	inet_pton(AF_INET, "192.0.2.1", &ct.local);
	inet_pton(AF_INET, "192.0.2.2", &ct.remote);
	ct.encap = ENCAP_ESP;
	ct.cipher = cipher;
	ct.replay_window = 1024;
	ct.esn = true;
	ct.sa_pairs = pairs;
	return ct;
}

static struct tunnel *tun_add(struct live *l, const char *name, int pairs)
{
	struct cfg_tunnel ct = ct_make(name, pairs, CIPHER_AES_GCM_256);
	int ret = live_tunnel_add(l, &ct, err, sizeof(err));

	cr_assert_eq(ret, 0, "tunnel add %s: %d %s", name, ret, err);
	return live_tunnel_find(l, name);
}

static void key_fill(uint8_t *k, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		k[i] = (uint8_t)(seed * 31 + i * 7 + 1);
	/* a key per seed (live refuses a key another SA holds) */
	for (i = 0; i < 4 && i < n; i++)
		k[i] = (uint8_t)(seed >> (8 * i));
}

static int sa_add_x(struct live *l, const char *tunnel, int dir, uint32_t spi,
		    unsigned int seed, size_t key_len)
{
	uint8_t key[CFG_KEY_MAX];
	struct live_sa_args a = {
		.tunnel = tunnel, .dir = dir, .spi = spi, .key = key,
		.key_len = key_len,
	};

	key_fill(key, key_len, seed);
	return live_sa_add(l, &a, err, sizeof(err));
}

static struct sa *sa_add_ok(struct live *l, const char *tunnel, int dir,
			    uint32_t spi, unsigned int seed)
{
	int ret = sa_add_x(l, tunnel, dir, spi, seed, 36);
	struct sa *sa;

	cr_assert_eq(ret, 0, "sa add %s %s 0x%x: %d %s", tunnel,
		     dir == SA_IN ? "in" : "out", spi, ret, err);
	sa = live_sa_find(l, spi, dir);
	cr_assert_not_null(sa);
	return sa;
}

static struct cfg_prefix pfx(const char *s)
{
	struct cfg_prefix p;

	cr_assert_eq(config_parse_prefix(s, &p), 0, "%s", s);
	return p;
}

static void route_add_ok(struct live *l, const char *s, const char *tunnel)
{
	struct cfg_prefix p = pfx(s);
	int ret = live_route_add(l, &p, tunnel, err, sizeof(err));

	cr_assert_eq(ret, 0, "route add %s %s: %d %s", s, tunnel, ret, err);
}

/* The tunnel the published version routes addr to, or NULL. */
static struct tunnel *route_of(struct live *l, const char *addr)
{
	uint8_t a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	cr_assert_eq(inet_pton(family, addr, a), 1);
	return tables_route(live_tables(l), family, a);
}

static void commit_ok(struct live *l)
{
	cr_assert_eq(live_commit(l), 0);
}

static int count_ev(enum live_ev type, uint32_t spi)
{
	int i, n = 0;

	for (i = 0; i < nev; i++)
		n += evs[i].type == type && evs[i].spi == spi;
	return n;
}

/* ---- tunnels ---- */

Test(live, tunnel_add_del)
{
	struct tables *tb;
	struct tunnel *a, *b;
	uint64_t a_id;
	uint32_t a_slot;
	int ret;

	tb = live_tables(&L);
	cr_assert_not_null(tb, "live_init publishes an empty version");
	cr_assert_eq(tb->ntun, 0u);
	a = tun_add(&L, "a", 1);
	b = tun_add(&L, "b", 1);
	cr_assert(a && b && a != b);
	cr_assert_neq(a->id, b->id);
	cr_assert_neq(a->slot, b->slot);
	cr_assert_eq(L.tun_count, 2u);
	cr_assert_eq(a->mtu, esp_max_inner(MTU, ENCAP_ESP));
	cr_assert_eq(a->npairs, 1);
	/* staged: the published version has not changed */
	cr_assert_eq(live_tables(&L), tb);
	commit_ok(&L);
	tb = live_tables(&L);
	cr_assert_eq(tables_tunnel_id(tb, a->slot, a->id), a);
	cr_assert_eq(tables_tunnel_id(tb, b->slot, b->id), b);
	cr_assert_eq(tables_tunnel(tb, a->slot + 1), a);

	/* a name that exists */
	{
		struct cfg_tunnel ct = ct_make("a", 1, CIPHER_AES_GCM_128);

		ret = live_tunnel_add(&L, &ct, err, sizeof(err));
		cr_assert_eq(ret, -EEXIST);
		cr_assert(strstr(err, "a") && strstr(err, "exists"), "%s", err);
		cr_assert_eq(live_tunnel_find(&L, "a"), a);
		cr_assert_eq(a->cipher, CIPHER_AES_GCM_256);
	}
	/* a name that does not */
	ret = live_tunnel_del(&L, "nope", err, sizeof(err));
	cr_assert_eq(ret, -ENOENT);
	cr_assert(strstr(err, "nope") && strstr(err, "no such tunnel"), "%s",
		  err);
	cr_assert_eq(L.tun_count, 2u);

	a_id = a->id;
	a_slot = a->slot;
	cr_assert_eq(live_tunnel_del(&L, "a", err, sizeof(err)), 0, "%s", err);
	cr_assert_null(live_tunnel_find(&L, "a"));
	cr_assert_eq(L.tun_count, 1u);
	/* the running version still has it until the commit */
	cr_assert_eq(tables_tunnel_id(live_tables(&L), a_slot, a_id), a);
	commit_ok(&L);
	tb = live_tables(&L);
	cr_assert_null(tables_tunnel_id(tb, a_slot, a_id));
	cr_assert_eq(tables_tunnel_id(tb, b->slot, b->id), b);
	/* the name is free again; the new tunnel is another one */
	a = tun_add(&L, "a", 1);
	commit_ok(&L);
	cr_assert_neq(a->id, a_id);
	cr_assert_null(tables_tunnel_id(live_tables(&L), a_slot, a_id));
	cr_assert_eq(tables_tunnel_id(live_tables(&L), a->slot, a->id), a);
}

/* A worker still holding the old version keeps its tunnel alive. */
Test(live, tunnel_del_waits_for_readers)
{
	struct tables *tb;
	struct tunnel *a;

	a = tun_add(&L, "a", 1);
	commit_ok(&L);
	epoch_online(&L.epoch, 0);
	tb = live_tables(&L); /* reader 0 holds tb and a */
	cr_assert_eq(live_tunnel_del(&L, "a", err, sizeof(err)), 0);
	commit_ok(&L);
	live_tick(&L, now_ms());
	cr_assert_gt(epoch_pending(&L.epoch), 0u);
	cr_assert_str_eq(tables_tunnel(tb, a->slot + 1)->name, "a");
	/* the model's reference (retired) and the old version's */
	cr_assert_eq(a->refs, 2);
	epoch_quiescent(&L.epoch, 0);
	epoch_reclaim(&L.epoch);
	cr_assert_eq(epoch_pending(&L.epoch), 0u);
	epoch_offline(&L.epoch, 0);
}

/* Tunnels whose remotes go through one gateway share one next hop object
 * (what neigh.c's set_nh does: nexthop_get on the model's list), so one
 * neighbour update reaches all of them; deleting one tunnel drops only its
 * reference: the other keeps the object, its MAC and its place in the list. */
Test(live, nexthop_shared_between_tunnels)
{
	const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };
	struct nexthop *na, *nb, *nc;
	struct tunnel *a, *b, *c;
	struct in_addr gw, other;
	uint8_t got[6];

	inet_pton(AF_INET, "192.0.2.254", &gw);
	inet_pton(AF_INET, "192.0.2.253", &other);
	a = tun_add(&L, "a", 1);
	b = tun_add(&L, "b", 1);
	c = tun_add(&L, "c", 1);
	commit_ok(&L);
	na = nexthop_get(&L.nhs, 7, gw);
	nb = nexthop_get(&L.nhs, 7, gw);
	nc = nexthop_get(&L.nhs, 7, other); /* another gateway: its own */
	cr_assert(na && nb && nc);
	atomic_store(&a->nh, na);
	atomic_store(&b->nh, nb);
	atomic_store(&c->nh, nc);
	cr_assert_eq(na, nb, "two tunnels via one gateway: two next hops");
	cr_assert_eq(na->refs, 2);
	cr_assert_neq(nc, na);
	cr_assert_eq(nc->refs, 1);
	cr_assert_eq(L.nhs, nc, "list head: the newest");
	cr_assert_eq(nc->next, na);
	cr_assert_null(na->next, "one object per gateway in the list");

	/* one neighbour update: both tunnels see the MAC, c does not */
	cr_assert_not(neigh_has_mac(&L, AF_INET, 7, &gw));
	neigh_update(&L, 7, gw, mac);
	cr_assert(tunnel_nh_mac(a, got) && !memcmp(got, mac, 6));
	cr_assert(tunnel_nh_mac(b, got) && !memcmp(got, mac, 6));
	cr_assert_not(tunnel_nh_mac(c, got));
	/* what a deleted kernel entry asks (main.c): is it a next hop's? */
	cr_assert(neigh_has_mac(&L, AF_INET, 7, &gw));
	cr_assert_not(neigh_has_mac(&L, AF_INET, 8, &gw), "another interface");
	cr_assert_not(neigh_has_mac(&L, AF_INET, 7, &other), "no MAC yet");
	cr_assert_not(neigh_has_mac(&L, AF_INET6, 7, &gw), "another family");

	/* a goes, after a worker that holds the old version is done */
	epoch_online(&L.epoch, 0);
	(void)live_tables(&L);
	cr_assert_eq(live_tunnel_del(&L, "a", err, sizeof(err)), 0, "%s", err);
	commit_ok(&L);
	live_tick(&L, now_ms());
	epoch_quiescent(&L.epoch, 0);
	epoch_reclaim(&L.epoch);
	epoch_offline(&L.epoch, 0);
	live_tick(&L, now_ms());
	cr_assert_eq(epoch_pending(&L.epoch), 0u);
	cr_assert_eq(atomic_load(&b->nh), na, "b's next hop is still the shared one");
	cr_assert_eq(na->refs, 1, "only a's reference dropped");
	cr_assert_eq(L.nhs, nc);
	cr_assert_eq(nc->next, na, "b's next hop left the list");
	cr_assert(tunnel_nh_mac(b, got) && !memcmp(got, mac, 6),
		  "b lost the MAC with a");
	/* the next update still reaches b (the object is still found) */
	neigh_update(&L, 7, gw, NULL);
	cr_assert_not(tunnel_nh_mac(b, got));

	/* b goes too: its next hop with it; c's stays */
	cr_assert_eq(live_tunnel_del(&L, "b", err, sizeof(err)), 0, "%s", err);
	commit_ok(&L);
	live_tick(&L, now_ms());
	epoch_reclaim(&L.epoch);
	cr_assert_eq(epoch_pending(&L.epoch), 0u);
	cr_assert_eq(L.nhs, nc);
	cr_assert_null(nc->next, "the last reference freed b's next hop");
	cr_assert_eq(nc->refs, 1);
}

/* neigh_sweep's callback: what it was asked for. */
static int swept_family[4], swept_ifindex[4], nswept;
static struct in_addr swept_ip[4];

static void note_swept(void *arg, int family, int ifindex, const void *addr)
{
	(void)arg;
	cr_assert_lt(nswept, 4);
	swept_family[nswept] = family;
	swept_ifindex[nswept] = ifindex;
	memcpy(&swept_ip[nswept], addr, sizeof(struct in_addr));
	nswept++;
}

/* After lost neighbour events (neigh.h): a next hop the kernel's dump
 * lists gets its MAC from it; one with a MAC that the dump does not list
 * is asked for again and keeps its MAC; one without a MAC is not asked
 * (the workers' want does that). */
Test(live, nexthop_sync_sweeps_what_the_dump_missed)
{
	const uint8_t old[6] = { 2, 0, 0, 0, 0, 1 }, new[6] = { 2, 0, 0, 0, 0, 2 };
	struct in_addr g1, g2, g3;
	struct nexthop *n1, *n2, *n3;
	uint8_t got[6];

	inet_pton(AF_INET, "192.0.2.251", &g1);
	inet_pton(AF_INET, "192.0.2.252", &g2);
	inet_pton(AF_INET, "192.0.2.253", &g3);
	n1 = nexthop_get(&L.nhs, 7, g1);
	n2 = nexthop_get(&L.nhs, 8, g2);
	n3 = nexthop_get(&L.nhs, 7, g3);
	cr_assert(n1 && n2 && n3);
	neigh_update(&L, 7, g1, old);
	neigh_update(&L, 8, g2, old);
	nswept = 0;
	neigh_sync_begin(&L);
	neigh_update(&L, 7, g1, new); /* the dump lists g1 only */
	cr_assert_eq(neigh_sweep(&L, note_swept, NULL), 1);
	cr_assert_eq(nswept, 1);
	cr_assert_eq(swept_family[0], AF_INET);
	cr_assert_eq(swept_ifindex[0], 8);
	cr_assert_eq(swept_ip[0].s_addr, g2.s_addr);
	cr_assert(nexthop_mac(n1, got) && !memcmp(got, new, 6));
	cr_assert(nexthop_mac(n2, got) && !memcmp(got, old, 6),
		  "a swept next hop keeps its MAC until the kernel answers");
	cr_assert_not(nexthop_mac(n3, got));
	nexthop_put(&L.nhs, n3);
	nexthop_put(&L.nhs, n2);
	nexthop_put(&L.nhs, n1);
}

/* When the table is read again (neigh.h): not before events are lost, at
 * once the first time, then at most every second; a failed read stays
 * due, tried again 2, 4 ... 64 s later (never more), and a good one ends
 * it and the backoff. */
Test(live, resync_retried_later_after_a_failed_read)
{
	struct neigh_resync r = { .due = false };
	uint64_t t = 5000;
	int i;

	cr_assert_not(neigh_resync_ready(&r, t));
	neigh_resync_lost(&r);
	cr_assert(neigh_resync_ready(&r, t), "the first read at once");
	neigh_resync_ran(&r, t, true);
	cr_assert_not(neigh_resync_ready(&r, t + 5000), "nothing lost since");
	neigh_resync_lost(&r);
	cr_assert_not(neigh_resync_ready(&r, t + 999));
	cr_assert(neigh_resync_ready(&r, t + 1000));
	t += 1000;
	for (i = 1; i <= 9; i++) { /* reads that fail */
		uint64_t w = i < 7 ? 1000ull << i : 64000;

		neigh_resync_ran(&r, t, false);
		cr_assert_eq(r.fails, i);
		cr_assert_eq(neigh_resync_wait_ms(&r), w, "after %d: %llu", i,
			     (unsigned long long)neigh_resync_wait_ms(&r));
		cr_assert_not(neigh_resync_ready(&r, t + w - 1));
		cr_assert(neigh_resync_ready(&r, t + w), "still due");
		t += w;
	}
	neigh_resync_ran(&r, t, true);
	cr_assert_eq(r.fails, 0);
	cr_assert_not(neigh_resync_ready(&r, t + 100000));
	neigh_resync_lost(&r);
	cr_assert(neigh_resync_ready(&r, t + 1000), "the backoff is over");
}

/* ---- SAs ---- */

Test(live, sa_add_checks_key_and_spi)
{
	struct cfg_tunnel ct = ct_make("b", 1, CIPHER_AES_GCM_128);
	int ret;

	tun_add(&L, "a", 1);
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0);

	/* the key length is the tunnel's cipher's */
	ret = sa_add_x(&L, "a", SA_IN, 0x2000, 1, 20);
	cr_assert_eq(ret, -EINVAL);
	cr_assert(strstr(err, "aes-gcm-256") && strstr(err, "want 36"), "%s",
		  err);
	ret = sa_add_x(&L, "b", SA_OUT, 0x1000, 1, 36);
	cr_assert_eq(ret, -EINVAL);
	cr_assert(strstr(err, "aes-gcm-128") && strstr(err, "want 20"), "%s",
		  err);
	cr_assert_null(live_sa_find(&L, 0x2000, -1));
	cr_assert_null(live_sa_find(&L, 0x1000, -1));
	/* no such tunnel */
	ret = sa_add_x(&L, "zz", SA_IN, 0x2000, 1, 36);
	cr_assert_eq(ret, -ENOENT);
	cr_assert(strstr(err, "zz") && strstr(err, "no such tunnel"), "%s",
		  err);

	/* an SPI is one SA's per direction */
	sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	ret = sa_add_x(&L, "b", SA_IN, 0x2000, 2, 20);
	cr_assert_eq(ret, -EEXIST);
	cr_assert(strstr(err, "already used by tunnel a"), "%s", err);
	sa_add_ok(&L, "a", SA_OUT, 0x1000, 3);
	ret = sa_add_x(&L, "b", SA_OUT, 0x1000, 4, 20);
	cr_assert_eq(ret, -EEXIST);
	cr_assert(strstr(err, "already used by tunnel a"), "%s", err);
	ret = sa_add_x(&L, "a", SA_OUT, 0x1000, 5, 36);
	cr_assert_eq(ret, -EEXIST);
	cr_assert(strstr(err, "0x1000"), "%s", err);
	cr_assert_eq(live_tunnel_find(&L, "b")->nin, 0);
	cr_assert_null(tunnel_out_sa(live_tunnel_find(&L, "b"), 0));

	/* the same SPI may be used once each way */
	cr_assert_eq(sa_add_x(&L, "b", SA_IN, 0x1000, 6, 20), 0, "%s", err);
	ret = live_sa_del(&L, 0x1000, -1, err, sizeof(err));
	cr_assert_eq(ret, -EINVAL);
	cr_assert(strstr(err, "in or out"), "%s", err);
	ret = live_sa_del(&L, 0x9999, SA_IN, err, sizeof(err));
	cr_assert_eq(ret, -ENOENT);
	cr_assert(strstr(err, "0x9999"), "%s", err);
}

/* One key, one SA: whatever direction, tunnel or salt (the config's
 * check says the same of a file, config/check.c). */
Test(live, sa_key_serves_one_sa)
{
	uint8_t key[CFG_KEY_MAX];
	struct live_sa_args a = { .tunnel = "b", .dir = SA_OUT, .spi = 0x3000,
				  .key = key, .key_len = 36 };
	struct sa *in;
	int ret;

	tun_add(&L, "a", 1);
	tun_add(&L, "b", 1);
	in = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	/* the peer's key as our outbound key: both ends would send the
	 * same numbers under it */
	ret = sa_add_x(&L, "a", SA_OUT, 0x1000, 1, 36);
	cr_assert_eq(ret, -EEXIST);
	cr_assert(strstr(err, "spi 0x1000") && strstr(err, "inbound SA "
		  "0x2000 (tunnel a)") && strstr(err, "one SA"), "%s", err);
	cr_assert_null(live_sa_find(&L, 0x1000, SA_OUT));
	/* another tunnel, another direction or the same: refused */
	cr_assert_eq(sa_add_x(&L, "b", SA_IN, 0x2001, 1, 36), -EEXIST);
	cr_assert_eq(sa_add_x(&L, "b", SA_OUT, 0x3000, 1, 36), -EEXIST);
	cr_assert_eq(live_tunnel_find(&L, "b")->nin, 0);
	/* the same key with another salt is the same key */
	key_fill(key, sizeof(key), 1);
	key[35] ^= 0xff;
	cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), -EEXIST, "%s",
		     err);
	/* another key is welcome */
	key[0] ^= 0xff;
	cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s", err);
	/* once the SA is gone (dying or not), its key may serve a new one
	 * (outbound, its numbers then go on: persist.out_key_new_spi) */
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0);
	cr_assert_eq(in->state, SA_DYING);
	sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	commit_ok(&L);
}

/* The pairs of one add share its key; another add may not take it. */
Test(live, sa_key_pairs_share_it)
{
	tun_add(&L, "p", 4);
	sa_add_ok(&L, "p", SA_OUT, 0x1000, 7);
	cr_assert_not_null(live_sa_find(&L, 0x1003, SA_OUT));
	cr_assert_eq(sa_add_x(&L, "p", SA_IN, 0x2000, 7, 36), -EEXIST);
	cr_assert(strstr(err, "outbound SA 0x100"), "%s", err);
	sa_add_ok(&L, "p", SA_IN, 0x2000, 8);
	commit_ok(&L);
	/* all four pairs gone: the key is free */
	cr_assert_eq(live_tunnel_del(&L, "p", err, sizeof(err)), 0);
	commit_ok(&L);
	tun_add(&L, "q", 1);
	sa_add_ok(&L, "q", SA_IN, 0x2000, 7);
	commit_ok(&L);
}

Test(live, sa_in_out_published)
{
	struct tunnel *a = tun_add(&L, "a", 1);
	struct sa *in, *out;
	struct tables *tb;
	uint8_t key[36];
	int q;

	commit_ok(&L);
	in = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	out = sa_add_ok(&L, "a", SA_OUT, 0x1000, 2);
	/* both wait for the commit: the outbound SA is larval until its
	 * sequence numbers are on disk, then switched in one store */
	cr_assert_eq(out->state, SA_LARVAL);
	for (q = 0; q < NWORKERS; q++)
		cr_assert_null(tunnel_out_sa(a, q));
	cr_assert_null(tables_sa_spi(live_tables(&L), 0x2000));
	commit_ok(&L);
	for (q = 0; q < NWORKERS; q++)
		cr_assert_eq(tunnel_out_sa(a, q), out);
	tb = live_tables(&L);
	cr_assert_eq(tables_sa_spi(tb, 0x2000), in);
	cr_assert_eq(tables_sa_slot(tb, in->slot, 0x2000), in);
	cr_assert_null(tables_sa_slot(tb, in->slot, 0x2001), "wrong SPI");
	cr_assert_null(tables_sa_spi(tb, 0x1000), "outbound SAs are not "
		       "looked up by SPI");
	cr_assert_null(tables_sa_spi(tb, 0x2001));
	/* what the SAs are made of */
	key_fill(key, 36, 1);
	cr_assert_arr_eq(in->key, key, 36);
	key_fill(key, 36, 2);
	cr_assert_arr_eq(out->key, key, 36);
	cr_assert_eq(in->tunnel, a);
	cr_assert_eq(out->tunnel, a);
	cr_assert_eq(in->dir, SA_IN);
	cr_assert_eq(out->dir, SA_OUT);
	cr_assert_eq(in->owner, -1);
	cr_assert_eq(sa_wire(out)->spi, 0x1000u);
	cr_assert_eq(sa_wire(out)->remote.s_addr, a->remote.s_addr);
	cr_assert_eq(sa_wire(out)->local.s_addr, a->local.s_addr);
	cr_assert_eq(sa_wire(out)->encap, ENCAP_ESP);
	cr_assert_str_eq(in->origin, "ctl");
	cr_assert_eq(in->replay.size, 1024u);
	for (q = 0; q < NWORKERS; q++) {
		cr_assert_not_null(in->pw[q].aead.ctx);
		cr_assert_not_null(out->pw[q].aead.ctx);
	}
	cr_assert_eq(a->nin, 1);
	cr_assert_eq(a->in[0], in);
	cr_assert_eq(live_sa_find(&L, 0x2000, -1), in);
	cr_assert_eq(live_sa_find(&L, 0x1000, -1), out);
	cr_assert_null(live_sa_find(&L, 0x2000, SA_OUT));
	cr_assert_null(live_sa_find(&L, 0x1000, SA_IN));

	/* deleting the outbound SA: no SA to send with, at once */
	cr_assert_eq(live_sa_del(&L, 0x1000, SA_OUT, err, sizeof(err)), 0);
	cr_assert_null(tunnel_out_sa(a, 0));
	cr_assert_null(live_sa_find(&L, 0x1000, -1));
}

static void count_sa(void *arg, struct sa *sa)
{
	(void)sa;
	++*(int *)arg;
}

Test(live, sa_pairs_derived_keys_and_owners)
{
	struct tunnel *a = tun_add(&L, "a", 2);
	uint8_t key[36], k[36];
	struct tables *tb;
	int p, q, n = 0;

	tun_add(&L, "c", 1);
	/* the SPI of pair 1 is taken: nothing of the pair set is added */
	sa_add_ok(&L, "c", SA_IN, 0x3001, 9);
	cr_assert_eq(sa_add_x(&L, "a", SA_IN, 0x3000, 1, 36), -EEXIST);
	cr_assert(strstr(err, "0x3001") && strstr(err, "tunnel c"), "%s", err);
	cr_assert_null(live_sa_find(&L, 0x3000, -1));
	cr_assert_eq(a->nin, 0);

	sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	sa_add_ok(&L, "a", SA_OUT, 0x1000, 2);
	commit_ok(&L);
	tb = live_tables(&L);
	cr_assert_eq(a->nin, 2);
	for (p = 0; p < 2; p++) {
		struct sa *in = live_sa_find(&L, 0x2000 + p, SA_IN);
		struct sa *out = live_sa_find(&L, 0x1000 + p, SA_OUT);

		cr_assert(in && out);
		cr_assert_eq(tables_sa_spi(tb, 0x2000 + p), in);
		cr_assert_eq(tables_sa_slot(tb, in->slot, 0x2000 + p), in);
		cr_assert_eq(in->pair, p);
		cr_assert_eq(out->pair, p);
		cr_assert_eq(in->owner, p % NWORKERS);
		cr_assert_eq(out->owner, p % NWORKERS);
		cr_assert_eq(sa_wire(out)->spi, 0x1000u + p);
		/* each pair's key is derived from the given one and its SPI */
		key_fill(key, 36, 1);
		cr_assert_eq(sa_derive_key(key, 36, 0x2000 + p, k), 0);
		cr_assert_arr_eq(in->key, k, 36);
		key_fill(key, 36, 2);
		cr_assert_eq(sa_derive_key(key, 36, 0x1000 + p, k), 0);
		cr_assert_arr_eq(out->key, k, 36);
		for (q = 0; q < NWORKERS; q++)
			cr_assert_eq(out->pw[q].aead.ctx != NULL, q % 2 == p);
	}
	for (q = 0; q < 4; q++)
		cr_assert_eq(tunnel_out_sa(a, q),
			     live_sa_find(&L, 0x1000 + q % 2, SA_OUT));
	live_for_each_sa(&L, count_sa, &n);
	cr_assert_eq(n, 5);
}

#include "probe_out.h"

/*
 * A new outbound SA on a tunnel that has one takes its place in one
 * store: tunnel_out_sa gives the new SA right after live_sa_add, and the
 * old one lives until every reader has passed a quiescent state.
 */
Test(live, sa_out_replaced_atomically)
{
	struct tunnel *a = tun_add(&L, "a", 1);
	struct sa *old, *new;

	commit_ok(&L);
	old = sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	commit_ok(&L);
	sa_get(old); /* ours: to see the model's reference go */
	epoch_online(&L.epoch, 1); /* a worker that may hold old */
	probe_t = a;
	new = sa_add_ok(&L, "a", SA_OUT, 0x1001, 2);
	probe_t = NULL;
	/* while the new SA was made, workers sent with the old one */
	cr_assert_eq(probe_calls, NWORKERS);
	cr_assert_eq(probe_nulls, 0u);
	cr_assert_eq(probe_seen, old);
	cr_assert_neq(new, old);
	/* until the commit the workers keep the old one */
	cr_assert_eq(tunnel_out_sa(a, 0), old);
	cr_assert_eq(new->state, SA_LARVAL);
	commit_ok(&L);
	cr_assert_eq(tunnel_out_sa(a, 0), new);
	cr_assert_eq(tunnel_out_sa(a, 1), new);
	cr_assert_eq(old->state, SA_DEAD);
	cr_assert_null(live_sa_find(&L, 0x1000, -1));
	live_tick(&L, now_ms());
	cr_assert_eq(old->refs, 2, "freed under a reader");
	epoch_quiescent(&L.epoch, 1);
	epoch_reclaim(&L.epoch);
	cr_assert_eq(old->refs, 1, "the model's reference was not dropped");
	epoch_offline(&L.epoch, 1);
	sa_put(old);
}

/* The same with a worker thread reading as workers do, while the control
 * thread replaces the SA many times: never NULL, never freed under it. */
struct reader {
	struct live *l;
	_Atomic int stop;
	_Atomic uint64_t reads, nulls, bad;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;

	epoch_online(&r->l->epoch, 0);
	while (!atomic_load(&r->stop)) {
		struct tables *tb = live_tables(r->l);
		struct tunnel *t = tables_tunnel(tb, 1);
		struct sa *sa = t ? tunnel_out_sa(t, 0) : NULL;
		uint8_t k[36];

		if (!sa) {
			atomic_fetch_add(&r->nulls, 1);
		} else {
			/* the key it was made with (wiped when freed) */
			key_fill(k, 36, sa->spi - 0x1000);
			if (sa->spi < 0x1000 || sa->spi > 0x1000 + 100000 ||
			    memcmp(sa->key, k, 36) || !sa->pw[0].aead.ctx)
				atomic_fetch_add(&r->bad, 1);
		}
		atomic_fetch_add(&r->reads, 1);
		epoch_quiescent(&r->l->epoch, 0);
	}
	epoch_offline(&r->l->epoch, 0);
	return NULL;
}

Test(live, sa_out_replaced_under_a_reader, .timeout = 20)
{
	struct reader r = { .l = &L };
	pthread_t th;
	uint32_t i;
	int ret = 0;

	tun_add(&L, "a", 1);
	sa_add_ok(&L, "a", SA_OUT, 0x1000, 0);
	commit_ok(&L);
	pthread_create(&th, NULL, reader_thread, &r);
	while (atomic_load(&r.reads) < 10)
		sched_yield();
	/* no assertion while the reader runs: it would outlive the test */
	for (i = 1; i <= 2000 && !ret; i++) {
		ret = sa_add_x(&L, "a", SA_OUT, 0x1000 + i, i, 36);
		if (i % 10 == 0 && !ret)
			ret = live_commit(&L);
		epoch_reclaim(&L.epoch);
		if (i % 64 == 0)
			sched_yield();
	}
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	cr_assert_eq(ret, 0, "step %u: %d %s", i, ret, err);
	cr_assert_eq(atomic_load(&r.nulls), 0u, "%llu reads found no SA",
		     (unsigned long long)atomic_load(&r.nulls));
	cr_assert_eq(atomic_load(&r.bad), 0u, "%llu reads of a freed SA",
		     (unsigned long long)atomic_load(&r.bad));
	epoch_reclaim(&L.epoch);
	cr_assert_eq(epoch_pending(&L.epoch), 0u);
}

/*
 * Make before break: a second inbound SA beside the first, then the first
 * deleted. It leaves the model at once but the published version only
 * after LIVE_IN_GRACE_MS, so frames already in the rings still decrypt.
 */
Test(live, sa_in_rekey_make_before_break)
{
	struct tunnel *a = tun_add(&L, "a", 1);
	struct sa *old, *new;
	struct tables *tb;
	uint64_t before, after;
	uint32_t old_slot;

	old = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	new = sa_add_ok(&L, "a", SA_IN, 0x2001, 2);
	commit_ok(&L);
	tb = live_tables(&L);
	cr_assert_eq(tables_sa_spi(tb, 0x2000), old);
	cr_assert_eq(tables_sa_spi(tb, 0x2001), new);
	cr_assert_eq(a->nin, 2);
	old_slot = old->slot;
	cr_assert_neq(old_slot, new->slot);

	before = now_ms();
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0,
		     "%s", err);
	after = now_ms();
	cr_assert_eq(old->state, SA_DYING);
	cr_assert_null(live_sa_find(&L, 0x2000, -1));
	cr_assert_eq(a->nin, 1);
	cr_assert_eq(a->in[0], new);
	/* deleted twice: it is no longer there */
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)),
		     -ENOENT);
	commit_ok(&L);
	tb = live_tables(&L);
	cr_assert_eq(tables_sa_spi(tb, 0x2000), old, "dying: still found");
	cr_assert_eq(tables_sa_slot(tb, old_slot, 0x2000), old);
	cr_assert_eq(tables_sa_spi(tb, 0x2001), new);
	/* not yet */
	live_tick(&L, before + LIVE_IN_GRACE_MS - 1);
	tb = live_tables(&L);
	cr_assert_eq(tables_sa_spi(tb, 0x2000), old);
	cr_assert_eq(old->state, SA_DYING);
	/* its grace is over: gone from the version live_tick publishes */
	live_tick(&L, after + LIVE_IN_GRACE_MS + 1);
	tb = live_tables(&L);
	cr_assert_null(tables_sa_spi(tb, 0x2000));
	cr_assert_null(tables_sa_slot(tb, old_slot, 0x2000));
	cr_assert_eq(tables_sa_spi(tb, 0x2001), new);
	cr_assert_eq(tables_sa_slot(tb, new->slot, 0x2001), new);
	cr_assert_eq(L.sa_count, 1u);
	cr_assert_eq(L.ndying, 0u);
}

/*
 * Regression (once in live.c build(), the SPI hash): an inbound SPI deleted and added
 * again (a new key under the same SPI: what a config reload does). The
 * dying SA stays in the version for LIVE_IN_GRACE_MS beside the new one,
 * and build() inserts both into the SPI hash in slot order, so
 * tables_sa_spi() -- frames without metadata, packets reassembled from
 * outer fragments -- finds the dying SA, with the old key, for the whole
 * grace period.
 */
Test(live, sa_in_same_spi_again_lookup_finds_new)
{
	struct sa *old, *new;
	struct tables *tb;

	tun_add(&L, "a", 1);
	old = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0);
	new = sa_add_ok(&L, "a", SA_IN, 0x2000, 2);
	commit_ok(&L);
	tb = live_tables(&L);
	cr_assert_eq(old->state, SA_DYING);
	cr_assert_eq(tables_sa_slot(tb, old->slot, 0x2000), old);
	cr_assert_eq(tables_sa_slot(tb, new->slot, 0x2000), new);
	cr_assert_eq(tables_sa_spi(tb, 0x2000), new,
		     "the SPI lookup finds the dying SA (old key)");
}

Test(live, sa_in_at_most_four_per_pair)
{
	struct tunnel *a = tun_add(&L, "a", 1);
	int i, ret;

	tun_add(&L, "b", 2);
	for (i = 0; i < TUNNEL_MAX_IN; i++)
		sa_add_ok(&L, "a", SA_IN, 0x2000 + i, i);
	ret = sa_add_x(&L, "a", SA_IN, 0x2000 + i, i, 36);
	cr_assert_eq(ret, -ENOSPC);
	cr_assert(strstr(err, "tunnel a"), "%s", err);
	cr_assert_null(live_sa_find(&L, 0x2000 + i, -1));
	cr_assert_eq(a->nin, TUNNEL_MAX_IN);
	/* a dying SA does not count: the new one may come */
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0);
	sa_add_ok(&L, "a", SA_IN, 0x2000 + i, i);
	commit_ok(&L);
	cr_assert_eq(a->nin, TUNNEL_MAX_IN);

	/* per pair: a 2-pair tunnel takes 4 sets of 2 */
	for (i = 0; i < TUNNEL_MAX_IN; i++)
		sa_add_ok(&L, "b", SA_IN, 0x3000 + 0x10 * i, 100 + i);
	cr_assert_eq(sa_add_x(&L, "b", SA_IN, 0x3100, 9, 36), -ENOSPC);
	cr_assert_eq(live_tunnel_find(&L, "b")->nin, 2 * TUNNEL_MAX_IN);
}

Test(live, sa_update_moves_the_peer)
{
	struct tunnel *a = tun_add(&L, "a", 1);
	struct sa *out = sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	const struct esp_sa_params *w = sa_wire(out);
	struct in_addr r;
	int ret;

	commit_ok(&L);
	inet_pton(AF_INET, "198.51.100.9", &r);
	ret = live_sa_update(&L, 0x1000, r, 1234, 0, err, sizeof(err));
	cr_assert_eq(ret, -EINVAL, "sport on an esp tunnel");
	cr_assert_eq(sa_wire(out), w);
	cr_assert_eq(live_sa_update(&L, 0x1000, r, 0, 0, err, sizeof(err)), 0);
	cr_assert_neq(sa_wire(out), w);
	cr_assert_eq(sa_wire(out)->remote.s_addr, r.s_addr);
	cr_assert_eq(sa_wire(out)->spi, 0x1000u);
	cr_assert_eq(tunnel_out_sa(a, 0), out);
	cr_assert_eq(live_sa_update(&L, 0x7777, r, 0, 0, err, sizeof(err)),
		     -ENOENT);
}

/* ---- routes ---- */

Test(live, routes_longest_prefix_across_tunnels)
{
	struct tunnel *t1 = tun_add(&L, "t1", 1);
	struct tunnel *t2 = tun_add(&L, "t2", 1);
	struct cfg_prefix p;
	int ret;

	route_add_ok(&L, "10.0.0.0/8", "t1");
	route_add_ok(&L, "10.1.0.0/16", "t2");
	route_add_ok(&L, "fd00::/16", "t1");
	route_add_ok(&L, "fd00:1::/32", "t2");
	route_add_ok(&L, "192.168.7.7/32", "t2");
	/* staged */
	cr_assert_null(route_of(&L, "10.2.3.4"));
	commit_ok(&L);
	cr_assert_eq(route_of(&L, "10.2.3.4"), t1);
	cr_assert_eq(route_of(&L, "10.0.255.255"), t1);
	cr_assert_eq(route_of(&L, "10.1.2.3"), t2);
	cr_assert_eq(route_of(&L, "10.1.255.255"), t2);
	cr_assert_eq(route_of(&L, "10.2.0.0"), t1);
	cr_assert_null(route_of(&L, "11.0.0.1"));
	cr_assert_eq(route_of(&L, "192.168.7.7"), t2);
	cr_assert_null(route_of(&L, "192.168.7.8"));
	cr_assert_eq(route_of(&L, "fd00:2::1"), t1);
	cr_assert_eq(route_of(&L, "fd00:1::1"), t2);
	cr_assert_eq(route_of(&L, "fd00:1:ffff::1"), t2);
	cr_assert_null(route_of(&L, "fd01::1"));
	cr_assert_null(route_of(&L, "::1"));

	/* a prefix is one tunnel's; host bits do not make another */
	p = pfx("10.0.0.0/8");
	ret = live_route_add(&L, &p, "t2", err, sizeof(err));
	cr_assert_eq(ret, -EEXIST);
	cr_assert(strstr(err, "10.0.0.0/8") && strstr(err, "t1"), "%s", err);
	p = pfx("10.9.9.9/8");
	cr_assert_eq(live_route_add(&L, &p, "t1", err, sizeof(err)), -EEXIST);
	p = pfx("10.7.0.0/16");
	ret = live_route_add(&L, &p, "t9", err, sizeof(err));
	cr_assert_eq(ret, -ENOENT);
	cr_assert(strstr(err, "t9"), "%s", err);
	/* del */
	p = pfx("10.9.0.0/16");
	ret = live_route_del(&L, &p, err, sizeof(err));
	cr_assert_eq(ret, -ENOENT);
	cr_assert(strstr(err, "10.9.0.0/16") && strstr(err, "no such route"),
		  "%s", err);
	p = pfx("10.1.0.0/16");
	cr_assert_eq(live_route_del(&L, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(route_of(&L, "10.1.2.3"), t2, "staged");
	commit_ok(&L);
	cr_assert_eq(route_of(&L, "10.1.2.3"), t1);
	cr_assert_eq(live_route_del(&L, &p, err, sizeof(err)), -ENOENT);
	/* the same prefix, host bits set: the same route */
	route_add_ok(&L, "10.1.0.0/16", "t2");
	p = pfx("10.1.44.55/16");
	cr_assert_eq(live_route_del(&L, &p, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(L.nroutes, 4u);
	commit_ok(&L);
	cr_assert_eq(route_of(&L, "10.1.2.3"), t1);

	/* a deleted tunnel takes its routes along */
	cr_assert_eq(live_tunnel_del(&L, "t1", err, sizeof(err)), 0);
	cr_assert_eq(L.nroutes, 2u);
	commit_ok(&L);
	cr_assert_null(route_of(&L, "10.2.3.4"));
	cr_assert_null(route_of(&L, "fd00:2::1"));
	cr_assert_eq(route_of(&L, "fd00:1::1"), t2);
	cr_assert_eq(route_of(&L, "192.168.7.7"), t2);
	p = pfx("10.0.0.0/8");
	cr_assert_eq(live_route_del(&L, &p, err, sizeof(err)), -ENOENT);
	/* its prefixes are free for another tunnel */
	route_add_ok(&L, "10.0.0.0/8", "t2");
	commit_ok(&L);
	cr_assert_eq(route_of(&L, "10.2.3.4"), t2);
}

/* Many routes added and deleted in random order: the index stays right
 * (route_remove_at moves the last route into the hole). */
Test(live, routes_churn)
{
	static bool on[512];
	uint64_t x = 0x2545f4914f6cdd1dull;
	char s[64], a[64];
	int i, j;

	tun_add(&L, "t1", 1);
	tun_add(&L, "t2", 1);
	for (i = 0; i < 5000; i++) {
		struct cfg_prefix p;
		int ret;

		x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
		j = (x * 0x2545f4914f6cdd1dull >> 33) % 512;
		snprintf(s, sizeof(s), "10.%d.%d.0/24", j / 256, j % 256);
		p = pfx(s);
		if (on[j]) {
			ret = live_route_del(&L, &p, err, sizeof(err));
			cr_assert_eq(ret, 0, "step %d: del %s: %s", i, s, err);
		} else {
			ret = live_route_add(&L, &p, j % 2 ? "t2" : "t1", err,
					     sizeof(err));
			cr_assert_eq(ret, 0, "step %d: add %s: %s", i, s, err);
		}
		on[j] = !on[j];
		if (i % 500 == 499) {
			commit_ok(&L);
			for (j = 0; j < 512; j++) {
				struct tunnel *t;

				snprintf(a, sizeof(a), "10.%d.%d.9", j / 256,
					 j % 256);
				t = route_of(&L, a);
				if (!on[j])
					cr_assert_null(t, "%s", a);
				else
					cr_assert(t && !strcmp(t->name, j % 2 ?
							       "t2" : "t1"),
						  "%s", a);
			}
		}
	}
}

/*
 * SA hash churn: 10,000 random adds and deletes of inbound SAs over a
 * pool of SPIs across 50 tunnels (at most TUNNEL_MAX_IN each), a commit
 * and a tick past the grace period after every 100, each checked against
 * a plain array of what should be there.
 */
#define CH_TUN 50
#define CH_POOL 600
#define CH_OPS 10000
#define CH_BATCH 100

struct ch_ref {
	struct sa *sa;     /* live in the model, NULL: none */
	int tun;
	bool dying;        /* deleted in this batch */
};

static uint64_t xs(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void churn_check(struct ch_ref *ref, int *nin, uint64_t seed,
			int op, bool after_grace)
{
	struct tables *tb = live_tables(&L);
	uint32_t i, n = 0;
	int k, t;

	for (k = 0; k < CH_POOL; k++) {
		uint32_t spi = 0x10000 + k;
		struct sa *sa = ref[k].sa;

		if (sa) {
			cr_assert_eq(tables_sa_slot(tb, sa->slot, spi), sa,
				     "seed %llx op %d: 0x%x not at its slot",
				     (unsigned long long)seed, op, spi);
			if (after_grace)
				cr_assert_eq(tables_sa_spi(tb, spi), sa,
					     "seed %llx op %d: 0x%x not by SPI",
					     (unsigned long long)seed, op, spi);
			else
				cr_assert_not_null(tables_sa_spi(tb, spi));
			cr_assert_eq(live_sa_find(&L, spi, SA_IN), sa);
			cr_assert_eq(sa->tunnel, L.tun[ref[k].tun]);
		} else if (after_grace || !ref[k].dying) {
			cr_assert_null(tables_sa_spi(tb, spi),
				       "seed %llx op %d: deleted 0x%x found",
				       (unsigned long long)seed, op, spi);
			cr_assert_null(live_sa_find(&L, spi, -1));
		}
	}
	/* nothing else in the version */
	for (i = 0; i < tb->nsa; i++) {
		struct sa *sa = tb->sa_in[i];

		if (!sa)
			continue;
		cr_assert_eq(sa->slot, i);
		k = sa->spi - 0x10000;
		cr_assert(k >= 0 && k < CH_POOL);
		if (ref[k].sa == sa) {
			n++;
		} else {
			cr_assert(!after_grace, "seed %llx op %d: stale 0x%x "
				  "in slot %u", (unsigned long long)seed, op,
				  sa->spi, i);
			cr_assert_eq(sa->state, SA_DYING);
		}
	}
	for (k = 0, i = 0; k < CH_POOL; k++)
		i += ref[k].sa != NULL;
	cr_assert_eq(n, i);
	for (t = 0; t < CH_TUN; t++)
		cr_assert_eq(L.tun[t]->nin, nin[t]);
}

Test(live, sa_hash_churn, .timeout = 20)
{
	static struct ch_ref ref[CH_POOL];
	int nin[CH_TUN] = { 0 };
	uint64_t seed = 0x5eed5eedull, s = seed;
	int op, t, k, adds = 0, dels = 0, full = 0;
	char name[16];

	for (t = 0; t < CH_TUN; t++) {
		snprintf(name, sizeof(name), "t%d", t);
		cr_assert_eq(tun_add(&L, name, 1)->slot, (uint32_t)t);
	}
	commit_ok(&L);
	for (op = 1; op <= CH_OPS; op++) {
		uint32_t spi;
		int ret;

		k = xs(&s) % CH_POOL;
		spi = 0x10000 + k;
		if (ref[k].sa) {
			ret = live_sa_del(&L, spi, SA_IN, err, sizeof(err));
			cr_assert_eq(ret, 0, "op %d: del 0x%x: %s", op, spi,
				     err);
			nin[ref[k].tun]--;
			ref[k].sa = NULL;
			ref[k].dying = true;
			dels++;
		} else {
			t = xs(&s) % CH_TUN;
			snprintf(name, sizeof(name), "t%d", t);
			ret = sa_add_x(&L, name, SA_IN, spi, op, 36);
			if (nin[t] == TUNNEL_MAX_IN) {
				cr_assert_eq(ret, -ENOSPC, "op %d", op);
				full++;
			} else {
				cr_assert_eq(ret, 0, "op %d: add 0x%x: %s", op,
					     spi, err);
				ref[k].sa = live_sa_find(&L, spi, SA_IN);
				cr_assert_not_null(ref[k].sa);
				ref[k].tun = t;
				nin[t]++;
				adds++;
			}
		}
		if (op % CH_BATCH == 0) {
			commit_ok(&L);
			churn_check(ref, nin, seed, op, false);
			live_tick(&L, now_ms() + LIVE_IN_GRACE_MS + 1);
			for (k = 0; k < CH_POOL; k++)
				ref[k].dying = false;
			churn_check(ref, nin, seed, op, true);
		}
	}
	/* the run did what it is meant to */
	cr_assert_gt(adds, 2000);
	cr_assert_gt(dels, 2000);
	cr_assert_gt(full, 100, "the per-tunnel limit was hit %d times", full);
	cr_assert_eq(L.ndying, 0u);
}

/* ---- lifetimes ---- */

enum life_kind { LIFE_TIME, LIFE_BYTES, LIFE_PACKETS };

static struct sa *lifetime_sa(int dir, enum life_kind kind)
{
	uint8_t key[36];
	struct live_sa_args a = {
		.tunnel = "a", .dir = dir, .spi = 0x5000, .key = key,
		.key_len = 36,
	};
	int ret;

	if (kind == LIFE_BYTES)
		a.life.soft_bytes = 1000, a.life.hard_bytes = 2000;
	else if (kind == LIFE_PACKETS)
		a.life.soft_packets = 10, a.life.hard_packets = 20;
	else
		a.life.soft_s = 1, a.life.hard_s = 2;
	key_fill(key, 36, 77);
	tun_add(&L, "a", 1);
	ret = live_sa_add(&L, &a, err, sizeof(err));
	cr_assert_eq(ret, 0, "%s", err);
	commit_ok(&L);
	return live_sa_find(&L, 0x5000, dir);
}

static void check_event(int i, enum live_ev type, int dir, const char *what)
{
	cr_assert_lt(i, nev);
	cr_assert_eq(evs[i].type, type);
	cr_assert_str_eq(evs[i].tunnel, "a");
	cr_assert_eq(evs[i].spi, 0x5000u);
	cr_assert_eq(evs[i].dir, dir);
	cr_assert_str_eq(evs[i].what, what);
}

static void check_hard_gone(int dir)
{
	struct tunnel *a = live_tunnel_find(&L, "a");

	cr_assert_null(live_sa_find(&L, 0x5000, -1));
	if (dir == SA_OUT) {
		cr_assert_null(tunnel_out_sa(a, 0));
		cr_assert_null(tunnel_out_sa(a, 1));
	} else {
		cr_assert_null(tables_sa_spi(live_tables(&L), 0x5000));
		cr_assert_eq(a->nin, 0);
	}
}

static void lifetime_time(int dir)
{
	struct sa *sa = lifetime_sa(dir, LIFE_TIME);
	uint64_t c = sa->created_ms;

	live_tick(&L, c + 500);
	cr_assert_eq(nev, 0);
	live_tick(&L, c + 1500);
	cr_assert_eq(nev, 1, "one soft expire, got %d events", nev);
	check_event(0, LIVE_EV_SOFT_EXPIRE, dir, "time");
	cr_assert_eq(live_sa_find(&L, 0x5000, dir), sa, "soft keeps it");
	live_tick(&L, c + 1600);
	live_tick(&L, c + 1999);
	cr_assert_eq(nev, 1, "soft expire again");
	live_tick(&L, c + 2500);
	cr_assert_eq(nev, 2);
	check_event(1, LIVE_EV_HARD_EXPIRE, dir, "time");
	check_hard_gone(dir);
	live_tick(&L, c + 3500);
	cr_assert_eq(nev, 2, "an expired SA reported again");
	cr_assert_eq(count_ev(LIVE_EV_SOFT_EXPIRE, 0x5000), 1);
	cr_assert_eq(count_ev(LIVE_EV_HARD_EXPIRE, 0x5000), 1);
}

Test(live, lifetime_time_out)
{
	lifetime_time(SA_OUT);
}

Test(live, lifetime_time_in)
{
	lifetime_time(SA_IN);
}

/* A count limit (bytes: soft 1000, hard 2000; packets: 10, 20), summed
 * over the workers; the other count, far past its own, does not matter
 * (it has none). */
static void lifetime_count(int dir, enum life_kind kind)
{
	struct sa *sa = lifetime_sa(dir, kind);
	bool b = kind == LIFE_BYTES;
	uint64_t *w0 = b ? &sa->pw[0].bytes : &sa->pw[0].packets;
	uint64_t *w1 = b ? &sa->pw[1].bytes : &sa->pw[1].packets;
	uint64_t soft = b ? 1000 : 10;
	const char *what = b ? "bytes" : "packets";

	*(b ? &sa->pw[0].packets : &sa->pw[0].bytes) = 1u << 30;
	*w0 = soft - 1;
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 0);
	*w0 = soft * 6 / 10;
	*w1 = soft * 4 / 10;
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 1);
	check_event(0, LIVE_EV_SOFT_EXPIRE, dir, what);
	*w0 = soft * 15 / 10;
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 1, "soft expire again");
	cr_assert_eq(live_sa_find(&L, 0x5000, dir), sa);
	*w0 = soft * 16 / 10; /* and pw[1]'s: the hard limit */
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 2);
	check_event(1, LIVE_EV_HARD_EXPIRE, dir, what);
	check_hard_gone(dir);
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 2);
}

Test(live, lifetime_bytes_out)
{
	lifetime_count(SA_OUT, LIFE_BYTES);
}

Test(live, lifetime_bytes_in)
{
	lifetime_count(SA_IN, LIFE_BYTES);
}

/* strongSwan's rekey_packets and life_packets */
Test(live, lifetime_packets_out)
{
	lifetime_count(SA_OUT, LIFE_PACKETS);
}

Test(live, lifetime_packets_in)
{
	lifetime_count(SA_IN, LIFE_PACKETS);
}

/* An outbound hard packet limit is exact: the SA hands out numbers 1 to
 * the limit and no more, whatever the tick has seen; the tick then
 * removes it as a hard expiry by packets, not as exhausted. */
Test(live, hard_packets_out_exact)
{
	struct sa *sa = lifetime_sa(SA_OUT, LIFE_PACKETS); /* hard 20 */
	uint64_t first;
	int i;

	cr_assert_eq(sa->seq_max, 20u);
	first = sa_seq_reserve(sa, 8);
	cr_assert_eq(first, 1u);
	cr_assert_eq(sa_seq_reserve(sa, 16), 0u, "past the limit at once");
	cr_assert_eq(atomic_load(&sa->exhausted), 0, "12 still left");
	for (i = 9; i <= 20; i++)
		cr_assert_eq(sa_seq_reserve(sa, 1), (uint64_t)i);
	cr_assert_eq(sa_seq_reserve(sa, 1), 0u, "number 21");
	cr_assert_eq(atomic_load(&sa->exhausted), 1);
	/* the workers counted fewer (some reserved numbers were dropped
	 * after): the numbers decide */
	sa->pw[0].packets = 17;
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 1, "got %d events", nev);
	check_event(0, LIVE_EV_HARD_EXPIRE, SA_OUT, "packets");
	check_hard_gone(SA_OUT);
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 1);
}

Test(live, exhausted_reported)
{
	struct sa *sa;

	tun_add(&L, "a", 1);
	sa = sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	commit_ok(&L);
	atomic_store(&sa->seq, sa->seq_max);
	cr_assert_eq(sa_seq_reserve(sa, 1), 0u);
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 1);
	cr_assert_eq(evs[0].type, LIVE_EV_EXHAUSTED);
	cr_assert_eq(evs[0].spi, 0x1000u);
	cr_assert_str_eq(evs[0].tunnel, "a");
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 1);
}

/* A worker found no outbound SA (tx.c sets sa_wanted): one "acquire" for
 * the tunnel a second at most, none once it has an SA (IKE trap policies). */
Test(live, acquire_without_outbound_sa)
{
	struct tunnel *a = tun_add(&L, "a", 1);
	uint64_t now = now_ms();

	commit_ok(&L);
	live_tick(&L, now);
	cr_assert_eq(nev, 0, "acquire without a packet");
	atomic_store(&a->sa_wanted, 1);
	live_tick(&L, now + 1);
	cr_assert_eq(nev, 1);
	cr_assert_eq(evs[0].type, LIVE_EV_ACQUIRE);
	cr_assert_str_eq(evs[0].tunnel, "a");
	cr_assert_eq(atomic_load(&a->sa_wanted), 0, "cleared");
	atomic_store(&a->sa_wanted, 1);
	live_tick(&L, now + 500);
	cr_assert_eq(nev, 1, "a second acquire within LIVE_ACQUIRE_MS");
	live_tick(&L, now + 1 + LIVE_ACQUIRE_MS);
	cr_assert_eq(nev, 2, "the packets kept coming: acquire again");
	sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	commit_ok(&L);
	atomic_store(&a->sa_wanted, 1); /* a packet just before the switch */
	live_tick(&L, now + 5000);
	cr_assert_eq(nev, 2, "acquire for a tunnel that has an SA");
}

/* sa alloc: random SPIs, none in use, none twice while larval, at most
 * SPIALLOC_MAX at once, free again once an SA takes one. */
Test(live, spialloc_larval_spis)
{
	static struct spialloc a;
	uint32_t spi, first = 0;
	int i;

	memset(&a, 0, sizeof(a));
	tun_add(&L, "a", 1);
	sa_add_ok(&L, "a", SA_IN, 0x5000, 1);
	commit_ok(&L);
	for (i = 0; i < SPIALLOC_MAX; i++) {
		cr_assert_eq(spialloc_get(&a, &L, &spi), 0, "alloc %d", i);
		cr_assert_geq(spi, 0x100u);
		cr_assert_neq(spi, 0x5000u);
		cr_assert_null(live_sa_find(&L, spi, SA_IN));
		cr_assert_eq(a.n, (uint32_t)i + 1, "an SPI handed out twice");
		if (!i)
			first = spi;
	}
	cr_assert_eq(spialloc_get(&a, &L, &spi), -ENOSPC);
	cr_assert(spialloc_has(&a, first));
	spialloc_put(&a, first);
	cr_assert_not(spialloc_has(&a, first));
	cr_assert_eq(spialloc_get(&a, &L, &spi), 0, "room again after put");
}

/* Everything at once, then live_destroy (the binary is checked with ASan
 * and LeakSanitizer: nothing may be left). */
Test(live, destroy_with_everything)
{
	struct tables *tb;
	int i;

	tun_add(&L, "a", 1);
	tun_add(&L, "b", 2);
	sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	sa_add_ok(&L, "a", SA_IN, 0x2001, 2);
	sa_add_ok(&L, "a", SA_OUT, 0x1000, 3);
	sa_add_ok(&L, "a", SA_OUT, 0x1001, 4); /* old one retired */
	sa_add_ok(&L, "b", SA_IN, 0x3000, 5);
	sa_add_ok(&L, "b", SA_OUT, 0x4000, 6);
	route_add_ok(&L, "10.0.0.0/8", "a");
	route_add_ok(&L, "fd00::/16", "b");
	commit_ok(&L);
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0);
	commit_ok(&L);
	/* staged, never committed */
	sa_add_ok(&L, "b", SA_IN, 0x3100, 7);
	sa_add_ok(&L, "a", SA_IN, 0x2100, 8);
	cr_assert_eq(live_sa_del(&L, 0x2100, SA_IN, err, sizeof(err)), 0);
	tun_add(&L, "c", 1);
	route_add_ok(&L, "10.1.0.0/16", "c");
	epoch_online(&L.epoch, 0);
	tb = live_tables(&L);
	for (i = 0; i < 3; i++)
		cr_assert_eq(live_tunnel_del(&L, "c", err, sizeof(err)),
			     i ? -ENOENT : 0);
	commit_ok(&L);
	cr_assert_not_null(tb);
	epoch_offline(&L.epoch, 0);
	cr_assert_gt(epoch_pending(&L.epoch), 0u);
	/* teardown destroys it */
}

/* ---- sequence numbers across restarts ---- */

static char tmpdir[64];
static char sdir[128];

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void p_setup(void)
{
	nev = 0;
	err[0] = '\0';
	strcpy(tmpdir, "/tmp/test_live.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(sdir, sizeof(sdir), "%s/gw", tmpdir);
}

static void p_teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(persist, .init = p_setup, .fini = p_teardown);

static struct seqstore *store_open(void)
{
	struct seqstore *s;
	int ret = seqstore_open(&s, sdir, err, sizeof(err));

	cr_assert_eq(ret, 0, "seqstore_open: %d %s", ret, err);
	return s;
}

/* A "daemon start": a store, a model, tunnel "a". */
static struct seqstore *start(struct live *l)
{
	struct seqstore *s = store_open();

	cr_assert_eq(live_init(l, NWORKERS, MTU, &OPS, s), 0);
	tun_add(l, "a", 1);
	return s;
}

/* A crash: nothing written beyond what commits and ticks wrote. */
static void crash(struct live *l, struct seqstore *s)
{
	live_destroy(l);
	seqstore_close(s);
}

/* Tunnel a's outbound SA old_spi deleted, then one under new_spi with
 * key seed added, each committed: the new SA. */
static struct sa *out_again(uint32_t old_spi, uint32_t new_spi,
			    unsigned int seed)
{
	struct sa *sa;

	cr_assert_eq(live_sa_del(&L, old_spi, SA_OUT, err, sizeof(err)), 0);
	commit_ok(&L);
	sa = sa_add_ok(&L, "a", SA_OUT, new_spi, seed);
	commit_ok(&L);
	return sa;
}

Test(persist, out_seq_never_reused)
{
	struct seqstore *s;
	struct sa *sa;
	uint64_t lim;

	/* first start: a block reserved on disk before any number is used */
	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	cr_assert(sa->persist);
	cr_assert_eq(atomic_load(&sa->seq_limit), 0u);
	cr_assert_eq(sa_seq_reserve(sa, 1), 0u, "used before persisted");
	cr_assert_eq(atomic_load(&sa->blocked), 1);
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->seq_limit), LIVE_SEQ_BLOCK);
	cr_assert_eq(sa_seq_reserve(sa, 1), 1u);
	atomic_store(&sa->seq, 5000); /* in use */
	crash(&L, s);

	/* second start: the same SA begins above all it may have sent */
	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	cr_assert_geq(atomic_load(&sa->seq), LIVE_SEQ_BLOCK);
	cr_assert_eq(sa_seq_reserve(sa, 1), 0u, "used before persisted");
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->seq_limit), 2 * LIVE_SEQ_BLOCK);
	cr_assert_eq(sa_seq_reserve(sa, 1), LIVE_SEQ_BLOCK + 1);

	/* near the end of its block, a tick reserves the next one */
	atomic_store(&sa->seq, 2 * LIVE_SEQ_BLOCK - 10);
	live_tick(&L, now_ms());
	lim = atomic_load(&sa->seq_limit);
	cr_assert_eq(lim, 3 * LIVE_SEQ_BLOCK - 10);
	cr_assert_eq(sa_seq_reserve(sa, 20), 2 * LIVE_SEQ_BLOCK - 9);

	/* deleted and added again (the same key comes back): above */
	sa = out_again(0x1000, 0x1000, 1);
	cr_assert_geq(sa_seq_reserve(sa, 1), lim + 1);
	crash(&L, s);

	/* third start: above the block the tick reserved */
	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	commit_ok(&L);
	cr_assert_geq(sa_seq_reserve(sa, 1), lim + 1);
	/* a new key under the same SPI starts at 1 */
	sa = out_again(0x1000, 0x1000, 2);
	cr_assert_eq(sa_seq_reserve(sa, 1), 1u);
	crash(&L, s);
}

/* The same key under another SPI (deleted, added again with a new SPI;
 * a config that changed the SPI alone): its numbers go on, across a
 * restart too. */
Test(persist, out_key_new_spi)
{
	struct seqstore *s;
	struct sa *sa;
	uint64_t lim;

	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	commit_ok(&L);
	atomic_store(&sa->seq, 5000); /* in use */
	lim = atomic_load(&sa->seq_limit);
	cr_assert_eq(lim, LIVE_SEQ_BLOCK);
	sa = out_again(0x1000, 0x1001, 1);
	cr_assert_eq(sa_seq_reserve(sa, 1), lim + 1);
	crash(&L, s);

	/* after a restart, under a third SPI: above both */
	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_OUT, 0x1002, 1);
	commit_ok(&L);
	cr_assert_eq(sa_seq_reserve(sa, 1), 2 * LIVE_SEQ_BLOCK + 1);
	/* another key under that SPI starts at 1 */
	sa = out_again(0x1002, 0x1002, 2);
	cr_assert_eq(sa_seq_reserve(sa, 1), 1u);
	/* an inbound SA's record (its limit) is not an outbound one's */
	sa = sa_add_ok(&L, "a", SA_IN, 0x3000, 3);
	commit_ok(&L);
	cr_assert_gt(atomic_load(&sa->rx_limit), 0u);
	cr_assert_eq(live_sa_del(&L, 0x3000, SA_IN, err, sizeof(err)), 0);
	commit_ok(&L);
	sa = sa_add_ok(&L, "a", SA_OUT, 0x3001, 3);
	commit_ok(&L);
	cr_assert_eq(sa_seq_reserve(sa, 1), 1u);
	crash(&L, s);
}

/* A reload that changed an outbound SA's SPI alone (apply.c: replace):
 * the new SA takes the key over and goes on above its numbers; without
 * replace, or from another tunnel, the key stays refused. */
Test(persist, out_replaced_same_key_new_spi)
{
	uint8_t key[CFG_KEY_MAX];
	struct live_sa_args a = { .tunnel = "a", .dir = SA_OUT, .spi = 0x1001,
				  .key = key, .key_len = 36, .replace = true };
	struct seqstore *s;
	struct sa *old, *sa;

	s = start(&L);
	tun_add(&L, "b", 1);
	old = sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	commit_ok(&L);
	atomic_store(&old->seq, 5000); /* in use */
	cr_assert_eq(sa_add_x(&L, "a", SA_OUT, 0x1001, 1, 36), -EEXIST);
	key_fill(key, sizeof(key), 1);
	a.tunnel = "b";
	cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), -EEXIST, "%s",
		     err);
	a.tunnel = "a";
	cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s", err);
	commit_ok(&L);
	sa = live_sa_find(&L, 0x1001, SA_OUT);
	cr_assert_not_null(sa);
	cr_assert_eq(tunnel_out_sa(live_tunnel_find(&L, "a"), 0), sa);
	cr_assert_null(live_sa_find(&L, 0x1000, SA_OUT));
	cr_assert_eq(sa_seq_reserve(sa, 1), LIVE_SEQ_BLOCK + 1);
	crash(&L, s);
}

Test(persist, in_replay_top_survives)
{
	static const uint64_t seen[] = { 5, 100, 1000, 998 };
	struct seqstore *s;
	struct sa *sa;
	uint64_t n;
	size_t i;

	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		cr_assert_eq(replay_update(&sa->replay, seen[i]), REPLAY_OK);
	live_persist_final(&L);
	crash(&L, s);

	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->replay.top), 1000u);
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		cr_assert_neq(replay_check(&sa->replay, seen[i]), REPLAY_OK,
			      "%llu accepted again",
			      (unsigned long long)seen[i]);
	for (n = 1; n <= 1000; n++)
		cr_assert_neq(replay_check(&sa->replay, n), REPLAY_OK,
			      "%llu (below the top) accepted",
			      (unsigned long long)n);
	cr_assert_eq(replay_check(&sa->replay, 1001), REPLAY_OK);
	crash(&L, s);

	/* another key under the same SPI: a new SA, a fresh window */
	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 2);
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->replay.top), 0u);
	for (i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
		cr_assert_eq(replay_check(&sa->replay, seen[i]), REPLAY_OK);
	crash(&L, s);
}

/* How many times workers woke the control thread since the last call. */
static uint64_t wakes(struct live *l)
{
	cr_assert_geq(live_wake_fd(l), 0);
	return live_wake_clear(l);
}

/* A worker's accept: the limit, then the window (as rx_post does). */
static bool accept_one(struct sa *sa, uint64_t seq)
{
	return sa_rx_limit_ok(sa, seq) &&
	       replay_update(&sa->replay, seq) == REPLAY_OK;
}

/* Ticks past a deleted inbound SA's grace period: dead, out of the
 * version, then a version without it (its top stored: in_finals). */
static void past_grace(struct live *l)
{
	uint64_t t = now_ms();

	live_tick(l, t + LIVE_IN_GRACE_MS + 1);
	live_tick(l, t + LIVE_IN_GRACE_MS + 2);
}

/*
 * The inbound limit is on disk before a worker accepts up to it; a number
 * above it is refused (rx_seq_unpersisted, counted by rx_post), the next
 * block is asked for once when the top passes limit - block/2, and a
 * restart (a crash: no clean stop) puts the window's top at the limit.
 */
Test(persist, in_limit_ahead_of_use)
{
	const uint64_t B = LIVE_RX_BLOCK_START;
	struct seqstore *s;
	struct sa *sa;
	uint64_t n, v, lim;

	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	cr_assert(sa->persist);
	cr_assert_eq(atomic_load(&sa->rx_limit), 0u);
	cr_assert_not(sa_rx_limit_ok(sa, 1), "accepted before persisted");
	cr_assert_eq(atomic_load(&sa->rx_want), 1u);
	commit_ok(&L);
	wakes(&L);
	cr_assert_eq(atomic_load(&sa->rx_limit), B);
	cr_assert_eq(atomic_load(&sa->rx_ask), B / 2);
	cr_assert_eq(atomic_load(&sa->rx_asked), 0);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, sa->fp, &v), 0);
	cr_assert_eq(v, B, "the published limit is the one on disk");

	/* below limit - block/2: no ask */
	for (n = 1; n < B / 2; n++)
		cr_assert(accept_one(sa, n), "%llu refused", (unsigned long long)n);
	cr_assert_eq(atomic_load(&sa->rx_asked), 0);
	cr_assert_eq(wakes(&L), 0u);
	/* from there to the limit: one ask, one wake, all accepted */
	for (; n <= B; n++)
		cr_assert(accept_one(sa, n), "%llu refused", (unsigned long long)n);
	cr_assert_eq(atomic_load(&sa->rx_asked), 1);
	cr_assert_eq(wakes(&L), 1u, "one wake per block");
	/* above it: refused, noted as wanted, no second wake */
	cr_assert_not(sa_rx_limit_ok(sa, B + 1));
	cr_assert_not(sa_rx_limit_ok(sa, B + 5));
	cr_assert_eq(atomic_load(&sa->replay.top), B);
	cr_assert_eq(atomic_load(&sa->rx_want), B + 5);
	cr_assert_eq(wakes(&L), 0u);

	/* the control thread's turn: above the wanted number, on disk */
	live_tick(&L, now_ms());
	lim = atomic_load(&sa->rx_limit);
	cr_assert_gt(lim, B + 5);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, sa->fp, &v), 0);
	cr_assert_eq(v, lim);
	cr_assert_eq(atomic_load(&sa->rx_asked), 0);
	cr_assert_eq(atomic_load(&sa->rx_ask), lim - sa->rx_block / 2);
	cr_assert(accept_one(sa, B + 5));
	cr_assert(accept_one(sa, B + 1));
	/* a tick with nothing to do changes nothing */
	wakes(&L);
	live_tick(&L, now_ms());
	cr_assert_eq(atomic_load(&sa->rx_limit), lim);
	/* an authenticated number past the whole block (packets lost on the
	 * way): the next limit covers it */
	cr_assert_not(sa_rx_limit_ok(sa, lim + 1000));
	live_tick(&L, now_ms());
	cr_assert_gt(atomic_load(&sa->rx_limit), lim + 1000);
	lim = atomic_load(&sa->rx_limit);
	crash(&L, s);

	/* restart: everything up to the limit counts as received */
	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	cr_assert_eq(atomic_load(&sa->replay.top), lim);
	for (n = 1; n <= lim; n++)
		cr_assert_neq(replay_check(&sa->replay, n), REPLAY_OK,
			      "%llu accepted again", (unsigned long long)n);
	cr_assert_not(sa_rx_limit_ok(sa, lim + 1), "before the sync");
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->rx_limit), lim + B);
	cr_assert(accept_one(sa, lim + 1));
	crash(&L, s);
}

/*
 * live_asks serves the SAs that asked, not every SA: two of three cross
 * their ask points, one wake tells of both, and a turn for asks raises
 * those two (on disk, then published) and leaves the third alone; the
 * write waits up to LIVE_ASK_SYNC_MS after the last one unless a worker
 * already refuses numbers above a limit.
 */
Test(persist, in_asks_serve_the_askers)
{
	const uint64_t B = LIVE_RX_BLOCK_START;
	struct seqstore *s = start(&L);
	struct sa *sa[3];
	uint64_t n, v, t;
	int k;

	tun_add(&L, "b", 1);
	tun_add(&L, "c", 1);
	sa[0] = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	sa[1] = sa_add_ok(&L, "b", SA_IN, 0x2100, 2);
	sa[2] = sa_add_ok(&L, "c", SA_IN, 0x2200, 3);
	commit_ok(&L);
	live_tick(&L, now_ms());
	wakes(&L);
	for (k = 0; k < 3; k++)
		cr_assert_eq(atomic_load(&sa[k]->rx_limit), B);
	/* SAs 0 and 2 past their ask points, SA 1 below its own */
	for (n = 1; n <= B / 2 + 1; n++) {
		cr_assert(accept_one(sa[0], n));
		cr_assert(accept_one(sa[2], n));
	}
	cr_assert(accept_one(sa[1], 1));
	cr_assert_eq(wakes(&L), 1u, "one wake for both asks");
	cr_assert_eq(atomic_load(&sa[1]->rx_asked), 0);

	/* a write a moment ago: the reservations wait for the next one */
	t = now_ms();
	L.last_sync_ms = t;
	live_asks(&L, t);
	for (k = 0; k < 3; k++)
		cr_assert_eq(atomic_load(&sa[k]->rx_limit), B,
			     "SA %d published before its write", k);
	cr_assert_eq(L.nrel, 2u);
	cr_assert_gt(sa[0]->rx_pending, B);
	cr_assert_gt(sa[2]->rx_pending, B);
	cr_assert_eq(sa[1]->rx_pending, 0u, "asked for nothing");
	cr_assert_eq(live_timeout_ms(&L, t), LIVE_ASK_SYNC_MS);
	cr_assert_eq(live_timeout_ms(&L, t + LIVE_ASK_SYNC_MS), 0);
	/* the write is due: both raised, on disk first */
	live_asks(&L, t + LIVE_ASK_SYNC_MS);
	cr_assert_eq(L.nrel, 0u);
	cr_assert_eq(live_timeout_ms(&L, now_ms()), -1);
	for (k = 0; k < 3; k += 2) {
		cr_assert_gt(atomic_load(&sa[k]->rx_limit), B);
		cr_assert_eq(seqstore_get(s, sa[k]->spi, SEQSTORE_IN,
					  sa[k]->fp, &v), 0);
		cr_assert_eq(v, atomic_load(&sa[k]->rx_limit));
		cr_assert_eq(atomic_load(&sa[k]->rx_asked), 0);
		cr_assert_eq(sa[k]->rx_pending, 0u);
	}
	cr_assert_eq(atomic_load(&sa[1]->rx_limit), B);

	/* a worker refuses numbers above SA 1's limit: no waiting then */
	cr_assert_not(sa_rx_limit_ok(sa[1], B + 10));
	cr_assert_eq(wakes(&L), 1u);
	t = now_ms();
	L.last_sync_ms = t;
	live_asks(&L, t);
	cr_assert_gt(atomic_load(&sa[1]->rx_limit), B + 10,
		     "a waiting worker's limit waited for the write");
	cr_assert_eq(L.nrel, 0u);
	cr_assert(accept_one(sa[1], B + 10));
	crash(&L, s);
}

struct waiter {
	struct sa *sa;
	uint64_t seq;
	bool ok;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ok = sa_rx_limit_wait(w->sa, w->seq);
	return NULL;
}

/*
 * A tick that ran between a worker's ask and its wanted number saw the
 * old number, found the limit enough and cleared the ask: the waiting
 * worker asks again, and the next tick covers it (CI once lost a
 * reassembled packet far above the limit this way, rx_seq_unpersisted).
 */
Test(persist, in_limit_wait_asks_again)
{
	const uint64_t B = LIVE_RX_BLOCK_START;
	struct pollfd pfd;
	struct seqstore *s = start(&L);
	struct waiter w;
	uint64_t t0, t1;
	pthread_t th;
	int i;

	w.sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	wakes(&L);
	cr_assert_eq(atomic_load(&w.sa->rx_limit), B);
	/* an ask already out: the worker's first look writes no wake */
	atomic_store(&w.sa->rx_asked, 1);
	w.seq = B + 1000;
	cr_assert_eq(pthread_create(&th, NULL, wait_thread, &w), 0);
	for (i = 0; i < 1000 && atomic_load(&w.sa->rx_want) != w.seq; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&w.sa->rx_want), w.seq);
	/* the tick that read the wanted number before it was there */
	atomic_store(&w.sa->rx_asked, 0);
	pfd.fd = live_wake_fd(&L);
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, SA_RX_WAIT_MS / 2), 1, "not asked again");
	wakes(&L);
	t0 = now_ms();
	live_tick(&L, t0);
	t1 = now_ms();
	pthread_join(th, NULL);
	cr_assert_gt(atomic_load(&w.sa->rx_limit), w.seq);
	/* refused only if the tick's sync outlasted the wait (a slow disk) */
	cr_assert(w.ok || t1 - t0 >= SA_RX_WAIT_MS / 2,
		  "refused though the limit was raised in %llu ms",
		  (unsigned long long)(t1 - t0));
	crash(&L, s);
}

/* The block follows the rate: about LIVE_RX_BLOCK_MS of packets. */
Test(persist, in_limit_block_follows_rate)
{
	struct seqstore *s = start(&L);
	struct sa *sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	uint64_t t0 = now_ms(), lim, hi, v;

	commit_ok(&L);
	/* 100,000 packets in a second (the window jumps; the limit is not
	 * in the way of replay_update itself) */
	sa->rx_rate_ms = t0;
	sa->rx_rate_top = 0;
	cr_assert_eq(replay_update(&sa->replay, 100000), REPLAY_OK);
	live_tick(&L, t0 + 1000);
	cr_assert_eq(sa->rx_block, 100000 * LIVE_RX_BLOCK_MS / 1000);
	cr_assert_eq(atomic_load(&sa->rx_limit), 100000 + sa->rx_block);
	/* asked again sooner than expected (a ramp): at least twice, here
	 * the rate over 10 ms */
	lim = atomic_load(&sa->rx_limit);
	cr_assert_eq(replay_update(&sa->replay, lim - 1), REPLAY_OK);
	live_tick(&L, t0 + 1001);
	/* in 1 ms: counted as in 10 ms */
	cr_assert_eq(sa->rx_block, (lim - 1 - 100000) * (LIVE_RX_BLOCK_MS / 10));
	cr_assert_eq(atomic_load(&sa->rx_limit), lim - 1 + sa->rx_block);
	/* then 30 s without a packet: the limit comes down to the idle
	 * block above the top, published at once, stored after the grace
	 * period (no worker online here: at this tick's reclaim) */
	hi = atomic_load(&sa->replay.top);
	live_tick(&L, t0 + 31001);
	cr_assert_eq(sa->rx_block, LIVE_RX_BLOCK_IDLE);
	cr_assert_eq(atomic_load(&sa->rx_limit), hi + LIVE_RX_BLOCK_IDLE);
	cr_assert_eq(atomic_load(&sa->rx_ask),
		     hi + LIVE_RX_BLOCK_IDLE - LIVE_RX_BLOCK_IDLE / 2);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, sa->fp, &v), 0);
	cr_assert_eq(v, hi + LIVE_RX_BLOCK_IDLE);
	cr_assert(seqstore_dirty(s));
	live_tick(&L, t0 + 32001);
	cr_assert_not(seqstore_dirty(s), "the lowered limit written");
	/* asked again: the new limit is written before it is published */
	cr_assert(accept_one(sa, hi + LIVE_RX_BLOCK_IDLE));
	cr_assert_not(sa_rx_limit_ok(sa, hi + LIVE_RX_BLOCK_IDLE + 1));
	live_tick(&L, t0 + 32002);
	cr_assert_gt(atomic_load(&sa->rx_limit), hi + LIVE_RX_BLOCK_IDLE + 1);
	lim = atomic_load(&sa->rx_limit);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, sa->fp, &v), 0);
	cr_assert_eq(v, lim, "on disk before published");
	/* a second inbound SA of the tunnel (a rekey) starts with it */
	sa->rx_block = 4096;
	sa = sa_add_ok(&L, "a", SA_IN, 0x2001, 2);
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->rx_limit), 4096u);
	crash(&L, s);
}

/* A deleted inbound SA still takes what is in flight for it during its
 * grace period: its limit still rises, written first. */
Test(persist, in_limit_rises_while_dying)
{
	struct seqstore *s = start(&L);
	struct sa *sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	uint64_t lim, v;

	commit_ok(&L);
	lim = atomic_load(&sa->rx_limit);
	sa_get(sa);
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0);
	commit_ok(&L);
	cr_assert_eq(sa->state, SA_DYING);
	cr_assert(accept_one(sa, lim));
	cr_assert_not(sa_rx_limit_ok(sa, lim + 1));
	live_tick(&L, now_ms());
	cr_assert_gt(atomic_load(&sa->rx_limit), lim);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, sa->fp, &v), 0);
	cr_assert_eq(v, atomic_load(&sa->rx_limit));
	cr_assert(accept_one(sa, lim + 1));
	sa_put(sa);
	crash(&L, s);
}

/* A clean stop stores the exact top, so a clean restart refuses nothing
 * the peer has not sent. */
Test(persist, in_clean_stop_exact_top)
{
	struct seqstore *s = start(&L);
	struct sa *sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);

	commit_ok(&L);
	cr_assert(accept_one(sa, 2));
	live_persist_final(&L);
	crash(&L, s);
	s = start(&L);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->replay.top), 2u);
	cr_assert(accept_one(sa, 3));
	crash(&L, s);
}

/*
 * An inbound SA removed and then added again with the same SPI and key (a
 * P2MP peer taken out of the config and put back, an SA deleted and
 * re-added): once no worker can use the old one, its exact top replaces
 * the limit persisted ahead of it, so the peer's next numbers are not
 * refused; every number it accepted still is. A crash before that keeps
 * the limit (safe).
 */
Test(persist, in_readded_exact_top)
{
	struct seqstore *s = start(&L);
	struct sa *sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	char err[256];

	commit_ok(&L);
	cr_assert(accept_one(sa, 1));
	cr_assert(accept_one(sa, 2));
	live_tick(&L, now_ms());
	cr_assert_gt(atomic_load(&sa->rx_limit), 2u);
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0,
		     "%s", err);
	commit_ok(&L);
	past_grace(&L);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->replay.top), 2u);
	cr_assert_neq(replay_check(&sa->replay, 2), REPLAY_OK);
	cr_assert(accept_one(sa, 3), "the peer's next number refused");
	crash(&L, s);
}

/* A start with the tops file of the given boot ("boot-1" or another). */
static struct topmap *tops_open(struct live *l, const char *boot)
{
	struct topmap *m;
	int ret = topmap_open_boot(&m, sdir, boot, err, sizeof(err));

	cr_assert_eq(ret, 0, "topmap_open: %d %s", ret, err);
	live_set_tops(l, m);
	return m;
}

/* A start with the tops file of boot, and its crash. */
static struct seqstore *start_tops(struct topmap **m, const char *boot)
{
	struct seqstore *s = start(&L);

	*m = tops_open(&L, boot);
	return s;
}

static void crash_tops(struct seqstore *s, struct topmap *m)
{
	crash(&L, s);
	topmap_close(m);
}

/* A worker's accept as rx_post does it: limit, window, the tops file. */
static bool accept_noted(struct sa *sa, uint64_t seq)
{
	if (!accept_one(sa, seq))
		return false;
	sa_rx_note(sa, seq);
	return true;
}

/*
 * A crash (no clean stop, nothing synced since) in the same boot: the
 * window restarts at the exact top from the tops file, so the last packet
 * accepted is refused and the peer's next number is not. After a reboot
 * (the tops file of another boot: its records dropped) the window starts
 * at the limit persisted ahead of use: nothing accepted before is taken
 * again, at the cost of the numbers up to the limit.
 */
Test(persist, in_crash_exact_top_this_boot)
{
	struct topmap *m;
	struct seqstore *s = start_tops(&m, "boot-1");
	struct sa *sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	uint64_t n, lim, v;
	uint8_t fp[SEQSTORE_FP_LEN];

	cr_assert_not_null(sa->rx_exact);
	memcpy(fp, sa->fp, sizeof(fp));
	commit_ok(&L);
	for (n = 1; n <= 100; n++)
		cr_assert(accept_noted(sa, n), "%llu refused",
			  (unsigned long long)n);
	lim = atomic_load(&sa->rx_limit);
	cr_assert_gt(lim, 100u);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, sa->fp, &v), 0);
	cr_assert_eq(v, lim, "the limit is on disk");
	crash_tops(s, m);

	/* the same boot: exact */
	s = start_tops(&m, "boot-1");
	cr_assert_eq(topmap_dropped(m), 0u);
	cr_assert_eq(topmap_count(m), 1u);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->replay.top), 100u);
	cr_assert_neq(replay_check(&sa->replay, 100), REPLAY_OK,
		      "the last packet before the crash accepted again");
	cr_assert_neq(replay_check(&sa->replay, 37), REPLAY_OK);
	cr_assert(accept_noted(sa, 101), "the peer's next number refused");
	crash_tops(s, m);

	/* a reboot: the records go, the window starts at the limit */
	s = start_tops(&m, "boot-2");
	cr_assert_eq(topmap_dropped(m), 1u);
	cr_assert_eq(topmap_count(m), 0u);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, fp, &v), 0);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	cr_assert_geq(v, 101u);
	cr_assert_eq(atomic_load(&sa->replay.top), v);
	for (n = 1; n <= 101; n++)
		cr_assert_neq(replay_check(&sa->replay, n), REPLAY_OK,
			      "%llu accepted after the reboot",
			      (unsigned long long)n);
	cr_assert(accept_noted(sa, v + 1));
	crash_tops(s, m);
}

/*
 * A clean stop empties the tops file: every record's exact top goes to the
 * seqstore first, those of SAs this run did not have too (an earlier run
 * in this boot crashed), so records do not pile up across crash loops.
 */
Test(persist, in_clean_stop_empties_tops)
{
	struct topmap *m;
	struct seqstore *s = start_tops(&m, "boot-1");
	struct sa *sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	uint8_t fp[SEQSTORE_FP_LEN];
	uint64_t v;

	commit_ok(&L);
	memcpy(fp, sa->fp, sizeof(fp));
	cr_assert(accept_noted(sa, 50));
	crash_tops(s, m);

	/* a run without that SA, then a clean stop */
	s = start_tops(&m, "boot-1");
	sa = sa_add_ok(&L, "a", SA_IN, 0x3000, 2);
	commit_ok(&L);
	cr_assert(accept_noted(sa, 9));
	cr_assert_eq(topmap_count(m), 2u);
	live_persist_final(&L);
	cr_assert_eq(topmap_count(m), 0u);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, fp, &v), 0);
	cr_assert_eq(v, 50u, "the exact top replaced the limit");
	crash_tops(s, m);

	s = start_tops(&m, "boot-1");
	cr_assert_eq(topmap_count(m), 0u);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	cr_assert_eq(atomic_load(&sa->replay.top), 50u);
	cr_assert(accept_noted(sa, 51));
	crash_tops(s, m);
}

/* A removed SA's record leaves the tops file once its exact top is in the
 * seqstore; added again, it finds that top there. */
Test(persist, in_removed_leaves_tops)
{
	struct topmap *m;
	struct seqstore *s = start_tops(&m, "boot-1");
	struct sa *sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);

	commit_ok(&L);
	cr_assert(accept_noted(sa, 7));
	cr_assert_eq(topmap_count(m), 1u);
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0,
		     "%s", err);
	commit_ok(&L);
	past_grace(&L);
	cr_assert_eq(topmap_count(m), 0u);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	cr_assert_eq(topmap_count(m), 1u);
	cr_assert_eq(atomic_load(&sa->replay.top), 7u);
	cr_assert(accept_noted(sa, 8));
	crash_tops(s, m);
}

/* Removed and added again before the old one's top was stored: the old
 * one's finish neither frees the new one's record nor lowers its limit. */
Test(persist, in_readded_at_once_keeps_records)
{
	struct topmap *m;
	struct seqstore *s = start_tops(&m, "boot-1");
	struct sa *sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	_Atomic uint64_t *slot;
	uint64_t lim, v;

	commit_ok(&L);
	cr_assert(accept_noted(sa, 7));
	cr_assert_eq(live_sa_del(&L, 0x2000, SA_IN, err, sizeof(err)), 0,
		     "%s", err);
	commit_ok(&L);
	sa = sa_add_ok(&L, "a", SA_IN, 0x2000, 1);
	commit_ok(&L);
	slot = sa->rx_exact;
	cr_assert_eq(atomic_load(&sa->replay.top), 7u);
	cr_assert(accept_noted(sa, 8));
	lim = atomic_load(&sa->rx_limit);
	past_grace(&L);
	cr_assert_eq(topmap_count(m), 1u);
	cr_assert_eq(sa->rx_exact, slot);
	cr_assert_eq(atomic_load(slot), 8u);
	cr_assert_eq(seqstore_get(s, 0x2000, SEQSTORE_IN, sa->fp, &v), 0);
	cr_assert_geq(v, lim, "the stored limit went below the published one");
	crash_tops(s, m);
}

/*
 * An outbound SA replaced by a new one (a rekey: live_sa_add on a tunnel
 * that has one) is retired from the state directory as a deleted one is:
 * only retired records are ever pruned, so one left live would be written
 * with the store forever.
 */
Test(persist, out_replaced_record_retired)
{
	struct seqstore *s = start(&L);
	struct sa *sa;

	seqstore_set_keep_retired(s, 0); /* retired records go at each sync */
	sa_add_ok(&L, "a", SA_OUT, 0x1000, 1);
	commit_ok(&L);
	cr_assert_eq(seqstore_count(s), 1u);
	/* deleted, then a new one: the old record goes */
	cr_assert_eq(live_sa_del(&L, 0x1000, SA_OUT, err, sizeof(err)), 0);
	sa_add_ok(&L, "a", SA_OUT, 0x1001, 2);
	commit_ok(&L);
	cr_assert_eq(seqstore_count(s), 1u);
	/* replaced in one step: the same should happen */
	sa = sa_add_ok(&L, "a", SA_OUT, 0x1002, 3);
	commit_ok(&L);
	cr_assert_eq(tunnel_out_sa(live_tunnel_find(&L, "a"), 0), sa);
	/* retired at the switch, after that commit's sync: gone at the next */
	live_tick(&L, now_ms() + 2000);
	cr_assert_eq(seqstore_count(s), 1u, "the replaced SA's record was "
		     "not retired (%zu records)", seqstore_count(s));
	crash(&L, s);
}

/* Outer IPv6: the tunnel's MTU, the SAs' wire addresses, sa update
 * (IPv4 remotes only) refused with a reason. */
Test(live, outer_ipv6_tunnel)
{
	struct cfg_tunnel ct = ct_make("v6", 1, CIPHER_AES_GCM_256);
	const struct esp_sa_params *w;
	struct in6_addr l6, r6;
	struct in_addr r;
	struct tunnel *t;
	struct sa *out;

	ct.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &l6);
	inet_pton(AF_INET6, "2001:db8::2", &r6);
	ct.local6 = l6;
	ct.remote6 = r6;
	ct.encap = ENCAP_UDP;
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0, "%s", err);
	t = live_tunnel_find(&L, "v6");
	cr_assert_eq(t->family, AF_INET6);
	cr_assert_eq(t->mtu, esp_max_inner6(MTU, ENCAP_UDP));
	cr_assert_eq(t->overhead, esp_overhead6(ENCAP_UDP));
	out = sa_add_ok(&L, "v6", SA_OUT, 0x1000, 1);
	sa_add_ok(&L, "v6", SA_IN, 0x2000, 2);
	commit_ok(&L);
	w = sa_wire(out);
	cr_assert_eq(w->family, AF_INET6);
	cr_assert(!memcmp(&w->local6, &l6, 16));
	cr_assert(!memcmp(&w->remote6, &r6, 16));
	inet_pton(AF_INET, "198.51.100.9", &r);
	cr_assert_eq(live_sa_update(&L, 0x1000, r, 0, 0, err, sizeof(err)),
		     -EAFNOSUPPORT);
	cr_assert(strstr(err, "IPv6"), "%s", err);
	cr_assert_eq(sa_wire(out), w, "a refused update changes nothing");
}
