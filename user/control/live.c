// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config/check.h"
#include "control/live.h"
#include "control/seqstore.h"
#include "control/topmap.h"
#include "espresso/common.h"
#include "lib/log.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * size);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * size, 0, (n - *cap) * size);
	*arr = p;
	*cap = n;
	return 0;
}

/* ---- deferred puts: run by epoch_reclaim on the control thread ---- */

static void put_sa_cb(void *arg)
{
	sa_put(arg);
}

static void put_tunnel_cb(void *arg)
{
	tunnel_put(arg);
}

static void free_cb(void *arg)
{
	free(arg);
}

/* Drop a reference once no worker can still hold the pointer. */
static void retire(struct live *l, void (*fn)(void *), void *obj)
{
	if (epoch_retire(&l->epoch, fn, obj)) {
		epoch_synchronize(&l->epoch);
		fn(obj);
	}
}

struct nh_put {
	struct live *l;
	struct nexthop *nh;
};

static void put_nh_cb(void *arg)
{
	struct nh_put *p = arg;

	nexthop_put(&p->l->nhs, p->nh);
	free(p);
}

void live_retire_nexthop(struct live *l, struct nexthop *nh)
{
	struct nh_put *p;

	if (!nh)
		return;
	p = malloc(sizeof(*p));
	if (!p) {
		epoch_synchronize(&l->epoch);
		nexthop_put(&l->nhs, nh);
		return;
	}
	p->l = l;
	p->nh = nh;
	retire(l, put_nh_cb, p);
}

int live_init(struct live *l, int nworkers, int uplink_mtu,
	      const struct live_ops *ops, struct seqstore *store)
{
	int err;

	memset(l, 0, sizeof(*l));
	err = epoch_init(&l->epoch, nworkers);
	if (err)
		return err;
	l->nworkers = nworkers;
	l->uplink_mtu = uplink_mtu;
	l->ops = *ops;
	l->store = store;
	/* workers ask for inbound limits through it (sa_rx_limit_slow) */
	if (store && (l->asks = calloc(1, sizeof(*l->asks)))) {
		l->asks->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (l->asks->fd < 0) {
			free(l->asks);
			l->asks = NULL;
		}
	}
	if (store && !l->asks)
		log_warn("eventfd: %s: inbound limits are raised at the "
			 "control loop's ticks only", strerror(errno));
	l->dirty = true;
	return live_commit(l);
}

void live_set_tops(struct live *l, struct topmap *tops)
{
	l->tops = tops;
}

int live_wake_fd(const struct live *l)
{
	return l->asks ? l->asks->fd : -1;
}

uint64_t live_wake_clear(struct live *l)
{
	return l->asks ? sa_asks_clear(l->asks) : 0;
}

/* ---- lookups ---- */

struct tunnel *live_tunnel_find(struct live *l, const char *name)
{
	uint64_t h = hmap_hash_bytes(name, strlen(name));
	struct tunnel *t;
	size_t i = 0;

	while ((t = hmap_next(&l->tun_names, h, &i)))
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}

static struct sa *in_by_spi(struct live *l, uint32_t spi)
{
	struct sa *sa;
	size_t i = 0;

	while ((sa = hmap_next(&l->spis, hmap_hash_u64(spi), &i)))
		if (sa->spi == spi)
			return sa;
	return NULL;
}

static struct sa *out_by_spi(struct live *l, uint32_t spi)
{
	struct sa *sa;
	size_t i = 0;

	while ((sa = hmap_next(&l->out_spis, hmap_hash_u64(spi), &i)))
		if (sa->spi == spi)
			return sa;
	return NULL;
}

/*
 * One key, one SA. Two SAs under one AEAD key would send the same nonces
 * (each counts its sequence numbers from 1; and both ends' outbound SAs,
 * were a tunnel's inbound and outbound keys the same). The config's check
 * refuses such a file (config/check.c); this is the same rule for every
 * SA the model takes, whatever added it. A key's identity: HMAC-SHA256,
 * keyed with a label, of the key without its salt (the same key with
 * another salt is refused too, as the config's check does); the pairs of
 * one "sa add" share their base key's.
 */
static int key_id(const uint8_t *key, size_t len, uint8_t kid[16])
{
	static const char label[] = "espresso key identity v1";
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ok;

	if (len <= CFG_SALT_LEN)
		return -EINVAL;
	ok = HMAC(EVP_sha256(), label, sizeof(label) - 1, key,
		  len - CFG_SALT_LEN, md, &mdlen) && mdlen >= 16;
	if (ok)
		memcpy(kid, md, 16);
	OPENSSL_cleanse(md, sizeof(md));
	return ok ? 0 : -EIO;
}

static uint64_t kid_hash(const uint8_t kid[16])
{
	uint64_t h;

	memcpy(&h, kid, sizeof(h));
	return hmap_hash_u64(h);
}

/* An SA of the model under the key kid, or NULL. */
static struct sa *key_holder(struct live *l, const uint8_t kid[16])
{
	struct sa *sa;
	size_t i = 0;

	while ((sa = hmap_next(&l->keys, kid_hash(kid), &i)))
		if (!memcmp(sa->kid, kid, sizeof(sa->kid)))
			return sa;
	return NULL;
}

/* sa into the model's maps: by SPI (spis: inbound or outbound) and by
 * key. 0, or -ENOMEM in neither. */
static int sa_index(struct live *l, struct hmap *spis, struct sa *sa)
{
	if (hmap_add(&l->keys, kid_hash(sa->kid), sa))
		return -ENOMEM;
	if (hmap_add(spis, hmap_hash_u64(sa->spi), sa)) {
		hmap_del(&l->keys, kid_hash(sa->kid), sa);
		return -ENOMEM;
	}
	return 0;
}

static void seq_retire(struct live *l, struct sa *sa);

/* sa leaves the model (sa_index's maps): its key is free for a new SA
 * (whose outbound numbers then start above this one's, seq_restore),
 * its record retired. */
static void sa_leave(struct live *l, struct hmap *spis, struct sa *sa)
{
	hmap_del(spis, hmap_hash_u64(sa->spi), sa);
	hmap_del(&l->keys, kid_hash(sa->kid), sa);
	seq_retire(l, sa);
}

struct sa *live_sa_find(struct live *l, uint32_t spi, int dir)
{
	struct sa *sa = NULL;

	if (dir != SA_OUT)
		sa = in_by_spi(l, spi);
	if (!sa && dir != SA_IN)
		sa = out_by_spi(l, spi);
	return sa;
}

/* fn on each SA of t: the outbound ones of its pairs, then the inbound */
static void tunnel_for_each_sa(struct tunnel *t,
			       void (*fn)(void *arg, struct sa *sa), void *arg)
{
	int p;

	for (p = 0; p < t->npairs; p++) {
		struct sa *sa = atomic_load(&t->out[p]);

		if (sa)
			fn(arg, sa);
	}
	for (p = 0; p < t->nin; p++)
		fn(arg, t->in[p]);
}

void live_for_each_sa(struct live *l, void (*fn)(void *arg, struct sa *sa),
		      void *arg)
{
	uint32_t i;

	for (i = 0; i < l->ntun; i++)
		if (l->tun[i])
			tunnel_for_each_sa(l->tun[i], fn, arg);
}

/* ---- NAT-T local ports ---- */

/* The distinct local ports of UDP tunnels other than 4500 (which the XDP
 * program always knows): into ports (ESPRESSO_MAX_NATT_PORTS), how many. */
static int natt_ports(const struct live *l, uint16_t *ports)
{
	uint32_t i;
	int n = 0, j;

	for (i = 0; i < l->ntun; i++) {
		const struct tunnel *t = l->tun[i];

		if (!t || t->encap != ENCAP_UDP ||
		    t->local_port == ESPRESSO_NATT_PORT)
			continue;
		for (j = 0; j < n && ports[j] != t->local_port; j++)
			;
		if (j == n && n < ESPRESSO_MAX_NATT_PORTS)
			ports[n++] = t->local_port;
	}
	return n;
}

/* Whether a tunnel with local port port (0: 4500) fits the XDP map. */
static bool natt_port_room(const struct live *l, uint16_t port)
{
	uint16_t ports[ESPRESSO_MAX_NATT_PORTS];
	int n = natt_ports(l, ports), j;

	if (!port || port == ESPRESSO_NATT_PORT)
		return true;
	for (j = 0; j < n; j++)
		if (ports[j] == port)
			return true;
	return n < ESPRESSO_MAX_NATT_PORTS;
}

/* ---- tunnels ---- */

int live_tunnel_add(struct live *l, const struct cfg_tunnel *ct, char *err,
		    size_t errlen)
{
	struct tunnel_spec s = {
		.name = ct->name, .local = ct->local, .remote = ct->remote,
		.family = ct->family, .local6 = ct->local6,
		.remote6 = ct->remote6, .encap = ct->encap, .cipher = ct->cipher,
		.replay_window = ct->replay_window, .esn = ct->esn,
		.fragment = ct->fragment, .npairs = ct->sa_pairs,
		.uplink_mtu = l->uplink_mtu,
		.remote_port = ct->remote_port, .keepalive_s = ct->keepalive_s,
		.vrf = ct->vrf,
		.local_port = ct->local_port,
	};
	struct tunnel *t;
	uint32_t slot;
	int ret;

	if (live_tunnel_find(l, ct->name))
		return errf(err, errlen, -EEXIST, "tunnel add: %s: exists",
			    ct->name);
	if (ct->encap != ENCAP_UDP && (ct->remote_port || ct->keepalive_s ||
					ct->local_port))
		return errf(err, errlen, -EINVAL, "tunnel add: %s: remote-port, "
			    "local-port and keepalive need encap udp (NAT-T)",
			    ct->name);
	if (ct->encap == ENCAP_UDP && !natt_port_room(l, ct->local_port))
		return errf(err, errlen, -ENOSPC, "tunnel add: %s: local-port "
			    "%u: the XDP program knows %d NAT-T ports at most",
			    ct->name, ct->local_port, ESPRESSO_MAX_NATT_PORTS);
	if (s.npairs < 1)
		s.npairs = 1;
	for (slot = l->tun_hint; slot < l->ntun && l->tun[slot]; slot++)
		;
	l->tun_hint = slot + 1;
	if (slot == l->ntun) {
		size_t cap = l->tun_cap;

		if (grow((void **)&l->tun, &cap, slot + 1, sizeof(*l->tun)))
			return errf(err, errlen, -ENOMEM, "tunnel add: %s: "
				    "out of memory", ct->name);
		l->tun_cap = cap;
	}
	ret = tunnel_create(&t, &s);
	if (ret)
		return errf(err, errlen, ret, "tunnel add: %s: %s", ct->name,
			    strerror(-ret));
	if (hmap_add(&l->tun_names, hmap_hash_bytes(t->name, strlen(t->name)),
		     t)) {
		tunnel_put(t);
		return errf(err, errlen, -ENOMEM, "tunnel add: %s: out of "
			    "memory", ct->name);
	}
	t->slot = slot;
	t->ka_last_ms = mono_ms(); /* the first keepalive a period from now */
	l->tun[slot] = t;
	if (slot == l->ntun)
		l->ntun++;
	l->tun_count++;
	l->dirty = true;
	return 0;
}

static ssize_t route_find(struct live *l, const struct cfg_prefix *p,
			  uint32_t vrf);

/* The kernel's route into the tun of vrf (the default's or a VRF's). */
static int kroute_add(struct live *l, const struct cfg_prefix *p, uint32_t vrf)
{
	if (!vrf)
		return l->ops.route_add ? l->ops.route_add(l->ops.arg, p) : 0;
	return l->ops.vrf_route_add ? l->ops.vrf_route_add(l->ops.arg, p, vrf)
				    : 0;
}

static void kroute_del(struct live *l, const struct cfg_prefix *p,
		       uint32_t vrf)
{
	if (!vrf && l->ops.route_del)
		l->ops.route_del(l->ops.arg, p);
	else if (vrf && l->ops.vrf_route_del)
		l->ops.vrf_route_del(l->ops.arg, p, vrf);
}

static void route_remove_at(struct live *l, size_t i)
{
	struct live_route *r = &l->routes[i];
	struct cfg_prefix gone = r->prefix;
	uint32_t vrf = r->t->vrf;
	size_t last = l->nroutes - 1;
	ssize_t j;

	hmap_del(&l->route_idx, hmap_hash_bytes(&r->prefix, sizeof(r->prefix)),
		 (void *)(uintptr_t)(i + 1));
	if (i != last) {
		struct live_route *m = &l->routes[last];
		uint64_t h = hmap_hash_bytes(&m->prefix, sizeof(m->prefix));

		hmap_del(&l->route_idx, h, (void *)(uintptr_t)(last + 1));
		*r = *m;
		hmap_add(&l->route_idx, h, (void *)(uintptr_t)(i + 1));
	}
	l->nroutes--;
	/* the kernel route goes with the prefix's last tunnel (ECMP); the
	 * XDP program's copy then names a remaining member (workers pick the
	 * member by the flow's hash from the FIB again) */
	j = route_find(l, &gone, vrf);
	if (j < 0)
		kroute_del(l, &gone, vrf);
	if (j < 0 && l->ops.xdp_route_del)
		l->ops.xdp_route_del(l->ops.arg, &gone, vrf);
	else if (j >= 0 && l->ops.xdp_route_set)
		l->ops.xdp_route_set(l->ops.arg, &gone,
				     l->routes[j].t->slot + 1, vrf);
	l->dirty = true;
}

/* The inbound slot is free again (the versions still showing the SA hold
 * their own reference). */
static void slot_free(struct live *l, struct sa *sa)
{
	l->sa_in[sa->slot] = NULL;
	if (sa->slot < l->sa_hint)
		l->sa_hint = sa->slot;
	l->sa_count--;
	l->dirty = true;
}

static void seq_retire(struct live *l, struct sa *sa)
{
	if (!l->store || !sa->persist)
		return;
	seqstore_retire(l->store, sa->spi,
			sa->dir == SA_OUT ? SEQSTORE_OUT : SEQSTORE_IN, sa->fp);
}

/*
 * A removed inbound SA's record holds its limit, ahead of its top: were
 * the same SPI and key added again (a peer taken out of the config and put
 * back), every number up to the limit would be refused, though the peer
 * never sent them. Once no worker can use the SA any more its top is exact
 * and replaces the limit: noted here (in_final), stored by in_finals.
 */
static void in_final(struct live *l, struct sa *sa)
{
	if (!l->store || !sa->persist || sa->dir != SA_IN)
		return;
	if (grow((void **)&l->finals, &l->finals_cap, l->nfinals + 1,
		 sizeof(*l->finals)))
		return; /* the limit stays: safe, only costlier */
	sa_get(sa);
	l->finals[l->nfinals].sa = sa;
	l->finals[l->nfinals++].published = l->published;
}

/* An inbound SA with the same SPI and key is in the model again. */
static bool in_record_taken(struct live *l, const struct sa *gone)
{
	const struct sa *cur = in_by_spi(l, gone->spi);

	return cur && cur != gone && cur->persist &&
	       !memcmp(cur->fp, gone->fp, sizeof(cur->fp));
}

/*
 * Store the exact tops of the SAs in_final noted, once a version without
 * them is published and every worker has passed a quiescent point since
 * (epoch_synchronize: a burst's time). workers_gone: the workers have
 * stopped (a clean stop), no wait.
 */
static void in_finals(struct live *l, bool workers_gone)
{
	size_t i, keep = 0;
	bool synced = workers_gone;

	for (i = 0; i < l->nfinals; i++) {
		struct live_final *f = &l->finals[i];
		uint64_t top;

		/* still in the version the workers use: a later turn */
		if (!workers_gone && f->published == l->published) {
			l->finals[keep++] = *f;
			continue;
		}
		if (!synced) {
			epoch_synchronize(&l->epoch);
			synced = true;
		}
		if (in_record_taken(l, f->sa)) {
			/* added again meanwhile: the new SA owns the records
			 * (its limit, its slot), not to be lowered or freed */
			sa_put(f->sa);
			continue;
		}
		top = atomic_load(&f->sa->replay.top);
		if (!seqstore_put(l->store, f->sa->spi, SEQSTORE_IN, f->sa->fp,
				  top))
			seqstore_retire(l->store, f->sa->spi, SEQSTORE_IN,
					f->sa->fp);
		/* the seqstore has the exact top now: the record goes (were
		 * this written to disk after a crash, the limit is there) */
		topmap_release(l->tops, f->sa->rx_exact);
		f->sa->rx_exact = NULL;
		sa_put(f->sa);
	}
	l->nfinals = keep;
}

/* Out of the XDP map now, out of the version after LIVE_IN_GRACE_MS. */
/* The SA's SPI leaves the XDP map, unless a newer SA took it over. */
static void spi_drop(struct live *l, struct sa *sa)
{
	if (l->ops.spi_del && !in_by_spi(l, sa->spi))
		l->ops.spi_del(l->ops.arg, sa);
}

/*
 * An inbound SA goes. now: at once (hard expiry, tunnel deleted). Else it
 * is dying: it stays in the XDP map and the tables for LIVE_IN_GRACE_MS,
 * so what the peer sent before it switched to its new SA still decrypts.
 */
static void in_sa_remove(struct live *l, struct sa *sa, bool now)
{
	struct tunnel *t = sa->tunnel;
	size_t i;
	int p;

	if (sa->state == SA_DYING || sa->state == SA_DEAD)
		return;
	sa_leave(l, &l->spis, sa);
	for (i = 0; i < l->npend_spi; i++)
		if (l->pend_spi[i] == sa)
			l->pend_spi[i] = NULL;
	for (p = 0; p < t->nin; p++) {
		if (t->in[p] == sa) {
			memmove(&t->in[p], &t->in[p + 1],
				(t->nin - p - 1) * sizeof(*t->in));
			t->nin--;
			break;
		}
	}
	sa->state = SA_DYING;
	if (!now && !grow((void **)&l->dying, &l->dying_cap, l->ndying + 1,
			  sizeof(*l->dying))) {
		l->dying[l->ndying].sa = sa;
		l->dying[l->ndying++].since_ms = mono_ms();
		return;
	}
	/* leaves the version at the next commit */
	spi_drop(l, sa);
	sa->state = SA_DEAD;
	in_final(l, sa);
	slot_free(l, sa);
	sa_put(sa); /* the model's reference; versions hold their own */
}

static void out_sa_remove(struct live *l, struct tunnel *t, int p)
{
	struct sa *old = tunnel_set_out(t, p, NULL);

	if (!old)
		return;
	sa_leave(l, &l->out_spis, old);
	old->state = SA_DEAD;
	retire(l, put_sa_cb, old);
}

/* Whichever it is: an outbound SA still waiting for the commit (no
 * worker saw it), or the active one of its pair. */
static void out_sa_drop(struct live *l, struct sa *sa)
{
	size_t i;

	if (sa->state != SA_LARVAL) {
		if (atomic_load(&sa->tunnel->out[sa->pair]) == sa)
			out_sa_remove(l, sa->tunnel, sa->pair);
		return;
	}
	for (i = 0; i < l->npend_out; i++)
		if (l->pend_out[i] == sa)
			l->pend_out[i] = NULL;
	sa_leave(l, &l->out_spis, sa);
	sa_put(sa);
}

int live_tunnel_del(struct live *l, const char *name, char *err,
		    size_t errlen)
{
	struct tunnel *t = live_tunnel_find(l, name);
	size_t i;
	int p;

	if (!t)
		return errf(err, errlen, -ENOENT, "tunnel del: %s: no such "
			    "tunnel", name);
	for (i = l->nroutes; i-- > 0;)
		if (l->routes[i].t == t)
			route_remove_at(l, i);
	for (p = 0; p < t->npairs; p++)
		out_sa_remove(l, t, p);
	for (i = 0; i < l->npend_out; i++)
		if (l->pend_out[i] && l->pend_out[i]->tunnel == t)
			out_sa_drop(l, l->pend_out[i]);
	while (t->nin)
		in_sa_remove(l, t->in[0], true);
	for (i = 0; i < l->ndying; i++) {
		if (l->dying[i].sa && l->dying[i].sa->tunnel == t) {
			struct sa *sa = l->dying[i].sa;

			l->dying[i].sa = NULL;
			spi_drop(l, sa);
			sa->state = SA_DEAD;
			slot_free(l, sa);
			sa_put(sa);
		}
	}
	hmap_del(&l->tun_names, hmap_hash_bytes(t->name, strlen(t->name)), t);
	l->tun[t->slot] = NULL;
	if (t->slot < l->tun_hint)
		l->tun_hint = t->slot;
	l->tun_count--;
	live_retire_nexthop(l, atomic_exchange(&t->nh, NULL));
	retire(l, put_tunnel_cb, t);
	l->dirty = true;
	return 0;
}

/* ---- SAs ---- */

/*
 * The first block of a new inbound SA: its tunnel's busiest inbound SA's,
 * live or dying (a rekey: the new SA takes over the old one's traffic at
 * once), else LIVE_RX_BLOCK_START.
 */
static uint64_t in_block_start(const struct live *l, const struct sa *sa)
{
	const struct tunnel *t = sa->tunnel;
	uint64_t b = LIVE_RX_BLOCK_START;
	size_t k;
	int i;

	for (i = 0; t && i < t->nin; i++)
		if (t->in[i] != sa && t->in[i]->persist &&
		    t->in[i]->rx_block > b)
			b = t->in[i]->rx_block;
	/* the one it replaces may have gone first (deleted, then added) */
	for (k = 0; t && k < l->ndying; k++) {
		const struct sa *d = l->dying[k].sa;

		if (d && d->tunnel == t && d->persist && d->rx_block > b)
			b = d->rx_block;
	}
	return b;
}

/*
 * Let the workers accept up to lim (on disk: at most rx_durable). The limit
 * first: a worker that sees the new rx_ask (acquire) sees it too.
 */
static void in_publish(struct sa *sa, uint64_t lim)
{
	uint64_t half = sa->rx_block / 2;

	atomic_store_explicit(&sa->rx_limit, lim, memory_order_release);
	atomic_store_explicit(&sa->rx_ask, lim > half ? lim - half : 0,
			      memory_order_release);
	atomic_store_explicit(&sa->rx_asked, 0, memory_order_relaxed);
}

/*
 * Where an inbound SA's window starts. The seqstore holds its limit,
 * persisted ahead of use: no number above it was ever accepted. The tops
 * file (topmap.h) holds, in this boot, its exact top: after a crash or a
 * kill only what was really accepted is refused. After a reboot (no
 * record) the window starts at the limit: at most the block it was
 * reserved by (about LIVE_RX_BLOCK_MS of the peer's traffic) is refused.
 */
static int in_restore(struct live *l, struct sa *sa)
{
	uint64_t stored = 0, top, exact = 0;
	bool found = false;

	/* the same SA removed before (committed): its exact top */
	in_finals(l, false);
	seqstore_get(l->store, sa->spi, SEQSTORE_IN, sa->fp, &stored);
	top = stored;
	if (l->tops) {
		sa->rx_exact = topmap_claim(l->tops, sa->spi, sa->fp, stored,
					    &exact, &found);
		if (!sa->rx_exact)
			log_rl(LOG_LVL_WARN, 10, "state directory: the tops "
			       "file is full: SA 0x%08x restarts from its "
			       "limit after a crash", sa->spi);
		if (found)
			top = exact;
	}
	if (top)
		replay_restore(&sa->replay, top);
	sa->asks = l->asks;
	sa->rx_block = in_block_start(l, sa);
	sa->rx_rate_top = top;
	sa->rx_rate_ms = mono_ms();
	sa->rx_durable = stored;
	sa->persisted = top > UINT64_MAX - sa->rx_block ? UINT64_MAX
							 : top + sa->rx_block;
	if (sa->persisted <= stored) {
		/* on disk already (a crash left its limit ahead of its top) */
		sa->persisted = stored;
		sa->rx_pending = 0;
		in_publish(sa, stored);
		return 0;
	}
	/* nothing above the top until the next sync (every packet takes
	 * the slow path until then: rx_ask 0) */
	atomic_store(&sa->rx_limit, top);
	atomic_store(&sa->rx_ask, 0);
	sa->rx_pending = sa->persisted;
	return seqstore_set(l->store, sa->spi, SEQSTORE_IN, sa->fp,
			    sa->persisted);
}

/* Where this SA's sequence numbers start, from the state directory. */
static int seq_restore(struct live *l, struct sa *sa)
{
	uint8_t *fp = sa->fp;
	uint64_t v = 0, own = 0;
	int ret;

	_Static_assert(sizeof(sa->fp) == SEQSTORE_FP_LEN, "fingerprint size");
	if (!l->store)
		return 0;
	sa->persist = true;
	ret = seqstore_fingerprint(sa->key, sa->key_len, fp);
	if (ret)
		return ret;
	if (sa->dir == SA_IN)
		return in_restore(l, sa);
	/* under any SPI: the same key under a new SPI (deleted and added
	 * again, a config that changed the SPI alone) goes on where the
	 * key's numbers stopped, not at 1 */
	seqstore_get(l->store, sa->spi, SEQSTORE_OUT, fp, &own);
	seqstore_get_key(l->store, SEQSTORE_OUT, fp, &v);
	if (v > own)
		log_info("sa 0x%08x: its key sent before under another SPI: "
			 "its sequence numbers start above %llu", sa->spi,
			 (unsigned long long)v);
	if (v >= sa->seq_max) {
		atomic_store(&sa->seq, sa->seq_max);
		atomic_store(&sa->exhausted, 1);
		return 0;
	}
	/* what was reserved before may have been used: start above it */
	atomic_store(&sa->seq, v);
	atomic_store(&sa->seq_limit, v); /* nothing usable until synced */
	v = v + LIVE_SEQ_BLOCK < sa->seq_max ? v + LIVE_SEQ_BLOCK : sa->seq_max;
	sa->persisted = v;
	return seqstore_set(l->store, sa->spi, SEQSTORE_OUT, fp, v);
}

static void seq_release(void *arg, struct sa *sa);

/* The SAs reserved for since the last sync (rel_note): published (after
 * a sync), or only let go (a full release follows). */
static void rel_release(struct live *l, bool publish)
{
	size_t i;

	for (i = 0; i < l->nrel; i++) {
		if (publish)
			seq_release(l, l->rel[i]);
		l->rel[i]->rel_listed = false;
		sa_put(l->rel[i]);
	}
	l->nrel = 0;
}

/* sa reserved (an inbound limit, an outbound block): published after
 * the next sync; when it cannot be listed, that sync publishes all. */
static void rel_note(struct live *l, struct sa *sa)
{
	if (sa->rel_listed)
		return;
	if (grow((void **)&l->rel, &l->rel_cap, l->nrel + 1,
		 sizeof(*l->rel))) {
		l->rel_all = true;
		return;
	}
	sa_get(sa);
	sa->rel_listed = true;
	l->rel[l->nrel++] = sa;
}

/* After a sync: let the workers use what is now on disk. */
static void seq_release(void *arg, struct sa *sa)
{
	(void)arg;
	if (!sa->persist)
		return;
	if (sa->dir == SA_IN) {
		sa->rx_durable = sa->persisted;
		if (sa->rx_pending > atomic_load(&sa->rx_limit))
			in_publish(sa, sa->rx_pending);
		sa->rx_pending = 0;
		return;
	}
	if (sa->persisted > atomic_load(&sa->seq_limit))
		atomic_store_explicit(&sa->seq_limit, sa->persisted,
				      memory_order_release);
}

/* Write the store; then publish what it reserved: for every SA (all),
 * or for those live_asks listed. */
static int seq_sync_for(struct live *l, bool all)
{
	char err[256];
	int ret;

	if (!l->store || !seqstore_dirty(l->store))
		return 0;
	ret = seqstore_sync(l->store, err, sizeof(err));
	if (ret) {
		log_rl(LOG_LVL_ERR, 10, "state directory: %s; outbound SAs "
		       "stop at their last reserved sequence number, inbound "
		       "ones at their last persisted limit", err);
		return ret;
	}
	l->last_sync_ms = mono_ms();
	all |= l->rel_all;
	l->rel_all = false;
	rel_release(l, !all); /* all: the scan below publishes them */
	if (!all)
		return 0;
	live_for_each_sa(l, seq_release, l);
	/* a dying inbound SA still takes what is in flight for it */
	for (size_t i = 0; i < l->ndying; i++)
		if (l->dying[i].sa)
			seq_release(l, l->dying[i].sa);
	return 0;
}

static int seq_sync(struct live *l)
{
	return seq_sync_for(l, true);
}

static int sa_add_pair(struct live *l, struct tunnel *t,
		       const struct live_sa_args *a, const uint8_t kid[16],
		       int p, char *err, size_t errlen)
{
	uint8_t key[CFG_KEY_MAX];
	struct sa_spec s = {
		.spi = a->spi + p, .dir = a->dir, .pair = p,
		.owner = t->npairs > 1 ? p % l->nworkers : -1,
		.npairs = t->npairs,
		.cipher = t->cipher, .esn = t->esn,
		.replay_window = t->replay_window, .key = a->key,
		.key_len = a->key_len, .life = a->life,
		.origin = a->origin, .reqid = a->reqid, .child = a->child,
		.wire = { .spi = a->spi + p, .esn = t->esn, .encap = t->encap,
			  .local = a->dir == SA_OUT ? t->local : t->local,
			  /* where the peer is now (NAT-T may have moved it) */
			  .remote = t->peer, .family = t->family,
			  .local6 = t->local6, .remote6 = t->peer6,
			  .dport = t->encap == ENCAP_UDP ? t->peer_port : 0,
			  .sport = t->encap == ENCAP_UDP ? t->local_port : 0 },
	};
	struct sa *sa;
	size_t icap;
	uint32_t slot;
	int ret;

	if (t->npairs > 1) {
		ret = sa_derive_key(a->key, a->key_len, s.spi, key);
		if (ret)
			return errf(err, errlen, ret, "sa add: spi 0x%x: cannot "
				    "derive the key of pair %d", s.spi, p);
		s.key = key;
	}
	ret = sa_create(&sa, &s, t, l->nworkers);
	OPENSSL_cleanse(key, sizeof(key));
	if (ret)
		return errf(err, errlen, ret, "sa add: spi 0x%x: %s", s.spi,
			    strerror(-ret));
	memcpy(sa->kid, kid, sizeof(sa->kid));
	ret = seq_restore(l, sa);
	if (ret) {
		sa_put(sa);
		return errf(err, errlen, ret, "sa add: spi 0x%x: state "
			    "directory: %s", s.spi, strerror(-ret));
	}
	if (a->dir == SA_OUT) {
		/* larval until the commit has its sequence numbers on disk;
		 * then every worker switches to it in one store */
		if (grow((void **)&l->pend_out, &l->pend_out_cap,
			 l->npend_out + 1, sizeof(*l->pend_out)) ||
		    sa_index(l, &l->out_spis, sa)) {
			sa_put(sa);
			return errf(err, errlen, -ENOMEM, "sa add: out of "
				    "memory");
		}
		sa->state = SA_LARVAL;
		l->pend_out[l->npend_out++] = sa;
		l->dirty = true;
		return 0;
	}
	for (slot = l->sa_hint; slot < l->nsa && l->sa_in[slot]; slot++)
		;
	if (slot == l->nsa) {
		size_t cap = l->sa_cap;

		if (slot >= ESPRESSO_MAX_SA ||
		    grow((void **)&l->sa_in, &cap, slot + 1, sizeof(*l->sa_in))) {
			sa_put(sa);
			return errf(err, errlen, -ENOSPC, "sa add: spi 0x%x: "
				    "no room for more inbound SAs (%d)", s.spi,
				    ESPRESSO_MAX_SA);
		}
		l->sa_cap = cap;
	}
	icap = t->in_cap;
	if (grow((void **)&t->in, &icap, t->nin + 1, sizeof(*t->in)) ||
	    grow((void **)&l->pend_spi, &l->pend_spi_cap, l->npend_spi + 1,
		 sizeof(*l->pend_spi)) ||
	    sa_index(l, &l->spis, sa)) {
		sa_put(sa);
		return errf(err, errlen, -ENOMEM, "sa add: out of memory");
	}
	t->in_cap = icap;
	sa->slot = slot;
	l->sa_hint = slot + 1;
	l->sa_in[slot] = sa;
	if (slot == l->nsa)
		l->nsa++;
	l->sa_count++;
	t->in[t->nin++] = sa;
	l->pend_spi[l->npend_spi++] = sa;
	l->dirty = true;
	return 0;
}

int live_sa_add(struct live *l, const struct live_sa_args *a, char *err,
		size_t errlen)
{
	struct tunnel *t = live_tunnel_find(l, a->tunnel);
	uint8_t kid[16];
	struct sa *o;
	size_t want;
	int p, ret;

	if (!t)
		return errf(err, errlen, -ENOENT, "sa add: tunnel %s: no such "
			    "tunnel", a->tunnel);
	want = config_cipher_key_len(t->cipher);
	if (a->key_len != want)
		return errf(err, errlen, -EINVAL, "sa add: key: %zu bytes; "
			    "tunnel %s uses %s: want %zu (key and 4-byte salt)",
			    a->key_len, t->name, config_cipher_name(t->cipher),
			    want);
	if ((uint64_t)a->spi + t->npairs - 1 > UINT32_MAX)
		return errf(err, errlen, -EINVAL, "sa add: spi 0x%x: %d pairs "
			    "run past 0xffffffff", a->spi, t->npairs);
	for (p = 0; p < t->npairs; p++) {
		uint32_t spi = a->spi + p;

		if (a->dir == SA_IN) {
			o = in_by_spi(l, spi);
			if (o)
				return errf(err, errlen, -EEXIST, "sa add: spi "
					    "0x%x: already used by tunnel %s",
					    spi, o->tunnel->name);
		} else {
			o = out_by_spi(l, spi);
			if (o && o->tunnel != t)
				return errf(err, errlen, -EEXIST, "sa add: spi "
					    "0x%x: already used by tunnel %s",
					    spi, o->tunnel->name);
			if (o && !a->replace)
				return errf(err, errlen, -EEXIST, "sa add: spi "
					    "0x%x: is already the outbound SA "
					    "of tunnel %s", spi, t->name);
		}
	}
	if (a->dir == SA_IN && t->nin + t->npairs > TUNNEL_MAX_IN * t->npairs)
		return errf(err, errlen, -ENOSPC, "sa add: tunnel %s has %d "
			    "inbound SAs, the most it takes: delete the oldest "
			    "first", t->name, TUNNEL_MAX_IN);
	ret = key_id(a->key, a->key_len, kid);
	if (ret)
		return errf(err, errlen, ret, "sa add: spi 0x%x: cannot tell "
			    "its key from the others' (libcrypto)", a->spi);
	o = key_holder(l, kid);
	/* but the outbound SA this one replaces may hold it (a reload that
	 * changed the SPI alone): with a state directory the new SA starts
	 * above every number reserved for the key (seq_restore), and the
	 * commit switches the tunnel to it before another is reserved */
	if (o && a->replace && a->dir == SA_OUT && o->dir == SA_OUT &&
	    o->tunnel == t && l->store)
		o = NULL;
	if (o)
		return errf(err, errlen, -EEXIST, "sa add: spi 0x%x: its key "
			    "is the key of %s SA 0x%x (tunnel %s): an AEAD key "
			    "serves one SA, or two would send the same nonces; "
			    "give each SA a key of its own", a->spi,
			    o->dir == SA_IN ? "inbound" : "outbound", o->spi,
			    o->tunnel->name);
	for (p = 0; p < t->npairs; p++) {
		ret = sa_add_pair(l, t, a, kid, p, err, errlen);
		if (ret) {
			while (p-- > 0) {
				struct sa *sa = live_sa_find(l, a->spi + p,
							     a->dir);

				if (sa && a->dir == SA_IN)
					in_sa_remove(l, sa, true);
				else if (sa)
					out_sa_drop(l, sa);
			}
			return ret;
		}
	}
	return 0;
}

int live_sa_del(struct live *l, uint32_t spi, int dir, char *err,
		size_t errlen)
{
	struct sa *in = dir != SA_OUT ? in_by_spi(l, spi) : NULL;
	struct sa *out = dir != SA_IN ? out_by_spi(l, spi) : NULL;

	if (in && out)
		return errf(err, errlen, -EINVAL, "sa del: spi 0x%x: both an "
			    "inbound SA (tunnel %s) and an outbound one (tunnel "
			    "%s): say in or out", spi, in->tunnel->name,
			    out->tunnel->name);
	if (in) {
		in_sa_remove(l, in, false);
		return 0;
	}
	if (out) {
		out_sa_drop(l, out);
		l->dirty = true;
		return 0;
	}
	return errf(err, errlen, -ENOENT, "sa del: spi 0x%x: no such %sSA",
		    spi, dir == SA_IN ? "inbound " : dir == SA_OUT ?
		    "outbound " : "");
}

int live_sa_move(struct live *l, uint32_t spi, int family,
		 const struct in_addr *remote, const struct in6_addr *remote6,
		 uint16_t sport, uint16_t dport, char *err, size_t errlen)
{
	struct sa *sa = live_sa_find(l, spi, -1);
	struct esp_sa_params *w, *old;
	int tf;

	if (!sa)
		return errf(err, errlen, -ENOENT, "sa update: spi 0x%x: no "
			    "such SA", spi);
	if ((sport || dport) && sa->tunnel->encap != ENCAP_UDP)
		return errf(err, errlen, -EINVAL, "sa update: spi 0x%x: sport "
			    "and dport need encap udp (tunnel %s is esp)", spi,
			    sa->tunnel->name);
	tf = sa->tunnel->family == AF_INET6 ? AF_INET6 : AF_INET;
	if (family != tf)
		return errf(err, errlen, -EAFNOSUPPORT, "sa update: spi 0x%x: "
			    "tunnel %s is %s and the remote given is %s (a "
			    "tunnel does not change family)", spi,
			    sa->tunnel->name, tf == AF_INET6 ? "IPv6" : "IPv4",
			    tf == AF_INET6 ? "IPv4" : "IPv6");
	w = malloc(sizeof(*w));
	if (!w)
		return errf(err, errlen, -ENOMEM, "sa update: out of memory");
	*w = *sa_wire(sa);
	if (family == AF_INET6)
		w->remote6 = *remote6;
	else
		w->remote = *remote;
	if (sport)
		w->sport = sport;
	if (dport)
		w->dport = dport;
	old = atomic_exchange_explicit(&sa->wire, w, memory_order_acq_rel);
	if (sa_wire_owned(sa, old)) /* not the SA block's own */
		retire(l, free_cb, old);
	if (sa->dir == SA_OUT) {
		/* the tunnel's peer: for its next SAs, its next hop */
		if (family == AF_INET6)
			sa->tunnel->peer6 = *remote6;
		else
			sa->tunnel->peer = *remote;
		if (dport)
			sa->tunnel->peer_port = dport;
		atomic_store(&sa->tunnel->nh_wanted, 1);
	}
	l->dirty = true;
	return 0;
}

int live_sa_update(struct live *l, uint32_t spi, struct in_addr remote,
		   uint16_t sport, uint16_t dport, char *err, size_t errlen)
{
	return live_sa_move(l, spi, AF_INET, &remote, NULL, sport, dport, err,
			    errlen);
}

/* ---- routes ---- */

/* The first route of prefix p in vrf (hashed by prefix only: the same
 * prefix in other VRFs shares the bucket and is skipped). */
static ssize_t route_find(struct live *l, const struct cfg_prefix *p,
			  uint32_t vrf)
{
	uint64_t h = hmap_hash_bytes(p, sizeof(*p));
	size_t i = 0;
	void *v;

	while ((v = hmap_next(&l->route_idx, h, &i))) {
		size_t idx = (uintptr_t)v - 1;

		if (!memcmp(&l->routes[idx].prefix, p, sizeof(*p)) &&
		    l->routes[idx].t->vrf == vrf)
			return idx;
	}
	return -1;
}

/* The prefix with the host bits cleared: one key per route. */
static struct cfg_prefix masked(const struct cfg_prefix *p)
{
	struct cfg_prefix m = { .family = p->family, .len = p->len };
	int i;

	for (i = 0; i < p->len / 8; i++)
		m.addr[i] = p->addr[i];
	if (p->len % 8)
		m.addr[i] = p->addr[i] & (0xff << (8 - p->len % 8));
	return m;
}

static const char *pfx_str(const struct cfg_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

bool live_route_has_vrf(struct live *l, const struct cfg_prefix *p,
			uint32_t vrf)
{
	struct cfg_prefix m = masked(p);

	return route_find(l, &m, vrf) >= 0;
}

bool live_route_has(struct live *l, const struct cfg_prefix *p)
{
	return live_route_has_vrf(l, p, 0);
}

/* How many tunnels route p in t's VRF (ECMP members); *has_t: t among
 * them. */
static int route_members(struct live *l, const struct cfg_prefix *p,
			 const struct tunnel *t, bool *has_t)
{
	uint64_t h = hmap_hash_bytes(p, sizeof(*p));
	size_t i = 0;
	int n = 0;
	void *v;

	*has_t = false;
	while ((v = hmap_next(&l->route_idx, h, &i))) {
		const struct live_route *r = &l->routes[(uintptr_t)v - 1];

		if (memcmp(&r->prefix, p, sizeof(*p)) || r->t->vrf != t->vrf)
			continue;
		n++;
		*has_t |= r->t == t;
	}
	return n;
}

static int route_add(struct live *l, const struct cfg_prefix *pp,
		     const char *tunnel, bool ecmp, char *err, size_t errlen)
{
	struct tunnel *t = live_tunnel_find(l, tunnel);
	struct cfg_prefix p = masked(pp);
	char buf[64];
	bool has_t;
	ssize_t i;
	int ret, n;

	if (!t)
		return errf(err, errlen, -ENOENT, "route add: tunnel %s: no "
			    "such tunnel", tunnel);
	i = route_find(l, &p, t->vrf);
	n = route_members(l, &p, t, &has_t);
	if (i >= 0 && (!ecmp || has_t))
		return errf(err, errlen, -EEXIST, "route add: %s: already "
			    "routed to tunnel %s", pfx_str(&p, buf, sizeof(buf)),
			    has_t ? t->name : l->routes[i].t->name);
	if (n >= ECMP_MAX)
		return errf(err, errlen, -ENOSPC, "route add: %s: already %d "
			    "tunnels, the most for one prefix",
			    pfx_str(&p, buf, sizeof(buf)), n);
	if (grow((void **)&l->routes, &l->routes_cap, l->nroutes + 1,
		 sizeof(*l->routes)) ||
	    hmap_add(&l->route_idx, hmap_hash_bytes(&p, sizeof(p)),
		     (void *)(uintptr_t)(l->nroutes + 1)))
		return errf(err, errlen, -ENOMEM, "route add: out of memory");
	if (i < 0) { /* ECMP: the prefix has it already */
		ret = kroute_add(l, &p, t->vrf);
		if (ret && ret != -EEXIST) {
			hmap_del(&l->route_idx, hmap_hash_bytes(&p, sizeof(p)),
				 (void *)(uintptr_t)(l->nroutes + 1));
			return errf(err, errlen, ret, "route add: %s: the "
				    "kernel refused the route into the tun: %s",
				    pfx_str(&p, buf, sizeof(buf)),
				    strerror(-ret));
		}
	}
	l->routes[l->nroutes].prefix = p;
	l->routes[l->nroutes++].t = t;
	if (l->ops.xdp_route_set) /* router mode: keyed by VRF too */
		l->ops.xdp_route_set(l->ops.arg, &p, t->slot + 1, t->vrf);
	l->dirty = true;
	return 0;
}

int live_route_add(struct live *l, const struct cfg_prefix *pp,
		   const char *tunnel, char *err, size_t errlen)
{
	return route_add(l, pp, tunnel, false, err, errlen);
}

int live_route_add_ecmp(struct live *l, const struct cfg_prefix *pp,
			const char *tunnel, char *err, size_t errlen)
{
	return route_add(l, pp, tunnel, true, err, errlen);
}

int live_route_del(struct live *l, const struct cfg_prefix *pp, char *err,
		   size_t errlen)
{
	return live_route_del_vrf(l, pp, 0, err, errlen);
}

int live_route_del_vrf(struct live *l, const struct cfg_prefix *pp,
		       uint32_t vrf, char *err, size_t errlen)
{
	struct cfg_prefix p = masked(pp);
	ssize_t i = route_find(l, &p, vrf);
	char buf[64];

	if (i < 0)
		return errf(err, errlen, -ENOENT, "route del: %s: no such "
			    "route", pfx_str(&p, buf, sizeof(buf)));
	do /* every tunnel of an ECMP prefix */
		route_remove_at(l, i);
	while ((i = route_find(l, &p, vrf)) >= 0);
	return 0;
}

int live_route_del_tunnel(struct live *l, const struct cfg_prefix *pp,
			  const char *tunnel, char *err, size_t errlen)
{
	struct cfg_prefix p = masked(pp);
	char buf[64];
	size_t i;

	for (i = 0; i < l->nroutes; i++)
		if (!memcmp(&l->routes[i].prefix, &p, sizeof(p)) &&
		    !strcmp(l->routes[i].t->name, tunnel)) {
			route_remove_at(l, i);
			return 0;
		}
	return errf(err, errlen, -ENOENT, "route del: %s: not routed to "
		    "tunnel %s", pfx_str(&p, buf, sizeof(buf)), tunnel);
}

/* ---- versions ---- */

static void tables_free_cb(void *arg)
{
	tables_free(arg);
}

/*
 * An ECMP prefix (the route at index first, and the others with its
 * prefix): a group in tb, its FIB value. 0 when out of memory.
 */
static uint32_t build_group(struct live *l, size_t first, struct tables *tb,
			    uint32_t *cap)
{
	const struct cfg_prefix *p = &l->routes[first].prefix;
	uint32_t vrf = l->routes[first].t->vrf;
	uint64_t h = hmap_hash_bytes(p, sizeof(*p)), id[ECMP_MAX];
	uint32_t slot1[ECMP_MAX], n = 0;
	size_t i = 0;
	void *v;

	while ((v = hmap_next(&l->route_idx, h, &i)) && n < ECMP_MAX) {
		const struct live_route *r = &l->routes[(uintptr_t)v - 1];

		if (memcmp(&r->prefix, p, sizeof(*p)) || r->t->vrf != vrf)
			continue;
		slot1[n] = r->t->slot + 1;
		id[n++] = r->t->id;
	}
	if (tb->ngroups == *cap) {
		size_t c = *cap;

		if (grow((void **)&tb->groups, &c, tb->ngroups + 1,
			 sizeof(*tb->groups)))
			return 0;
		*cap = (uint32_t)c;
	}
	ecmp_group_fill(&tb->groups[tb->ngroups], slot1, id, n);
	return ECMP_FLAG | tb->ngroups++;
}

/*
 * The FIB of family from the routes idx[0..nidx) (those of one VRF). With
 * lazy (a VRF other than the default), no route of the family gives no
 * table: *out NULL. 0 or -ENOMEM.
 */
static int build_fib(struct live *l, int family, const uint32_t *idx,
		     size_t nidx, bool lazy, struct tables *tb,
		     uint32_t *gcap, struct fib **out)
{
	struct fib_route *r;
	size_t i, k, n = 0;
	bool has_t;

	*out = NULL;
	for (k = 0; k < nidx; k++)
		n += l->routes[idx[k]].prefix.family == family;
	if (!n && lazy)
		return 0;
	r = calloc(n ? n : 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	n = 0;
	for (k = 0; k < nidx; k++) {
		const struct live_route *lr = &l->routes[idx[k]];

		i = idx[k];
		if (lr->prefix.family != family)
			continue;
		/* an ECMP prefix: once, at its first route, as a group */
		if (route_members(l, &lr->prefix, lr->t, &has_t) > 1) {
			if (route_find(l, &lr->prefix, lr->t->vrf) !=
			    (ssize_t)i)
				continue;
			r[n].value = build_group(l, i, tb, gcap);
			if (!r[n].value) {
				free(r);
				return -ENOMEM;
			}
		} else {
			r[n].value = lr->t->slot + 1;
		}
		memcpy(r[n].addr, lr->prefix.addr, 16);
		r[n++].len = lr->prefix.len;
	}
	/* a VRF's table is small more often than not: compact */
	*out = lazy ? fib_build_compact(family, r, n) : fib_build(family, r, n);
	free(r);
	return *out ? 0 : -ENOMEM;
}

/*
 * The FIBs of every VRF: route indices bucketed by VRF (a counting sort),
 * then one build per VRF and family from its own routes only. 0 or
 * -ENOMEM.
 */
static int build_fibs(struct live *l, struct tables *tb, uint32_t *gcap)
{
	uint32_t nvrf = 0, v, *start = NULL, *idx = NULL;
	size_t i;
	int err = -ENOMEM;

	for (i = 0; i < l->ntun; i++)
		if (l->tun[i] && l->tun[i]->vrf > nvrf)
			nvrf = l->tun[i]->vrf;
	start = calloc(nvrf + 2, sizeof(*start));
	idx = calloc(l->nroutes ? l->nroutes : 1, sizeof(*idx));
	if (!start || !idx)
		goto out;
	if (nvrf) {
		tb->vrf = calloc(nvrf, sizeof(*tb->vrf));
		if (!tb->vrf)
			goto out;
		tb->nvrf = nvrf;
	}
	for (i = 0; i < l->nroutes; i++)
		start[l->routes[i].t->vrf + 1]++;
	for (v = 1; v <= nvrf + 1; v++)
		start[v] += start[v - 1];
	for (i = 0; i < l->nroutes; i++)
		idx[start[l->routes[i].t->vrf]++] = i;
	/* start[v] is now the end of VRF v's routes (and the start of v+1's) */
	err = build_fib(l, AF_INET, idx, start[0], false, tb, gcap, &tb->fib4);
	err = err ?: build_fib(l, AF_INET6, idx, start[0], false, tb, gcap,
			       &tb->fib6);
	for (v = 1; !err && v <= nvrf; v++) {
		uint32_t *first = idx + start[v - 1];
		size_t n = start[v] - start[v - 1];

		err = build_fib(l, AF_INET, first, n, true, tb, gcap,
				&tb->vrf[v - 1].fib4);
		err = err ?: build_fib(l, AF_INET6, first, n, true, tb, gcap,
				       &tb->vrf[v - 1].fib6);
	}
out:
	free(start);
	free(idx);
	return err;
}

static struct tables *build(struct live *l)
{
	struct tables *tb = calloc(1, sizeof(*tb));
	uint32_t i, hsize = 64, gcap = 0;
	int pass;

	if (!tb)
		return NULL;
	tb->gen = ++l->gen;
	while (hsize < 2 * l->sa_count + 2)
		hsize *= 2;
	tb->nsa = l->nsa;
	tb->sa_in = calloc(l->nsa ? l->nsa : 1, sizeof(*tb->sa_in));
	tb->spi_hash = calloc(hsize, sizeof(*tb->spi_hash));
	tb->spi_mask = hsize - 1;
	tb->ntun = l->ntun;
	tb->tun = calloc(l->ntun ? l->ntun : 1, sizeof(*tb->tun));
	if (!tb->sa_in || !tb->spi_hash || !tb->tun ||
	    build_fibs(l, tb, &gcap)) {
		tb->nsa = tb->ntun = 0;
		tables_free(tb);
		return NULL;
	}
	/* mature SAs first: a dying one with the same SPI (a rekey that
	 * kept the SPI) must not be what a lookup by SPI finds */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < l->nsa; i++) {
			struct sa *sa = l->sa_in[i];
			uint32_t h;

			if (!sa || (sa->state == SA_DYING) != (pass == 1))
				continue;
			sa_get(sa);
			tb->sa_in[i] = sa;
			for (h = tables_spi_hash(sa->spi) & tb->spi_mask;
			     tb->spi_hash[h]; h = (h + 1) & tb->spi_mask)
				;
			tb->spi_hash[h] = sa;
		}
	}
	for (i = 0; i < l->ntun; i++) {
		if (l->tun[i]) {
			tunnel_get(l->tun[i]);
			tb->tun[i] = l->tun[i];
		}
	}
	return tb;
}

int live_commit(struct live *l)
{
	struct tables *tb, *old;
	size_t i;
	int ret;

	if (!l->dirty) {
		if (l->ops.committed)
			l->ops.committed(l->ops.arg);
		return 0;
	}
	/* 1. reserve sequence numbers on disk before any is used */
	seq_sync(l);
	/* 2. switch to the new outbound SAs */
	for (i = 0; i < l->npend_out; i++) {
		struct sa *sa = l->pend_out[i], *old;

		if (!sa)
			continue;
		seq_release(l, sa);
		sa->state = SA_MATURE;
		old = tunnel_set_out(sa->tunnel, sa->pair, sa);
		if (old) {
			sa_leave(l, &l->out_spis, old);
			old->state = SA_DEAD;
			retire(l, put_sa_cb, old);
		}
	}
	l->npend_out = 0;
	/* 3. publish */
	tb = build(l);
	if (!tb) {
		log_rl(LOG_LVL_ERR, 10, "out of memory building table "
		       "version %llu: the running one stays",
		       (unsigned long long)l->gen);
		return -ENOMEM;
	}
	old = atomic_exchange_explicit(&l->cur, tb, memory_order_acq_rel);
	if (old)
		retire(l, tables_free_cb, old);
	l->dirty = false;
	l->published++;
	/* NAT-T ports before the SPIs: a frame to a new port must be known */
	if (l->ops.natt_ports) {
		uint16_t ports[ESPRESSO_MAX_NATT_PORTS];
		int n = natt_ports(l, ports);

		ret = l->ops.natt_ports(l->ops.arg, ports, n);
		if (ret)
			log_err("cannot set the XDP program's NAT-T ports: %s",
				strerror(-ret));
	}
	/* 4. the XDP program may now send the new SPIs' frames */
	for (i = 0; i < l->npend_spi; i++) {
		struct sa *sa = l->pend_spi[i];

		if (!sa || !l->ops.spi_add)
			continue;
		ret = l->ops.spi_add(l->ops.arg, sa);
		if (ret)
			log_err("tunnel %s: cannot add SPI 0x%08x to the XDP "
				"map: %s", sa->tunnel->name, sa->spi,
				strerror(-ret));
	}
	l->npend_spi = 0;
	if (l->ops.committed)
		l->ops.committed(l->ops.arg);
	return 0;
}

/* ---- lifetimes and sequence space ---- */

struct tick_ctx {
	struct live *l;
	uint64_t now;
	bool reserved; /* a new outbound block or inbound limit: sync now */
	struct sa **hard;
	size_t nhard, cap;
};

static void event(struct live *l, enum live_ev type, const struct sa *sa,
		  const char *what)
{
	struct live_event ev = {
		.type = type, .tunnel = sa ? sa->tunnel->name : NULL,
		.spi = sa ? sa->spi : 0, .dir = sa ? (int)sa->dir : -1,
		.what = what,
	};

	if (l->ops.event)
		l->ops.event(l->ops.arg, &ev);
}

/*
 * The next inbound limit, once the top (or a refused authenticated number:
 * packets lost on the way) is within half a block of the one reserved:
 * that number plus a block of LIVE_RX_BLOCK_MS at the rate since the last
 * reservation (over 10 ms at least), at least twice the last block when
 * they come within a quarter of that (a ramp), within [LIVE_RX_BLOCK_MIN,
 * LIVE_RX_BLOCK_MAX]. Synced at the end of this tick with every other
 * reservation, then published (seq_release).
 */
static uint64_t in_block(const struct sa *sa, uint64_t hi, uint64_t now)
{
	uint64_t dt = now > sa->rx_rate_ms ? now - sa->rx_rate_ms : 0;
	uint64_t dn = hi > sa->rx_rate_top ? hi - sa->rx_rate_top : 0;
	uint64_t b;

	if (dn > LIVE_RX_BLOCK_MAX)
		dn = LIVE_RX_BLOCK_MAX; /* no overflow below */
	/* asked again within a quarter block's time: a ramp (TCP's slow
	 * start doubles each round trip, far faster than a write): the rate
	 * over at least 10 ms, and at least twice the last block. A burst
	 * that stops leaves a big limit; in_lower takes it back. */
	b = dn * LIVE_RX_BLOCK_MS / (dt > 10 ? dt : 10);
	if (dt < LIVE_RX_BLOCK_MS / 4 && b < 2 * sa->rx_block)
		b = 2 * sa->rx_block;
	if (b < LIVE_RX_BLOCK_MIN)
		b = LIVE_RX_BLOCK_MIN;
	if (b > LIVE_RX_BLOCK_MAX)
		b = LIVE_RX_BLOCK_MAX;
	return b;
}

struct in_lower {
	struct live *l;
	struct sa *sa;
};

/*
 * After the grace period of a lowered limit: no worker still accepts
 * against the old one, and whatever it accepted is in the top. The stored
 * limit comes down to the highest of the new limit, the top and the
 * wanted number, unless a reservation came meanwhile or the SA went.
 */
static void in_lower_cb(void *arg)
{
	struct in_lower *p = arg;
	struct sa *sa = p->sa;
	uint64_t v = atomic_load(&sa->rx_limit);
	uint64_t top = atomic_load(&sa->replay.top);
	uint64_t want = atomic_load(&sa->rx_want);

	sa->rx_lowering = false;
	if (top > v)
		v = top;
	if (want > v)
		v = want;
	if (p->l->store && sa->state == SA_MATURE && !sa->rx_pending &&
	    v < sa->persisted &&
	    !seqstore_put(p->l->store, sa->spi, SEQSTORE_IN, sa->fp, v)) {
		sa->persisted = v;
		if (v < sa->rx_durable)
			sa->rx_durable = v; /* the next sync writes it */
		p->l->lowered = true;
	}
	sa_put(sa);
	free(p);
}

/*
 * The rate fell: a second or more since the last block, and the limit more
 * than two blocks of the rate since then ahead. Lower the published limit
 * now, the stored one after a grace period (in_lower_cb): a worker may
 * still accept against the old limit until it passes a quiescent point.
 */
static void in_lower(struct tick_ctx *x, struct sa *sa, uint64_t hi,
		     uint64_t cur)
{
	uint64_t dt = x->now > sa->rx_rate_ms ? x->now - sa->rx_rate_ms : 0;
	uint64_t dn = hi > sa->rx_rate_top ? hi - sa->rx_rate_top : 0;
	uint64_t b;
	struct in_lower *p;

	if (sa->rx_lowering || sa->rx_pending || dt < LIVE_RX_LOWER_MS ||
	    sa->state != SA_MATURE)
		return;
	if (dn > LIVE_RX_BLOCK_MAX)
		dn = LIVE_RX_BLOCK_MAX;
	b = dn * LIVE_RX_BLOCK_MS / dt;
	if (b < LIVE_RX_BLOCK_IDLE)
		b = LIVE_RX_BLOCK_IDLE;
	if (cur - hi <= 2 * b)
		return;
	p = malloc(sizeof(*p));
	if (!p)
		return; /* the old limit stays: safe, only costlier */
	sa->rx_block = b;
	sa->rx_rate_top = hi;
	sa->rx_rate_ms = x->now;
	in_publish(sa, hi + b);
	sa->rx_lowering = true;
	sa_get(sa);
	p->l = x->l;
	p->sa = sa;
	epoch_retire(&x->l->epoch, in_lower_cb, p);
}

static void in_limit_tick(struct tick_ctx *x, struct sa *sa)
{
	uint64_t top = atomic_load(&sa->replay.top);
	uint64_t want = atomic_load(&sa->rx_want);
	uint64_t cur = atomic_load(&sa->rx_limit);
	uint64_t hi = top > want ? top : want, b, next;

	if (hi < cur && cur - hi > sa->rx_block / 2) {
		/* a worker's ask that this limit already covers (or a race
		 * with it): the next crossing asks again */
		if (!sa->rx_pending) {
			atomic_store(&sa->rx_asked, 0);
			in_lower(x, sa, hi, cur);
		}
		return;
	}
	b = in_block(sa, hi, x->now);
	next = hi > UINT64_MAX - b ? UINT64_MAX : hi + b;
	if (next <= sa->rx_pending)
		return; /* asked for already, waiting for its sync */
	if (!sa->rx_pending && next <= sa->rx_durable) {
		/* on disk already (a lowered limit raised again) */
		sa->rx_block = b;
		sa->rx_rate_top = hi;
		sa->rx_rate_ms = x->now;
		in_publish(sa, next);
		return;
	}
	if (seqstore_set(x->l->store, sa->spi, SEQSTORE_IN, sa->fp, next))
		return;
	if (next > sa->persisted)
		sa->persisted = next;
	sa->rx_pending = next;
	sa->rx_block = b;
	sa->rx_rate_top = hi;
	sa->rx_rate_ms = x->now;
	x->reserved = true;
	rel_note(x->l, sa);
}

/* in_limit_tick; a dying SA's record stays retired (the reservation
 * set it again) */
static void in_limit_serve(struct tick_ctx *x, struct sa *sa)
{
	in_limit_tick(x, sa);
	if (sa->state == SA_DYING)
		seq_retire(x->l, sa);
}

/* Which limit of one kind (soft or hard: seconds, bytes, packets; 0
 * none) an SA of this age and traffic reached: "time", "bytes",
 * "packets", or NULL. */
static const char *life_reached(uint64_t age_s, const struct sa_worker *sum,
				uint64_t s, uint64_t bytes, uint64_t packets)
{
	if (s && age_s >= s)
		return "time";
	if (bytes && sum->bytes >= bytes)
		return "bytes";
	if (packets && sum->packets >= packets)
		return "packets";
	return NULL;
}

static void tick_sa(void *arg, struct sa *sa)
{
	struct tick_ctx *x = arg;
	struct live *l = x->l;
	uint64_t age_s = (x->now - sa->created_ms) / 1000;
	struct sa_worker sum;
	const struct sa_life *f = &sa->life;
	const char *hard, *soft;
	/* an outbound SA whose numbers end at its hard packet limit
	 * (sa_create): its last number used is that limit reached */
	bool at_limit = sa->dir == SA_OUT && f->hard_packets &&
			sa->seq_max == f->hard_packets;
	/* only outbound SAs reserve numbers (sa_seq_reserve); the flags are
	 * on the line the workers write per packet: read, written only when
	 * set (20,000 locked exchanges a tick were a cold miss each, and
	 * took the line from the workers) */
	bool exhausted = sa->dir == SA_OUT &&
			 atomic_load_explicit(&sa->exhausted,
					      memory_order_relaxed) &&
			 atomic_exchange(&sa->exhausted, 0) == 1;

	if (exhausted && !at_limit) {
		log_rl(LOG_LVL_ERR, 60, "tunnel %s: outbound SA 0x%08x has used "
		       "all its sequence numbers and stopped sending; it needs "
		       "a new SA", sa->tunnel->name, sa->spi);
		event(l, LIVE_EV_EXHAUSTED, sa, NULL);
	}
	if (sa->persist && sa->dir == SA_OUT) {
		uint64_t seq = atomic_load(&sa->seq);

		if (atomic_load_explicit(&sa->blocked, memory_order_relaxed))
			atomic_store(&sa->blocked, 0);
		if (sa->persisted < sa->seq_max &&
		    sa->persisted - seq < LIVE_SEQ_BLOCK / 2) {
			uint64_t want = seq + LIVE_SEQ_BLOCK < sa->seq_max ?
						seq + LIVE_SEQ_BLOCK : sa->seq_max;

			if (!seqstore_set(l->store, sa->spi, SEQSTORE_OUT,
					  sa->fp, want)) {
				sa->persisted = want;
				x->reserved = true;
				rel_note(l, sa);
			}
		}
	} else if (sa->persist && sa->dir == SA_IN) {
		in_limit_tick(x, sa);
	}
	if (!f->soft_s && !f->hard_s && !f->soft_bytes && !f->hard_bytes &&
	    !f->soft_packets && !f->hard_packets)
		return;
	sa_sum(sa, &sum);
	hard = life_reached(age_s, &sum, f->hard_s, f->hard_bytes,
			    f->hard_packets);
	if (!hard && exhausted && at_limit)
		hard = "packets"; /* numbers reserved, not all counted sent */
	if (hard) {
		event(l, LIVE_EV_HARD_EXPIRE, sa, hard);
		if (!grow((void **)&x->hard, &x->cap, x->nhard + 1,
			  sizeof(*x->hard))) {
			sa_get(sa);
			x->hard[x->nhard++] = sa;
		}
		return;
	}
	if (sa->soft_fired)
		return;
	soft = life_reached(age_s, &sum, f->soft_s, f->soft_bytes,
			    f->soft_packets);
	if (soft) {
		sa->soft_fired = true;
		event(l, LIVE_EV_SOFT_EXPIRE, sa, soft);
	}
}

/* ---- NAT-T: follow the peer, keepalives ---- */

/* NAT-T: where the peer is (port host order; addr or addr6 by family). */
struct peer_at {
	int family;
	struct in_addr addr;
	struct in6_addr addr6;
	uint16_t port;
};

/* A new copy of sa's wire with the peer at to (the old one is retired:
 * workers may hold it this turn). */
static int rewire(struct live *l, struct sa *sa, const struct peer_at *to)
{
	struct esp_sa_params *w = malloc(sizeof(*w)), *old;

	if (!w)
		return -ENOMEM;
	*w = *sa_wire(sa);
	if (to->family == AF_INET6)
		w->remote6 = to->addr6;
	else
		w->remote = to->addr;
	w->dport = to->port;
	old = atomic_exchange_explicit(&sa->wire, w, memory_order_acq_rel);
	if (sa_wire_owned(sa, old)) /* not the SA block's own */
		retire(l, free_cb, old);
	return 0;
}

/* Where a peer can be: an address no peer can have (0, loopback,
 * multicast, broadcast; for IPv6 also link-local and IPv4-mapped) or port
 * 0 is not followed. */
static bool peer_possible(const struct peer_at *to)
{
	uint32_t a = ntohl(to->addr.s_addr);
	const struct in6_addr *a6 = &to->addr6;

	if (!to->port)
		return false;
	if (to->family == AF_INET6)
		return !IN6_IS_ADDR_UNSPECIFIED(a6) &&
		       !IN6_IS_ADDR_LOOPBACK(a6) && !IN6_IS_ADDR_MULTICAST(a6) &&
		       !IN6_IS_ADDR_LINKLOCAL(a6) && !IN6_IS_ADDR_V4MAPPED(a6);
	return a && a >> 24 != 127 && a >> 28 < 14; /* 224/4, 240/4 */
}

/*
 * An authenticated UDP-encapsulated packet of inbound SA sa, the newest of
 * its SA, came from to instead of where the tunnel sends: the peer is
 * behind a NAT whose mapping changed, or it moved. Every SA of the tunnel
 * -- the outbound ones of all pairs (mature and larval), the inbound ones
 * -- switches to it in one store each, the next hop is resolved again, and
 * monitors get a mapping event. IPv4 and IPv6 alike (to->family is the
 * tunnel's: a packet of the other family never reaches an SA of it).
 */
static void follow_peer(struct live *l, struct sa *sa, const struct peer_at *to)
{
	struct tunnel *t = sa->tunnel;
	bool v6 = t->family == AF_INET6;
	char a[INET6_ADDRSTRLEN];
	struct live_event ev;
	size_t i;
	int p, err = 0;

	if (t->encap != ENCAP_UDP || sa->state != SA_MATURE ||
	    to->family != (v6 ? AF_INET6 : AF_INET) || !peer_possible(to))
		return;
	if (to->port == t->peer_port &&
	    (v6 ? !memcmp(&to->addr6, &t->peer6, 16)
		: to->addr.s_addr == t->peer.s_addr))
		return; /* already there (a packet of the same move) */
	for (p = 0; p < t->npairs; p++) {
		struct sa *o = atomic_load(&t->out[p]);

		if (o)
			err |= rewire(l, o, to);
	}
	for (i = 0; i < l->npend_out; i++)
		if (l->pend_out[i]->tunnel == t)
			err |= rewire(l, l->pend_out[i], to);
	for (i = 0; i < (size_t)t->nin; i++)
		err |= rewire(l, t->in[i], to);
	if (err)
		log_rl(LOG_LVL_ERR, 60, "tunnel %s: out of memory while "
		       "following the peer to %s port %u", t->name,
		       inet_ntop(to->family, v6 ? (const void *)&to->addr6
						: (const void *)&to->addr,
				 a, sizeof(a)), to->port);
	ev = (struct live_event){
		.type = LIVE_EV_MAPPING, .tunnel = t->name, .spi = sa->spi,
		.dir = SA_IN, .old_addr = t->peer, .old_port = t->peer_port,
		.new_addr = to->addr, .new_port = to->port,
		.family = to->family, .old6 = t->peer6, .new6 = to->addr6,
	};
	if (v6)
		t->peer6 = to->addr6;
	else
		t->peer = to->addr;
	t->peer_port = to->port;
	t->mappings++;
	atomic_store(&t->nh_wanted, 1); /* another address: another hop? */
	if (l->ops.event)
		l->ops.event(l->ops.arg, &ev);
}

/* IPv6: of the workers' slots of inbound SA sa written since, the newest
 * packet's source (peer6.h). */
static void natt_seen6(struct live *l, struct sa *sa)
{
	struct peer_at best = { .family = AF_INET6 }, c = best;
	uint64_t best_seq = 0, seq;
	bool any = false;
	uint32_t gen;
	int q;

	for (q = 0; q < sa->nworkers; q++) {
		struct peer6_slot *s = &sa->pw[q].peer6;

		if (!peer6_peek(s, &c.addr6, &c.port, &seq, &gen))
			continue;
		atomic_store_explicit(&s->taken, gen, memory_order_relaxed);
		if (!any || seq > best_seq) {
			best = c;
			best_seq = seq;
			any = true;
		}
	}
	if (any)
		follow_peer(l, sa, &best);
}

static void natt_tick(struct live *l, uint64_t now)
{
	uint32_t i;
	int j, p;

	for (i = 0; i < l->ntun; i++) {
		struct tunnel *t = l->tun[i];
		uint64_t last;

		if (!t || t->encap != ENCAP_UDP)
			continue;
		for (j = 0; j < t->nin; j++) {
			uint64_t seen;

			if (!atomic_load_explicit(&t->in[j]->peer_seen,
						  memory_order_relaxed))
				continue;
			seen = atomic_exchange(&t->in[j]->peer_seen, 0);
			if (seen)
				follow_peer(l, t->in[j], &(struct peer_at){
					.family = AF_INET, .port = (uint16_t)seen,
					.addr = { htonl((uint32_t)(seen >> 16)) } });
		}
		for (j = 0; t->family == AF_INET6 && j < t->nin; j++)
			natt_seen6(l, t->in[j]);
		/* keepalives go out of an IPv4 raw socket: none over IPv6 yet */
		if (!t->keepalive_ms || !l->ops.keepalive ||
		    t->family == AF_INET6)
			continue;
		/* idle: nothing sent for a period, keepalives included */
		last = t->ka_last_ms;
		for (p = 0; p < t->npairs; p++) {
			struct sa *o = atomic_load(&t->out[p]);
			int q;

			for (q = 0; o && q < o->nworkers; q++) {
				uint64_t v = __atomic_load_n(&o->pw[q].last_ms,
							     __ATOMIC_RELAXED);

				if (v > last)
					last = v;
			}
		}
		if (now - last < t->keepalive_ms)
			continue;
		l->ops.keepalive(l->ops.arg, t);
		t->ka_sent++;
		t->ka_last_ms = now;
	}
}

/* Tunnels a worker wanted an outbound SA for: "acquire" (charon's trap
 * policies then start IKE), once per LIVE_ACQUIRE_MS at most. */
static void tick_acquire(struct live *l, uint64_t now)
{
	struct live_event ev = { .type = LIVE_EV_ACQUIRE, .dir = SA_OUT };
	uint32_t i;

	for (i = 0; i < l->ntun; i++) {
		struct tunnel *t = l->tun[i];

		if (!t || !atomic_load_explicit(&t->sa_wanted,
						memory_order_relaxed) ||
		    now - t->acquired_ms < LIVE_ACQUIRE_MS)
			continue;
		atomic_store(&t->sa_wanted, 0);
		if (tunnel_out_sa(t, 0))
			continue; /* an SA came meanwhile */
		t->acquired_ms = now;
		ev.tunnel = t->name;
		if (l->ops.event)
			l->ops.event(l->ops.arg, &ev);
	}
}

/* An inbound SA waits for its next limit: a worker holds packets above
 * it (sa_rx_limit_wait), or refuses them. */
static bool in_waits(struct sa *sa)
{
	return atomic_load(&sa->rx_want) > atomic_load(&sa->rx_limit);
}

void live_asks(struct live *l, uint64_t now)
{
	struct tick_ctx x = { .l = l, .now = now };
	uint64_t bits[ESPRESSO_MAX_SA / 64];
	bool urgent = false;
	size_t i;

	if (!l->asks)
		return;
	sa_asks_take(l->asks, bits);
	for (i = 0; i < ESPRESSO_MAX_SA / 64; i++) {
		while (bits[i]) {
			uint32_t slot = i * 64 + __builtin_ctzll(bits[i]);
			struct sa *sa = slot < l->nsa ? l->sa_in[slot] : NULL;

			bits[i] &= bits[i] - 1;
			/* the slot's SA now: another than the one that asked
			 * costs a look that finds its limit enough */
			if (!sa || !sa->persist || sa->state == SA_DEAD)
				continue;
			in_limit_serve(&x, sa);
			urgent |= in_waits(sa);
		}
	}
	/* one write for every ask since the last; sooner only for a worker
	 * that waits (a burst's asks come together: rx_finish) */
	if ((l->nrel || l->rel_all) &&
	    (urgent || now - l->last_sync_ms >= LIVE_ASK_SYNC_MS))
		seq_sync_for(l, false);
}

int live_timeout_ms(const struct live *l, uint64_t now)
{
	if (!l->nrel && !l->rel_all)
		return -1;
	if (now - l->last_sync_ms >= LIVE_ASK_SYNC_MS)
		return 0;
	return (int)(l->last_sync_ms + LIVE_ASK_SYNC_MS - now);
}

/*
 * tick_sa over every SA, the lines it reads prefetched ahead. With
 * thousands of tunnels nothing of them is in cache (the workers' traffic
 * evicts it), and each SA is the end of a chain (the tunnel, its inbound
 * array, the SA): followed one after another, every link was a miss of
 * its own. Here tunnel i + 3 * TICK_AHEAD is asked for, the SAs (and
 * inbound array) of i + 2 * TICK_AHEAD, the inbound SAs of i + TICK_AHEAD,
 * and tunnel i is ticked.
 */
#define TICK_AHEAD 4

/* The lines tick_sa reads of an SA: the control part's first two, line 0,
 * and the sequence line (outbound) or the replay line and the rest of the
 * limits' state (inbound). */
static void tick_prefetch_sa(const struct sa *sa, bool in)
{
	if (!sa)
		return;
	__builtin_prefetch(sa);
	__builtin_prefetch(&sa->persisted);
	__builtin_prefetch(&sa->spi);
	if (in) {
		__builtin_prefetch(&sa->rx_block);
		__builtin_prefetch(&sa->replay);
	} else {
		__builtin_prefetch(&sa->seq);
	}
}

static void tick_all(struct live *l, struct tick_ctx *x)
{
	uint32_t i, n = l->ntun;
	const struct tunnel *t;
	int p;

	for (i = 0; i < n; i++) {
		if (i + 3 * TICK_AHEAD < n && (t = l->tun[i + 3 * TICK_AHEAD])) {
			__builtin_prefetch(&t->in);
			__builtin_prefetch(&t->npairs);
		}
		if (i + 2 * TICK_AHEAD < n && (t = l->tun[i + 2 * TICK_AHEAD])) {
			__builtin_prefetch(t->in);
			for (p = 0; p < t->npairs; p++)
				tick_prefetch_sa(atomic_load_explicit(
					&t->out[p], memory_order_relaxed), false);
		}
		if (i + TICK_AHEAD < n && (t = l->tun[i + TICK_AHEAD]))
			for (p = 0; p < t->nin; p++)
				tick_prefetch_sa(t->in[p], true);
		if (l->tun[i])
			tunnel_for_each_sa(l->tun[i], tick_sa, x);
	}
}

void live_tick(struct live *l, uint64_t now)
{
	struct tick_ctx x = { .l = l, .now = now };
	size_t i, keep = 0;

	/* every SA is looked at below: the asks so far are answered */
	if (l->asks)
		sa_asks_take(l->asks, NULL);
	natt_tick(l, now);
	tick_acquire(l, now);
	tick_all(l, &x); /* live_for_each_sa(l, tick_sa, &x), prefetched */
	/* a dying inbound SA's limit still rises for what is in flight (its
	 * record stays retired) */
	for (i = 0; l->store && i < l->ndying; i++) {
		struct sa *sa = l->dying[i].sa;

		if (sa && sa->persist)
			in_limit_serve(&x, sa);
	}
	for (i = 0; i < x.nhard; i++) {
		struct sa *sa = x.hard[i];

		if (sa->state == SA_MATURE) {
			if (sa->dir == SA_IN)
				in_sa_remove(l, sa, true);
			else
				out_sa_remove(l, sa->tunnel, sa->pair);
			l->dirty = true;
		}
		sa_put(sa);
	}
	free(x.hard);
	for (i = 0; i < l->ndying; i++) {
		struct live_dying *d = &l->dying[i];

		if (!d->sa)
			continue;
		if (now - d->since_ms < LIVE_IN_GRACE_MS) {
			l->dying[keep++] = *d;
			continue;
		}
		spi_drop(l, d->sa);
		d->sa->state = SA_DEAD;
		in_final(l, d->sa);
		slot_free(l, d->sa);
		sa_put(d->sa);
	}
	l->ndying = keep;
	/* reservations (outbound blocks, inbound limits) at once, all in one
	 * write; the rest (retired records) once a second */
	/* lowered limits too: until they are written a crash refuses up
	 * to the old one */
	if (l->store && seqstore_dirty(l->store) &&
	    (x.reserved || l->lowered || l->nrel || l->rel_all ||
	     now - l->last_sync_ms >= 1000)) {
		seq_sync_for(l, false); /* what was reserved: rel_note */
		l->lowered = false;
	}
	live_commit(l);
	in_finals(l, false); /* synced at the next tick, or a clean stop */
	epoch_reclaim(&l->epoch);
}

/* A record of the tops file that no live SA owns: its exact top replaces
 * the limit (lower) in the seqstore, retired (no SA of this run uses it). */
static void tops_store(void *arg, uint32_t spi,
		       const uint8_t fp[TOPMAP_FP_LEN], uint64_t top)
{
	struct live *l = arg;
	struct sa *cur = in_by_spi(l, spi);

	if (cur && cur->persist && !memcmp(cur->fp, fp, sizeof(cur->fp)))
		return; /* stored above, from its window */
	if (!seqstore_put(l->store, spi, SEQSTORE_IN, fp, top))
		seqstore_retire(l->store, spi, SEQSTORE_IN, fp);
}

void live_persist_final(struct live *l)
{
	uint32_t t;

	if (!l->store)
		return;
	in_finals(l, true);
	/*
	 * The workers have stopped: nothing above the tops was accepted, so
	 * the tops replace the limits (seqstore_put may lower), and a clean
	 * restart refuses none of the peer's numbers it has not seen.
	 */
	for (t = 0; t < l->ntun; t++) {
		struct tunnel *tn = l->tun[t];
		int p;

		for (p = 0; tn && p < tn->nin; p++) {
			struct sa *sa = tn->in[p];
			uint64_t top = atomic_load(&sa->replay.top);

			if (sa->persist &&
			    !seqstore_put(l->store, sa->spi, SEQSTORE_IN,
					  sa->fp, top)) {
				sa->persisted = top;
				sa->rx_pending = 0;
			}
		}
	}
	/* the tops file's other records (dying SAs, SAs an earlier run in
	 * this boot had): their exact tops too, then the file is emptied */
	topmap_each(l->tops, tops_store, l);
	if (!seq_sync(l))
		topmap_reset(l->tops);
}

void live_destroy(struct live *l)
{
	struct tables *tb = atomic_exchange(&l->cur, NULL);
	uint32_t i;
	int p;

	if (tb)
		retire(l, tables_free_cb, tb);
	for (i = 0; i < l->npend_out; i++)
		if (l->pend_out[i])
			out_sa_drop(l, l->pend_out[i]);
	for (i = 0; i < l->ndying; i++)
		if (l->dying[i].sa) {
			l->sa_in[l->dying[i].sa->slot] = NULL;
			sa_put(l->dying[i].sa);
		}
	for (i = 0; i < l->nfinals; i++)
		sa_put(l->finals[i].sa);
	free(l->finals);
	l->finals = NULL;
	l->nfinals = 0;
	for (i = 0; i < l->ntun; i++) {
		struct tunnel *t = l->tun[i];

		if (!t)
			continue;
		for (p = 0; p < t->npairs; p++)
			sa_put(tunnel_set_out(t, p, NULL));
		while (t->nin) {
			struct sa *sa = t->in[--t->nin];

			l->sa_in[sa->slot] = NULL;
			sa_put(sa);
		}
		live_retire_nexthop(l, atomic_exchange(&t->nh, NULL));
		tunnel_put(t);
	}
	rel_release(l, false);
	free(l->rel);
	epoch_destroy(&l->epoch);
	if (l->asks) {
		close(l->asks->fd);
		free(l->asks);
	}
	hmap_free(&l->tun_names);
	hmap_free(&l->spis);
	hmap_free(&l->out_spis);
	hmap_free(&l->keys);
	hmap_free(&l->route_idx);
	free(l->tun);
	free(l->sa_in);
	free(l->routes);
	free(l->pend_spi);
	free(l->pend_out);
	free(l->dying);
	free(l->hubs);
	memset(l, 0, sizeof(*l));
}
