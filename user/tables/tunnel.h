/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tunnel: a point-to-point tunnel and the next hop toward its remote end.
 *
 * A tunnel is created by the control thread with its wire parameters (which
 * never change: a changed tunnel is a new one) and lives until no table
 * version and no SA refers to it. What changes under traffic is switched
 * with one atomic pointer store each:
 *   - out[pair]: the active outbound SA of each pair. A rekey stores the
 *     new SA; every worker's next packet uses it (make before break).
 *   - nh: the next hop, shared by the tunnels whose remote ends the kernel
 *     routes through the same gateway. Its MAC is written by the control
 *     thread as the kernel's neighbour table changes.
 * The inbound SAs (up to TUNNEL_MAX_IN per pair, for make before break)
 * are found by SPI in the table version; the tunnel lists them for show.
 */
#ifndef ESPRESSO_TUNNEL_H
#define ESPRESSO_TUNNEL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/params.h"
#include "tables/sa.h"

#define TUNNEL_NAME_MAX 32
#define TUNNEL_MAX_IN 4
#define NH_MAC_VALID (1ull << 48)

struct nexthop {
	int ifindex;
	struct in_addr ip;
	int family;           /* AF_INET (ip) or AF_INET6 (ip6) */
	struct in6_addr ip6;
	_Atomic uint64_t mac; /* 6 bytes + NH_MAC_VALID, 0 when unknown */
	int refs;             /* control thread only */
	uint32_t seen;        /* control thread: the last sync that set it */
	struct nexthop *next; /* the control thread's list */
};

struct tunnel {
	/* the control thread's part first; what packets read after it */
	char name[TUNNEL_NAME_MAX];
	struct in_addr local, remote;
	struct in6_addr local6, remote6;
	enum cfg_cipher cipher;
	uint32_t replay_window;
	bool esn;
	int refs;          /* control thread only */
	/* control thread only: its inbound SAs, oldest first */
	struct sa **in;
	int nin, in_cap;
	uint64_t nh_checked_ms; /* control thread only */
	/*
	 * NAT-T (control thread only): where the peer is now -- the
	 * configured remote and port at first, then wherever authenticated
	 * packets come from (live.c follows it); new SAs are made with it and
	 * the next hop is resolved toward it. Keepalives (RFC 3948 2.3) go
	 * there when no packet went out for keepalive_ms (0: none).
	 */
	struct in_addr peer;
	struct in6_addr peer6;  /* the same for an IPv6 tunnel */
	uint16_t peer_port;     /* host order */
	uint32_t keepalive_ms;
	uint64_t ka_last_ms;    /* the last keepalive (or creation) */
	uint64_t ka_sent, mappings; /* keepalives sent, peer moves followed */
	uint64_t acquired_ms;   /* control thread only: the last acquire */

	/* what the packet path reads: one line, the first outbound SAs in
	 * it too (tunnel_hot) */
	_Alignas(CACHELINE) uint64_t id; /* unique for the daemon's life */
	uint32_t slot; /* in the table version */
	enum cfg_encap encap;
	int family;    /* outer: AF_INET (local/remote) or AF_INET6 */
	enum cfg_fragment fragment;
	uint16_t overhead; /* outer IPv4 or IPv6 (+UDP) + ESP + IV + max trailer + ICV */
	uint16_t mtu;      /* largest inner packet that fits the uplink MTU */
	uint16_t vrf;      /* its routing table: 0 the default (tables.h) */
	uint16_t local_port;    /* ours, host order (4500 unless configured) */
	int npairs;
	_Atomic int nh_wanted; /* a worker found no next hop (or MAC) */
	/* a worker had a packet for it and no outbound SA: the control thread
	 * raises "acquire" (IKE's trap policies) and clears it */
	_Atomic int sa_wanted;
	_Atomic(struct nexthop *) nh;
	_Atomic(struct sa *) out[]; /* npairs */
};

/* The line every packet of the tunnel reads. */
static inline const void *tunnel_hot(const struct tunnel *t)
{
	return &t->id;
}

/* The outbound SA worker q sends with, or NULL (none yet, or expired). */
static inline struct sa *tunnel_out_sa(struct tunnel *t, int q)
{
	return atomic_load_explicit(&t->out[q % t->npairs],
				    memory_order_acquire);
}

static inline bool nexthop_mac(struct nexthop *nh, uint8_t mac[6])
{
	uint64_t v;
	int i;

	if (!nh)
		return false;
	v = atomic_load_explicit(&nh->mac, memory_order_acquire);
	if (!(v & NH_MAC_VALID))
		return false;
	for (i = 0; i < 6; i++)
		mac[i] = v >> (8 * (5 - i));
	return true;
}

static inline bool tunnel_nh_mac(struct tunnel *t, uint8_t mac[6])
{
	return nexthop_mac(atomic_load_explicit(&t->nh, memory_order_acquire),
			   mac);
}

/* A worker found no MAC: ask the control thread to resolve it. */
static inline void tunnel_nh_want(struct tunnel *t)
{
	if (!atomic_load_explicit(&t->nh_wanted, memory_order_relaxed))
		atomic_store_explicit(&t->nh_wanted, 1, memory_order_relaxed);
}

static inline uint64_t tunnel_mac_pack(const uint8_t mac[6])
{
	uint64_t v = NH_MAC_VALID;
	int i;

	for (i = 0; i < 6; i++)
		v |= (uint64_t)mac[i] << (8 * (5 - i));
	return v;
}

struct tunnel_spec {
	const char *name;
	struct in_addr local, remote;
	int family; /* 0 or AF_INET: IPv4; AF_INET6: local6/remote6 */
	struct in6_addr local6, remote6;
	enum cfg_encap encap;
	enum cfg_cipher cipher;
	uint32_t replay_window;
	bool esn;
	enum cfg_fragment fragment;
	int npairs;
	int uplink_mtu;
	uint16_t remote_port;  /* NAT-T: the peer's UDP port, 0: 4500 */
	uint16_t local_port;   /* NAT-T: ours, 0: 4500 */
	uint32_t keepalive_s;  /* NAT-T keepalive period when idle, 0: none */
	uint16_t vrf;          /* 0: the default VRF */
};

/* A new tunnel with one reference and no SAs. 0 or -errno. */
int tunnel_create(struct tunnel **out, const struct tunnel_spec *s);
void tunnel_get(struct tunnel *t);
/* The last reference drops its outbound SAs and next hop and frees it. */
void tunnel_put(struct tunnel *t);
/* Replace the outbound SA of pair p (takes sa's reference); returns the
 * old one, whose reference the caller must drop after a grace period. */
struct sa *tunnel_set_out(struct tunnel *t, int p, struct sa *sa);

struct nexthop *nexthop_get(struct nexthop **list, int ifindex,
			    struct in_addr ip);
/* The same for an IPv6 next hop. */
struct nexthop *nexthop_get6(struct nexthop **list, int ifindex,
			     const struct in6_addr *ip6);
void nexthop_put(struct nexthop **list, struct nexthop *nh);

#endif
