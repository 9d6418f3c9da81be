// SPDX-License-Identifier: GPL-2.0
/*
 * reasm: IPv4 and IPv6 reassembly with bounds.
 *
 * A train (the fragments of one datagram, keyed by source, destination, id
 * and, for IPv4, protocol) holds one data buffer that grows to the highest end seen
 * (to the exact length once the last fragment is known), a sorted array of
 * the ranges received and the first fragment's header. The buffer keeps
 * 128 bytes of room in front, so that a complete packet is finished in place:
 * the header goes right before the data and the buffer is handed out as it
 * is (kept by the table until the next call, not counted in reasm_mem).
 *
 * Policy, strict on purpose (RFC 5722 for IPv6 says the same):
 *  - any overlap, exact duplicates included, drops the whole train;
 *  - a fragment whose end does not agree with the known end of the packet
 *    (data after the last fragment, two different last fragments) drops the
 *    train, counted as malformed;
 *  - memory: held bytes = per train its struct, its range array and its
 *    buffer. When a fragment would take more than mem_limit, the expired
 *    trains are already gone (every call expires first) and no other train
 *    is evicted: evicting the oldest would let a flood of junk fragments
 *    flush out the trains being completed (FragmentSmack); like Linux since
 *    4.17 we refuse new data instead. The fragment is dropped
 *    (drop_no_memory) and so is its train, which can never complete now,
 *    giving its memory back at once;
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
#define RANGES_MIN 4

struct range {
	uint32_t start, end;
};

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

struct train {
	struct list hash;  /* in its bucket */
	struct list age;   /* in the table's age list, oldest first */
	struct frag_key key;
	uint8_t hlen;      /* the first fragment's header, 0 until it comes */
	uint8_t nh_off;    /* IPv6: its next header byte to set on completion */
	uint8_t hdr[HEADROOM];
	uint64_t born_ms;
	uint32_t total;    /* payload length once the last fragment came */
	bool have_last;
	uint32_t covered;  /* payload bytes received */
	uint32_t max_end;
	unsigned int nranges, ranges_cap;
	struct range *ranges; /* sorted, disjoint */
	uint8_t *buf;      /* HEADROOM + cap bytes */
	size_t cap;
	size_t mem;        /* what the train counts in the table's mem */
};

struct reasm_table {
	size_t mem_limit, mem;
	unsigned int max_frags, timeout_ms;
	uint32_t seed;
	struct reasm_stats st;
	struct list age;
	struct list buckets[NBUCKETS];
	uint8_t *done; /* the last packet handed out */
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

struct reasm_table *reasm_new(size_t mem_limit, unsigned int max_frags,
			      unsigned int timeout_ms)
{
	struct reasm_table *t = calloc(1, sizeof(*t));
	unsigned int i;

	if (!t)
		return NULL;
	t->mem_limit = mem_limit;
	t->max_frags = max_frags;
	t->timeout_ms = timeout_ms;
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    sizeof(t->seed))
		t->seed = (uint32_t)(uintptr_t)t * 2654435761u;
	list_init(&t->age);
	for (i = 0; i < NBUCKETS; i++)
		list_init(&t->buckets[i]);
	return t;
}

static void train_free(struct reasm_table *t, struct train *tr)
{
	list_del(&tr->hash);
	list_del(&tr->age);
	t->mem -= tr->mem;
	free(tr->ranges);
	free(tr->buf);
	free(tr);
}

static void release_done(struct reasm_table *t)
{
	free(t->done);
	t->done = NULL;
}

void reasm_free(struct reasm_table *t)
{
	if (!t)
		return;
	while (t->age.next != &t->age)
		train_free(t, train_of(t->age.next, age));
	release_done(t);
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
	release_done(t);
	expire(t, now_ms);
}

const struct reasm_stats *reasm_stats(const struct reasm_table *t)
{
	return &t->st;
}

size_t reasm_mem(const struct reasm_table *t)
{
	return t->mem;
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

/* Where in tr->ranges [start, end) goes, or -1 if it overlaps. */
static int range_slot(const struct train *tr, uint32_t start, uint32_t end)
{
	unsigned int lo = 0, hi = tr->nranges;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (tr->ranges[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && tr->ranges[lo - 1].end > start)
		return -1;
	if (lo < tr->nranges && tr->ranges[lo].start < end)
		return -1;
	return (int)lo;
}

/* Bytes the train's buffer must hold for data up to end. */
static size_t want_cap(const struct train *tr, size_t end)
{
	size_t c;

	if (end <= tr->cap)
		return tr->cap;
	if (tr->have_last)
		return tr->total;
	/* grow by at least half, never past what a packet can hold */
	c = tr->cap + tr->cap / 2;
	if (c < end)
		c = end;
	if (c > REASM_MAX_PACKET)
		c = REASM_MAX_PACKET;
	return c;
}

/* The train part: the fragment f into its train; REASM_* or -1. */
static int train_add(struct reasm_table *t, const struct frag *f,
		     uint64_t now_ms, uint8_t **out, size_t *out_len)
{
	size_t hlen = f->hlen, plen = f->plen, start = f->start, cap, rcap,
	       need, end = f->start + f->plen;
	bool more = f->more;
	struct list *bucket;
	struct train *tr;
	uint16_t c;
	int slot;

	tr = lookup(t, &f->key, &bucket);
	if (end > REASM_MAX_PACKET - hlen ||
	    (tr && tr->hlen && end > REASM_MAX_PACKET - (size_t)tr->hlen) ||
	    (tr && !start && tr->max_end > REASM_MAX_PACKET - hlen))
		return drop(t, tr, &t->st.drop_oversize);

	if (!tr) {
		need = sizeof(*tr) + RANGES_MIN * sizeof(struct range) +
		       HEADROOM + end;
		if (need > t->mem_limit - t->mem || t->mem > t->mem_limit)
			return drop(t, NULL, &t->st.drop_no_memory);
		tr = calloc(1, sizeof(*tr));
		if (!tr)
			return drop(t, NULL, &t->st.drop_no_memory);
		tr->key = f->key;
		tr->born_ms = now_ms;
		tr->mem = sizeof(*tr);
		t->mem += tr->mem;
		list_add_tail(bucket, &tr->hash);
		list_add_tail(&t->age, &tr->age);
	}
	if (tr->nranges + 1 > t->max_frags)
		return drop(t, tr, &t->st.drop_too_many);
	slot = range_slot(tr, (uint32_t)start, (uint32_t)end);
	if (slot < 0)
		return drop(t, tr, &t->st.drop_overlap);
	/* the last fragment fixes the end: nothing may lie beyond it */
	if ((tr->have_last && (end > tr->total || !more)) ||
	    (!more && tr->max_end > end))
		return drop(t, tr, &t->st.drop_malformed);

	/* memory: both growths checked before either is done */
	if (!more) {
		tr->have_last = true;
		tr->total = (uint32_t)end;
	}
	cap = want_cap(tr, end);
	rcap = tr->ranges_cap;
	if (tr->nranges == rcap) {
		rcap = rcap ? rcap * 2 : RANGES_MIN;
		if (rcap > t->max_frags)
			rcap = t->max_frags;
	}
	need = (cap > tr->cap ? cap - tr->cap + (tr->buf ? 0 : HEADROOM) : 0) +
	       (rcap - tr->ranges_cap) * sizeof(struct range);
	if (need > t->mem_limit - t->mem || t->mem > t->mem_limit)
		return drop(t, tr, &t->st.drop_no_memory);
	if (cap > tr->cap) {
		uint8_t *nb = realloc(tr->buf, HEADROOM + cap);

		if (!nb)
			return drop(t, tr, &t->st.drop_no_memory);
		need = cap - tr->cap + (tr->buf ? 0 : HEADROOM);
		tr->buf = nb;
		tr->cap = cap;
		tr->mem += need;
		t->mem += need;
	}
	if (rcap > tr->ranges_cap) {
		struct range *nr = realloc(tr->ranges, rcap * sizeof(*nr));

		if (!nr)
			return drop(t, tr, &t->st.drop_no_memory);
		need = (rcap - tr->ranges_cap) * sizeof(*nr);
		tr->ranges = nr;
		tr->ranges_cap = rcap;
		tr->mem += need;
		t->mem += need;
	}

	memcpy(tr->buf + HEADROOM + start, f->pl, plen);
	memmove(tr->ranges + slot + 1, tr->ranges + slot,
		(tr->nranges - (unsigned int)slot) * sizeof(struct range));
	tr->ranges[slot].start = (uint32_t)start;
	tr->ranges[slot].end = (uint32_t)end;
	tr->nranges++;
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
	{
		uint8_t *h = tr->buf + HEADROOM - tr->hlen;
		size_t n = tr->hlen + tr->total;

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
		t->done = tr->buf;
		tr->buf = NULL;
		train_free(t, tr);
		t->st.reassembled++;
		*out = h;
		*out_len = n;
	}
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

	release_done(t);
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
