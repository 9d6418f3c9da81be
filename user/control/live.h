/* SPDX-License-Identifier: GPL-2.0 */
/*
 * live: the control thread's model of the running state -- tunnels, SAs,
 * routes, next hops -- and the one place that turns changes into a new
 * table version (live_commit: build, publish with one pointer swap, retire
 * the old version for freeing after its grace period).
 *
 * Every change goes through here: the config at start-up and on reload
 * (apply.c), the control socket (ctl.c), lifetimes (live_tick). Changes
 * are staged and take effect at the next live_commit, in this order:
 *   1. the state directory is written and fsync'd (sequence numbers
 *      reserved for new outbound SAs: never reused across restarts; the
 *      first accept limit of new inbound SAs: never accepted twice);
 *   2. outbound SAs switch (one atomic pointer store per pair);
 *   3. the new version is published;
 *   4. new inbound SPIs go into the XDP map (only now can a worker find
 *      their slot).
 * A deleted inbound SA stays in the XDP map and the table version for
 * LIVE_IN_GRACE_MS, so what the peer sent with it before it switched to its
 * new SA (in the rings, in flight, in its workers' bursts) still decrypts.
 */
#ifndef ESPRESSO_LIVE_H
#define ESPRESSO_LIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "lib/hmap.h"
#include "tables/epoch.h"
#include "tables/tables.h"

#define LIVE_IN_GRACE_MS 1000
#define LIVE_ACQUIRE_MS 1000 /* at most one acquire a tunnel per second */
/* Outbound sequence numbers reserved (persisted) ahead of use. */
#define LIVE_SEQ_BLOCK (1ull << 24) /* 16M: 0.8 s of headroom at 10 Mpps */
/*
 * Inbound: the limit a worker accepts up to is persisted ahead of use too,
 * in blocks of about LIVE_RX_BLOCK_MS of the SA's recent packet rate (at
 * least LIVE_RX_BLOCK_MIN, at most LIVE_RX_BLOCK_MAX), asked for when the
 * top is half a block from it. It matters after a reboot only: after a
 * crash, a kill or an upgrade the window restarts from its exact top (the
 * tops file, topmap.h); after a reboot from the limit, so at most one block
 * of the peer's numbers (about LIVE_RX_BLOCK_MS of its traffic, or
 * LIVE_RX_BLOCK_MIN packets) is refused. Blocks this large keep a busy
 * control thread (a batch of 10,000 tunnels: half a second) from holding
 * up a worker. An SA whose rate fell (the limit more than two blocks of
 * the new rate ahead) has its limit lowered, after a grace period, so an
 * idle SA keeps at most 2 * LIVE_RX_BLOCK_IDLE ahead.
 */
#define LIVE_RX_BLOCK_MS 1000
#define LIVE_RX_BLOCK_MIN 256ull
/* the least block of a lowered limit */
#define LIVE_RX_BLOCK_IDLE 128ull
/* the first block of an SA whose tunnel has no busier one */
#define LIVE_RX_BLOCK_START 256ull
#define LIVE_RX_BLOCK_MAX (1ull << 24) /* 16M: 1.6 s at 10 Mpps */
/* the rate fell when no block was asked for this long: the limit comes
 * down at the control loop's next turn after that (at most 200 ms; only
 * a restart after a reboot sees the difference) */
#define LIVE_RX_LOWER_MS 100

struct seqstore;

enum live_ev {
	LIVE_EV_SOFT_EXPIRE,
	LIVE_EV_HARD_EXPIRE,
	LIVE_EV_EXHAUSTED,
	LIVE_EV_RELOAD_DONE,
	LIVE_EV_RELOAD_REFUSED,
	LIVE_EV_MAPPING, /* NAT-T: the tunnel follows its peer elsewhere */
	LIVE_EV_ACQUIRE,     /* packets for a tunnel without outbound SA */
};

struct live_event {
	enum live_ev type;
	const char *tunnel;
	uint32_t spi;
	int dir;           /* enum sa_dir */
	const char *what;  /* expiry: "time" or "bytes"; reload: a message */
	/* mapping: the peer's outer address and UDP port (host order), before
	 * and after; spi: the inbound SA whose packet showed it */
	struct in_addr old_addr, new_addr;
	uint16_t old_port, new_port;
	int family;                   /* mapping: AF_INET6: old6/new6 */
	struct in6_addr old6, new6;
};

struct live_ops {
	void *arg;
	/* XDP map: the inbound SPI and its slot */
	int (*spi_add)(void *arg, const struct sa *sa);
	void (*spi_del)(void *arg, const struct sa *sa);
	/* kernel routes of protected prefixes into the tun */
	int (*route_add)(void *arg, const struct cfg_prefix *p);
	void (*route_del)(void *arg, const struct cfg_prefix *p);
	void (*event)(void *arg, const struct live_event *ev);
	/* NAT-T: the XDP program's local ports besides 4500 (host order),
	 * exactly these, at every commit. 0 or -errno. */
	int (*natt_ports)(void *arg, const uint16_t *ports, int n);
	/* NAT-T keepalive (RFC 3948 2.3) from t->local:4500 to t->peer */
	void (*keepalive)(void *arg, const struct tunnel *t);
	/* the XDP program's copy of the routes, for LAN classification
	 * (router mode): value = tunnel slot + 1, as the FIB. Workers check
	 * the FIB again, so this may run ahead of or behind a commit. */
	void (*xdp_route_set)(void *arg, const struct cfg_prefix *p,
			      uint32_t value, uint32_t vrf);
	void (*xdp_route_del)(void *arg, const struct cfg_prefix *p,
			      uint32_t vrf);
	/* after every live_commit, whether it published or not (the SPD
	 * pushes its rules again when a tunnel they name changed) */
	void (*committed)(void *arg);
	/* kernel routes of a VRF's prefixes into that VRF's tun (vrf > 0;
	 * the default VRF's go through route_add/route_del) */
	int (*vrf_route_add)(void *arg, const struct cfg_prefix *p,
			     uint32_t vrf);
	void (*vrf_route_del)(void *arg, const struct cfg_prefix *p,
			      uint32_t vrf);
};

struct live_route {
	struct cfg_prefix prefix;
	struct tunnel *t;
};

struct live_dying {
	struct sa *sa;
	uint64_t since_ms;
};

struct live {
	struct epoch epoch;
	_Atomic(struct tables *) cur;
	struct live_ops ops;
	int nworkers;
	int uplink_mtu;
	uint64_t gen;
	bool dirty;
	/* tunnels by slot, and by name */
	struct tunnel **tun;
	uint32_t ntun, tun_cap, tun_count;
	uint32_t tun_hint; /* no free slot below it */
	struct hmap tun_names;
	/* inbound SAs by slot, and by SPI */
	struct sa **sa_in;
	uint32_t nsa, sa_cap, sa_count;
	uint32_t sa_hint;
	struct hmap spis;
	struct hmap out_spis; /* outbound SAs by SPI */
	struct hmap keys;     /* SAs in either by key (sa->kid) */
	/* routes, and by prefix */
	struct live_route *routes;
	size_t nroutes, routes_cap;
	struct hmap route_idx; /* ptr = index + 1 */
	struct nexthop *nhs;
	uint32_t neigh_gen;    /* the neighbour sync under way (neigh.h) */
	/* staged until the next commit */
	struct sa **pend_spi;      /* inbound SAs to add to the XDP map */
	size_t npend_spi, pend_spi_cap;
	struct sa **pend_out;      /* outbound SAs to switch to (larval) */
	size_t npend_out, pend_out_cap;
	struct live_dying *dying;  /* inbound SAs leaving the version */
	size_t ndying, dying_cap;
	/* removed persisted inbound SAs whose exact top is still to be stored
	 * (in_finals): held by a reference each */
	struct live_final {
		struct sa *sa;
		uint64_t published; /* l->published when removed */
	} *finals;
	size_t nfinals, finals_cap;
	uint64_t published; /* versions published */
	bool lowered; /* a lowered inbound limit waits for the next sync */
	struct seqstore *store;    /* NULL: nothing persisted */
	struct topmap *tops;       /* exact inbound tops, this boot; NULL none */
	uint64_t last_sync_ms;
	/* workers ask for inbound limits here (tables/sa.h); NULL: none */
	struct sa_asks *asks;
	/* SAs reserved for (inbound limits, outbound blocks), to publish
	 * after the next sync (a reference each) */
	struct sa **rel;
	size_t nrel, rel_cap;
	bool rel_all; /* one could not be listed: publish every SA's */
	/* P2MP tunnels: templates whose peers are tunnels (control/p2mp.h) */
	struct live_hub *hubs;
	size_t nhubs;
};

int live_init(struct live *l, int nworkers, int uplink_mtu,
	      const struct live_ops *ops, struct seqstore *store);
/* Workers are gone: free everything (routes are left to the caller). */
void live_destroy(struct live *l);

static inline struct tables *live_tables(struct live *l)
{
	return atomic_load_explicit(&l->cur, memory_order_acquire);
}

struct tunnel *live_tunnel_find(struct live *l, const char *name);

/* Each returns 0 or -errno with a message in err naming what and why. */
int live_tunnel_add(struct live *l, const struct cfg_tunnel *ct, char *err,
		    size_t errlen);
int live_tunnel_del(struct live *l, const char *name, char *err,
		    size_t errlen);

struct live_sa_args {
	const char *tunnel;
	int dir;       /* enum sa_dir */
	uint32_t spi;  /* of pair 0; pair i uses spi + i */
	const uint8_t *key;
	size_t key_len;
	struct sa_life life;
	const char *origin;
	bool replace; /* outbound: may take the SPI of the tunnel's own SA */
	uint32_t reqid; /* IKE's, shown by show sa; 0: none */
	const char *child; /* IKE's CHILD_SA name, shown too; NULL: none */
};
int live_sa_add(struct live *l, const struct live_sa_args *a, char *err,
		size_t errlen);
/* dir < 0: whichever direction has the SPI (an error if both do). */
int live_sa_del(struct live *l, uint32_t spi, int dir, char *err,
		size_t errlen);
int live_sa_update(struct live *l, uint32_t spi, struct in_addr remote,
		   uint16_t sport, uint16_t dport, char *err, size_t errlen);
/* The same, IPv4 or IPv6 (family; remote or remote6): the SA's tunnel
 * must be of that family (-EAFNOSUPPORT otherwise). */
int live_sa_move(struct live *l, uint32_t spi, int family,
		 const struct in_addr *remote, const struct in6_addr *remote6,
		 uint16_t sport, uint16_t dport, char *err, size_t errlen);
int live_route_add(struct live *l, const struct cfg_prefix *p,
		   const char *tunnel, char *err, size_t errlen);
/* ECMP: one more tunnel for a prefix that may have some already (up to
 * ECMP_MAX); flows are spread over them by their inner 5-tuple
 * (tables/ecmp.h). Deleting the tunnel takes only its share away. */
int live_route_add_ecmp(struct live *l, const struct cfg_prefix *p,
			const char *tunnel, char *err, size_t errlen);
/* The prefix, with every tunnel it has. */
int live_route_del(struct live *l, const struct cfg_prefix *p, char *err,
		   size_t errlen);
/* The prefix's route to one tunnel (an ECMP prefix keeps the others). */
int live_route_del_tunnel(struct live *l, const struct cfg_prefix *p,
			  const char *tunnel, char *err, size_t errlen);
bool live_route_has(struct live *l, const struct cfg_prefix *p);
/* VRFs: a route is in its tunnel's VRF (live_route_add takes it from the
 * tunnel); the same prefix may be in several VRFs. The calls above
 * without _vrf are about the default VRF (0). */
int live_route_del_vrf(struct live *l, const struct cfg_prefix *p,
		       uint32_t vrf, char *err, size_t errlen);
bool live_route_has_vrf(struct live *l, const struct cfg_prefix *p,
			uint32_t vrf);

/* Apply what is staged (see the top). 0 or -errno with a logged message. */
int live_commit(struct live *l);
/* Once per control loop turn: lifetimes, sequence reservations, dying
 * SAs, then epoch_reclaim. May commit. */
void live_tick(struct live *l, uint64_t now_ms);
/*
 * A turn that only workers' asks woke (live_wake_fd), within
 * LIVE_TICK_FULL_MS of the last live_tick: the next limits of the SAs
 * that asked, not a scan of them all; synced at most every
 * LIVE_ASK_SYNC_MS unless a worker waits for one (its packets above the
 * limit), then published.
 */
#define LIVE_TICK_FULL_MS 200
#define LIVE_ASK_SYNC_MS 50
void live_asks(struct live *l, uint64_t now_ms);
/* How long the control loop may sleep before live_asks has a sync due
 * (ms), -1: none due. */
int live_timeout_ms(const struct live *l, uint64_t now_ms);
/* Poll it (POLLIN), then live_wake_clear and live_tick (or live_asks): a
 * worker asked for the next inbound limit. -1: none (no state directory). */
int live_wake_fd(const struct live *l);
/* The tops file (topmap.h), before any SA is added; the caller keeps it
 * open until live_destroy. */
struct topmap;
void live_set_tops(struct live *l, struct topmap *tops);
/* The wakes since the last call (0: none); the next ask wakes again. */
uint64_t live_wake_clear(struct live *l);
/* A clean stop (the workers have stopped): store the replay tops exactly,
 * in place of the limits, so a clean restart refuses nothing new. */
void live_persist_final(struct live *l);

/* Drop the model's reference to nh once no worker can hold it. */
void live_retire_nexthop(struct live *l, struct nexthop *nh);

/* Find an SA by SPI and direction (either when dir < 0); NULL if none. */
struct sa *live_sa_find(struct live *l, uint32_t spi, int dir);
/* Iterate: the outbound SA of every pair of every tunnel, then inbound. */
void live_for_each_sa(struct live *l, void (*fn)(void *arg, struct sa *sa),
		      void *arg);

#endif
