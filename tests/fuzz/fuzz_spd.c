// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the SPD compiler (user/control/spd.c), what `policy
 * add|del`, the config's policies and tunnel changes drive, checked
 * against a linear first-match. The input is a sequence of operations:
 *
 *   [op % 5] 0: add a policy from the next 12 bytes (see add())
 *            1: del the policy of id next byte % 24 + 1
 *            2: push (spd_sync) and check (6 times at most)
 *            3: tunnel t2 comes, goes, or comes back as a new tunnel
 *            4: probe: check one packet from the next 10 bytes
 *
 * After each push every probe (the rules' own corners and the input's
 * packets) is classified three ways that must agree: the reference here
 * (rules by priority then id, first match, a protect rule whose tunnel is
 * gone discards), the XDP maps as spd.c wrote them (bpf_map_update_elem and
 * _delete_elem are this file's: the LPM trie of the set in use, its
 * candidates and rules, as bpf/espresso.bpf.c reads them), and the
 * workers' snapshot (spd_snap_match_in, the inbound direction: the packet
 * reversed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/live.h"
#include "control/spd.h"
#include "control/spdstore.h"
#include "io/bpfload.h"
#include "tables/epoch.h"
#include "tables/spdsnap.h"
#include "tables/tunnel.h"
#include "fuzz_ref.h"

enum { FD_RULES = 1000, FD_LPM, FD_CTL };
#define MAX_KEYS 512
#define MAX_ADDS 32 /* per input: enough for more than 16 candidates */
#define MAX_SYNCS 6

/* ---- the maps spd.c writes ---- */
static struct espresso_spd_rule map_rules[2 * ESPRESSO_SPD_MAX];
static struct {
	struct espresso_spd_lpm_key k;
	struct espresso_spd_cands c;
} map_lpm[MAX_KEYS];
static size_t n_lpm;
static struct espresso_spd_ctl map_ctl;

FZ_NOCOV static int lpm_find(const struct espresso_spd_lpm_key *k)
{
	size_t i;

	for (i = 0; i < n_lpm; i++)
		if (!memcmp(&map_lpm[i].k, k, sizeof(*k)))
			return (int)i;
	return -1;
}

int bpf_map_update_elem(int fd, const void *key, const void *value,
			__u64 flags)
{
	uint32_t idx;
	int i;

	(void)flags;
	switch (fd) {
	case FD_RULES:
		memcpy(&idx, key, 4);
		if (idx >= 2 * ESPRESSO_SPD_MAX)
			abort(); /* the array map would refuse it */
		memcpy(&map_rules[idx], value, sizeof(map_rules[0]));
		return 0;
	case FD_LPM: {
		const struct espresso_spd_lpm_key *k = key;

		/* the kernel ignores the bits past prefixlen: spd.c must
		 * not write two keys that differ only there */
		if (k->prefixlen < 8 || k->prefixlen > 40 || k->set > 1)
			abort();
		i = lpm_find(k);
		if (i < 0) {
			if (n_lpm == MAX_KEYS)
				abort();
			i = (int)n_lpm++;
			memcpy(&map_lpm[i].k, k, sizeof(*k));
		}
		memcpy(&map_lpm[i].c, value, sizeof(map_lpm[i].c));
		return 0;
	}
	case FD_CTL:
		memcpy(&map_ctl, value, sizeof(map_ctl));
		return 0;
	}
	abort();
}

int bpf_map_delete_elem(int fd, const void *key)
{
	int i;

	if (fd != FD_LPM)
		abort();
	i = lpm_find(key);
	if (i < 0) {
		errno = ENOENT;
		return -1;
	}
	map_lpm[i] = map_lpm[--n_lpm];
	return 0;
}

/* ---- the live state spd.c asks for tunnels ---- */
static struct tunnel t1 = { .name = "t1", .id = 1, .slot = 0 };
static struct tunnel t2 = { .name = "t2", .id = 2, .slot = 1 };
static bool t2_up;

struct tunnel *live_tunnel_find(struct live *l, const char *name)
{
	(void)l;
	if (!strcmp(name, "t1"))
		return &t1;
	if (!strcmp(name, "t2") && t2_up)
		return &t2;
	return NULL;
}

/* no reader threads: a retired snapshot can go at once */
int epoch_retire(struct epoch *e, void (*fn)(void *), void *arg)
{
	(void)e;
	fn(arg);
	return 0;
}

/* policies kept in the state directory (spdstore.c): no file here */
int spdstore_save(const struct spd *s)
{
	(void)s;
	return 0;
}

void epoch_synchronize(struct epoch *e)
{
	(void)e;
}

/* ---- the three classifiers ---- */
struct pkt {
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	uint8_t proto;
};

struct verdict {
	int action;      /* ESPRESSO_SPD_* (NONE: no rule) */
	uint32_t tunnel; /* protect: slot + 1 */
};

static uint32_t mask(int len)
{
	return len ? 0xffffffffu << (32 - len) : 0;
}

static uint32_t pfx(const struct cfg_prefix *p)
{
	uint32_t a;

	memcpy(&a, p->addr, 4);
	return ntohl(a);
}

static const struct spd *sorted_spd;

FZ_NOCOV static int by_prio(const void *a, const void *b)
{
	const struct spd_rule *x = &sorted_spd->rules[*(const size_t *)a];
	const struct spd_rule *y = &sorted_spd->rules[*(const size_t *)b];

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* the rules by priority, then id (sort_rules() before a round of checks) */
static size_t order[MAX_ADDS + 1];

FZ_NOCOV static void sort_rules(const struct spd *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		order[i] = i;
	sorted_spd = s;
	qsort(order, s->n, sizeof(order[0]), by_prio);
}

FZ_NOCOV static struct verdict reference(const struct spd *s, const struct pkt *p)
{
	struct verdict v = { ESPRESSO_SPD_NONE, 0 };
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct spd_rule *r = &s->rules[order[i]];
		struct tunnel *t;

		if ((p->src & mask(r->src.len)) != pfx(&r->src) ||
		    (p->dst & mask(r->dst.len)) != pfx(&r->dst) ||
		    (r->proto && r->proto != p->proto) ||
		    p->sport < r->sport[0] || p->sport > r->sport[1] ||
		    p->dport < r->dport[0] || p->dport > r->dport[1])
			continue;
		v.action = r->action;
		if (r->action == ESPRESSO_SPD_PROTECT) {
			t = live_tunnel_find(NULL, r->tunnel);
			if (t)
				v.tunnel = t->slot + 1;
			else
				v.action = ESPRESSO_SPD_DISCARD;
		}
		return v;
	}
	return v;
}

/* as spd_verdict() in bpf/espresso.bpf.c, on the maps above */
FZ_NOCOV static struct verdict xdp(const struct pkt *p)
{
	struct verdict v = { ESPRESSO_SPD_NONE, 0 };
	int set = (int)(map_ctl.gen_set & 1), best = -1;
	uint32_t i;
	size_t k;

	if (!map_ctl.gen_set)
		return v;
	for (k = 0; k < n_lpm; k++) {
		const struct espresso_spd_lpm_key *lk = &map_lpm[k].k;
		uint32_t a, len = lk->prefixlen - 8;

		memcpy(&a, lk->addr, 4);
		if (lk->set != set ||
		    ((ntohl(a) ^ p->dst) & mask((int)len)))
			continue;
		if (best < 0 || lk->prefixlen > map_lpm[best].k.prefixlen)
			best = (int)k;
	}
	if (best < 0)
		return v;
	if (map_lpm[best].c.n > ESPRESSO_SPD_CANDS)
		abort();
	for (i = 0; i < map_lpm[best].c.n; i++) {
		const struct espresso_spd_rule *r;

		if (map_lpm[best].c.rule[i] >= ESPRESSO_SPD_MAX ||
		    (i && map_lpm[best].c.rule[i] <= map_lpm[best].c.rule[i - 1]))
			abort(); /* positions ascending, within the set */
		r = &map_rules[set * ESPRESSO_SPD_MAX + map_lpm[best].c.rule[i]];
		if ((htonl(p->src) & r->src_mask) != r->src ||
		    (htonl(p->dst) & r->dst_mask) != r->dst ||
		    (r->proto && r->proto != p->proto) ||
		    p->sport < r->sport_lo || p->sport > r->sport_hi ||
		    p->dport < r->dport_lo || p->dport > r->dport_hi)
			continue;
		v.action = r->action;
		v.tunnel = r->tunnel;
		return v;
	}
	return v;
}

/* the workers' inbound check: the packet as it comes back decrypted */
FZ_NOCOV static struct verdict snap(const struct spd *s, const struct pkt *p)
{
	const struct spd_snap *n = atomic_load(&s->snap);
	const struct spd_in_rule *r;
	struct verdict v = { ESPRESSO_SPD_NONE, 0 };
	uint8_t ip[24] = { 0x45 };
	uint32_t a;

	if (!n)
		return v;
	ip[9] = p->proto;
	a = htonl(p->dst);
	memcpy(ip + 12, &a, 4);
	a = htonl(p->src);
	memcpy(ip + 16, &a, 4);
	ip[20] = (uint8_t)(p->dport >> 8);
	ip[21] = (uint8_t)p->dport;
	ip[22] = (uint8_t)(p->sport >> 8);
	ip[23] = (uint8_t)p->sport;
	r = spd_snap_match_in(n, ip, sizeof(ip));
	if (!r)
		return v;
	v.action = r->action;
	if (r->action == ESPRESSO_SPD_PROTECT) {
		/* the snapshot names the tunnel by id (0: gone) */
		if (!r->tunnel_id)
			v.action = ESPRESSO_SPD_DISCARD;
		else if (r->tunnel_id == t1.id)
			v.tunnel = t1.slot + 1;
		else if (t2_up && r->tunnel_id == t2.id)
			v.tunnel = t2.slot + 1;
		else
			v.tunnel = ~0u; /* a tunnel that is not there */
	}
	return v;
}

FZ_NOCOV static void check(const struct spd *s, const struct pkt *p)
{
	struct verdict a = reference(s, p), b = xdp(p), c = snap(s, p);

	if (a.action != b.action || a.tunnel != b.tunnel ||
	    a.action != c.action || a.tunnel != c.tunnel)
		abort();
}

/* the corners of every rule: its prefixes' first and last addresses,
 * and its port ranges' ends */
FZ_NOCOV static void check_corners(const struct spd *s)
{
	size_t i;

	sort_rules(s);
	for (i = 0; i < s->n; i++) {
		const struct spd_rule *r = &s->rules[i];
		struct pkt p = {
			.src = pfx(&r->src), .dst = pfx(&r->dst),
			.sport = r->sport[0], .dport = r->dport[1],
			.proto = r->proto ? r->proto : 6,
		};

		check(s, &p);
		p.src |= ~mask(r->src.len);
		p.dst |= ~mask(r->dst.len);
		p.sport = r->sport[1];
		p.dport = r->dport[0];
		check(s, &p);
		p.dport = (uint16_t)(r->dport[1] + 1);
		p.proto = 17;
		check(s, &p);
	}
}

/* addresses from one byte: 10.0.0.0/8, dense enough that rules meet */
static uint32_t addr(uint8_t b)
{
	return 0x0a000000u | (uint32_t)(b & 0xc0) << 16 |
	       (uint32_t)(b & 0x30) << 4 | (b & 0x0f);
}

static uint16_t port(uint8_t b)
{
	static const uint16_t ports[] = { 0, 1, 22, 53, 443, 1000, 4500,
					  65535 };

	return ports[b & 7];
}

static void prefix(struct cfg_prefix *p, uint8_t a, uint8_t len)
{
	uint32_t v;

	memset(p, 0, sizeof(*p));
	p->family = AF_INET;
	p->len = len % 33;
	v = htonl(addr(a) & mask(p->len));
	memcpy(p->addr, &v, 4);
}

/* 12 bytes: id, priority, src addr/len, dst addr/len, proto, sport lo/hi,
 * dport lo/hi, action and tunnel */
static void add(struct spd *s, struct live *l, const uint8_t *b)
{
	static const uint8_t protos[] = { 0, 6, 17, 1 };
	static const char *const tunnels[] = { "t1", "t2", "t3", "t1" };
	struct cfg_policy p = { 0 };
	char err[256];

	p.id = b[0] % 24 + 1;
	p.priority = b[1] & 7;
	prefix(&p.src, b[2], b[3]);
	prefix(&p.dst, b[4], b[5]);
	p.proto = protos[b[6] & 3];
	p.sport[0] = 0;
	p.sport[1] = 65535;
	p.dport[0] = 0;
	p.dport[1] = 65535;
	if (p.proto == 6 || p.proto == 17) {
		p.sport[0] = port(b[7]);
		p.sport[1] = port(b[7] >> 3);
		p.dport[0] = port(b[8]);
		p.dport[1] = port(b[8] >> 3);
		if (p.sport[0] > p.sport[1] || p.dport[0] > p.dport[1])
			return; /* the parsers refuse it */
	}
	p.action = b[9] % 3 + 1;
	if (p.action == ESPRESSO_SPD_PROTECT)
		snprintf(p.tunnel, sizeof(p.tunnel), "%s", tunnels[b[10] & 3]);
	memset(err, 0x55, sizeof(err));
	if (spd_add(s, l, &p, err, sizeof(err)) && !memchr(err, 0, sizeof(err)))
		abort();
	(void)b[11];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct live *l;
	struct bpf_state b = { .spd_rules_fd = FD_RULES,
			       .spd_lpm_fd = FD_LPM, .spd_ctl_fd = FD_CTL };
	struct spd s = { 0 };
	size_t off = 0, adds = 0, syncs = 0;
	bool pushed = false;
	char err[256];

	if (!l && !(l = calloc(1, sizeof(*l))))
		abort();
	n_lpm = 0;
	memset(&map_ctl, 0, sizeof(map_ctl));
	t2_up = true;
	t2.id = 2;
	t2.slot = 1;
	while (off < size) {
		uint8_t op = data[off++] % 5;

		if (op == 0 && size - off >= 12) {
			if (adds++ < MAX_ADDS)
				add(&s, l, data + off);
			off += 12;
		} else if (op == 1 && off < size) {
			spd_del(&s, data[off++] % 24 + 1, err, sizeof(err));
		} else if (op == 2 && syncs++ < MAX_SYNCS) {
			if (spd_sync(&s, l, &b))
				abort();
			pushed = true;
			check_corners(&s);
		} else if (op == 3 && off < size) {
			uint8_t v = data[off++];

			t2_up = v & 1;
			if (v & 2) { /* a new tunnel of that name */
				t2.id += 10;
				t2.slot = (v >> 2) & 7;
			}
			l->gen++;
		} else if (op == 4 && size - off >= 10 && pushed) {
			struct pkt p = {
				.src = addr(data[off]), .dst = addr(data[off + 1]),
				.sport = port(data[off + 2]),
				.dport = port(data[off + 3]),
				.proto = data[off + 4] & 1 ? 6 : 17,
			};

			/* a sync first: the maps follow the tunnels */
			if (spd_sync(&s, l, &b))
				abort();
			sort_rules(&s);
			check(&s, &p);
			off += 10;
		} else {
			break;
		}
	}
	spd_free(&s);
	return 0;
}
