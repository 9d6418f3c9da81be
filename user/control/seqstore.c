// SPDX-License-Identifier: GPL-2.0
/*
 * seqstore: the persistent sequence-number store (see seqstore.h).
 *
 * The file "seq" in the store directory, all integers little-endian:
 *
 *   header, 32 bytes (24 in version 1, without the generation)
 *     0   8  magic "ESPSEQ1\n"
 *     8   4  version: 2 (1, without a journal, is read too)
 *    12   4  record size, 40
 *    16   8  record count n
 *    24   8  generation: one more than the "seq" it replaced, so that no
 *            two are alike, and a journal binds to one alone
 *   n records, 40 bytes each
 *     0   4  spi
 *     4   1  dir: 0 inbound, 1 outbound
 *     5   1  flags: bit 0 retired; the others 0
 *     6   2  0
 *     8   8  retired_time: ns since the Unix epoch (0 while live); strictly
 *            increasing over the store's retires, so it orders them
 *    16  16  key fingerprint
 *    32   8  value
 *   trailer, 32 bytes: SHA-256 of everything before it
 *
 * The size must be exactly 24 + 40 n + 32 and the checksum must match, so
 * truncation and corruption are refused rather than read as "no records".
 * No two records share (spi, dir, fp).
 *
 * The journal "seq.log": the records changed since "seq" was written,
 * appended by each sync (one write and one fdatasync, however many records
 * the store holds), so that a busy store does not rewrite every record many
 * times a second:
 *
 *   header, 48 bytes
 *     0   8  magic "ESPSEQL1"
 *     8   4  version, 1
 *    12   4  record size, 40
 *    16  32  the trailer (checksum) of the "seq" it follows
 *   batches, one per sync:
 *     0   4  magic "BTCH"
 *     4   4  record count n (at least 1)
 *     8   4  n with every bit flipped (a damaged count is seen as such)
 *    12   4  0
 *    16  40n records, as above: each the whole state of its record
 *     .  32  SHA-256 of the header's base checksum and the batch before this
 *
 * Loading applies the batches in order (a record's last state wins). A
 * journal whose base checksum is not the "seq" read is one a later "seq"
 * replaced (a crash between the two renames of a compaction), and is
 * ignored (a journal whose header names another "seq" but whose first
 * batch does not verify against that one is a damaged header, refused).
 * A crash in an append leaves a short last batch, or one whose
 * checksum and all after it read as zeros, never synced: it is cut off.
 * Any other bad batch is corruption, refused like a corrupt "seq". Once the journal would grow past
 * max(LOG_MIN, 2 x "seq"), or retired records are pruned, sync compacts:
 * "seq" rewritten (temp, fsync, rename), then a new empty journal for it
 * (the same way). Version 2 of "seq" keeps an espressod that knows no
 * journal from starting on a store whose journal it would miss.
 *
 * In memory: an array of records and an open-addressing (linear probing)
 * table of indices into it, at most half full; the indices of the records
 * changed since the last sync. Records go away only when a compaction
 * prunes retired ones; the table is rebuilt then.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control/seqstore.h"

#define FILE_NAME "seq"
#define TMP_NAME "seq.tmp"
#define MAGIC "ESPSEQ1\n"
#define VERSION 2
#define VERSION_NOLOG 1
#define LOG_NAME "seq.log"
#define LOG_TMP_NAME "seq.log.tmp"
#define LOG_MAGIC "ESPSEQL1"
#define LOG_VERSION 1
#define LOG_HDR_SIZE 48
#define BATCH_MAGIC "BTCH"
#define BATCH_HDR_SIZE 16
#define LOG_MIN (256u << 10) /* a journal may grow to this much at least */
#define HDR_SIZE 32
#define HDR_SIZE_V1 24
#define REC_SIZE 40
#define SUM_SIZE 32
#define FLAG_RETIRED 0x01
#define FP_LABEL "espresso seqstore v1"

struct rec {
	uint32_t spi;
	uint8_t dir;
	uint8_t flags;
	uint64_t retired_time;
	uint8_t fp[SEQSTORE_FP_LEN];
	uint64_t value;
	bool chg; /* in memory only: changed since the last sync */
};

struct seqstore {
	char *dir;
	int dirfd;         /* holds the flock */
	struct rec *recs;
	size_t n, cap;
	uint32_t *slots;   /* index + 1 into recs, 0 empty */
	uint32_t *kslots;  /* the same by (dir, fp) alone: seqstore_get_key */
	size_t nslots;     /* a power of two, >= 2 n (both tables) */
	size_t keep_retired;
	uint64_t last_retired;
	bool dirty;
	bool fresh;
	/* the journal, open to append (-1: the next sync compacts), its
	 * length so far, and what binds it to "seq" (its trailer, length) */
	int logfd;
	uint64_t log_len;
	uint8_t base_sum[SUM_SIZE];
	uint64_t base_len;
	uint64_t gen; /* the generation of "seq" (0: version 1, or none) */
	/* indices into recs of the records with chg set; chg_all: the list
	 * could not grow (the next sync compacts) */
	uint32_t *chg;
	size_t nchg, chgcap;
	bool chg_all;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int seqstore_fingerprint(const uint8_t *key, size_t key_len,
			 uint8_t fp[SEQSTORE_FP_LEN])
{
	static const uint8_t empty;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!HMAC(EVP_sha256(), FP_LABEL, sizeof(FP_LABEL) - 1,
		  key ? key : &empty, key_len, md, &mdlen) ||
	    mdlen < SEQSTORE_FP_LEN) {
		memset(fp, 0, SEQSTORE_FP_LEN);
		return -EIO;
	}
	memcpy(fp, md, SEQSTORE_FP_LEN);
	return 0;
}

/* --- the table ------------------------------------------------------ */

static size_t hash(uint32_t spi, uint8_t dir, const uint8_t *fp)
{
	uint64_t h = ((uint64_t)dir << 32 | spi) ^ get64(fp);

	/* murmur3's 64-bit finaliser */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static bool rec_match(const struct rec *r, uint32_t spi, uint8_t dir,
		      const uint8_t *fp)
{
	return r->spi == spi && r->dir == dir &&
	       !memcmp(r->fp, fp, SEQSTORE_FP_LEN);
}

/* The slot holding (spi, dir, fp), or the empty slot where it would go. */
static size_t slot_find(const struct seqstore *s, uint32_t spi, uint8_t dir,
			const uint8_t *fp)
{
	size_t mask = s->nslots - 1, i = hash(spi, dir, fp) & mask;

	while (s->slots[i] && !rec_match(&s->recs[s->slots[i] - 1], spi, dir, fp))
		i = (i + 1) & mask;
	return i;
}

static struct rec *lookup(const struct seqstore *s, uint32_t spi, uint8_t dir,
			  const uint8_t *fp)
{
	size_t i = slot_find(s, spi, dir, fp);

	return s->slots[i] ? &s->recs[s->slots[i] - 1] : NULL;
}

/* The first slot of (dir, fp)'s run in kslots: every record of that key,
 * whatever its SPI, is at or after it before an empty slot. */
static size_t kslot_start(const struct seqstore *s, uint8_t dir,
			  const uint8_t *fp)
{
	return hash(0, dir, fp) & (s->nslots - 1);
}

/* Record k (recs[k]) into both tables. */
static void index_rec(struct seqstore *s, size_t k)
{
	const struct rec *r = &s->recs[k];
	size_t mask = s->nslots - 1, i = kslot_start(s, r->dir, r->fp);

	s->slots[slot_find(s, r->spi, r->dir, r->fp)] = k + 1;
	while (s->kslots[i])
		i = (i + 1) & mask;
	s->kslots[i] = k + 1;
}

/* Both tables again from recs[0..n) (emptied first; the size kept). */
static void index_all(struct seqstore *s)
{
	memset(s->slots, 0, s->nslots * sizeof(*s->slots));
	memset(s->kslots, 0, s->nslots * sizeof(*s->kslots));
	for (size_t k = 0; k < s->n; k++)
		index_rec(s, k);
}

/* Size the tables for want records and index recs[0..n) into them. */
static int table_build(struct seqstore *s, size_t want)
{
	size_t nslots = 64;
	uint32_t *slots, *kslots;

	if (want > UINT32_MAX - 1)
		return -ENOMEM;
	while (nslots < 2 * want)
		nslots *= 2;
	slots = calloc(nslots, sizeof(*slots));
	kslots = calloc(nslots, sizeof(*kslots));
	if (!slots || !kslots) {
		free(slots);
		free(kslots);
		return -ENOMEM;
	}
	free(s->slots);
	free(s->kslots);
	s->slots = slots;
	s->kslots = kslots;
	s->nslots = nslots;
	index_all(s);
	return 0;
}

static int reserve(struct seqstore *s, size_t want)
{
	int err;

	if (want > s->cap) {
		size_t cap = s->cap ? s->cap : 64;
		struct rec *recs;

		while (cap < want)
			cap *= 2;
		recs = reallocarray(s->recs, cap, sizeof(*recs));
		if (!recs)
			return -ENOMEM;
		s->recs = recs;
		s->cap = cap;
	}
	if (2 * want > s->nslots) {
		err = table_build(s, want);
		if (err)
			return err;
	}
	return 0;
}

/* r, which the store does not hold, added: the new record, or NULL (no
 * memory). */
static struct rec *rec_insert(struct seqstore *s, const struct rec *r)
{
	if (reserve(s, s->n + 1))
		return NULL;
	s->recs[s->n] = *r;
	index_rec(s, s->n);
	return &s->recs[s->n++];
}

/* --- the file ------------------------------------------------------- */

static int sha256(const uint8_t *buf, size_t len, uint8_t sum[SUM_SIZE])
{
	return EVP_Digest(buf, len, sum, NULL, EVP_sha256(), NULL) ? 0 : -EIO;
}

/* A record in the file's 40 bytes at p. */
static void rec_encode(uint8_t *p, const struct rec *r)
{
	memset(p, 0, REC_SIZE);
	put32(p, r->spi);
	p[4] = r->dir;
	p[5] = r->flags;
	put64(p + 8, r->retired_time);
	memcpy(p + 16, r->fp, SEQSTORE_FP_LEN);
	put64(p + 32, r->value);
}

/* The record at p: 0, or -EINVAL when its dir, flags or padding are bad. */
static int rec_decode(const uint8_t *p, struct rec *r)
{
	*r = (struct rec){
		.spi = get32(p),
		.dir = p[4],
		.flags = p[5],
		.retired_time = get64(p + 8),
		.value = get64(p + 32),
	};
	memcpy(r->fp, p + 16, SEQSTORE_FP_LEN);
	if (r->dir > SEQSTORE_OUT || r->flags & ~FLAG_RETIRED || p[6] ||
	    p[7] || (!(r->flags & FLAG_RETIRED) && r->retired_time))
		return -EINVAL;
	return 0;
}

/* Check and take in the file image buf[0..len). */
static int parse(struct seqstore *s, const uint8_t *buf, size_t len,
		 char *err, size_t errlen)
{
	uint8_t sum[SUM_SIZE];
	size_t hdr = HDR_SIZE;
	uint64_t n;
	int ret;

	if (len >= 12 && get32(buf + 8) == VERSION_NOLOG)
		hdr = HDR_SIZE_V1;
	if (len < hdr + SUM_SIZE) {
		set_err(err, errlen, "%zu bytes, shorter than header and checksum (truncated)",
			len);
		return -EINVAL;
	}
	if (memcmp(buf, MAGIC, 8)) {
		set_err(err, errlen, "bad magic, not a seqstore file");
		return -EINVAL;
	}
	if ((get32(buf + 8) != VERSION && get32(buf + 8) != VERSION_NOLOG) ||
	    get32(buf + 12) != REC_SIZE) {
		set_err(err, errlen, "version %u record size %u, expected %u and %u",
			get32(buf + 8), get32(buf + 12), VERSION, REC_SIZE);
		return -EINVAL;
	}
	n = get64(buf + 16);
	if (n > (len - hdr - SUM_SIZE) / REC_SIZE) {
		set_err(err, errlen, "header says %llu records, more than %zu bytes hold (truncated)",
			(unsigned long long)n, len);
		return -EINVAL;
	}
	if (hdr + n * REC_SIZE + SUM_SIZE != len) {
		set_err(err, errlen, "%zu bytes, expected %llu for %llu records (truncated or corrupt)",
			len, (unsigned long long)(hdr + n * REC_SIZE + SUM_SIZE),
			(unsigned long long)n);
		return -EINVAL;
	}
	ret = sha256(buf, len - SUM_SIZE, sum);
	if (ret) {
		set_err(err, errlen, "SHA-256 failed in libcrypto");
		return ret;
	}
	if (memcmp(sum, buf + len - SUM_SIZE, SUM_SIZE)) {
		set_err(err, errlen, "checksum mismatch (corrupt)");
		return -EINVAL;
	}
	ret = reserve(s, n);
	if (ret) {
		set_err(err, errlen, "out of memory for %llu records",
			(unsigned long long)n);
		return ret;
	}
	for (uint64_t k = 0; k < n; k++) {
		const uint8_t *p = buf + hdr + k * REC_SIZE;
		struct rec r;
		size_t i;

		if (rec_decode(p, &r)) {
			set_err(err, errlen, "record %llu (spi 0x%08x) has bad dir, flags or padding",
				(unsigned long long)k, r.spi);
			return -EINVAL;
		}
		i = slot_find(s, r.spi, r.dir, r.fp);
		if (s->slots[i]) {
			set_err(err, errlen, "record %llu (spi 0x%08x) is a duplicate",
				(unsigned long long)k, r.spi);
			return -EINVAL;
		}
		s->recs[s->n] = r;
		index_rec(s, s->n++);
		if (r.retired_time > s->last_retired)
			s->last_retired = r.retired_time;
	}
	memcpy(s->base_sum, buf + len - SUM_SIZE, SUM_SIZE);
	s->base_len = len;
	s->gen = hdr == HDR_SIZE ? get64(buf + 24) : 0;
	return 0;
}

/* The whole of the file name in the store's directory, in *out (freed by
 * the caller): 0, -ENOENT when there is none, or -errno with why said. */
static int slurp(struct seqstore *s, const char *name, uint8_t **out,
		 size_t *outlen, char *why, size_t whylen)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t len = 0, got = 0;
	int fd, ret = 0;

	*out = NULL;
	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			snprintf(why, whylen, "open: %s", strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		snprintf(why, whylen, "fstat: %s", strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX / 2) {
		ret = -EINVAL;
		snprintf(why, whylen, "not a regular file of a sane size");
		goto out;
	}
	len = st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(why, whylen, "out of memory for %zu bytes", len);
		goto out;
	}
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r ? -errno : -EIO;
			snprintf(why, whylen, "read: %s",
				 r ? strerror(errno) : "file shrank while read");
			goto out;
		}
		got += r;
	}
out:
	close(fd);
	if (ret)
		free(buf);
	else
		*out = buf, *outlen = len;
	return ret;
}

/* SHA-256 of a then b. */
static int sha256_2(const uint8_t *a, size_t alen, const uint8_t *b,
		    size_t blen, uint8_t sum[SUM_SIZE])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(c, a, alen) && EVP_DigestUpdate(c, b, blen) &&
		 EVP_DigestFinal_ex(c, sum, NULL);

	EVP_MD_CTX_free(c);
	return ok ? 0 : -EIO;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* A journal record: its state replaces the record's (or adds it). */
static int rec_apply(struct seqstore *s, const struct rec *r)
{
	struct rec *cur = lookup(s, r->spi, r->dir, r->fp);

	if (cur)
		*cur = *r;
	else if (!rec_insert(s, r))
		return -ENOMEM;
	if (r->retired_time > s->last_retired)
		s->last_retired = r->retired_time;
	return 0;
}

/* Whether the batch at b (left bytes from there on) is whole and verifies
 * against the "seq" of checksum base. */
static bool batch_ok(const uint8_t *base, const uint8_t *b, size_t left)
{
	uint8_t sum[SUM_SIZE];
	uint32_t n;
	size_t bsize;

	if (left < BATCH_HDR_SIZE || memcmp(b, BATCH_MAGIC, 4))
		return false;
	n = get32(b + 4);
	bsize = BATCH_HDR_SIZE + (size_t)n * REC_SIZE + SUM_SIZE;
	return n && get32(b + 8) == ~n && !get32(b + 12) && bsize <= left &&
	       !sha256_2(base, SUM_SIZE, b, bsize - SUM_SIZE, sum) &&
	       !memcmp(sum, b + bsize - SUM_SIZE, SUM_SIZE);
}

/*
 * The journal of the "seq" just read, applied; opened to append after its
 * last good batch (a torn one cut off). None, or another "seq"'s: nothing
 * applied, and the first sync compacts. -EINVAL: corrupt (why says).
 */
static int log_load(struct seqstore *s, char *why, size_t whylen)
{
	uint8_t *buf, sum[SUM_SIZE];
	size_t len, pos = LOG_HDR_SIZE;
	int fd, ret;

	ret = slurp(s, LOG_NAME, &buf, &len, why, whylen);
	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	ret = -EINVAL;
	if (len < LOG_HDR_SIZE || memcmp(buf, LOG_MAGIC, 8) ||
	    get32(buf + 8) != LOG_VERSION || get32(buf + 12) != REC_SIZE) {
		snprintf(why, whylen, "%s: bad header (corrupt)", LOG_NAME);
		goto out;
	}
	if (s->fresh || memcmp(buf + 16, s->base_sum, SUM_SIZE)) {
		/* a compaction's leftover: "seq" has it all; unless its
		 * first batch does not verify against the "seq" its header
		 * names either: then that header is damaged */
		if (len >= LOG_HDR_SIZE + BATCH_HDR_SIZE + REC_SIZE + SUM_SIZE &&
		    !batch_ok(buf + 16, buf + LOG_HDR_SIZE, len - LOG_HDR_SIZE)) {
			snprintf(why, whylen, "%s: bad header (corrupt)", LOG_NAME);
			goto out;
		}
		ret = 0;
		goto out;
	}
	while (pos < len) {
		size_t left = len - pos, bsize;
		uint32_t n;

		if (left < BATCH_HDR_SIZE || memcmp(buf + pos, BATCH_MAGIC, 4)) {
			if (left < BATCH_HDR_SIZE || all_zero(buf + pos, left))
				break; /* torn: never synced */
			snprintf(why, whylen, "%s: bad batch at byte %zu (corrupt)",
				 LOG_NAME, pos);
			goto out;
		}
		n = get32(buf + pos + 4);
		bsize = BATCH_HDR_SIZE + (size_t)n * REC_SIZE + SUM_SIZE;
		if (!n || get32(buf + pos + 8) != ~n || get32(buf + pos + 12)) {
			snprintf(why, whylen, "%s: bad batch at byte %zu (corrupt)",
				 LOG_NAME, pos);
			goto out;
		}
		if (bsize > left)
			break; /* the last append did not finish */
		if (sha256_2(s->base_sum, SUM_SIZE, buf + pos, bsize - SUM_SIZE,
			     sum)) {
			snprintf(why, whylen, "SHA-256 failed in libcrypto");
			ret = -EIO;
			goto out;
		}
		if (memcmp(sum, buf + pos + bsize - SUM_SIZE, SUM_SIZE)) {
			/* torn: its checksum, and all after it, never
			 * written (what a crash leaves reads as zeros) */
			if (all_zero(buf + pos + bsize - SUM_SIZE,
				     left - bsize + SUM_SIZE))
				break;
			snprintf(why, whylen, "%s: checksum mismatch in the batch at byte %zu (corrupt)",
				 LOG_NAME, pos);
			goto out;
		}
		for (uint32_t k = 0; k < n; k++) {
			struct rec r;

			if (rec_decode(buf + pos + BATCH_HDR_SIZE + k * REC_SIZE,
				       &r)) {
				snprintf(why, whylen, "%s: record %u of the batch at byte %zu has bad dir, flags or padding",
					 LOG_NAME, k, pos);
				goto out;
			}
			if (rec_apply(s, &r)) {
				snprintf(why, whylen, "out of memory");
				ret = -ENOMEM;
				goto out;
			}
		}
		pos += bsize;
	}
	fd = openat(s->dirfd, LOG_NAME,
		    O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || (pos < len && (ftruncate(fd, pos) || fsync(fd)))) {
		ret = -errno;
		snprintf(why, whylen, "%s: cutting its torn end: %s", LOG_NAME,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	s->logfd = fd;
	s->log_len = pos;
	ret = 0;
out:
	free(buf);
	return ret;
}

static int load(struct seqstore *s, char *err, size_t errlen)
{
	char why[192] = "";
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	ret = slurp(s, FILE_NAME, &buf, &len, why, sizeof(why));
	if (ret == -ENOENT) {
		s->fresh = true;
		ret = 0;
	} else if (!ret) {
		ret = parse(s, buf, len, why, sizeof(why));
	}
	if (!ret)
		ret = log_load(s, why, sizeof(why));
	if (ret)
		set_err(err, errlen,
			"seqstore: %s/%s: %s; refusing to start: restore the file, or move it aside only if every static key has changed",
			s->dir, FILE_NAME, why);
	free(buf);
	return ret;
}

/* fsync the directory that holds path (its dirname). */
static int fsync_parent(const char *path)
{
	char *copy = strdup(path), *slash;
	int fd, ret = 0;

	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	if (!slash)
		strcpy(copy, ".");
	else if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

/*
 * mkdir -p with mode 0700. Each directory made is fsynced into its parent:
 * a store file in a directory whose own entry a crash loses is lost too.
 */
static int mkdir_p(const char *dir, char *err, size_t errlen)
{
	char *path = strdup(dir);
	int ret = 0;

	if (!path)
		return -ENOMEM;
	for (char *p = path + 1; ; p++) {
		bool last = !*p;

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (!mkdir(path, 0700)) {
			ret = fsync_parent(path);
			if (ret) {
				set_err(err, errlen, "seqstore: fsync of the parent of %s: %s",
					path, strerror(-ret));
				break;
			}
		} else if (errno != EEXIST) {
			ret = -errno;
			set_err(err, errlen, "seqstore: mkdir %s: %s", path,
				strerror(-ret));
			break;
		}
		if (last)
			break;
		*p = '/';
	}
	free(path);
	return ret;
}

int seqstore_open(struct seqstore **out, const char *dir, char *err,
		  size_t errlen)
{
	struct seqstore *s;
	int ret;

	*out = NULL;
	if (!dir || !*dir) {
		set_err(err, errlen, "seqstore: no directory given");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		set_err(err, errlen, "seqstore: out of memory");
		return -ENOMEM;
	}
	s->dirfd = -1;
	s->logfd = -1;
	s->keep_retired = SEQSTORE_KEEP_RETIRED;
	ret = mkdir_p(dir, err, errlen);
	if (ret)
		goto fail;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		ret = -errno;
		set_err(err, errlen, "seqstore: open %s: %s", dir, strerror(-ret));
		goto fail;
	}
	if (flock(s->dirfd, LOCK_EX | LOCK_NB)) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		set_err(err, errlen, "seqstore: %s is in use by another espressod (flock: %s); stop it or give this one its own directory",
			dir, strerror(errno));
		goto fail;
	}
	/* temp files left by a crash in sync: "seq" and "seq.log" are still
	 * the last good ones */
	if ((unlinkat(s->dirfd, TMP_NAME, 0) && errno != ENOENT) ||
	    (unlinkat(s->dirfd, LOG_TMP_NAME, 0) && errno != ENOENT)) {
		ret = -errno;
		set_err(err, errlen, "seqstore: remove stale temp files in %s: %s",
			dir, strerror(-ret));
		goto fail;
	}
	ret = table_build(s, 0);
	if (ret) {
		set_err(err, errlen, "seqstore: out of memory");
		goto fail;
	}
	ret = load(s, err, errlen);
	if (ret)
		goto fail;
	*out = s;
	return 0;
fail:
	seqstore_close(s);
	return ret;
}

void seqstore_close(struct seqstore *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->logfd >= 0)
		close(s->logfd);
	free(s->chg);
	free(s->recs);
	free(s->slots);
	free(s->kslots);
	free(s->dir);
	free(s);
}

bool seqstore_fresh(const struct seqstore *s)
{
	return s->fresh;
}

/* r changed: the next sync writes it. */
static void touch(struct seqstore *s, struct rec *r)
{
	s->dirty = true;
	if (r->chg)
		return;
	r->chg = true;
	if (s->chg_all)
		return;
	if (s->nchg == s->chgcap) {
		size_t cap = s->chgcap ? 2 * s->chgcap : 64;
		uint32_t *c = reallocarray(s->chg, cap, sizeof(*c));

		if (!c) {
			s->chg_all = true; /* the next sync writes them all */
			return;
		}
		s->chg = c;
		s->chgcap = cap;
	}
	s->chg[s->nchg++] = (uint32_t)(r - s->recs);
}

/* After a sync: nothing changed since. */
static void chg_clear(struct seqstore *s)
{
	if (s->chg_all)
		for (size_t k = 0; k < s->n; k++)
			s->recs[k].chg = false;
	else
		for (size_t k = 0; k < s->nchg; k++)
			s->recs[s->chg[k]].chg = false;
	s->nchg = 0;
	s->chg_all = false;
	s->dirty = false;
}

int seqstore_get(const struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		 const uint8_t fp[SEQSTORE_FP_LEN], uint64_t *value)
{
	const struct rec *r = lookup(s, spi, dir, fp);

	if (!r)
		return -ENOENT;
	*value = r->value;
	return 0;
}

int seqstore_get_key(const struct seqstore *s, enum seqstore_dir dir,
		     const uint8_t fp[SEQSTORE_FP_LEN], uint64_t *value)
{
	size_t mask = s->nslots - 1, i = kslot_start(s, dir, fp);
	bool found = false;

	*value = 0;
	for (; s->kslots[i]; i = (i + 1) & mask) {
		const struct rec *r = &s->recs[s->kslots[i] - 1];

		if (r->dir != dir || memcmp(r->fp, fp, SEQSTORE_FP_LEN))
			continue;
		if (r->value > *value)
			*value = r->value;
		found = true;
	}
	return found ? 0 : -ENOENT;
}

int seqstore_set(struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		 const uint8_t fp[SEQSTORE_FP_LEN], uint64_t value)
{
	struct rec *r, n = { .spi = spi, .dir = dir, .value = value };

	if (dir != SEQSTORE_IN && dir != SEQSTORE_OUT)
		return -EINVAL;
	r = lookup(s, spi, dir, fp);
	if (r) {
		if (r->value < value) {
			r->value = value;
			touch(s, r);
		}
		if (r->flags & FLAG_RETIRED) {
			r->flags &= ~FLAG_RETIRED;
			r->retired_time = 0;
			touch(s, r);
		}
		return 0;
	}
	memcpy(n.fp, fp, SEQSTORE_FP_LEN);
	r = rec_insert(s, &n);
	if (!r)
		return -ENOMEM;
	touch(s, r);
	return 0;
}

int seqstore_put(struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		 const uint8_t fp[SEQSTORE_FP_LEN], uint64_t value)
{
	struct rec *r;

	if (dir != SEQSTORE_IN && dir != SEQSTORE_OUT)
		return -EINVAL;
	r = lookup(s, spi, dir, fp);
	if (r && r->value > value) {
		r->value = value;
		touch(s, r);
	}
	return seqstore_set(s, spi, dir, fp, value);
}

void seqstore_retire(struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		     const uint8_t fp[SEQSTORE_FP_LEN])
{
	struct rec *r = lookup(s, spi, dir, fp);
	struct timespec ts;
	uint64_t now;

	if (!r || r->flags & FLAG_RETIRED)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	/* strictly increasing, even when the clock steps back */
	if (now <= s->last_retired)
		now = s->last_retired + 1;
	s->last_retired = now;
	r->flags |= FLAG_RETIRED;
	r->retired_time = now;
	touch(s, r);
}

bool seqstore_dirty(const struct seqstore *s)
{
	return s->dirty;
}

size_t seqstore_count(const struct seqstore *s)
{
	return s->n;
}

void seqstore_set_keep_retired(struct seqstore *s, size_t n)
{
	s->keep_retired = n;
}

static int cmp_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Which retired records sync drops: with more than keep_retired retired,
 * *prune is set and those retired before *cutoff go (all of them when
 * keep_retired is 0). Retire times are unique, so keep_retired stay.
 */
static int prune_cutoff(const struct seqstore *s, bool *prune,
			uint64_t *cutoff)
{
	size_t nret = 0;
	uint64_t *t;

	*prune = false;
	*cutoff = 0;
	for (size_t k = 0; k < s->n; k++)
		nret += !!(s->recs[k].flags & FLAG_RETIRED);
	if (nret <= s->keep_retired)
		return 0;
	*prune = true;
	if (!s->keep_retired)
		return 0;
	t = malloc(nret * sizeof(*t));
	if (!t)
		return -ENOMEM;
	nret = 0;
	for (size_t k = 0; k < s->n; k++)
		if (s->recs[k].flags & FLAG_RETIRED)
			t[nret++] = s->recs[k].retired_time;
	qsort(t, nret, sizeof(*t), cmp_u64_desc);
	*cutoff = t[s->keep_retired - 1];
	free(t);
	return 0;
}

static bool pruned(const struct seqstore *s, const struct rec *r, bool prune,
		   uint64_t cutoff)
{
	return prune && r->flags & FLAG_RETIRED &&
	       (!s->keep_retired || r->retired_time < cutoff);
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		buf += r;
		len -= r;
	}
	return 0;
}

/* Write buf as the store file: temp, fsync, rename, fsync the directory. */
static int replace_file(struct seqstore *s, const uint8_t *buf, size_t len,
			char *err, size_t errlen)
{
	const char *what = "write";
	int fd, ret;

	fd = openat(s->dirfd, TMP_NAME,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		set_err(err, errlen, "seqstore: create %s/%s: %s", s->dir,
			TMP_NAME, strerror(-ret));
		return ret;
	}
	ret = write_all(fd, buf, len);
	if (!ret && fsync(fd)) {
		what = "fsync";
		ret = -errno;
	}
	if (close(fd) && !ret) {
		what = "close";
		ret = -errno;
	}
	if (ret) {
		set_err(err, errlen, "seqstore: %s %s/%s: %s", what, s->dir,
			TMP_NAME, strerror(-ret));
		goto fail_unlink;
	}
	if (renameat(s->dirfd, TMP_NAME, s->dirfd, FILE_NAME)) {
		ret = -errno;
		set_err(err, errlen, "seqstore: rename %s/%s to %s: %s", s->dir,
			TMP_NAME, FILE_NAME, strerror(-ret));
		goto fail_unlink;
	}
	if (fsync(s->dirfd)) {
		ret = -errno;
		set_err(err, errlen, "seqstore: fsync directory %s: %s", s->dir,
			strerror(-ret));
		return ret;
	}
	return 0;
fail_unlink:
	unlinkat(s->dirfd, TMP_NAME, 0);
	return ret;
}

/* A new empty journal for the "seq" just written, open to append. On
 * failure none (logfd -1): "seq" holds everything, the next sync compacts
 * again, and the old journal, another "seq"'s, is ignored at load. */
static void log_reset(struct seqstore *s)
{
	uint8_t hdr[LOG_HDR_SIZE] = { 0 };
	int fd;

	if (s->logfd >= 0)
		close(s->logfd);
	s->logfd = -1;
	memcpy(hdr, LOG_MAGIC, 8);
	put32(hdr + 8, LOG_VERSION);
	put32(hdr + 12, REC_SIZE);
	memcpy(hdr + 16, s->base_sum, SUM_SIZE);
	fd = openat(s->dirfd, LOG_TMP_NAME,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	if (write_all(fd, hdr, sizeof(hdr)) || fsync(fd) ||
	    renameat(s->dirfd, LOG_TMP_NAME, s->dirfd, LOG_NAME) ||
	    fsync(s->dirfd)) {
		close(fd);
		unlinkat(s->dirfd, LOG_TMP_NAME, 0);
		return;
	}
	close(fd);
	fd = openat(s->dirfd, LOG_NAME,
		    O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	s->logfd = fd;
	s->log_len = LOG_HDR_SIZE;
}

/* The changed records appended to the journal as one batch of blen
 * bytes, on disk when it returns 0. */
static int log_append(struct seqstore *s, size_t blen, char *err,
		      size_t errlen)
{
	uint8_t *buf = malloc(blen);
	int ret;

	if (!buf) {
		set_err(err, errlen, "seqstore: out of memory for %zu bytes", blen);
		return -ENOMEM;
	}
	memcpy(buf, BATCH_MAGIC, 4);
	put32(buf + 4, (uint32_t)s->nchg);
	put32(buf + 8, ~(uint32_t)s->nchg);
	put32(buf + 12, 0);
	for (size_t k = 0; k < s->nchg; k++)
		rec_encode(buf + BATCH_HDR_SIZE + k * REC_SIZE,
			   &s->recs[s->chg[k]]);
	ret = sha256_2(s->base_sum, SUM_SIZE, buf, blen - SUM_SIZE,
		       buf + blen - SUM_SIZE);
	if (ret) {
		set_err(err, errlen, "seqstore: SHA-256 failed in libcrypto");
		goto out;
	}
	ret = write_all(s->logfd, buf, blen);
	if (!ret && fdatasync(s->logfd))
		ret = -errno;
	if (ret) {
		set_err(err, errlen, "seqstore: append to %s/%s: %s", s->dir,
			LOG_NAME, strerror(-ret));
		/* what part of it was written goes; if that fails, the
		 * next sync compacts (a new journal) */
		if (ftruncate(s->logfd, s->log_len)) {
			close(s->logfd);
			s->logfd = -1;
		}
		goto out;
	}
	s->log_len += blen;
	chg_clear(s);
out:
	free(buf);
	return ret;
}

/* "seq" rewritten with every record (those pruned left out), then a new
 * journal for it. */
static int compact(struct seqstore *s, bool prune, uint64_t cutoff,
		   char *err, size_t errlen)
{
	uint64_t n = 0;
	uint8_t *buf, *p;
	size_t len, k, j;
	int ret;

	len = HDR_SIZE + s->n * REC_SIZE + SUM_SIZE;
	buf = calloc(1, len);
	if (!buf) {
		set_err(err, errlen, "seqstore: out of memory for %zu bytes", len);
		return -ENOMEM;
	}
	p = buf + HDR_SIZE;
	for (k = 0; k < s->n; k++) {
		const struct rec *r = &s->recs[k];

		if (pruned(s, r, prune, cutoff))
			continue;
		rec_encode(p, r);
		p += REC_SIZE;
		n++;
	}
	memcpy(buf, MAGIC, 8);
	put32(buf + 8, VERSION);
	put32(buf + 12, REC_SIZE);
	put64(buf + 16, n);
	put64(buf + 24, s->gen + 1);
	len = p - buf + SUM_SIZE;
	ret = sha256(buf, p - buf, p);
	if (ret)
		set_err(err, errlen, "seqstore: SHA-256 failed in libcrypto");
	else
		ret = replace_file(s, buf, len, err, errlen);
	if (!ret) {
		memcpy(s->base_sum, p, SUM_SIZE);
		s->base_len = len;
		s->gen++;
	}
	free(buf);
	if (ret) {
		/* "seq" may be the new one (renamed, its directory not
		 * synced): the journal may no longer follow the "seq" on
		 * disk, so none is appended to until a compaction succeeds */
		if (s->logfd >= 0)
			close(s->logfd);
		s->logfd = -1;
		return ret;
	}
	log_reset(s);
	chg_clear(s);

	if (n != s->n) {
		for (k = j = 0; k < s->n; k++)
			if (!pruned(s, &s->recs[k], prune, cutoff))
				s->recs[j++] = s->recs[k];
		s->n = j;
		index_all(s); /* never fails: the tables keep their size */
	}
	return 0;
}

int seqstore_sync(struct seqstore *s, char *err, size_t errlen)
{
	uint64_t cutoff, lmax;
	size_t blen;
	bool prune;
	int ret;

	ret = prune_cutoff(s, &prune, &cutoff);
	if (ret) {
		set_err(err, errlen, "seqstore: out of memory");
		return ret;
	}
	if (!prune && s->logfd >= 0 && !s->chg_all) {
		if (!s->nchg) {
			s->dirty = false; /* on disk as it is */
			return 0;
		}
		lmax = 2 * s->base_len > LOG_MIN ? 2 * s->base_len : LOG_MIN;
		blen = BATCH_HDR_SIZE + s->nchg * REC_SIZE + SUM_SIZE;
		if (s->log_len + blen <= lmax)
			return log_append(s, blen, err, errlen);
	}
	return compact(s, prune, cutoff, err, errlen);
}
