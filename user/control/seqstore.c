// SPDX-License-Identifier: GPL-2.0
/*
 * seqstore: the persistent sequence-number store (see seqstore.h).
 *
 * The file "seq" in the store directory, all integers little-endian:
 *
 *   header, 24 bytes
 *     0   8  magic "ESPSEQ1\n"
 *     8   4  version, 1
 *    12   4  record size, 40
 *    16   8  record count n
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
 * In memory: an array of records and an open-addressing (linear probing)
 * table of indices into it, at most half full. Records go away only when
 * sync prunes retired ones; the table is rebuilt then.
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
#define VERSION 1
#define HDR_SIZE 24
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
};

struct seqstore {
	char *dir;
	int dirfd;         /* holds the flock */
	struct rec *recs;
	size_t n, cap;
	uint32_t *slots;   /* index + 1 into recs, 0 empty */
	size_t nslots;     /* a power of two, >= 2 n */
	size_t keep_retired;
	uint64_t last_retired;
	bool dirty;
	bool fresh;
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

/* Size the table for want records and index recs[0..n) into it. */
static int table_build(struct seqstore *s, size_t want)
{
	size_t nslots = 64;
	uint32_t *slots;

	if (want > UINT32_MAX - 1)
		return -ENOMEM;
	while (nslots < 2 * want)
		nslots *= 2;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	for (size_t k = 0; k < s->n; k++) {
		const struct rec *r = &s->recs[k];

		s->slots[slot_find(s, r->spi, r->dir, r->fp)] = k + 1;
	}
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

/* --- the file ------------------------------------------------------- */

static int sha256(const uint8_t *buf, size_t len, uint8_t sum[SUM_SIZE])
{
	return EVP_Digest(buf, len, sum, NULL, EVP_sha256(), NULL) ? 0 : -EIO;
}

/* Check and take in the file image buf[0..len). */
static int parse(struct seqstore *s, const uint8_t *buf, size_t len,
		 char *err, size_t errlen)
{
	uint8_t sum[SUM_SIZE];
	uint64_t n;
	int ret;

	if (len < HDR_SIZE + SUM_SIZE) {
		set_err(err, errlen, "%zu bytes, shorter than header and checksum (truncated)",
			len);
		return -EINVAL;
	}
	if (memcmp(buf, MAGIC, 8)) {
		set_err(err, errlen, "bad magic, not a seqstore file");
		return -EINVAL;
	}
	if (get32(buf + 8) != VERSION || get32(buf + 12) != REC_SIZE) {
		set_err(err, errlen, "version %u record size %u, expected %u and %u",
			get32(buf + 8), get32(buf + 12), VERSION, REC_SIZE);
		return -EINVAL;
	}
	n = get64(buf + 16);
	if (n > (len - HDR_SIZE - SUM_SIZE) / REC_SIZE) {
		set_err(err, errlen, "header says %llu records, more than %zu bytes hold (truncated)",
			(unsigned long long)n, len);
		return -EINVAL;
	}
	if (HDR_SIZE + n * REC_SIZE + SUM_SIZE != len) {
		set_err(err, errlen, "%zu bytes, expected %llu for %llu records (truncated or corrupt)",
			len, (unsigned long long)(HDR_SIZE + n * REC_SIZE + SUM_SIZE),
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
		const uint8_t *p = buf + HDR_SIZE + k * REC_SIZE;
		struct rec r = {
			.spi = get32(p),
			.dir = p[4],
			.flags = p[5],
			.retired_time = get64(p + 8),
			.value = get64(p + 32),
		};
		size_t i;

		memcpy(r.fp, p + 16, SEQSTORE_FP_LEN);
		if (r.dir > SEQSTORE_OUT || r.flags & ~FLAG_RETIRED || p[6] ||
		    p[7] || (!(r.flags & FLAG_RETIRED) && r.retired_time)) {
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
		s->slots[i] = ++s->n;
		if (r.retired_time > s->last_retired)
			s->last_retired = r.retired_time;
	}
	return 0;
}

static int load(struct seqstore *s, char *err, size_t errlen)
{
	char why[160] = "";
	uint8_t *buf = NULL;
	struct stat st;
	size_t len, got = 0;
	int fd, ret;

	fd = openat(s->dirfd, FILE_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			s->fresh = true;
			return 0;
		}
		ret = -errno;
		set_err(err, errlen, "seqstore: %s/%s: open: %s", s->dir,
			FILE_NAME, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		snprintf(why, sizeof(why), "fstat: %s", strerror(-ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX / 2) {
		ret = -EINVAL;
		snprintf(why, sizeof(why), "not a regular file of a sane size");
		goto out;
	}
	len = st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(why, sizeof(why), "out of memory for %zu bytes", len);
		goto out;
	}
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r ? -errno : -EIO;
			snprintf(why, sizeof(why), "read: %s",
				 r ? strerror(errno) : "file shrank while read");
			goto out;
		}
		got += r;
	}
	ret = parse(s, buf, len, why, sizeof(why));
out:
	if (ret)
		set_err(err, errlen,
			"seqstore: %s/%s: %s; refusing to start: restore the file, or move it aside only if every static key has changed",
			s->dir, FILE_NAME, why);
	free(buf);
	close(fd);
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
	/* a temp file left by a crash in sync: "seq" is still the last good one */
	if (unlinkat(s->dirfd, TMP_NAME, 0) && errno != ENOENT) {
		ret = -errno;
		set_err(err, errlen, "seqstore: remove stale %s/%s: %s", dir,
			TMP_NAME, strerror(-ret));
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
	free(s->recs);
	free(s->slots);
	free(s->dir);
	free(s);
}

bool seqstore_fresh(const struct seqstore *s)
{
	return s->fresh;
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

int seqstore_set(struct seqstore *s, uint32_t spi, enum seqstore_dir dir,
		 const uint8_t fp[SEQSTORE_FP_LEN], uint64_t value)
{
	struct rec *r;
	size_t i;
	int ret;

	if (dir != SEQSTORE_IN && dir != SEQSTORE_OUT)
		return -EINVAL;
	r = lookup(s, spi, dir, fp);
	if (r) {
		if (r->value < value) {
			r->value = value;
			s->dirty = true;
		}
		if (r->flags & FLAG_RETIRED) {
			r->flags &= ~FLAG_RETIRED;
			r->retired_time = 0;
			s->dirty = true;
		}
		return 0;
	}
	ret = reserve(s, s->n + 1);
	if (ret)
		return ret;
	i = slot_find(s, spi, dir, fp);
	r = &s->recs[s->n];
	*r = (struct rec){ .spi = spi, .dir = dir, .value = value };
	memcpy(r->fp, fp, SEQSTORE_FP_LEN);
	s->slots[i] = ++s->n;
	s->dirty = true;
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
		s->dirty = true;
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
	s->dirty = true;
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

int seqstore_sync(struct seqstore *s, char *err, size_t errlen)
{
	uint64_t cutoff, n = 0;
	uint8_t *buf, *p;
	size_t len, k, j;
	bool prune;
	int ret;

	ret = prune_cutoff(s, &prune, &cutoff);
	if (ret) {
		set_err(err, errlen, "seqstore: out of memory");
		return ret;
	}
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
		put32(p, r->spi);
		p[4] = r->dir;
		p[5] = r->flags;
		put64(p + 8, r->retired_time);
		memcpy(p + 16, r->fp, SEQSTORE_FP_LEN);
		put64(p + 32, r->value);
		p += REC_SIZE;
		n++;
	}
	memcpy(buf, MAGIC, 8);
	put32(buf + 8, VERSION);
	put32(buf + 12, REC_SIZE);
	put64(buf + 16, n);
	len = p - buf + SUM_SIZE;
	ret = sha256(buf, p - buf, p);
	if (ret)
		set_err(err, errlen, "seqstore: SHA-256 failed in libcrypto");
	else
		ret = replace_file(s, buf, len, err, errlen);
	free(buf);
	if (ret)
		return ret;

	if (n != s->n) {
		for (k = j = 0; k < s->n; k++)
			if (!pruned(s, &s->recs[k], prune, cutoff))
				s->recs[j++] = s->recs[k];
		s->n = j;
		/* never fails: the table shrinks or keeps its size */
		memset(s->slots, 0, s->nslots * sizeof(*s->slots));
		for (k = 0; k < s->n; k++) {
			const struct rec *r = &s->recs[k];

			s->slots[slot_find(s, r->spi, r->dir, r->fp)] = k + 1;
		}
	}
	s->dirty = false;
	return 0;
}
