// SPDX-License-Identifier: GPL-2.0
/*
 * fib: build, lookup and free of the stride-8 multibit trie (see fib.h).
 *
 * Entries are 32 bits: FIB_CHILD set means the low 31 bits index a node in
 * one contiguous array (node 0 is the root); otherwise the entry is a leaf
 * index into values[], where values[0] = 0 means "no route" and
 * values[i + 1] is the value of route i.
 *
 * A route of length L is stored in the node at depth k = (L - 1) / 8 (the
 * root for L = 0), over the 2^(8 (k + 1) - L) entries its leading bits
 * select in byte k of the address. While building, every entry also
 * records the length of the route its leaf came from: an insert overwrites
 * a leaf only when its own length is at least that one (equal: the later
 * route wins), and goes down into child nodes to do the same there. With
 * routes inserted by ascending length, an insert never meets a child in its
 * span; fib_build_unsorted exercises that path.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tables/fib.h"

#define FIB_INDEX_MAX	0x7fffffffu
#define FIB_LEN_MAX	128

/* Build state: the nodes array grows, lens is only needed while building. */
struct builder {
	uint32_t *nodes;
	uint8_t *lens;	/* per entry: length of the route its leaf came from */
	uint32_t nnodes;
	uint32_t cap;
};

static int builder_grow(struct builder *b)
{
	uint32_t cap = b->cap ? b->cap * 2 : 64;
	uint32_t *nodes;
	uint8_t *lens;

	if (b->cap > FIB_INDEX_MAX / 2)
		return -ENOMEM;
	nodes = realloc(b->nodes, (size_t)cap * FIB_FANOUT * sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	b->nodes = nodes;
	lens = realloc(b->lens, (size_t)cap * FIB_FANOUT);
	if (!lens)
		return -ENOMEM;
	b->lens = lens;
	b->cap = cap;
	return 0;
}

/* A new node whose entries all hold leaf (from a route of length len). */
static int64_t node_new(struct builder *b, uint32_t leaf, uint8_t len)
{
	uint32_t *e;
	size_t base;
	int i, err;

	if (b->nnodes == b->cap) {
		err = builder_grow(b);
		if (err)
			return err;
	}
	base = (size_t)b->nnodes * FIB_FANOUT;
	e = b->nodes + base;
	for (i = 0; i < FIB_FANOUT; i++)
		e[i] = leaf;
	memset(b->lens + base, len, FIB_FANOUT);
	return b->nnodes++;
}

static void entry_set(struct builder *b, size_t i, uint32_t leaf, uint8_t len);

/* Push a route over a whole child node, keeping its longer routes. */
static void node_push(struct builder *b, uint32_t node, uint32_t leaf,
		      uint8_t len)
{
	size_t base = (size_t)node * FIB_FANOUT;
	int j;

	for (j = 0; j < FIB_FANOUT; j++)
		entry_set(b, base + j, leaf, len);
}

static void entry_set(struct builder *b, size_t i, uint32_t leaf, uint8_t len)
{
	uint32_t e = b->nodes[i];

	if (e & FIB_CHILD) {
		node_push(b, e & ~FIB_CHILD, leaf, len);
	} else if (b->lens[i] <= len) {
		b->nodes[i] = leaf;
		b->lens[i] = len;
	}
}

static int route_insert(struct builder *b, const uint8_t *addr, uint8_t len,
			uint32_t leaf)
{
	unsigned int depth = len ? (len - 1) / 8 : 0;
	unsigned int shift = 8 * (depth + 1) - len;
	unsigned int span = 1u << shift, first, d, j;
	uint32_t node = 0, e;
	int64_t child;
	size_t i;

	for (d = 0; d < depth; d++) {
		i = (size_t)node * FIB_FANOUT + addr[d];
		e = b->nodes[i];
		if (!(e & FIB_CHILD)) {
			child = node_new(b, e, b->lens[i]);
			if (child < 0)
				return (int)child;
			e = FIB_CHILD | (uint32_t)child;
			b->nodes[i] = e;
		}
		node = e & ~FIB_CHILD;
	}
	first = addr[depth] & ~(span - 1) & 0xff;
	for (j = first; j < first + span; j++)
		entry_set(b, (size_t)node * FIB_FANOUT + j, leaf, len);
	return 0;
}

static int routes_check(int family, const struct fib_route *r, size_t n)
{
	unsigned int max;
	size_t i;

	if (family == AF_INET)
		max = 32;
	else if (family == AF_INET6)
		max = 128;
	else
		return -EINVAL;
	if ((n && !r) || n >= FIB_INDEX_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (r[i].len > max || !r[i].value)
			return -EINVAL;
	return 0;
}

/* Route indices sorted by ascending length, stable (counting sort). */
static uint32_t *routes_order(const struct fib_route *r, size_t n)
{
	size_t start[FIB_LEN_MAX + 2] = { 0 };
	uint32_t *order;
	size_t i;

	order = malloc((n ? n : 1) * sizeof(*order));
	if (!order)
		return NULL;
	for (i = 0; i < n; i++)
		start[r[i].len + 1]++;
	for (i = 1; i <= FIB_LEN_MAX + 1; i++)
		start[i] += start[i - 1];
	for (i = 0; i < n; i++)
		order[start[r[i].len]++] = i;
	return order;
}

static struct fib *build(int family, const struct fib_route *r, size_t n,
			 bool sorted)
{
	struct builder b = { 0 };
	uint32_t *order = NULL, *nodes;
	struct fib *f = NULL;
	size_t i, k;
	int err;

	err = routes_check(family, r, n);
	if (err)
		goto out_errno;
	err = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto out_errno;
	f->family = family;
	f->nvalues = n + 1;
	f->values = malloc(f->nvalues * sizeof(*f->values));
	if (!f->values)
		goto out_errno;
	f->values[0] = 0;
	for (i = 0; i < n; i++)
		f->values[i + 1] = r[i].value;
	if (sorted) {
		order = routes_order(r, n);
		if (!order)
			goto out_errno;
	}
	if (node_new(&b, 0, 0) < 0)
		goto out_errno;
	for (i = 0; i < n; i++) {
		k = order ? order[i] : i;
		err = route_insert(&b, r[k].addr, r[k].len, k + 1);
		if (err)
			goto out_errno;
	}
	free(order);
	free(b.lens);
	/* Give back the unused tail of the last doubling. */
	nodes = realloc(b.nodes, (size_t)b.nnodes * FIB_FANOUT * sizeof(*nodes));
	f->nodes = nodes ? nodes : b.nodes;
	f->nnodes = b.nnodes;
	return f;

out_errno:
	free(order);
	free(b.lens);
	free(b.nodes);
	fib_free(f);
	errno = -err;
	return NULL;
}

struct fib *fib_build(int family, const struct fib_route *r, size_t n)
{
	return build(family, r, n, true);
}

static uint64_t be64_at(const uint8_t *a)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | a[i];
	return v;
}

/* The two big-endian words of an address of family (IPv4: the first). */
static void addr_words(int family, const uint8_t *a, uint64_t w[2])
{
	if (family == AF_INET) {
		w[0] = (uint64_t)a[0] << 56 | (uint64_t)a[1] << 48 |
		       (uint64_t)a[2] << 40 | (uint64_t)a[3] << 32;
		w[1] = 0;
	} else {
		w[0] = be64_at(a);
		w[1] = be64_at(a + 8);
	}
}

static uint64_t len_mask(int len)
{
	return len <= 0 ? 0 : len >= 64 ? ~0ull : ~0ull << (64 - len);
}

struct fib *fib_build_compact(int family, const struct fib_route *r, size_t n)
{
	struct fib *f;
	size_t i, k = 0;
	int len;

	if (n > FIB_COMPACT_MAX)
		return fib_build(family, r, n);
	if (routes_check(family, r, n)) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->family = family;
	f->nvalues = n + 1;
	f->nlin = n;
	f->values = malloc(f->nvalues * sizeof(*f->values));
	f->lin = malloc((n ? n : 1) * sizeof(*f->lin));
	if (!f->values || !f->lin) {
		fib_free(f);
		errno = ENOMEM;
		return NULL;
	}
	f->values[0] = 0;
	/* longest first; of equal lengths the later route first, so that of
	 * two routes with one prefix the later wins, as in fib_build */
	for (len = FIB_LEN_MAX; len >= 0; len--) {
		for (i = n; i-- > 0;) {
			struct fib_lin *e = &f->lin[k];

			if (r[i].len != len)
				continue;
			e->mask[0] = len_mask(len);
			e->mask[1] = len_mask(len - 64);
			addr_words(family, r[i].addr, e->net);
			e->net[0] &= e->mask[0];
			e->net[1] &= e->mask[1];
			f->values[++k] = r[i].value;
		}
	}
	return f;
}

/* A compact table: the first (longest) route holding addr. */
static uint32_t __attribute__((noinline))
lookup_compact(const struct fib *f, const void *addr)
{
	uint64_t w[2];
	uint32_t i;

	addr_words(f->family, addr, w);
	for (i = 0; i < f->nlin; i++) {
		const struct fib_lin *e = &f->lin[i];

		if ((w[0] & e->mask[0]) == e->net[0] &&
		    (w[1] & e->mask[1]) == e->net[1])
			return f->values[i + 1];
	}
	return 0;
}

struct fib *fib_build_unsorted(int family, const struct fib_route *r,
			       size_t n)
{
	return build(family, r, n, false);
}

void fib_free(struct fib *f)
{
	if (!f)
		return;
	free(f->nodes);
	free(f->values);
	free(f->lin);
	free(f);
}

/* The trie's walk: the value, and in *d the bytes of a it read. */
static inline uint32_t lookup_trie(const struct fib *f, const uint8_t *a,
				   unsigned int *d)
{
	const uint32_t *nodes = f->nodes;
	uint32_t e = nodes[a[0]];

	*d = 1;
	/* The nodes at the last byte of the family hold only leaves. */
	while (e & FIB_CHILD) {
		e = nodes[(size_t)(e & ~FIB_CHILD) * FIB_FANOUT + a[*d]];
		(*d)++;
	}
	return f->values[e];
}

uint32_t fib_lookup(const struct fib *f, const void *addr)
{
	unsigned int d;

	if (__builtin_expect(!f->nodes, 0))
		return lookup_compact(f, addr);
	return lookup_trie(f, addr, &d);
}

uint32_t fib_lookup_span(const struct fib *f, const void *addr,
			 unsigned int *bytes)
{
	if (__builtin_expect(!f->nodes, 0)) {
		*bytes = f->family == AF_INET ? 4 : 16;
		return lookup_compact(f, addr);
	}
	return lookup_trie(f, addr, bytes);
}

size_t fib_mem(const struct fib *f)
{
	if (!f)
		return 0;
	return sizeof(*f) +
	       (size_t)f->nnodes * FIB_FANOUT * sizeof(*f->nodes) +
	       (size_t)f->nvalues * sizeof(*f->values) +
	       (size_t)f->nlin * sizeof(*f->lin);
}

size_t fib_nodes(const struct fib *f)
{
	return f ? f->nnodes : 0;
}

int fib_family(const struct fib *f)
{
	return f->family;
}
