// SPDX-License-Identifier: GPL-2.0
/*
 * reasm: IPv4 and IPv6 reassembly with bounds, from a pool taken once.
 *
 * Nothing here allocates after reasm_new: the packet path of a worker
 * must not (README, ground rules). reasm_new takes the whole memory bound
 * at once as a pool of BLK-byte blocks (and touches it, so that no page
 * fault is left for the packet path either) and a buffer for the packet
 * handed out. A train (the fragments of one datagram, keyed by source,
 * destination, id and, for IPv4, protocol) holds one block for its
 * descriptor (the first fragment's header among it) and a chain of data
 * blocks that covers [0, highest end seen) of its payload; per data block
 * a 32-bit map says which of its 8-byte units came (fragments start on 8
 * bytes and only the last may end off it, so the map tells overlaps as
 * exactly as a list of ranges would). A complete packet is copied, header
 * first, into the table's output buffer and handed out from there (kept
 * until the next completion, not counted in reasm_mem); its blocks go
 * back to the pool at once.
 *
 * Policy, strict on purpose (RFC 5722 for IPv6 says the same):
 *  - any overlap, exact duplicates included, drops the whole train;
 *  - a fragment whose end does not agree with the known end of the packet
 *    (data after the last fragment, two different last fragments) drops the
 *    train, counted as malformed;
 *  - memory: held bytes = the blocks the trains hold, at most mem_limit
 *    (the pool). When a fragment needs more blocks than are free, the
 *    expired trains are already gone (every call expires first) and no
 *    other train is evicted: evicting the oldest would let a flood of junk
 *    fragments flush out the trains being completed (FragmentSmack); like
 *    Linux since 4.17 we refuse new data instead. The fragment is dropped
 *    (drop_no_memory) and so is its train, which can never complete now,
 *    giving its blocks back at once;
 *  - a train lives timeout_ms from its first fragment.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "proto/csum.h"
#include "proto/reasm.h"

#define IP4_HLEN 20
/* the largest IPv4 header, or IPv6 header + extension headers before the
 * fragment header that we keep (more: the fragment is dropped, malformed) */
#define HEADROOM 128
#define IP6_HLEN 40
#define IP6_EXT_MAX 8
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff
#define NBUCKETS 256
/* A block: a train's descriptor, or BLK bytes of its payload with one bit
 * per 8-byte unit in its cover map. Small enough that a train of one
 * 1480-byte fragment wastes little, big enough for the descriptor. */
#define BLK REASM_BLOCK
#define BLK_UNITS (BLK / 8)
#define NONE UINT32_MAX

_Static_assert(BLK_UNITS == 32, "one uint32_t cover map per block");

struct list {
	struct list *prev, *next;
};

/* A train's identity: IPv4 (src, dst, id, proto) or IPv6 (src, dst, id). */
struct frag_key {
	uint8_t src[16], dst[16];
	uint32_t id;
	uint8_t proto;
	uint8_t family; /* 4 or 6 */
	uint8_t pad[2]; /* zero: keys are compared as bytes */
};

/* One fragment, parsed. */
struct frag {
	struct frag_key key;
	const uint8_t *hdr;  /* what comes before the fragment's payload */
	size_t hlen;
	uint8_t nh_off;      /* IPv6: next header byte in hdr to patch */
	uint8_t next;        /* IPv6: the fragment header's next header */
	const uint8_t *pl;
	size_t start, plen;
	bool more;
};

/* A train's descriptor: it lives in a block of the pool. */
struct train {
	struct list hash;  /* in its bucket */
	struct list age;   /* in the table's age list, oldest first */
	struct frag_key key;
	uint8_t hdr[HEADROOM]; /* the first fragment's header */
	uint64_t born_ms;
	uint32_t total;    /* payload length once the last fragment came */
	uint32_t covered;  /* payload bytes received */
	uint32_t max_end;
	uint32_t nfrags;
	uint32_t head, tail; /* data blocks: payload [0, nblocks * BLK) */
	uint16_t nblocks;
	uint8_t hlen;      /* the first fragment's header, 0 until it comes */
	uint8_t nh_off;    /* IPv6: its next header byte to set on completion */
	bool have_last;
};

_Static_assert(sizeof(struct train) <= BLK, "a descriptor fits a block");

struct reasm_table {
	unsigned int max_frags, timeout_ms;
	uint32_t seed;
	struct reasm_stats st;
	struct list age;
	struct list buckets[NBUCKETS];
	uint8_t *pool;     /* nblk blocks of BLK bytes */
	uint32_t *next;    /* per block: the next in its train, or free */
	uint32_t *cover;   /* per data block: its 8-byte units received */
	uint32_t nblk, nfree, free_head;
	uint8_t *done;     /* HEADROOM + REASM_MAX_PACKET: the packet out */
};

static void list_init(struct list *l)
{
	l->prev = l;
	l->next = l;
}

static void list_add_tail(struct list *head, struct list *e)
{
	e->prev = head->prev;
	e->next = head;
	head->prev->next = e;
	head->prev = e;
}

static void list_del(struct list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e;
	e->next = e;
}

#define train_of(ptr, member) \
	((struct train *)((char *)(ptr) - offsetof(struct train, member)))

static uint8_t *blk(const struct reasm_table *t, uint32_t b)
{
	return t->pool + (size_t)b * BLK;
}

struct reasm_table *reasm_new(size_t mem_limit, unsigned int max_frags,
			      unsigned int timeout_ms)
{
	struct reasm_table *t = calloc(1, sizeof(*t));
	size_t nblk = mem_limit / BLK;
	unsigned int i;

	if (!t)
		return NULL;
	t->max_frags = max_frags;
	t->timeout_ms = timeout_ms;
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    sizeof(t->seed))
		t->seed = (uint32_t)(uintptr_t)t * 2654435761u;
	list_init(&t->age);
	for (i = 0; i < NBUCKETS; i++)
		list_init(&t->buckets[i]);
	if (nblk >= NONE)
		nblk = NONE - 1;
	/* +1: a pool of no block is a valid (refusing) table */
	t->pool = malloc(nblk * BLK + 1);
	t->next = malloc((nblk + 1) * sizeof(*t->next));
	t->cover = malloc((nblk + 1) * sizeof(*t->cover));
	t->done = malloc(HEADROOM + REASM_MAX_PACKET);
	if (!t->pool || !t->next || !t->cover || !t->done) {
		reasm_free(t);
		return NULL;
	}
	/* fault every page in now, not on the packet path */
	memset(t->pool, 0, nblk * BLK + 1);
	memset(t->cover, 0, (nblk + 1) * sizeof(*t->cover));
	memset(t->done, 0, HEADROOM + REASM_MAX_PACKET);
	t->nblk = (uint32_t)nblk;
	t->nfree = t->nblk;
	t->free_head = nblk ? 0 : NONE;
	for (i = 0; i < t->nblk; i++)
		t->next[i] = i + 1 < t->nblk ? i + 1 : NONE;
	return t;
}

/* A free block (the caller checked t->nfree), alone. */
static uint32_t blk_take(struct reasm_table *t)
{
	uint32_t b = t->free_head;

	t->free_head = t->next[b];
	t->nfree--;
	t->next[b] = NONE;
	return b;
}

/* The chain head..tail of n blocks back to the pool, in one step. */
static void blk_give(struct reasm_table *t, uint32_t head, uint32_t tail,
		     uint32_t n)
{
	if (!n)
		return;
	t->next[tail] = t->free_head;
	t->free_head = head;
	t->nfree += n;
}

static void train_free(struct reasm_table *t, struct train *tr)
{
	uint32_t d = (uint32_t)(((uint8_t *)tr - t->pool) / BLK);

	list_del(&tr->hash);
	list_del(&tr->age);
	blk_give(t, tr->head, tr->tail, tr->nblocks);
	blk_give(t, d, d, 1);
}

void reasm_free(struct reasm_table *t)
{
	if (!t)
		return;
	while (t->age.next != &t->age)
		train_free(t, train_of(t->age.next, age));
	free(t->pool);
	free(t->next);
	free(t->cover);
	free(t->done);
	free(t);
}

static void expire(struct reasm_table *t, uint64_t now_ms)
{
	while (t->age.next != &t->age) {
		struct train *tr = train_of(t->age.next, age);

		if (now_ms < tr->born_ms + t->timeout_ms)
			break;
		t->st.drop_timeout++;
		train_free(t, tr);
	}
}

void reasm_expire(struct reasm_table *t, uint64_t now_ms)
{
	expire(t, now_ms);
}

const struct reasm_stats *reasm_stats(const struct reasm_table *t)
{
	return &t->st;
}

size_t reasm_mem(const struct reasm_table *t)
{
	return (size_t)(t->nblk - t->nfree) * BLK;
}

size_t reasm_pool_size(const struct reasm_table *t)
{
	return (size_t)t->nblk * BLK +
	       (size_t)(t->nblk + 1) * (sizeof(*t->next) + sizeof(*t->cover)) +
	       HEADROOM + REASM_MAX_PACKET + sizeof(*t);
}

static uint32_t key_hash(const struct reasm_table *t,
			 const struct frag_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint32_t h = t->seed, v;
	size_t i;

	for (i = 0; i < sizeof(*k); i += 4) {
		memcpy(&v, p + i, 4);
		h ^= v;
		h = (h ^ (h >> 16)) * 0x7feb352d;
		h = (h ^ (h >> 15)) * 0x846ca68b;
	}
	return (h ^ (h >> 16)) % NBUCKETS;
}

static struct train *lookup(struct reasm_table *t, const struct frag_key *k,
			    struct list **bucket)
{
	struct list *b = &t->buckets[key_hash(t, k)], *e;

	*bucket = b;
	for (e = b->next; e != b; e = e->next) {
		struct train *tr = train_of(e, hash);

		if (!memcmp(&tr->key, k, sizeof(*k)))
			return tr;
	}
	return NULL;
}

/* Drop the train tr (may be NULL) and count the reason. */
static int drop(struct reasm_table *t, struct train *tr, uint64_t *counter)
{
	if (tr)
		train_free(t, tr);
	(*counter)++;
	return -1;
}

/* Blocks that hold payload [0, end). */
static uint32_t blocks_for(size_t end)
{
	return (uint32_t)((end + BLK - 1) / BLK);
}

/* The k-th data block of tr (k < tr->nblocks). */
static uint32_t blk_nth(const struct reasm_table *t, const struct train *tr,
			size_t k)
{
	uint32_t b = tr->head;

	while (k--)
		b = t->next[b];
	return b;
}

/* Units [lo, hi) of a block's cover map, 0 <= lo < hi <= 32. */
static uint32_t units(uint32_t lo, uint32_t hi)
{
	return (hi - lo == BLK_UNITS ? ~0u : (1u << (hi - lo)) - 1) << lo;
}

/* Whether none of payload [start, end) came yet (start is on 8 bytes). */
static bool range_free(const struct reasm_table *t, const struct train *tr,
		       size_t start, size_t end)
{
	size_t u = start / 8, ue = (end + 7) / 8, k = u / BLK_UNITS;
	uint32_t b;

	if (k >= tr->nblocks)
		return true;
	for (b = blk_nth(t, tr, k); u < ue && k < tr->nblocks;
	     k++, u = k * BLK_UNITS, b = t->next[b]) {
		size_t hi = ue - k * BLK_UNITS;

		if (t->cover[b] & units((uint32_t)(u % BLK_UNITS),
					(uint32_t)(hi < BLK_UNITS ? hi : BLK_UNITS)))
			return false;
	}
	return true;
}

/* Extend tr's chain to n blocks (the caller checked t->nfree). */
static void grow(struct reasm_table *t, struct train *tr, uint32_t n)
{
	while (tr->nblocks < n) {
		uint32_t b = blk_take(t);

		t->cover[b] = 0;
		if (tr->nblocks)
			t->next[tr->tail] = b;
		else
			tr->head = b;
		tr->tail = b;
		tr->nblocks++;
	}
}

/* Copy the payload pl (plen bytes) to start, the blocks there, and mark it. */
static void put(struct reasm_table *t, const struct train *tr, size_t start,
		const uint8_t *pl, size_t plen)
{
	size_t off = start, end = start + plen;
	uint32_t b = blk_nth(t, tr, start / BLK);

	while (off < end) {
		size_t in = off % BLK, n = BLK - in < end - off ? BLK - in :
								  end - off;

		memcpy(blk(t, b) + in, pl + (off - start), n);
		t->cover[b] |= units((uint32_t)(in / 8),
				     (uint32_t)((in + n + 7) / 8));
		off += n;
		b = t->next[b];
	}
}

/* A new, empty train for f (the caller checked t->nfree). */
static struct train *train_new(struct reasm_table *t, const struct frag *f,
			       struct list *bucket, uint64_t now_ms)
{
	struct train *tr = (struct train *)blk(t, blk_take(t));

	memset(tr, 0, sizeof(*tr));
	tr->key = f->key;
	tr->born_ms = now_ms;
	tr->head = NONE;
	tr->tail = NONE;
	list_add_tail(bucket, &tr->hash);
	list_add_tail(&t->age, &tr->age);
	return tr;
}

/* The whole packet of the complete train tr into t->done; tr goes. */
static void finish(struct reasm_table *t, struct train *tr, uint8_t **out,
		   size_t *out_len)
{
	uint8_t *h = t->done + HEADROOM - tr->hlen;
	size_t n = tr->hlen + tr->total, off;
	uint32_t b;
	uint16_t c;

	for (off = 0, b = tr->head; off < tr->total; off += BLK, b = t->next[b])
		memcpy(t->done + HEADROOM + off, blk(t, b),
		       tr->total - off < BLK ? tr->total - off : BLK);
	memcpy(h, tr->hdr, tr->hlen);
	if (tr->key.family == 6) {
		h[4] = (uint8_t)((n - IP6_HLEN) >> 8);
		h[5] = (n - IP6_HLEN) & 0xff;
	} else {
		h[2] = (uint8_t)(n >> 8);
		h[3] = n & 0xff;
		h[6] &= IP_DF >> 8; /* keep DF, clear reserved, MF, offset */
		h[7] = 0;
		h[10] = 0;
		h[11] = 0;
		c = csum_finish(csum_add(0, h, tr->hlen));
		memcpy(h + 10, &c, 2);
	}
	train_free(t, tr);
	t->st.reassembled++;
	*out = h;
	*out_len = n;
}

/* The train part: the fragment f into its train; REASM_* or -1. */
static int train_add(struct reasm_table *t, const struct frag *f,
		     uint64_t now_ms, uint8_t **out, size_t *out_len)
{
	size_t hlen = f->hlen, plen = f->plen, start = f->start,
	       end = f->start + f->plen;
	bool more = f->more;
	struct list *bucket;
	struct train *tr;
	uint32_t want;

	tr = lookup(t, &f->key, &bucket);
	if (end > REASM_MAX_PACKET - hlen ||
	    (tr && tr->hlen && end > REASM_MAX_PACKET - (size_t)tr->hlen) ||
	    (tr && !start && tr->max_end > REASM_MAX_PACKET - hlen))
		return drop(t, tr, &t->st.drop_oversize);

	want = blocks_for(end);
	if (!tr) {
		/* its descriptor and its data, or nothing */
		if (want >= t->nfree)
			return drop(t, NULL, &t->st.drop_no_memory);
		tr = train_new(t, f, bucket, now_ms);
	}
	if (tr->nfrags + 1 > t->max_frags)
		return drop(t, tr, &t->st.drop_too_many);
	if (!range_free(t, tr, start, end))
		return drop(t, tr, &t->st.drop_overlap);
	/* the last fragment fixes the end: nothing may lie beyond it */
	if ((tr->have_last && (end > tr->total || !more)) ||
	    (!more && tr->max_end > end))
		return drop(t, tr, &t->st.drop_malformed);
	if (!more) {
		tr->have_last = true;
		tr->total = (uint32_t)end;
	}
	if (want > tr->nblocks && want - tr->nblocks > t->nfree)
		return drop(t, tr, &t->st.drop_no_memory);
	grow(t, tr, want);

	put(t, tr, start, f->pl, plen);
	tr->nfrags++;
	tr->covered += (uint32_t)plen;
	if (end > tr->max_end)
		tr->max_end = (uint32_t)end;
	if (!start) {
		memcpy(tr->hdr, f->hdr, hlen);
		tr->hlen = (uint8_t)hlen;
		tr->nh_off = f->nh_off;
		if (f->key.family == 6)
			tr->hdr[f->nh_off] = f->next; /* the header is gone */
	}
	if (!tr->have_last || tr->covered != tr->total)
		return REASM_HELD;
	/* complete: no overlaps and total bytes in [0, total) cover it all,
	 * so the first fragment is here */
	finish(t, tr, out, out_len);
	return REASM_DONE;
}

/*
 * An IPv6 fragment: the header, the extension headers before the fragment
 * header (hop-by-hop, routing, destination options; the unfragmentable
 * part, kept from the first fragment) and the fragment header (RFC 8200
 * 4.5). An atomic fragment (offset 0, M clear: RFC 6946) is a train of one.
 */
static int reasm_parse6(struct reasm_table *t, const uint8_t *ip, size_t len,
			uint64_t now_ms, uint8_t **out, size_t *out_len)
{
	struct frag f = { .hdr = ip };
	size_t off = IP6_HLEN, tot;
	uint8_t nh = ip[6];
	uint16_t fo;
	int i;

	tot = IP6_HLEN + ((size_t)ip[4] << 8 | ip[5]);
	if (tot > len)
		return drop(t, NULL, &t->st.drop_malformed);
	f.nh_off = 6;
	for (i = 0; i < IP6_EXT_MAX && (nh == 0 || nh == 43 || nh == 60);
	     i++) {
		if (off + 8 > tot)
			return drop(t, NULL, &t->st.drop_malformed);
		f.nh_off = (uint8_t)(off < HEADROOM ? off : 0);
		nh = ip[off];
		off += (ip[off + 1] + 1u) * 8;
	}
	if (nh != 44 || off + 8 > tot || off > HEADROOM)
		return drop(t, NULL, &t->st.drop_malformed);
	f.next = ip[off];
	fo = (uint16_t)(ip[off + 2] << 8 | ip[off + 3]);
	f.more = fo & 1;
	f.start = fo & 0xfff8;
	memcpy(&f.key.id, ip + off + 4, 4);
	f.hlen = off;
	f.pl = ip + off + 8;
	f.plen = tot - off - 8;
	if (!f.plen || (f.more && f.plen % 8))
		return drop(t, NULL, &t->st.drop_malformed);
	memcpy(f.key.src, ip + 8, 16);
	memcpy(f.key.dst, ip + 24, 16);
	f.key.family = 6;
	return train_add(t, &f, now_ms, out, out_len);
}

int reasm_add(struct reasm_table *t, const uint8_t *ip, size_t len,
	      uint64_t now_ms, uint8_t **out, size_t *out_len)
{
	struct frag f = { .hdr = ip };
	size_t hlen, tot;
	uint16_t fo;

	expire(t, now_ms);
	t->st.fragments++;

	if (len >= IP6_HLEN && (ip[0] >> 4) == 6)
		return reasm_parse6(t, ip, len, now_ms, out, out_len);
	if (len < IP4_HLEN || (ip[0] >> 4) != 4 || (ip[0] & 0xf) < 5)
		return drop(t, NULL, &t->st.drop_malformed);
	hlen = (ip[0] & 0xf) * 4u;
	tot = (size_t)ip[2] << 8 | ip[3];
	if (hlen > len || tot < hlen || tot > len ||
	    csum_fold(csum_add(0, ip, hlen)) != 0xffff)
		return drop(t, NULL, &t->st.drop_malformed);
	fo = (uint16_t)(ip[6] << 8 | ip[7]);
	f.more = fo & IP_MF;
	f.start = (size_t)(fo & IP_OFFMASK) * 8;
	f.plen = tot - hlen;
	f.hlen = hlen;
	f.pl = ip + hlen;
	/* not a fragment, an empty one, or a piece not a multiple of 8 */
	if ((!f.more && !f.start) || !f.plen || (f.more && f.plen % 8))
		return drop(t, NULL, &t->st.drop_malformed);
	memcpy(f.key.src, ip + 12, 4);
	memcpy(f.key.dst, ip + 16, 4);
	f.key.id = (uint32_t)ip[4] << 8 | ip[5];
	f.key.proto = ip[9];
	f.key.family = 4;
	return train_add(t, &f, now_ms, out, out_len);
}
