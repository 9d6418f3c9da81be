/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ecmp: several tunnels toward one prefix. The FIB value of such a prefix
 * is ECMP_FLAG | group index instead of a tunnel slot + 1; the group maps
 * ECMP_BUCKETS buckets to its members, and a packet takes the bucket of
 * the hash of its inner 5-tuple (addresses, protocol, and the ports of TCP
 * and UDP when it is not a fragment): one flow, one tunnel, its order kept.
 *
 * Buckets are filled by rendezvous (highest random weight) hashing of the
 * bucket number and each member tunnel's id: which member a bucket gets
 * depends only on the set of members, and when a member goes, only its
 * buckets move (to the others, spread); the flows of the rest stay where
 * they were. Built by the control thread with each table version.
 */
#ifndef ESPRESSO_ECMP_H
#define ESPRESSO_ECMP_H

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ECMP_BUCKETS 64
#define ECMP_MAX 16          /* tunnels in one group */
#define ECMP_FLAG 0x80000000u /* in a FIB value: a group, not a tunnel */

struct ecmp_group {
	uint32_t n;
	uint32_t member[ECMP_MAX];       /* tunnel slot + 1 */
	uint32_t bucket[ECMP_BUCKETS];   /* tunnel slot + 1 */
};

static inline uint64_t ecmp_mix(uint64_t x)
{
	/* splitmix64's finalizer */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * Fill g from n members (n 1..ECMP_MAX): slot + 1 of each and its tunnel's
 * id (what the rendezvous hash weighs, so the result does not depend on
 * their order or slots).
 */
static inline void ecmp_group_fill(struct ecmp_group *g,
				   const uint32_t *slot1, const uint64_t *id,
				   uint32_t n)
{
	uint32_t b, i;

	g->n = n;
	for (i = 0; i < n; i++)
		g->member[i] = slot1[i];
	for (b = 0; b < ECMP_BUCKETS; b++) {
		uint64_t best = 0, w;
		uint32_t pick = 0;

		for (i = 0; i < n; i++) {
			w = ecmp_mix(id[i] * 0x9e3779b97f4a7c15ull + b + 1);
			if (i == 0 || w > best) {
				best = w;
				pick = i;
			}
		}
		g->bucket[b] = slot1[pick];
	}
}

static inline uint32_t ecmp_rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* The hash of an inner packet's 5-tuple (len bytes at pkt, IPv4 or IPv6;
 * what is short or odd hashes on what there is). */
static inline uint32_t ecmp_flow_hash(const uint8_t *pkt, size_t len)
{
	uint64_t h = 0;
	size_t l4 = 0;
	uint8_t proto = 0;
	int i;

	if (len >= sizeof(struct iphdr) && pkt[0] >> 4 == 4) {
		const struct iphdr *ip = (const void *)pkt;

		h = (uint64_t)ecmp_rd32(pkt + 12) << 32 | ecmp_rd32(pkt + 16);
		proto = ip->protocol;
		/* ports only in a first fragment-free packet */
		if (!(ip->frag_off & htons(IP_MF | IP_OFFMASK)))
			l4 = ip->ihl * 4u;
	} else if (len >= sizeof(struct ip6_hdr) && pkt[0] >> 4 == 6) {
		for (i = 0; i < 8; i++)
			h = ecmp_mix(h ^ ecmp_rd32(pkt + 8 + 4 * i));
		proto = pkt[6];
		l4 = sizeof(struct ip6_hdr); /* extension headers: no ports */
	}
	if (l4 && (proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
	    len >= l4 + 4)
		h ^= (uint64_t)ecmp_rd32(pkt + l4) << 8;
	return (uint32_t)ecmp_mix(h ^ proto);
}

#endif
