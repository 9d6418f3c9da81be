/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spd: the security policy database of LAN plaintext (router mode), on the
 * control thread: the rules espressoctl policy add|del manage, and their
 * copy in the XDP program's maps (espresso/common.h: two sets of rules and
 * of destination candidates, one switched in at a time with a new
 * generation, which invalidates every verdict in the flow cache).
 *
 * A protect rule names a tunnel; it is pushed with that tunnel's slot, and
 * pushed again when the tunnel is gone or its slot changes (a commit of
 * the live state calls spd_sync). A protect rule whose tunnel is gone
 * discards: its traffic never falls back to the kernel in clear.
 */
#ifndef ESPRESSO_SPD_H
#define ESPRESSO_SPD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "espresso/common.h"

struct live;
struct bpf_state;
struct cfg;
struct spd_snap;

struct spd_rule {
	uint32_t id, priority;
	struct cfg_prefix src, dst;
	uint8_t proto;
	uint16_t sport[2], dport[2];
	int action; /* enum espresso_spd_action */
	char tunnel[CFG_NAME_MAX];
	uint64_t pushed_tid; /* the tunnel id pushed (0: none, discards) */
	bool config;         /* from the config file (a reload replaces it) */
};

struct spd {
	struct spd_rule *rules;
	size_t n, cap;
	bool dirty;     /* changed since the last push */
	uint64_t gen;   /* generation of the last push */
	int set;        /* the set in use */
	uint64_t tables_gen; /* the live state's version at the last sync */
	struct espresso_spd_lpm_key *keys[2]; /* written in each set */
	size_t nkeys[2], keycap[2];
	/* the workers' copy, for the inbound check (tables/spdsnap.h);
	 * NULL while there is no rule */
	_Atomic(struct spd_snap *) snap;
	/* STATE_DIR/policies: those added through espressoctl, kept across
	 * restarts (spdstore.h); "" keeps none. store_dirty: to write at the
	 * next spd_sync (once per commit, so a batch writes it once) */
	char store[600];
	bool store_dirty;
};

/* 0 or -errno with err: -EEXIST (id), -ENOENT (tunnel), -E2BIG (more than
 * ESPRESSO_SPD_CANDS rules cover one destination, or too many rules). */
int spd_add(struct spd *s, struct live *l, const struct cfg_policy *p,
	    char *err, size_t errlen);
/* spd_add of a kept policy at start-up: its protect tunnel may be absent
 * (it discards until a tunnel of that name is added). */
int spd_restore(struct spd *s, struct live *l, const struct cfg_policy *p,
		char *err, size_t errlen);
/* The config's policies in place of the previous config's (start-up and
 * reload): 0, or -errno with err and the rules as they were. Those added
 * through espressoctl stay; an id of theirs in the config is refused.
 * spd_check_config is that check alone, before a reload changes anything. */
int spd_check_config(const struct spd *s, const struct cfg *c, char *err,
		     size_t errlen);
/* Everything spd_load_config(c) checks, on a scratch copy of the rules,
 * changing nothing: a reload runs it before it changes any tunnel, so a
 * config whose policies cannot load is refused whole. 0 or -errno, err. */
int spd_check_reload(const struct spd *s, const struct cfg *c, char *err,
		     size_t errlen);
int spd_load_config(struct spd *s, struct live *l, const struct cfg *c,
		    char *err, size_t errlen);
int spd_del(struct spd *s, uint32_t id, char *err, size_t errlen);
/* After each commit: push what changed. 0 or -errno (logged). */
int spd_sync(struct spd *s, struct live *l, struct bpf_state *b);
/* The rules in priority order (for show): fills order[0..n). */
void spd_order(const struct spd *s, size_t *order);
void spd_free(struct spd *s);

#endif
