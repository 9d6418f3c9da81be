/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tables: one version of everything the packet path looks up, published by
 * the control thread with one pointer swap and read by the workers without
 * a lock:
 *   - inbound SAs by slot (the slot is what the XDP program's SPI map gives
 *     in the frame's metadata) and by SPI (a hash, for frames without
 *     metadata and for packets reassembled from outer fragments);
 *   - tunnels by slot (held packets find theirs again by slot and id);
 *   - the FIB: an LPM table per family from inner destination to tunnel,
 *     used for the outbound route and the inbound inner-source check; one
 *     per VRF (0, the default, in fib4/fib6; VRF v > 0 in vrf[v - 1]). A
 *     lookup only ever reads the FIB of one VRF: the tun a packet came
 *     from, or its tunnel's (struct tunnel.vrf). A VRF without routes of
 *     a family has no FIB for it (NULL): an empty VRF costs 16 bytes.
 * A version never changes once published. The objects it points to (SAs,
 * tunnels) outlive it: the version holds a reference on each, dropped once
 * its grace period has passed (tables/epoch.h).
 */
#ifndef ESPRESSO_TABLES_H
#define ESPRESSO_TABLES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tables/ecmp.h"
#include "tables/fib.h"
#include "tables/sa.h"
#include "tables/tunnel.h"

struct tables {
	uint64_t gen;
	uint32_t nsa;          /* slots in sa_in */
	struct sa **sa_in;     /* by slot, NULL where free */
	uint32_t spi_mask;     /* spi hash: open addressing, power of 2 */
	struct sa **spi_hash;
	uint32_t ntun;
	struct tunnel **tun;   /* by slot, NULL where free */
	struct fib *fib4, *fib6; /* value: tunnel slot + 1, or ECMP_FLAG | group */
	uint32_t ngroups;
	struct ecmp_group *groups; /* ECMP: several tunnels for one prefix */
	uint32_t nvrf;         /* VRFs 1..nvrf besides the default */
	struct tables_vrf {
		struct fib *fib4, *fib6; /* NULL: no route of that family */
	} *vrf;                /* [v - 1] */
};

/* The FIB of VRF vrf for family, NULL if it has no route of that family. */
static inline const struct fib *tables_fib(const struct tables *tb,
					   uint32_t vrf, int family)
{
	if (__builtin_expect(vrf != 0, 0)) {
		if (vrf > tb->nvrf)
			return NULL;
		return family == AF_INET ? tb->vrf[vrf - 1].fib4
					 : tb->vrf[vrf - 1].fib6;
	}
	return family == AF_INET ? tb->fib4 : tb->fib6;
}

static inline struct sa *tables_sa_slot(const struct tables *tb, uint32_t slot,
					uint32_t spi)
{
	struct sa *sa = slot < tb->nsa ? tb->sa_in[slot] : NULL;

	return sa && sa->spi == spi ? sa : NULL;
}

static inline uint32_t tables_spi_hash(uint32_t spi)
{
	return (spi * 2654435761u) ^ (spi >> 16);
}

static inline struct sa *tables_sa_spi(const struct tables *tb, uint32_t spi)
{
	uint32_t i = tables_spi_hash(spi) & tb->spi_mask;
	struct sa *sa;

	while ((sa = tb->spi_hash[i])) {
		if (sa->spi == spi)
			return sa;
		i = (i + 1) & tb->spi_mask;
	}
	return NULL;
}

static inline struct tunnel *tables_tunnel(const struct tables *tb,
					   uint32_t v)
{
	if (__builtin_expect(!!(v & ECMP_FLAG), 0)) /* a group: its first */
		v = (v & ~ECMP_FLAG) < tb->ngroups
			    ? tb->groups[v & ~ECMP_FLAG].member[0] : 0;
	return v && v <= tb->ntun ? tb->tun[v - 1] : NULL;
}

/* The tunnel whose routes in VRF vrf hold addr (family AF_INET or
 * AF_INET6). */
static inline struct tunnel *tables_route_vrf(const struct tables *tb,
					      uint32_t vrf, int family,
					      const void *addr)
{
	const struct fib *f = tables_fib(tb, vrf, family);

	return f ? tables_tunnel(tb, fib_lookup(f, addr)) : NULL;
}

/* The same in the default VRF. */
static inline struct tunnel *tables_route(const struct tables *tb, int family,
					  const void *addr)
{
	return tables_route_vrf(tb, 0, family, addr);
}

/*
 * What a route's value v (a FIB lookup's) sends the inner packet pkt (len
 * bytes) to: the tunnel slot + 1, for an ECMP prefix the member its flow
 * hashes to, 0 for none (no route, or a value past the tunnels).
 */
static inline uint32_t tables_route_member(const struct tables *tb,
					   uint32_t v, const uint8_t *pkt,
					   size_t len)
{
	uint32_t g;

	if (__builtin_expect(!!(v & ECMP_FLAG), 0)) {
		g = v & ~ECMP_FLAG;
		v = g < tb->ngroups
			    ? tb->groups[g].bucket[ecmp_flow_hash(pkt, len) %
						   ECMP_BUCKETS]
			    : 0;
	}
	return v <= tb->ntun ? v : 0;
}

/*
 * The outbound route of an inner packet (pkt, len bytes) to addr: the
 * tunnel, or for an ECMP prefix the member its flow hashes to.
 */
static inline struct tunnel *tables_route_pkt_vrf(const struct tables *tb,
						  uint32_t vrf, int family,
						  const void *addr,
						  const uint8_t *pkt,
						  size_t len)
{
	const struct fib *f = tables_fib(tb, vrf, family);
	uint32_t v = tables_route_member(tb, f ? fib_lookup(f, addr) : 0, pkt,
					 len);

	return v ? tb->tun[v - 1] : NULL;
}

/* The same in the default VRF. */
static inline struct tunnel *tables_route_pkt(const struct tables *tb,
					      int family, const void *addr,
					      const uint8_t *pkt, size_t len)
{
	return tables_route_pkt_vrf(tb, 0, family, addr, pkt, len);
}

/* Is t the tunnel of route value v (a member, if v is an ECMP group)? */
static inline bool tables_value_has(const struct tables *tb, uint32_t v,
				    const struct tunnel *t)
{
	uint32_t g, i;

	if (__builtin_expect(!!(v & ECMP_FLAG), 0)) {
		g = v & ~ECMP_FLAG;
		for (i = 0; g < tb->ngroups && i < tb->groups[g].n; i++)
			if (tb->groups[g].member[i] == t->slot + 1)
				return tables_tunnel(tb, t->slot + 1) == t;
		return false;
	}
	return v && v == t->slot + 1 && v <= tb->ntun && tb->tun[v - 1] == t;
}

/* Whether addr routes to t in t's VRF, alone or as a member of an ECMP
 * group (the inbound inner source and destination checks: a tunnel of one
 * VRF never accepts what only another VRF routes to it). */
static inline bool tables_route_has(const struct tables *tb, int family,
				    const void *addr, const struct tunnel *t)
{
	const struct fib *f = tables_fib(tb, t->vrf, family);

	return tables_value_has(tb, f ? fib_lookup(f, addr) : 0, t);
}

/* The tunnel in slot, if it is still the one with this id. */
static inline struct tunnel *tables_tunnel_id(const struct tables *tb,
					      uint32_t slot, uint64_t id)
{
	struct tunnel *t = slot < tb->ntun ? tb->tun[slot] : NULL;

	return t && t->id == id ? t : NULL;
}

/* Drop the references of a version and free it (after its grace period). */
void tables_free(struct tables *tb);

#endif
