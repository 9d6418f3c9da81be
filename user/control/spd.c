// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "config/check.h"
#include "control/cmd.h"
#include "control/live.h"
#include "control/spd.h"
#include "control/spdstore.h"
#include "lib/hmap.h"
#include "io/bpfload.h"
#include "lib/log.h"
#include "tables/spdsnap.h"

static uint32_t mask4(int len)
{
	return len ? htonl(0xffffffffu << (32 - len)) : 0;
}

static uint32_t addr4(const struct cfg_prefix *p)
{
	uint32_t a;

	memcpy(&a, p->addr, 4);
	return a;
}

/* outer holds inner (both IPv4) */
static bool covers(const struct cfg_prefix *outer,
		   const struct cfg_prefix *inner)
{
	return outer->len <= inner->len &&
	       ((addr4(inner) ^ addr4(outer)) & mask4(outer->len)) == 0;
}

/*
 * The rules' distinct destination prefixes, each with the positions (in
 * priority order) of the rules that have it. A prefix's candidates are
 * the rules of its at most 33 ancestors (itself included): found by 33
 * look-ups, not by a scan of every rule.
 */
struct pfx_group {
	struct cfg_prefix p;
	uint32_t n, cap;
	uint32_t *pos;
};

struct pfx_index {
	struct hmap h;
	struct pfx_group *g;
	size_t ng;
};

static uint64_t pfx_key(uint32_t addr_be, int len)
{
	return (uint64_t)len << 32 | (addr_be & mask4(len));
}

static void index_free(struct pfx_index *x)
{
	size_t i;

	for (i = 0; i < x->ng; i++)
		free(x->g[i].pos);
	free(x->g);
	hmap_free(&x->h);
}

static struct pfx_group *index_find(const struct pfx_index *x, uint64_t key)
{
	uint64_t h = hmap_hash_u64(key);
	struct pfx_group *g;
	size_t i = 0;

	while ((g = hmap_next(&x->h, h, &i)))
		if (pfx_key(addr4(&g->p), g->p.len) == key)
			return g;
	return NULL;
}

/* Groups of rules[order[0..n)] by destination. 0 or -ENOMEM. */
static int index_build(struct pfx_index *x, const struct spd_rule *rules,
		       const size_t *order, size_t n)
{
	size_t i;

	memset(x, 0, sizeof(*x));
	x->g = calloc(n ? n : 1, sizeof(*x->g));
	if (!x->g)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct cfg_prefix *d = &rules[order[i]].dst;
		uint64_t key = pfx_key(addr4(d), d->len);
		struct pfx_group *g = index_find(x, key);

		if (!g) {
			g = &x->g[x->ng++];
			g->p = *d;
			if (hmap_add(&x->h, hmap_hash_u64(key), g))
				goto nomem;
		}
		if (g->n == g->cap) {
			uint32_t cap = g->cap ? 2 * g->cap : 4;
			uint32_t *p = realloc(g->pos, cap * sizeof(*p));

			if (!p)
				goto nomem;
			g->pos = p;
			g->cap = cap;
		}
		g->pos[g->n++] = i;
	}
	return 0;
nomem:
	index_free(x);
	memset(x, 0, sizeof(*x));
	return -ENOMEM;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The candidates of prefix p, ascending, at most max in out; the number
 * there is (which may be more than max). */
static uint32_t index_cands(const struct pfx_index *x,
			    const struct cfg_prefix *p, uint32_t *out,
			    uint32_t max)
{
	uint32_t n = 0, k;
	int len;

	for (len = 0; len <= p->len; len++) {
		const struct pfx_group *g = index_find(x, pfx_key(addr4(p),
								  len));

		for (k = 0; g && k < g->n; k++, n++)
			if (n < max)
				out[n] = g->pos[k];
	}
	qsort(out, n < max ? n : max, sizeof(*out), cmp_u32);
	return n;
}

static const struct spd_rule *sorted_rules;

static int by_priority(const void *a, const void *b)
{
	const struct spd_rule *x = &sorted_rules[*(const size_t *)a];
	const struct spd_rule *y = &sorted_rules[*(const size_t *)b];

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

void spd_order(const struct spd *s, size_t *order)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		order[i] = i;
	sorted_rules = s->rules; /* control thread only */
	qsort(order, s->n, sizeof(*order), by_priority);
}

/* The rules whose destination covers rule d's: more than the program
 * looks at? (dst of rule d is where the LPM lookup of such an address
 * lands, or a longer prefix with fewer candidates.) */
static int cands_of(const struct spd *s, const struct cfg_prefix *d)
{
	size_t i;
	int n = 0;

	for (i = 0; i < s->n; i++)
		n += covers(&s->rules[i].dst, d);
	return n;
}

static int add(struct spd *s, struct live *l, const struct cfg_policy *p,
	       bool need_tunnel, char *err, size_t errlen)
{
	struct spd_rule r = {
		.id = p->id, .priority = p->priority, .src = p->src,
		.dst = p->dst, .proto = p->proto, .action = p->action,
		.sport = { p->sport[0], p->sport[1] },
		.dport = { p->dport[0], p->dport[1] },
	};
	char buf[64];
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->rules[i].id == p->id)
			return errf(err, errlen, -EEXIST, "policy add: %u: "
				    "already exists (policy del it first)",
				    p->id);
	if (s->n >= ESPRESSO_SPD_MAX)
		return errf(err, errlen, -E2BIG, "policy add: %d policies "
			    "already, the most there can be", ESPRESSO_SPD_MAX);
	if (p->action == ESPRESSO_SPD_PROTECT) {
		if (need_tunnel && !live_tunnel_find(l, p->tunnel))
			return errf(err, errlen, -ENOENT, "policy add: tunnel "
				    "%s: no such tunnel", p->tunnel);
		snprintf(r.tunnel, sizeof(r.tunnel), "%s", p->tunnel);
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct spd_rule *n = realloc(s->rules, cap * sizeof(*n));

		if (!n)
			return errf(err, errlen, -ENOMEM, "policy add: out of "
				    "memory");
		s->rules = n;
		s->cap = cap;
	}
	s->rules[s->n++] = r;
	/* every destination prefix, this one's and those under it, must
	 * keep its candidates within what the program reads */
	for (i = 0; i < s->n; i++) {
		if (!covers(&r.dst, &s->rules[i].dst))
			continue;
		if (cands_of(s, &s->rules[i].dst) > ESPRESSO_SPD_CANDS) {
			s->n--;
			return errf(err, errlen, -E2BIG, "policy add: more "
				    "than %d policies would cover %s (the XDP "
				    "program checks at most %d per "
				    "destination)", ESPRESSO_SPD_CANDS,
				    cfg_prefix_str(&s->rules[i].dst, buf,
						   sizeof(buf)),
				    ESPRESSO_SPD_CANDS);
		}
	}
	s->dirty = true;
	return 0;
}

int spd_add(struct spd *s, struct live *l, const struct cfg_policy *p,
	    char *err, size_t errlen)
{
	return add(s, l, p, true, err, errlen);
}

int spd_restore(struct spd *s, struct live *l, const struct cfg_policy *p,
		char *err, size_t errlen)
{
	return add(s, l, p, false, err, errlen);
}

int spd_del(struct spd *s, uint32_t id, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->rules[i].id != id)
			continue;
		s->rules[i] = s->rules[--s->n];
		s->dirty = true;
		return 0;
	}
	return errf(err, errlen, -ENOENT, "policy del: %u: no such policy",
		    id);
}

static int key_add(struct spd *s, int set, const struct espresso_spd_lpm_key *k)
{
	if (s->nkeys[set] == s->keycap[set]) {
		size_t cap = s->keycap[set] ? 2 * s->keycap[set] : 16;
		void *n = realloc(s->keys[set], cap * sizeof(*k));

		if (!n)
			return -ENOMEM;
		s->keys[set] = n;
		s->keycap[set] = cap;
	}
	s->keys[set][s->nkeys[set]++] = *k;
	return 0;
}

static void snap_free(void *arg)
{
	struct spd_snap *n = arg;

	if (!n)
		return;
	fib_free(n->by_dst);
	free(n->cands);
	free(n);
}

/* The candidates of the snapshot: one entry per distinct destination
 * prefix, with every rule (by position) whose destination covers it. */
static int snap_index(const struct pfx_index *x, struct spd_snap *n)
{
	struct fib_route *rt = calloc(x->ng ? x->ng : 1, sizeof(*rt));
	size_t k;

	n->cands = calloc(x->ng ? x->ng : 1, sizeof(*n->cands));
	if (!rt || !n->cands) {
		free(rt);
		return -ENOMEM;
	}
	for (k = 0; k < x->ng; k++) {
		struct spd_cands *c = &n->cands[k];
		uint32_t m = index_cands(x, &x->g[k].p, c->rule,
					 ESPRESSO_SPD_CANDS);

		c->n = m < ESPRESSO_SPD_CANDS ? m : ESPRESSO_SPD_CANDS;
		memcpy(rt[k].addr, x->g[k].p.addr, 4);
		rt[k].len = x->g[k].p.len;
		rt[k].value = k + 1;
	}
	n->by_dst = fib_build(AF_INET, rt, x->ng);
	free(rt);
	return n->by_dst ? 0 : -ENOMEM;
}

/* The workers' copy of the rules in order (NULL when none), swapped in;
 * the old one freed after its grace period. */
static int publish_snap(struct spd *s, struct live *l, const size_t *order,
			const struct pfx_index *x)
{
	struct spd_snap *n = NULL, *old;
	size_t i;

	if (s->n) {
		n = calloc(1, sizeof(*n) + s->n * sizeof(n->r[0]));
		if (!n)
			return -ENOMEM;
		n->n = s->n;
		if (snap_index(x, n)) {
			snap_free(n);
			return -ENOMEM;
		}
		for (i = 0; i < s->n; i++) {
			const struct spd_rule *r = &s->rules[order[i]];
			struct spd_in_rule *v = &n->r[i];

			v->src = addr4(&r->src);
			v->src_mask = mask4(r->src.len);
			v->dst = addr4(&r->dst);
			v->dst_mask = mask4(r->dst.len);
			memcpy(v->sport, r->sport, sizeof(v->sport));
			memcpy(v->dport, r->dport, sizeof(v->dport));
			v->proto = r->proto;
			v->action = r->action;
			v->tunnel_id = r->pushed_tid;
		}
	}
	old = atomic_exchange_explicit(&s->snap, n, memory_order_acq_rel);
	if (old && epoch_retire(&l->epoch, snap_free, old)) {
		epoch_synchronize(&l->epoch);
		snap_free(old);
	}
	return 0;
}

/* The whole SPD into the set not in use, then switch to it. */
static int push(struct spd *s, struct live *l, struct bpf_state *b)
{
	int set = s->gen ? !s->set : 0;
	struct espresso_spd_ctl ctl;
	struct pfx_index x = { 0 };
	size_t *order = calloc(s->n ? s->n : 1, sizeof(*order));
	size_t i, j;
	uint32_t zero = 0;
	int ret = 0;

	if (!order)
		return -ENOMEM;
	spd_order(s, order);
	for (i = 0; i < s->n; i++) {
		struct spd_rule *r = &s->rules[order[i]];
		struct espresso_spd_rule v = {
			.src = addr4(&r->src), .src_mask = mask4(r->src.len),
			.dst = addr4(&r->dst), .dst_mask = mask4(r->dst.len),
			.sport_lo = r->sport[0], .sport_hi = r->sport[1],
			.dport_lo = r->dport[0], .dport_hi = r->dport[1],
			.proto = r->proto, .action = r->action, .id = r->id,
		};
		uint32_t idx = set * ESPRESSO_SPD_MAX + i;

		r->pushed_tid = 0;
		if (r->action == ESPRESSO_SPD_PROTECT) {
			struct tunnel *t = live_tunnel_find(l, r->tunnel);

			if (t) {
				v.tunnel = t->slot + 1;
				r->pushed_tid = t->id;
			} else {
				v.action = ESPRESSO_SPD_DISCARD; /* fail closed */
			}
		}
		if (bpf_map_update_elem(b->spd_rules_fd, &idx, &v, BPF_ANY))
			ret = -errno;
	}
	if (!ret && index_build(&x, s->rules, order, s->n))
		ret = -ENOMEM;
	ret = ret ?: publish_snap(s, l, order, &x);
	/* the destination candidates of this set, from scratch */
	for (i = 0; i < s->nkeys[set]; i++)
		bpf_map_delete_elem(b->spd_lpm_fd, &s->keys[set][i]);
	s->nkeys[set] = 0;
	for (j = 0; j < x.ng && !ret; j++) {
		const struct cfg_prefix *d = &x.g[j].p;
		struct espresso_spd_lpm_key k = {
			.prefixlen = 8 + d->len, .set = set,
		};
		struct espresso_spd_cands c = { 0 };
		uint32_t m = index_cands(&x, d, c.rule, ESPRESSO_SPD_CANDS);

		c.n = m < ESPRESSO_SPD_CANDS ? m : ESPRESSO_SPD_CANDS;
		memcpy(k.addr, d->addr, 4);
		if (bpf_map_update_elem(b->spd_lpm_fd, &k, &c, BPF_ANY))
			ret = -errno;
		else
			ret = key_add(s, set, &k);
	}
	index_free(&x);
	free(order);
	if (ret) {
		log_rl(LOG_LVL_ERR, 10, "SPD: cannot write the XDP maps (%s): "
		       "the policies in force stay", strerror(-ret));
		return ret;
	}
	/* one store: the new set, and a generation no cached verdict has */
	ctl.gen_set = s->n ? (s->gen + 1) * 2 + set : 0;
	if (bpf_map_update_elem(b->spd_ctl_fd, &zero, &ctl, BPF_ANY)) {
		ret = -errno;
		log_rl(LOG_LVL_ERR, 10, "SPD: cannot switch the XDP set: %s",
		       strerror(errno));
		return ret;
	}
	s->gen++;
	s->set = set;
	s->dirty = false;
	log_debug("SPD: %zu policies in force, generation %llu", s->n,
		  (unsigned long long)s->gen);
	return 0;
}

int spd_sync(struct spd *s, struct live *l, struct bpf_state *b)
{
	size_t i;

	if (s->store_dirty) {
		spdstore_save(s);
		s->store_dirty = false;
	}
	if (b->spd_ctl_fd < 0)
		return 0;
	if (!s->dirty && s->tables_gen == l->gen)
		return 0;
	s->tables_gen = l->gen;
	for (i = 0; i < s->n && !s->dirty; i++) {
		const struct spd_rule *r = &s->rules[i];
		struct tunnel *t;

		if (r->action != ESPRESSO_SPD_PROTECT)
			continue;
		t = live_tunnel_find(l, r->tunnel);
		if ((t ? t->id : 0) != r->pushed_tid)
			s->dirty = true; /* gone, or a new one by that name */
	}
	return s->dirty ? push(s, l, b) : 0;
}

int spd_check_config(const struct spd *s, const struct cfg *c, char *err,
		     size_t errlen)
{
	size_t i;
	int j;

	for (j = 0; j < c->npolicies; j++)
		for (i = 0; i < s->n; i++)
			if (!s->rules[i].config &&
			    s->rules[i].id == c->policies[j].id)
				return errf(err, errlen, -EEXIST, "%s: policy "
					    "%u: espressoctl added one with "
					    "that id (policy del it first)",
					    c->path, c->policies[j].id);
	return 0;
}

int spd_check_reload(const struct spd *s, const struct cfg *c, char *err,
		     size_t errlen)
{
	struct spd tmp = { 0 };
	char msg[512];
	const char *m;
	size_t i;
	int j, ret;

	ret = spd_check_config(s, c, err, errlen);
	if (ret)
		return ret;
	tmp.cap = s->n ? s->n : 1;
	tmp.rules = malloc(tmp.cap * sizeof(*tmp.rules));
	if (!tmp.rules)
		return errf(err, errlen, -ENOMEM, "policies: out of memory");
	for (i = 0; i < s->n; i++)
		if (!s->rules[i].config)
			tmp.rules[tmp.n++] = s->rules[i];
	/* the parser checked that each protect tunnel is one of c's, and the
	 * reload adds every one of those: no tunnel check here (no live) */
	for (j = 0; !ret && j < c->npolicies; j++)
		ret = add(&tmp, NULL, &c->policies[j], false, msg, sizeof(msg));
	free(tmp.rules);
	if (!ret)
		return 0;
	j--;
	m = strncmp(msg, "policy add: ", 12) ? msg : msg + 12;
	return errf(err, errlen, ret, "%s: policies.[%d] (id %u): %s", c->path,
		    j, c->policies[j].id, m);
}

int spd_load_config(struct spd *s, struct live *l, const struct cfg *c,
		    char *err, size_t errlen)
{
	struct spd_rule *saved;
	size_t i, keep = 0, n = s->n;
	int j, ret;

	ret = spd_check_config(s, c, err, errlen);
	if (ret)
		return ret;
	saved = malloc((n ? n : 1) * sizeof(*saved));
	if (!saved)
		return errf(err, errlen, -ENOMEM, "policies: out of memory");
	if (n) /* rules is NULL while no policy was ever added */
		memcpy(saved, s->rules, n * sizeof(*saved));
	for (i = 0; i < s->n; i++)
		if (!s->rules[i].config)
			s->rules[keep++] = s->rules[i];
	s->n = keep;
	for (j = 0; j < c->npolicies; j++) {
		ret = spd_add(s, l, &c->policies[j], err, errlen);
		if (ret) {
			/* as it was (the array holds at least n already) */
			if (n)
				memcpy(s->rules, saved, n * sizeof(*saved));
			s->n = n;
			free(saved);
			return ret;
		}
		s->rules[s->n - 1].config = true;
	}
	free(saved);
	s->dirty = true;
	return 0;
}

void spd_free(struct spd *s)
{
	snap_free(atomic_load(&s->snap)); /* the workers are gone */
	free(s->rules);
	free(s->keys[0]);
	free(s->keys[1]);
	memset(s, 0, sizeof(*s));
}
