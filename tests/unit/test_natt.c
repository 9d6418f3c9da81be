// SPDX-License-Identifier: GPL-2.0
/*
 * NAT-T in the control thread's model (user/control/live.c): what a worker
 * leaves in an inbound SA's peer_seen (the source of an authenticated,
 * newest UDP-encapsulated packet that is not where the tunnel sends) moves
 * every SA of the tunnel at the next live_tick, once, with one mapping
 * event carrying the old and new address and port; addresses no peer can
 * have, raw ESP tunnels and repeats move nothing. Keepalives: asked for
 * after keepalive_s idle, not while packets go out. No BPF, no netlink, two
 * workers (offline), a recording event and keepalive callback.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control/live.h"
#include "proto/esp.h"

#define NWORKERS 2

static struct live L;
static char err[512];
static struct live_event evs[16];
static int nev, nka;

static void on_event(void *arg, const struct live_event *ev)
{
	(void)arg;
	cr_assert_lt(nev, 16);
	evs[nev] = *ev;
	evs[nev].tunnel = NULL; /* not kept past the call */
	nev++;
}

static void on_keepalive(void *arg, const struct tunnel *t)
{
	(void)arg;
	(void)t;
	nka++;
}

/* what the XDP program's NAT-T port map was last set to */
static uint16_t xports[64];
static int nxports = -1;

static int on_natt_ports(void *arg, const uint16_t *ports, int n)
{
	(void)arg;
	memcpy(xports, ports, n * sizeof(*ports));
	nxports = n;
	return 0;
}

static const struct live_ops OPS = { .event = on_event,
				     .keepalive = on_keepalive,
				     .natt_ports = on_natt_ports };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static void setup(void)
{
	nev = nka = 0;
	cr_assert_eq(live_init(&L, NWORKERS, 1500, &OPS, NULL), 0);
}

static void teardown(void)
{
	live_destroy(&L);
}

TestSuite(natt, .init = setup, .fini = teardown);

static struct in_addr ip(const char *s)
{
	struct in_addr a;

	cr_assert_eq(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static struct tunnel *tun(const char *name, enum cfg_encap encap, int pairs,
			  uint32_t keepalive_s)
{
	struct cfg_tunnel ct;
	uint8_t key[36];
	struct live_sa_args a = { .tunnel = name, .key = key,
				  .key_len = sizeof(key) };
	int d;

	memset(&ct, 0, sizeof(ct));
	memset(key, 0x5c, sizeof(key));
	snprintf(ct.name, sizeof(ct.name), "%s", name);
	ct.local = ip("192.0.2.1");
	ct.remote = ip("198.51.100.7");
	ct.encap = encap;
	ct.cipher = CIPHER_CHACHA20_POLY1305;
	ct.replay_window = 1024;
	ct.esn = true;
	ct.sa_pairs = pairs;
	ct.keepalive_s = keepalive_s;
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0, "%s", err);
	for (d = SA_IN; d <= SA_OUT; d++) {
		a.dir = d;
		a.spi = d == SA_IN ? 0x1000 : 0x2000;
		if (strcmp(name, "t"))
			a.spi += 0x100;
		memcpy(key, &a.spi, sizeof(a.spi)); /* a key per SA */
		cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s",
			     err);
	}
	cr_assert_eq(live_commit(&L), 0);
	return live_tunnel_find(&L, name);
}

/* every SA of t (all pairs, both ways) sends to / expects addr:port */
static void all_at(struct tunnel *t, const char *addr, uint16_t port)
{
	int p;

	cr_assert_eq(t->peer.s_addr, ip(addr).s_addr);
	cr_assert_eq(t->peer_port, port);
	for (p = 0; p < t->npairs; p++) {
		const struct esp_sa_params *w = sa_wire(t->out[p]);

		cr_assert_eq(w->remote.s_addr, ip(addr).s_addr, "out pair %d",
			     p);
		cr_assert_eq(w->dport, port, "out pair %d: %u", p, w->dport);
	}
	for (p = 0; p < t->nin; p++) {
		const struct esp_sa_params *w = sa_wire(t->in[p]);

		cr_assert_eq(w->remote.s_addr, ip(addr).s_addr, "in %d", p);
		cr_assert_eq(w->dport, port, "in %d", p);
	}
}

static void seen(struct sa *sa, const char *addr, uint16_t port)
{
	atomic_store(&sa->peer_seen,
		     sa_peer_pack(ip(addr).s_addr, htons(port)));
}

Test(natt, follows_every_sa_once)
{
	struct tunnel *t = tun("t", ENCAP_UDP, 2, 0);
	struct sa *in1 = live_sa_find(&L, 0x1001, SA_IN);

	all_at(t, "198.51.100.7", 4500);
	seen(in1, "203.0.113.9", 31337);
	live_tick(&L, now_ms());
	all_at(t, "203.0.113.9", 31337);
	cr_assert_eq(atomic_load(&in1->peer_seen), 0, "taken");
	cr_assert_eq(nev, 1);
	cr_assert_eq(evs[0].type, LIVE_EV_MAPPING);
	cr_assert_eq(evs[0].spi, 0x1001);
	cr_assert_eq(evs[0].dir, SA_IN);
	cr_assert_eq(evs[0].old_addr.s_addr, ip("198.51.100.7").s_addr);
	cr_assert_eq(evs[0].old_port, 4500);
	cr_assert_eq(evs[0].new_addr.s_addr, ip("203.0.113.9").s_addr);
	cr_assert_eq(evs[0].new_port, 31337);
	cr_assert_eq(t->mappings, 1);
	/* the same place again (another worker's packet of the same move) */
	seen(live_sa_find(&L, 0x1000, SA_IN), "203.0.113.9", 31337);
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 1);
	/* an SA added afterwards (a rekey) starts where the peer is now */
	{
		uint8_t key[36] = { 1 };
		struct live_sa_args a = { .tunnel = "t", .dir = SA_OUT,
					  .spi = 0x3000, .key = key,
					  .key_len = 36, .replace = true };

		cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s",
			     err);
		cr_assert_eq(live_commit(&L), 0);
		all_at(t, "203.0.113.9", 31337);
		cr_assert_eq(t->out[0]->spi, 0x3000);
	}
}

Test(natt, impossible_peers_ignored)
{
	static const struct {
		const char *addr;
		uint16_t port;
	} bad[] = {
		{ "0.0.0.0", 4500 },   { "127.0.0.1", 4500 },
		{ "224.0.0.1", 4500 }, { "255.255.255.255", 4500 },
		{ "203.0.113.9", 0 },
	};
	struct tunnel *t = tun("t", ENCAP_UDP, 1, 0);
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		seen(t->in[0], bad[i].addr, bad[i].port);
		live_tick(&L, now_ms());
		all_at(t, "198.51.100.7", 4500);
	}
	cr_assert_eq(nev, 0);
}

Test(natt, raw_esp_never_moves)
{
	struct tunnel *t = tun("t", ENCAP_ESP, 1, 0);

	seen(t->in[0], "203.0.113.9", 4500);
	live_tick(&L, now_ms());
	cr_assert_eq(t->peer.s_addr, ip("198.51.100.7").s_addr);
	cr_assert_eq(sa_wire(t->out[0])->remote.s_addr,
		     ip("198.51.100.7").s_addr);
	cr_assert_eq(nev, 0);
}

Test(natt, keepalive_when_idle)
{
	struct tunnel *t = tun("t", ENCAP_UDP, 1, 20);
	struct tunnel *quiet = tun("q", ENCAP_UDP, 1, 0);
	uint64_t t0 = t->ka_last_ms;

	cr_assert_eq(t->keepalive_ms, 20000);
	live_tick(&L, t0 + 19999);
	cr_assert_eq(nka, 0, "not idle for a period yet");
	live_tick(&L, t0 + 20000);
	cr_assert_eq(nka, 1);
	cr_assert_eq(t->ka_sent, 1);
	live_tick(&L, t0 + 20001);
	cr_assert_eq(nka, 1, "one per period");
	/* a packet went out at +30 s: the next is due at +50 s */
	t->out[0]->pw[1].last_ms = t0 + 30000;
	live_tick(&L, t0 + 49999);
	cr_assert_eq(nka, 1);
	live_tick(&L, t0 + 50000);
	cr_assert_eq(nka, 2);
	cr_assert_eq(quiet->ka_sent, 0);
}

Test(natt, config_refuses_natt_settings_on_raw_esp)
{
	struct cfg_tunnel ct;

	memset(&ct, 0, sizeof(ct));
	snprintf(ct.name, sizeof(ct.name), "r");
	ct.local = ip("192.0.2.1");
	ct.remote = ip("192.0.2.2");
	ct.encap = ENCAP_ESP;
	ct.replay_window = 1024;
	ct.sa_pairs = 1;
	ct.keepalive_s = 20;
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "need encap udp"), "%s", err);
}

Test(natt, remote_port_is_where_sas_send)
{
	struct cfg_tunnel ct;
	uint8_t key[36] = { 7 };
	struct live_sa_args a = { .tunnel = "p", .dir = SA_OUT, .spi = 0x4000,
				  .key = key, .key_len = 36 };
	struct tunnel *t;

	memset(&ct, 0, sizeof(ct));
	snprintf(ct.name, sizeof(ct.name), "p");
	ct.local = ip("192.0.2.1");
	ct.remote = ip("192.0.2.2");
	ct.encap = ENCAP_UDP;
	ct.replay_window = 1024;
	ct.sa_pairs = 1;
	ct.cipher = CIPHER_AES_GCM_256;
	ct.remote_port = 4501;
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(live_commit(&L), 0);
	t = live_tunnel_find(&L, "p");
	cr_assert_eq(t->peer_port, 4501);
	cr_assert_eq(sa_wire(t->out[0])->dport, 4501);
	cr_assert_eq(sa_wire(t->out[0])->sport, 4500, "ours: 4500");
	cr_assert_eq(t->local_port, 4500);
}

/* ---- IPv6 outer headers: the per-worker slots (tables/peer6.h) ---- */

static struct in6_addr ip6(const char *s)
{
	struct in6_addr a;

	cr_assert_eq(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static struct tunnel *tun6_ka(int pairs, uint32_t keepalive_s)
{
	struct cfg_tunnel ct;
	uint8_t key[36];
	struct live_sa_args a = { .tunnel = "t6", .key = key,
				  .key_len = sizeof(key) };
	int d;

	memset(&ct, 0, sizeof(ct));
	memset(key, 0x5c, sizeof(key));
	snprintf(ct.name, sizeof(ct.name), "t6");
	ct.family = AF_INET6;
	ct.local6 = ip6("2001:db8::1");
	ct.remote6 = ip6("2001:db8::7");
	ct.encap = ENCAP_UDP;
	ct.cipher = CIPHER_CHACHA20_POLY1305;
	ct.replay_window = 1024;
	ct.sa_pairs = pairs;
	ct.keepalive_s = keepalive_s;
	cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)), 0, "%s", err);
	for (d = SA_IN; d <= SA_OUT; d++) {
		a.dir = d;
		a.spi = d == SA_IN ? 0x1000 : 0x2000;
		memcpy(key, &a.spi, sizeof(a.spi)); /* a key per SA */
		cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s",
			     err);
	}
	cr_assert_eq(live_commit(&L), 0);
	return live_tunnel_find(&L, "t6");
}

static struct tunnel *tun6(int pairs)
{
	return tun6_ka(pairs, 0);
}

static void all_at6(struct tunnel *t, const char *addr, uint16_t port)
{
	struct in6_addr a = ip6(addr);
	int p;

	cr_assert_eq(memcmp(&t->peer6, &a, 16), 0);
	cr_assert_eq(t->peer_port, port);
	for (p = 0; p < t->npairs; p++) {
		const struct esp_sa_params *w = sa_wire(t->out[p]);

		cr_assert_eq(memcmp(&w->remote6, &a, 16), 0, "out %d", p);
		cr_assert_eq(w->dport, port, "out pair %d: %u", p, w->dport);
	}
	for (p = 0; p < t->nin; p++) {
		const struct esp_sa_params *w = sa_wire(t->in[p]);

		cr_assert_eq(memcmp(&w->remote6, &a, 16), 0, "in %d", p);
		cr_assert_eq(w->dport, port, "in %d", p);
	}
}

static void seen6(struct sa *sa, int worker, const char *addr, uint16_t port,
		  uint64_t seq)
{
	struct in6_addr a = ip6(addr);

	peer6_put(&sa->pw[worker].peer6, a.s6_addr, port, seq);
}

Test(natt, v6_follows_every_sa_once)
{
	struct tunnel *t = tun6(2);
	struct sa *in1 = live_sa_find(&L, 0x1001, SA_IN);
	char o[INET6_ADDRSTRLEN], n[INET6_ADDRSTRLEN];

	all_at6(t, "2001:db8::7", 4500);
	seen6(in1, 1, "2001:db8:9::9", 31337, 5);
	live_tick(&L, now_ms());
	all_at6(t, "2001:db8:9::9", 31337);
	cr_assert_eq(nev, 1);
	cr_assert_eq(evs[0].type, LIVE_EV_MAPPING);
	cr_assert_eq(evs[0].family, AF_INET6);
	cr_assert_eq(evs[0].spi, 0x1001);
	inet_ntop(AF_INET6, &evs[0].old6, o, sizeof(o));
	inet_ntop(AF_INET6, &evs[0].new6, n, sizeof(n));
	cr_assert_str_eq(o, "2001:db8::7");
	cr_assert_str_eq(n, "2001:db8:9::9");
	cr_assert_eq(evs[0].old_port, 4500);
	cr_assert_eq(evs[0].new_port, 31337);
	cr_assert_eq(t->mappings, 1);
	/* taken: nothing again at the next tick; the same place written
	 * again by the worker before it was taken is no store (the count
	 * stays) */
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 1);
	{
		struct peer6_slot *sl = &in1->pw[0].peer6;
		uint32_t g;

		seen6(in1, 0, "2001:db8:8::8", 1000, 6);
		g = atomic_load(&sl->gen);
		seen6(in1, 0, "2001:db8:8::8", 1000, 7);
		cr_assert_eq(atomic_load(&sl->gen), g, "a store per packet");
		live_tick(&L, now_ms());
		all_at6(t, "2001:db8:8::8", 1000);
		cr_assert_eq(nev, 2);
	}
	/* back to where it was: the worker's slot holds that place already,
	 * taken: written again, followed again */
	seen6(in1, 1, "2001:db8:9::9", 31337, 8);
	live_tick(&L, now_ms());
	all_at6(t, "2001:db8:9::9", 31337);
	cr_assert_eq(nev, 3);
	/* another worker's packet of the same move: already there */
	seen6(live_sa_find(&L, 0x1000, SA_IN), 0, "2001:db8:9::9", 31337, 9);
	live_tick(&L, now_ms());
	cr_assert_eq(nev, 3);
	cr_assert_eq(t->mappings, 3);
}

/* two workers saw two sources: the newest packet (sequence) wins */
Test(natt, v6_newest_of_the_workers)
{
	struct tunnel *t = tun6(1);

	seen6(t->in[0], 0, "2001:db8:a::1", 1000, 90);
	seen6(t->in[0], 1, "2001:db8:b::1", 2000, 80);
	live_tick(&L, now_ms());
	all_at6(t, "2001:db8:a::1", 1000);
	cr_assert_eq(nev, 1);
}

/* a slot being written (odd count) is left for the next tick */
Test(natt, v6_torn_slot_waits)
{
	struct tunnel *t = tun6(1);
	struct peer6_slot *s = &t->in[0]->pw[0].peer6;

	seen6(t->in[0], 0, "2001:db8:a::1", 1000, 3);
	atomic_fetch_add(&s->gen, 1); /* a writer mid-way */
	live_tick(&L, now_ms());
	all_at6(t, "2001:db8::7", 4500);
	cr_assert_eq(nev, 0);
	atomic_fetch_add(&s->gen, 1); /* done */
	live_tick(&L, now_ms());
	all_at6(t, "2001:db8:a::1", 1000);
	cr_assert_eq(nev, 1);
}

Test(natt, v6_impossible_peers_ignored)
{
	static const struct {
		const char *addr;
		uint16_t port;
	} bad[] = {
		{ "::", 4500 },	      { "::1", 4500 },
		{ "ff02::1", 4500 },  { "fe80::1", 4500 },
		{ "::ffff:203.0.113.9", 4500 }, { "2001:db8:9::9", 0 },
	};
	struct tunnel *t = tun6(1);
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		seen6(t->in[0], 0, bad[i].addr, bad[i].port, i + 1);
		live_tick(&L, now_ms());
		all_at6(t, "2001:db8::7", 4500);
	}
	cr_assert_eq(nev, 0);
}

/* sa update remote: IPv6 for an IPv6 tunnel; no change of family */
Test(natt, v6_sa_update)
{
	struct tunnel *t = tun6(1);
	struct in6_addr a = ip6("2001:db8:c::3");
	struct in_addr v4 = ip("203.0.113.9");

	cr_assert_eq(live_sa_move(&L, 0x2000, AF_INET6, NULL, &a, 0, 4600, err,
				  sizeof(err)), 0, "%s", err);
	cr_assert_eq(memcmp(&sa_wire(t->out[0])->remote6, &a, 16), 0);
	cr_assert_eq(sa_wire(t->out[0])->dport, 4600);
	cr_assert_eq(memcmp(&t->peer6, &a, 16), 0, "the tunnel's peer");
	cr_assert_eq(live_sa_move(&L, 0x2000, AF_INET, &v4, NULL, 0, 0, err,
				  sizeof(err)), -EAFNOSUPPORT);
	cr_assert_str_eq(err, "sa update: spi 0x2000: tunnel t6 is IPv6 and "
			 "the remote given is IPv4 (a tunnel does not change "
			 "family)");
	cr_assert_eq(live_sa_update(&L, 0x2000, v4, 0, 0, err, sizeof(err)),
		     -EAFNOSUPPORT);
	cr_assert_eq(memcmp(&sa_wire(t->out[0])->remote6, &a, 16), 0);
}

/* and an IPv4 tunnel refuses an IPv6 remote */
Test(natt, v4_sa_update_refuses_v6)
{
	struct tunnel *t = tun("t", ENCAP_UDP, 1, 0);
	struct in6_addr a = ip6("2001:db8:c::3");

	cr_assert_eq(live_sa_move(&L, 0x2000, AF_INET6, NULL, &a, 0, 0, err,
				  sizeof(err)), -EAFNOSUPPORT);
	cr_assert_str_eq(err, "sa update: spi 0x2000: tunnel t is IPv4 and "
			 "the remote given is IPv6 (a tunnel does not change "
			 "family)");
	all_at(t, "198.51.100.7", 4500);
}

/* keepalives leave an IPv4 raw socket: an IPv6 tunnel asks for none */
Test(natt, v6_no_keepalives)
{
	tun6_ka(1, 1);
	live_tick(&L, now_ms() + 5000);
	cr_assert_eq(nka, 0);
}

/* ---- local_port: our own NAT-T port ---- */

static int add_udp(const char *name, uint16_t local_port, uint32_t spi)
{
	struct cfg_tunnel ct;
	uint8_t key[36] = { 7 };
	struct live_sa_args a = { .tunnel = name, .dir = SA_OUT, .spi = spi,
				  .key = key, .key_len = 36 };
	int ret;

	memcpy(key + 1, &spi, sizeof(spi)); /* a key per SA */

	memset(&ct, 0, sizeof(ct));
	snprintf(ct.name, sizeof(ct.name), "%s", name);
	ct.local = ip("192.0.2.1");
	ct.remote = ip("192.0.2.2");
	ct.encap = ENCAP_UDP;
	ct.replay_window = 1024;
	ct.sa_pairs = 1;
	ct.cipher = CIPHER_AES_GCM_256;
	ct.local_port = local_port;
	ret = live_tunnel_add(&L, &ct, err, sizeof(err));
	if (ret)
		return ret;
	cr_assert_eq(live_sa_add(&L, &a, err, sizeof(err)), 0, "%s", err);
	return live_commit(&L);
}

/* SAs send from it; the XDP program's map holds each distinct port other
 * than 4500 exactly once, and loses it with its last tunnel */
Test(natt, local_port)
{
	struct tunnel *t;

	cr_assert_eq(add_udp("a", 4600, 0x3000), 0, "%s", err);
	t = live_tunnel_find(&L, "a");
	cr_assert_eq(t->local_port, 4600);
	cr_assert_eq(sa_wire(t->out[0])->sport, 4600);
	cr_assert_eq(nxports, 1);
	cr_assert_eq(xports[0], 4600);
	cr_assert_eq(add_udp("b", 4600, 0x3100), 0, "%s", err);
	cr_assert_eq(add_udp("c", 0, 0x3200), 0, "%s", err);
	cr_assert_eq(live_tunnel_find(&L, "c")->local_port, 4500);
	cr_assert_eq(nxports, 1, "4600 once, 4500 never");
	cr_assert_eq(add_udp("d", 4700, 0x3300), 0, "%s", err);
	cr_assert_eq(nxports, 2);
	cr_assert_eq(xports[0] + xports[1], 4600 + 4700);
	cr_assert_eq(live_tunnel_del(&L, "a", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_eq(nxports, 2, "b still has 4600");
	cr_assert_eq(live_tunnel_del(&L, "b", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(live_commit(&L), 0);
	cr_assert_eq(nxports, 1);
	cr_assert_eq(xports[0], 4700);
}

/* at most ESPRESSO_MAX_NATT_PORTS distinct ones; raw ESP has none */
Test(natt, local_port_limits)
{
	char name[16];
	int i;

	for (i = 0; i < ESPRESSO_MAX_NATT_PORTS; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		cr_assert_eq(add_udp(name, 5000 + i, 0x4000 + i * 0x10), 0,
			     "%s", err);
	}
	cr_assert_eq(nxports, ESPRESSO_MAX_NATT_PORTS);
	cr_assert_eq(add_udp("over", 6000, 0x9000), -ENOSPC);
	cr_assert_str_eq(err, "tunnel add: over: local-port 6000: the XDP "
			 "program knows 64 NAT-T ports at most");
	cr_assert_eq(add_udp("same", 5000, 0x9100), 0, "a known one: %s", err);
	cr_assert_eq(add_udp("std", 4500, 0x9200), 0, "4500: %s", err);
	{
		struct cfg_tunnel ct;

		memset(&ct, 0, sizeof(ct));
		snprintf(ct.name, sizeof(ct.name), "raw");
		ct.local = ip("192.0.2.1");
		ct.remote = ip("192.0.2.2");
		ct.encap = ENCAP_ESP;
		ct.replay_window = 1024;
		ct.sa_pairs = 1;
		ct.local_port = 4600;
		cr_assert_eq(live_tunnel_add(&L, &ct, err, sizeof(err)),
			     -EINVAL);
		cr_assert_str_eq(err, "tunnel add: raw: remote-port, "
				 "local-port and keepalive need encap udp "
				 "(NAT-T)");
	}
}
