// SPDX-License-Identifier: GPL-2.0
/*
 * apply: the config file into the live state, at start-up and on reload.
 *
 * A reload compares the running config with the new one and applies only
 * the difference: unchanged tunnels keep their SAs (sequence numbers,
 * replay windows); added tunnels come up, removed ones go with their
 * routes; a tunnel whose wire parameters changed is replaced; a changed
 * key or SPI is a new SA (outbound switched at once, the old inbound one
 * kept for LIVE_IN_GRACE_MS). Before anything changes, the new config is
 * checked against the running state as a whole, so a refused reload
 * changes nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/check.h"
#include "control/apply.h"
#include "control/p2mp.h"
#include "proto/crypto.h"
#include "lib/log.h"

static int add_sa(struct live *l, const struct cfg_tunnel *ct, int dir,
		  char *err, size_t errlen)
{
	const struct cfg_sa *cs = dir == SA_OUT ? &ct->out : &ct->in;
	struct live_sa_args a = {
		.tunnel = ct->name, .dir = dir, .spi = cs->spi, .key = cs->key,
		.key_len = cs->key_len, .origin = "config",
	};

	if (!cs->spi)
		return 0; /* keyed by IKE, or later through espressoctl */
	return live_sa_add(l, &a, err, errlen);
}

static int add_tunnel(struct live *l, const struct cfg_tunnel *ct, char *err,
		      size_t errlen)
{
	int i, ret;

	if (ct->p2mp) /* a hub: its peers follow it in the config */
		return p2mp_add(l, ct, err, errlen);
	ret = live_tunnel_add(l, ct, err, errlen);
	if (!ret)
		ret = add_sa(l, ct, SA_OUT, err, errlen);
	if (!ret)
		ret = add_sa(l, ct, SA_IN, err, errlen);
	for (i = 0; !ret && i < ct->nroutes; i++)
		ret = live_route_add(l, &ct->routes[i], ct->name, err, errlen);
	return ret;
}

int apply_config(struct live *l, const struct cfg *c, char *err,
		 size_t errlen)
{
	char msg[512];
	int i, ret;

	for (i = 0; i < c->ntunnels; i++) {
		ret = add_tunnel(l, &c->tunnels[i], msg, sizeof(msg));
		if (ret)
			return errf(err, errlen, ret, "%s:%d: tunnel %s: %s",
				    c->path, c->tunnels[i].line,
				    c->tunnels[i].name, msg);
	}
	return live_commit(l);
}

static const struct cfg_tunnel *find(const struct cfg *c, const char *name)
{
	int i;

	for (i = 0; i < c->ntunnels; i++)
		if (!strcmp(c->tunnels[i].name, name))
			return &c->tunnels[i];
	return NULL;
}

/* Everything but SAs and routes: a change makes it a new tunnel. */
static bool same_wire(const struct cfg_tunnel *a, const struct cfg_tunnel *b)
{
	return a->local.s_addr == b->local.s_addr &&
	       a->remote.s_addr == b->remote.s_addr &&
	       (a->family == AF_INET6) == (b->family == AF_INET6) &&
	       !memcmp(&a->local6, &b->local6, sizeof(a->local6)) &&
	       !memcmp(&a->remote6, &b->remote6, sizeof(a->remote6)) &&
	       a->encap == b->encap &&
	       a->cipher == b->cipher && a->replay_window == b->replay_window &&
	       a->esn == b->esn && a->fragment == b->fragment &&
	       a->sa_pairs == b->sa_pairs && a->remote_port == b->remote_port &&
	       a->keepalive_s == b->keepalive_s && a->vrf == b->vrf &&
	       a->local_port == b->local_port;
}

static bool same_sa(const struct cfg_sa *a, const struct cfg_sa *b)
{
	return a->spi == b->spi && a->key_len == b->key_len &&
	       !memcmp(a->key, b->key, a->key_len);
}

static bool has_route(const struct cfg_tunnel *t, const struct cfg_prefix *p)
{
	int i;

	for (i = 0; i < t->nroutes; i++)
		if (t->routes[i].family == p->family &&
		    t->routes[i].len == p->len &&
		    !memcmp(t->routes[i].addr, p->addr, 16))
			return true;
	return false;
}

/*
 * workers.crypto: does n ask for another backend than the one running?
 * o's setting, whatever it said, is the running backend; n's "auto" is
 * what auto takes here (crypto_auto_backend, as main.c's start-up). So
 * "auto" -> the backend it chose, or back, changes nothing.
 */
static bool crypto_changes(const struct cfg *o, const struct cfg *n)
{
	int want = n->workers.crypto;

	if (want == o->workers.crypto)
		return false;
	if (want == CFG_CRYPTO_AUTO)
		want = crypto_auto_backend();
	return want != (int)crypto_get_backend();
}

int apply_restart_only(const struct cfg *o, const struct cfg *n, char *err,
		       size_t errlen)
{
	const char *what = NULL;

	if (strcmp(o->instance, n->instance))
		what = "instance";
	else if (o->workers.queues != n->workers.queues)
		what = "workers.queues";
	else if (memcmp(o->workers.cpus, n->workers.cpus,
			sizeof(o->workers.cpus)))
		what = "workers.cpus";
	else if (o->workers.batch != n->workers.batch ||
		 o->workers.busy_poll != n->workers.busy_poll ||
		 o->workers.busy_poll_budget != n->workers.busy_poll_budget ||
		 o->workers.fill_ring != n->workers.fill_ring)
		what = "workers";
	else if (crypto_changes(o, n))
		what = "workers.crypto";
	else if (strcmp(o->uplink.name, n->uplink.name) ||
		 o->uplink.xdp_mode != n->uplink.xdp_mode ||
		 o->uplink.zerocopy != n->uplink.zerocopy ||
		 o->uplink.threaded_napi != n->uplink.threaded_napi)
		what = "uplink";
	else if (strcmp(o->tun.name, n->tun.name) ||
		 o->tun.offload != n->tun.offload ||
		 o->tun.mss_clamp != n->tun.mss_clamp ||
		 o->tun.naddrs != n->tun.naddrs ||
		 memcmp(o->tun.addrs, n->tun.addrs, sizeof(o->tun.addrs)) ||
		 (n->tun.mtu && o->tun.mtu != n->tun.mtu))
		what = "tun";
	else if (o->metrics.enabled != n->metrics.enabled ||
		 o->metrics.family != n->metrics.family ||
		 memcmp(o->metrics.addr, n->metrics.addr,
			sizeof(o->metrics.addr)) ||
		 o->metrics.port != n->metrics.port)
		what = "metrics";
	else if (o->nlans != n->nlans ||
		 memcmp(o->lans, n->lans, sizeof(o->lans)))
		what = "lan";
	else if (o->nvrfs != n->nvrfs ||
		 memcmp(o->vrfs, n->vrfs, sizeof(o->vrfs)))
		what = "vrfs"; /* each has a tun, opened at start-up */
	if (!what)
		return 0;
	return errf(err, errlen, -EINVAL, "%s: %s changed: that takes a "
		    "restart of espressod (reload changes tunnels, SAs and "
		    "routes only); nothing was changed", n->path, what);
}

static bool any_has_route(const struct cfg *c, const struct cfg_prefix *p,
			  uint16_t vrf)
{
	int i;

	for (i = 0; i < c->ntunnels; i++)
		if (c->tunnels[i].vrf == vrf && has_route(&c->tunnels[i], p))
			return true;
	return false;
}

/* Would the new config clash with what the control socket added? Checked
 * whole before anything changes: a refused reload changes nothing. */
static int check_clashes(struct live *l, const struct cfg *o,
			 const struct cfg *n, char *err, size_t errlen)
{
	int i, d, p, r;

	for (i = 0; i < n->ntunnels; i++) {
		const struct cfg_tunnel *nt = &n->tunnels[i];
		const struct cfg_tunnel *ot = find(o, nt->name);

		for (r = 0; r < nt->nroutes; r++) {
			char buf[64];

			if (any_has_route(o, &nt->routes[r], nt->vrf) ||
			    !live_route_has_vrf(l, &nt->routes[r], nt->vrf))
				continue;
			return errf(err, errlen, -EEXIST, "%s:%d: tunnel %s: "
				    "route %s was added through espressoctl; "
				    "nothing was changed", n->path, nt->line,
				    nt->name, cfg_prefix_str(&nt->routes[r],
							     buf, sizeof(buf)));
		}

		if (!ot && (live_tunnel_find(l, nt->name) ||
			    p2mp_find(l, nt->name)))
			return errf(err, errlen, -EEXIST, "%s:%d: tunnel %s: "
				    "a tunnel of that name was added through "
				    "espressoctl; nothing was changed", n->path,
				    nt->line, nt->name);
		for (d = 0; d < 2; d++) {
			const struct cfg_sa *cs = d == SA_OUT ? &nt->out
							      : &nt->in;

			for (p = 0; cs->spi && p < nt->sa_pairs; p++) {
				struct sa *sa = live_sa_find(l, cs->spi + p, d);

				if (!sa || !strcmp(sa->origin, "config"))
					continue;
				return errf(err, errlen, -EEXIST, "%s:%d: tunnel "
					    "%s: spi 0x%x: already used by an SA "
					    "of tunnel %s added through "
					    "espressoctl; nothing was changed",
					    n->path, nt->line, nt->name,
					    cs->spi + p, sa->tunnel->name);
			}
		}
	}
	return 0;
}

/* Phase 1 of a kept tunnel: inbound SAs whose SPI or key changed go
 * (dying: in flight packets still decrypt), routes the new config lacks. */
static void reload_remove(struct live *l, const struct cfg_tunnel *ot,
			  const struct cfg_tunnel *nt)
{
	char msg[512];
	int p, r;

	if (!same_sa(&ot->in, &nt->in))
		for (p = 0; ot->in.spi && p < ot->sa_pairs; p++)
			live_sa_del(l, ot->in.spi + p, SA_IN, msg, sizeof(msg));
	if (!nt->out.spi)
		for (p = 0; ot->out.spi && p < ot->sa_pairs; p++)
			live_sa_del(l, ot->out.spi + p, SA_OUT, msg,
				    sizeof(msg));
	for (r = 0; r < ot->nroutes; r++)
		if (!has_route(nt, &ot->routes[r]))
			live_route_del_tunnel(l, &ot->routes[r], ot->name, msg,
					      sizeof(msg));
}

/* Phase 2 of a kept tunnel: new SAs (an outbound one replaces the old in
 * one store, same SPI or not), new routes. */
static int reload_add(struct live *l, const struct cfg_tunnel *ot,
		      const struct cfg_tunnel *nt, char *err, size_t errlen)
{
	int r, ret = 0;

	if (nt->out.spi && !same_sa(&ot->out, &nt->out)) {
		struct live_sa_args a = {
			.tunnel = nt->name, .dir = SA_OUT, .spi = nt->out.spi,
			.key = nt->out.key, .key_len = nt->out.key_len,
			.origin = "config", .replace = true,
		};

		ret = live_sa_add(l, &a, err, errlen);
	}
	if (!ret && !same_sa(&ot->in, &nt->in))
		ret = add_sa(l, nt, SA_IN, err, errlen);
	for (r = 0; !ret && r < nt->nroutes; r++)
		if (!has_route(ot, &nt->routes[r]))
			ret = live_route_add(l, &nt->routes[r], nt->name, err,
					     errlen);
	return ret;
}

int apply_reload(struct live *l, const struct cfg *o, const struct cfg *n,
		 char *err, size_t errlen)
{
	char msg[512];
	int i, ret;

	ret = apply_restart_only(o, n, err, errlen);
	if (!ret)
		ret = check_clashes(l, o, n, err, errlen);
	if (ret)
		return ret;
	/* phase 1: what goes, so that what comes finds its SPIs free */
	for (i = 0; i < o->ntunnels; i++) {
		const struct cfg_tunnel *ot = &o->tunnels[i];
		const struct cfg_tunnel *nt = find(n, ot->name);

		if (ot->p2mp) { /* a hub: with its peers, when it changed */
			if (!nt || !nt->p2mp || !same_wire(ot, nt))
				p2mp_del(l, ot->name, msg, sizeof(msg));
		} else if (!nt || nt->p2mp || !same_wire(ot, nt))
			live_tunnel_del(l, ot->name, msg, sizeof(msg));
		else
			reload_remove(l, ot, nt);
	}
	/* phase 2: what comes */
	for (i = 0; i < n->ntunnels; i++) {
		const struct cfg_tunnel *nt = &n->tunnels[i];
		const struct cfg_tunnel *ot = find(o, nt->name);

		if (!ot || ot->p2mp != nt->p2mp || !same_wire(ot, nt))
			ret = add_tunnel(l, nt, msg, sizeof(msg));
		else if (nt->p2mp)
			ret = 0; /* a hub kept as it was */
		else
			ret = reload_add(l, ot, nt, msg, sizeof(msg));
		if (ret) {
			live_commit(l);
			return errf(err, errlen, ret, "%s:%d: tunnel %s: %s "
				    "(the changes before it were applied)",
				    n->path, nt->line, nt->name, msg);
		}
	}
	return live_commit(l);
}
