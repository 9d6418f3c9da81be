/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fib: an immutable longest-prefix-match table for IPv4 or IPv6 routes.
 *
 * A multibit trie with a stride of 8 bits (controlled prefix expansion, as
 * VPP's ip4_mtrie, here 8-8-8-8 for IPv4 and 16 x 8 for IPv6). Every node is
 * 256 entries of 32 bits, indexed by one byte of the address; an entry is
 * either a child node or a leaf (an index into the route values, 0 = no
 * route). Leaves are pushed down when a child is created, so a lookup reads
 * one entry per level and stops at the first leaf: at most 4 loads for
 * IPv4, 16 for IPv6, then the value. No locks, no allocation, no branch on
 * prefix lengths.
 *
 * The table is never changed once built: to change the routes, build a new
 * one, publish its pointer and free the old one after every reader has
 * passed a quiescent state.
 *
 * Memory: each node is 1 KiB. A route of length L creates at most
 * (L - 1) / 8 nodes on its path, shared with every route of the same
 * leading bytes; sparse long IPv6 prefixes are the expensive case.
 */
#ifndef ESPRESSO_FIB_H
#define ESPRESSO_FIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fib_route {
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	uint8_t len;      /* 0..32 (IPv4) or 0..128 (IPv6) */
	uint32_t value;   /* != 0; what a lookup returns */
};

#define FIB_FANOUT	256
#define FIB_CHILD	0x80000000u

/* A route of a compact table: the address as two big-endian words. */
struct fib_lin {
	uint64_t net[2], mask[2];
};

/* Immutable once built: read by many threads without locks. Its fields
 * are here for the inline walk below; everything else goes through the
 * functions. */
struct fib {
	int family;
	uint32_t nnodes;  /* 0: a compact table (nlin routes in lin) */
	uint32_t nvalues;
	uint32_t *nodes;  /* nnodes * FIB_FANOUT entries */
	uint32_t *values; /* nvalues, leaf index -> route value */
	uint32_t nlin;
	struct fib_lin *lin; /* longest first; value of lin[i]: values[i + 1] */
};

/*
 * Build a table for family (AF_INET or AF_INET6) from n routes, in any
 * order. Bits beyond len are ignored; if two routes have the same prefix,
 * the later one in the array wins. n may be 0 (every lookup gives 0).
 * Returns NULL with errno set on bad input (EINVAL: family, r NULL with
 * n > 0, len too long for the family, value 0, n >= 2^31) or on
 * allocation failure (ENOMEM).
 */
struct fib *fib_build(int family, const struct fib_route *r, size_t n);

/*
 * The same table, but built by inserting the routes in array order rather
 * than sorted by length: for tests of the push-down of short prefixes under
 * existing longer ones. Slower when short prefixes come late.
 */
struct fib *fib_build_unsorted(int family, const struct fib_route *r,
			       size_t n);

/*
 * For the many small tables of VRFs: up to FIB_COMPACT_MAX routes are kept
 * as a list scanned longest prefix first (32 bytes a route, no 1 KiB
 * nodes: a VRF of a few prefixes costs about 100 bytes, against 3 KiB a
 * /24 in the trie); more than that, the trie of fib_build. The same
 * lookups, the same errors.
 */
#define FIB_COMPACT_MAX 8
struct fib *fib_build_compact(int family, const struct fib_route *r,
			      size_t n);

void fib_free(struct fib *f); /* NULL ok */

/*
 * The value of the longest prefix holding addr (4 or 16 bytes, network
 * order, as the family of f), 0 if none.
 */
uint32_t fib_lookup(const struct fib *f, const void *addr);

/*
 * The same lookup, and in *bytes how many leading bytes of addr decided
 * it: every address that shares them has the same value (the trie's leaf
 * covers them all). A compact table gives the family's whole length.
 */
uint32_t fib_lookup_span(const struct fib *f, const void *addr,
			 unsigned int *bytes);

/*
 * The same lookup split at its loads, so that many can have their cache
 * misses in flight at once (on TX, one step per tun read):
 * fib_walk_begin points the walk at its first entry; each
 * fib_walk_step reads the one fib_walk_next names (prefetch it first) and
 * points at the next, until it returns true with the value in k->value,
 * what fib_lookup gives. A compact table is looked up at once. addr (4 or
 * 16 bytes, network order) must stay in place until the walk is done.
 */
struct fib_walk {
	const uint32_t *at; /* the entry, or last the value, to read; NULL: done */
	uint32_t value;     /* once done */
	uint8_t d;          /* the byte of the address that indexes the next node */
	bool leaf;          /* at is in values[]: the last read */
};

static inline void fib_walk_begin(const struct fib *f, const uint8_t *addr,
				  struct fib_walk *k)
{
	k->d = 1;
	k->leaf = false;
	k->value = 0;
	k->at = NULL;
	if (f->nodes)
		k->at = &f->nodes[addr[0]];
	else
		k->value = fib_lookup(f, addr); /* compact: done */
}

/* the line the next step reads, NULL when the walk is done */
static inline const void *fib_walk_next(const struct fib_walk *k)
{
	return k->at;
}

static inline bool fib_walk_step(const struct fib *f, const uint8_t *addr,
				 struct fib_walk *k)
{
	uint32_t e;

	if (!k->at)
		return true;
	e = *k->at;
	if (k->leaf) {
		k->value = e;
		k->at = NULL;
		return true;
	}
	if (e & FIB_CHILD) {
		/* the nodes at the family's last byte hold only leaves */
		k->at = &f->nodes[(size_t)(e & ~FIB_CHILD) * FIB_FANOUT +
				  addr[k->d++]];
	} else {
		k->at = &f->values[e];
		k->leaf = true;
	}
	return false;
}

size_t fib_mem(const struct fib *f);      /* bytes allocated, for reports */
size_t fib_nodes(const struct fib *f);    /* trie nodes, for reports */
int fib_family(const struct fib *f);      /* AF_INET or AF_INET6 */

#endif /* ESPRESSO_FIB_H */
