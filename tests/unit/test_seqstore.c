// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of user/control/seqstore.c, the persistent sequence-number
 * store. Each test works in its own mkdtemp directory under /tmp (the store
 * lives in DIR/gw, so the tests also see it created) and removes it after.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control/seqstore.h"

static char tmpdir[64];
static char dir[128];   /* the store: tmpdir/gw */
static char file[160];  /* dir/seq */
static char err[512];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/test_seqstore.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(dir, sizeof(dir), "%s/gw", tmpdir);
	snprintf(file, sizeof(file), "%s/seq", dir);
	err[0] = '\0';
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(seqstore, .init = setup, .fini = teardown);

static struct seqstore *open_ok(void)
{
	struct seqstore *s;
	int ret = seqstore_open(&s, dir, err, sizeof(err));

	cr_assert_eq(ret, 0, "open: %d %s", ret, err);
	return s;
}

static void sync_ok(struct seqstore *s)
{
	int ret = seqstore_sync(s, err, sizeof(err));

	cr_assert_eq(ret, 0, "sync: %d %s", ret, err);
	cr_assert_not(seqstore_dirty(s));
}

static void fp_of(uint32_t i, uint8_t fp[SEQSTORE_FP_LEN])
{
	uint8_t key[32] = { 0 };

	memcpy(key, &i, sizeof(i));
	cr_assert_eq(seqstore_fingerprint(key, sizeof(key), fp), 0);
}

static uint64_t get_ok(struct seqstore *s, uint32_t spi, enum seqstore_dir d,
		       const uint8_t *fp)
{
	uint64_t v = 0;
	int ret = seqstore_get(s, spi, d, fp, &v);

	cr_assert_eq(ret, 0, "get spi %u dir %d: %d", spi, d, ret);
	return v;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static off_t file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	return st.st_size;
}

/* a bit of the file at path */
static void flip_at(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, off), 1);
	b ^= 0x01;
	cr_assert_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* cp from to */
static void copy_file(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp %s %s", from, to);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(seqstore, fingerprint_stable_and_distinct)
{
	static const uint8_t k1[16] = { 1, 2, 3 }, k2[16] = { 1, 2, 4 };
	uint8_t a[SEQSTORE_FP_LEN], b[SEQSTORE_FP_LEN], c[SEQSTORE_FP_LEN];
	uint8_t d[SEQSTORE_FP_LEN];

	cr_assert_eq(seqstore_fingerprint(k1, sizeof(k1), a), 0);
	cr_assert_eq(seqstore_fingerprint(k1, sizeof(k1), b), 0);
	cr_assert_eq(seqstore_fingerprint(k2, sizeof(k2), c), 0);
	cr_assert_eq(seqstore_fingerprint(k1, 15, d), 0);
	cr_assert_arr_eq(a, b, SEQSTORE_FP_LEN);
	cr_assert_arr_neq(a, c, SEQSTORE_FP_LEN);
	cr_assert_arr_neq(a, d, SEQSTORE_FP_LEN);
}

/*
 * The value itself, so that a change of label or construction is caught:
 * HMAC-SHA256(key = "espresso seqstore v1", msg = 00 01 .. 0f), first 16
 * bytes, computed with
 *   printf "$(printf '\\x%02x' $(seq 0 15))" |
 *     openssl dgst -sha256 -mac HMAC -macopt key:"espresso seqstore v1"
 * and checked with Python's hmac module.
 */
Test(seqstore, fingerprint_known_value)
{
	static const uint8_t want[SEQSTORE_FP_LEN] = {
		0xf5, 0xe6, 0x3e, 0x9c, 0x93, 0x91, 0x13, 0x43,
		0x60, 0x02, 0xb2, 0x90, 0x49, 0xe7, 0x23, 0xaa,
	};
	uint8_t key[16], fp[SEQSTORE_FP_LEN];

	for (int i = 0; i < 16; i++)
		key[i] = i;
	cr_assert_eq(seqstore_fingerprint(key, sizeof(key), fp), 0);
	cr_assert_arr_eq(fp, want, SEQSTORE_FP_LEN);
}

Test(seqstore, dir_created_0700_file_0600)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];
	struct stat st;

	cr_assert_eq(stat(dir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0700, "dir mode %o", st.st_mode & 07777);
	cr_assert(seqstore_fresh(s));
	cr_assert_eq(seqstore_count(s), 0);

	fp_of(1, fp);
	cr_assert_eq(seqstore_set(s, 1, SEQSTORE_OUT, fp, 1), 0);
	sync_ok(s);
	cr_assert_eq(stat(file, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "file mode %o", st.st_mode & 07777);
	seqstore_close(s);

	s = open_ok();
	cr_assert_not(seqstore_fresh(s));
	seqstore_close(s);
}

Test(seqstore, nested_dirs_created)
{
	struct seqstore *s;
	char deep[192];
	struct stat st;

	snprintf(deep, sizeof(deep), "%s/a/b/c/", tmpdir);
	cr_assert_eq(seqstore_open(&s, deep, err, sizeof(err)), 0, "%s", err);
	sync_ok(s);
	seqstore_close(s);
	snprintf(deep, sizeof(deep), "%s/a/b/c/seq", tmpdir);
	cr_assert_eq(stat(deep, &st), 0);
}

Test(seqstore, dir_is_a_file)
{
	struct seqstore *s = (void *)1;
	int fd = open(dir, O_CREAT | O_WRONLY, 0600);

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(seqstore_open(&s, dir, err, sizeof(err)), -ENOTDIR);
	cr_assert_null(s);
	cr_assert(strstr(err, dir), "%s", err);
}

Test(seqstore, round_trip)
{
	struct seqstore *s = open_ok();
	uint8_t fa[SEQSTORE_FP_LEN], fb[SEQSTORE_FP_LEN];
	uint64_t v;

	fp_of(1, fa);
	fp_of(2, fb);
	cr_assert_not(seqstore_dirty(s));
	cr_assert_eq(seqstore_set(s, 0x1000, SEQSTORE_OUT, fa, 1ull << 20), 0);
	cr_assert(seqstore_dirty(s));
	cr_assert_eq(seqstore_set(s, 0x1000, SEQSTORE_IN, fa, 77), 0);
	/* same spi and dir, another key: another record */
	cr_assert_eq(seqstore_set(s, 0x1000, SEQSTORE_OUT, fb, 5), 0);
	cr_assert_eq(seqstore_set(s, 0xffffffff, SEQSTORE_OUT, fa, UINT64_MAX), 0);
	cr_assert_eq(seqstore_count(s), 4);
	sync_ok(s);
	seqstore_close(s);

	s = open_ok();
	cr_assert_eq(seqstore_count(s), 4);
	cr_assert_eq(get_ok(s, 0x1000, SEQSTORE_OUT, fa), 1ull << 20);
	cr_assert_eq(get_ok(s, 0x1000, SEQSTORE_IN, fa), 77);
	cr_assert_eq(get_ok(s, 0x1000, SEQSTORE_OUT, fb), 5);
	cr_assert_eq(get_ok(s, 0xffffffff, SEQSTORE_OUT, fa), UINT64_MAX);
	cr_assert_eq(seqstore_get(s, 0x1000, SEQSTORE_IN, fb, &v), -ENOENT);
	cr_assert_eq(seqstore_get(s, 0x1001, SEQSTORE_OUT, fa, &v), -ENOENT);
	cr_assert_not(seqstore_dirty(s));
	seqstore_close(s);
}

Test(seqstore, close_without_sync_writes_nothing)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];
	uint64_t v;

	fp_of(1, fp);
	cr_assert_eq(seqstore_set(s, 1, SEQSTORE_OUT, fp, 100), 0);
	sync_ok(s);
	cr_assert_eq(seqstore_set(s, 1, SEQSTORE_OUT, fp, 200), 0);
	cr_assert_eq(seqstore_set(s, 2, SEQSTORE_OUT, fp, 1), 0);
	seqstore_close(s);

	s = open_ok();
	cr_assert_eq(get_ok(s, 1, SEQSTORE_OUT, fp), 100);
	cr_assert_eq(seqstore_get(s, 2, SEQSTORE_OUT, fp, &v), -ENOENT);
	seqstore_close(s);
}

Test(seqstore, value_never_decreases)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];

	fp_of(1, fp);
	cr_assert_eq(seqstore_set(s, 7, SEQSTORE_OUT, fp, 1000), 0);
	sync_ok(s);
	cr_assert_eq(seqstore_set(s, 7, SEQSTORE_OUT, fp, 10), 0);
	cr_assert_eq(get_ok(s, 7, SEQSTORE_OUT, fp), 1000);
	cr_assert_not(seqstore_dirty(s), "a lower value changes nothing");
	cr_assert_eq(seqstore_set(s, 7, SEQSTORE_OUT, fp, 1000), 0);
	cr_assert_not(seqstore_dirty(s));
	cr_assert_eq(seqstore_set(s, 7, SEQSTORE_OUT, fp, 1001), 0);
	cr_assert(seqstore_dirty(s));
	cr_assert_eq(get_ok(s, 7, SEQSTORE_OUT, fp), 1001);
	sync_ok(s);
	seqstore_close(s);

	s = open_ok();
	cr_assert_eq(seqstore_set(s, 7, SEQSTORE_OUT, fp, 0), 0);
	cr_assert_eq(get_ok(s, 7, SEQSTORE_OUT, fp), 1001);
	seqstore_close(s);
}

/* seqstore_put sets exactly, lower too (a clean stop's exact inbound
 * top replacing the limit persisted ahead of it), and survives a reload. */
Test(seqstore, put_lowers_and_round_trips)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];

	fp_of(2, fp);
	cr_assert_eq(seqstore_set(s, 9, SEQSTORE_IN, fp, 5000), 0);
	sync_ok(s);
	cr_assert_eq(seqstore_put(s, 9, SEQSTORE_IN, fp, 5000), 0);
	cr_assert_not(seqstore_dirty(s), "the same value changes nothing");
	cr_assert_eq(seqstore_put(s, 9, SEQSTORE_IN, fp, 4321), 0);
	cr_assert(seqstore_dirty(s));
	cr_assert_eq(get_ok(s, 9, SEQSTORE_IN, fp), 4321);
	cr_assert_eq(seqstore_put(s, 10, SEQSTORE_IN, fp, 7), 0, "a new record");
	cr_assert_eq(seqstore_put(s, 9, 2, fp, 7), -EINVAL);
	sync_ok(s);
	seqstore_close(s);

	s = open_ok();
	cr_assert_eq(get_ok(s, 9, SEQSTORE_IN, fp), 4321);
	cr_assert_eq(get_ok(s, 10, SEQSTORE_IN, fp), 7);
	seqstore_close(s);
}

Test(seqstore, bad_dir_refused)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN] = { 0 };

	cr_assert_eq(seqstore_set(s, 1, (enum seqstore_dir)2, fp, 1), -EINVAL);
	cr_assert_eq(seqstore_count(s), 0);
	seqstore_close(s);
}

Test(seqstore, many_records)
{
	enum { N = 20000 };
	static uint8_t fps[N][SEQSTORE_FP_LEN];
	struct seqstore *s = open_ok();
	double t0, t_set, t_sync, t_open, t_get;

	for (uint32_t i = 0; i < N; i++)
		fp_of(i, fps[i]);
	t0 = now_ms();
	for (uint32_t i = 0; i < N; i++)
		cr_assert_eq(seqstore_set(s, 0x100 + i / 2, i & 1, fps[i],
					  (uint64_t)i * 3 + 1), 0);
	t_set = now_ms() - t0;
	cr_assert_eq(seqstore_count(s), N);
	t0 = now_ms();
	sync_ok(s);
	t_sync = now_ms() - t0;
	seqstore_close(s);

	t0 = now_ms();
	s = open_ok();
	t_open = now_ms() - t0;
	cr_assert_eq(seqstore_count(s), N);
	t0 = now_ms();
	for (uint32_t i = 0; i < N; i++)
		cr_assert_eq(get_ok(s, 0x100 + i / 2, i & 1, fps[i]),
			     (uint64_t)i * 3 + 1);
	t_get = now_ms() - t0;
	/* not cr_log_warn: in Criterion 2.4 a warning makes the exit status 1 */
	printf("seqstore %d records: set %.2f ms, sync %.2f ms, open (load) %.2f ms, get %.2f ms, file %lld bytes\n",
	       N, t_set, t_sync, t_open, t_get, (long long)file_size(file));
	fflush(stdout);
	cr_expect_lt(t_sync, 100.0, "sync took %.2f ms", t_sync);
	cr_assert_eq(file_size(file), 32 + 40 * N + 32);
	seqstore_close(s);
}

Test(seqstore, failed_sync_stays_dirty)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];
	struct rlimit old, lim;
	char tmp[192], log[192];
	int ret;

	fp_of(1, fp);
	/* the first sync writes "seq": a directory where its temp file
	 * goes makes that fail */
	cr_assert_eq(seqstore_set(s, 1, SEQSTORE_OUT, fp, 100), 0);
	snprintf(tmp, sizeof(tmp), "%s/seq.tmp", dir);
	cr_assert_eq(mkdir(tmp, 0700), 0);
	ret = seqstore_sync(s, err, sizeof(err));
	cr_assert_lt(ret, 0);
	cr_assert(strstr(err, tmp), "message names the temp file: %s", err);
	cr_assert(seqstore_dirty(s));
	cr_assert_eq(rmdir(tmp), 0);
	sync_ok(s);

	/* later syncs append to the journal: a file size limit at its
	 * size makes that fail (EFBIG) */
	cr_assert_eq(seqstore_set(s, 1, SEQSTORE_OUT, fp, 200), 0);
	snprintf(log, sizeof(log), "%s/seq.log", dir);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = file_size(log);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ret = seqstore_sync(s, err, sizeof(err));
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_lt(ret, 0);
	cr_assert(strstr(err, log), "message names the journal: %s", err);
	cr_assert(seqstore_dirty(s));
	seqstore_close(s);

	s = open_ok();
	cr_assert_eq(get_ok(s, 1, SEQSTORE_OUT, fp), 100);
	cr_assert_eq(seqstore_set(s, 1, SEQSTORE_OUT, fp, 200), 0);
	sync_ok(s);
	seqstore_close(s);
	s = open_ok();
	cr_assert_eq(get_ok(s, 1, SEQSTORE_OUT, fp), 200);
	seqstore_close(s);
}

/* ---- the journal ---- */

#define LOG_HDR 48
#define BATCH(n) (16 + 40 * (n) + 32)

static void log_path(char *p, size_t len)
{
	snprintf(p, len, "%s/seq.log", dir);
}

static ino_t ino_of(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	return st.st_ino;
}

/* records 0..n-1 of SPI 1000 + i, outbound, value v + i */
static void set_range(struct seqstore *s, uint32_t from, uint32_t n,
		      uint64_t v)
{
	uint8_t fp[SEQSTORE_FP_LEN];

	for (uint32_t i = from; i < from + n; i++) {
		fp_of(i, fp);
		cr_assert_eq(seqstore_set(s, 1000 + i, SEQSTORE_OUT, fp, v + i), 0);
	}
}

static void expect_range(struct seqstore *s, uint32_t from, uint32_t n,
			 uint64_t v)
{
	uint8_t fp[SEQSTORE_FP_LEN];

	for (uint32_t i = from; i < from + n; i++) {
		fp_of(i, fp);
		cr_assert_eq(get_ok(s, 1000 + i, SEQSTORE_OUT, fp), v + i,
			     "record %u", i);
	}
}

/* s closed, the store opened again: records from .. from + n - 1 at v
 * there; closed. */
static void reopen_expect(struct seqstore *s, uint32_t from, uint32_t n,
			  uint64_t v)
{
	seqstore_close(s);
	s = open_ok();
	expect_range(s, from, n, v);
	seqstore_close(s);
}

Test(seqstore, journal_appends_only_what_changed)
{
	struct seqstore *s = open_ok();
	char log[192];
	ino_t ino;
	off_t base;

	log_path(log, sizeof(log));
	set_range(s, 0, 1000, 100);
	sync_ok(s);
	base = file_size(file);
	ino = ino_of(file);
	cr_assert_eq(base, 32 + 40 * 1000 + 32);
	cr_assert_eq(file_size(log), LOG_HDR);
	/* ten syncs of five changes each: "seq" stays, the journal grows
	 * by one batch of five each */
	for (int r = 1; r <= 10; r++) {
		set_range(s, 5 * r, 5, 100 + 1000 * r);
		sync_ok(s);
		cr_assert_eq(file_size(log), LOG_HDR + r * BATCH(5));
	}
	/* nothing changed: nothing written */
	sync_ok(s);
	cr_assert_eq(file_size(log), LOG_HDR + 10 * BATCH(5));
	cr_assert_eq(ino_of(file), ino, "seq was not rewritten");
	cr_assert_eq(file_size(file), base);
	/* a lowering (a clean stop) and a retire go the same way */
	{
		uint8_t fp[SEQSTORE_FP_LEN];

		fp_of(900, fp);
		cr_assert_eq(seqstore_put(s, 1900, SEQSTORE_OUT, fp, 7), 0);
		fp_of(901, fp);
		seqstore_retire(s, 1901, SEQSTORE_OUT, fp);
		sync_ok(s);
		cr_assert_eq(file_size(log), LOG_HDR + 10 * BATCH(5) + BATCH(2));
	}
	seqstore_close(s);

	s = open_ok();
	expect_range(s, 0, 5, 100);
	for (int r = 1; r <= 10; r++)
		expect_range(s, 5 * r, 5, 100 + 1000 * r);
	expect_range(s, 55, 845, 100);
	{
		uint8_t fp[SEQSTORE_FP_LEN];

		fp_of(900, fp);
		cr_assert_eq(get_ok(s, 1900, SEQSTORE_OUT, fp), 7);
	}
	expect_range(s, 901, 99, 100);
	/* the next append follows the last batch */
	set_range(s, 0, 1, 5000);
	sync_ok(s);
	cr_assert_eq(file_size(log), LOG_HDR + 10 * BATCH(5) + BATCH(2) + BATCH(1));
	reopen_expect(s, 0, 1, 5000);
}

Test(seqstore, journal_compacted_when_long)
{
	struct seqstore *s = open_ok();
	char log[192];
	ino_t ino;
	off_t prev;
	int r, compacted = 0;

	log_path(log, sizeof(log));
	set_range(s, 0, 100, 0);
	sync_ok(s);
	ino = ino_of(file);
	prev = file_size(log);
	/* 100 changes a sync, 4,040 bytes: past 256 KiB within 70 */
	for (r = 1; r <= 70; r++) {
		set_range(s, 0, 100, 1000 * r);
		sync_ok(s);
		if (file_size(log) < prev) {
			compacted = r;
			break;
		}
		prev = file_size(log);
	}
	cr_assert(compacted, "the journal was compacted");
	cr_assert_eq(file_size(log), LOG_HDR);
	cr_assert_neq(ino_of(file), ino, "seq was rewritten");
	cr_assert_leq(prev + BATCH(100), 2 * 256 * 1024);
	cr_assert_gt(prev + BATCH(100), 256 * 1024);
	reopen_expect(s, 0, 100, 1000 * compacted);
}

static void append_bytes(const char *path, const void *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, b, n), (ssize_t)n);
	close(fd);
}

Test(seqstore, journal_torn_end_cut)
{
	struct seqstore *s = open_ok();
	static const uint8_t zeros[200];
	/* magic, count 2 and its complement, then nothing written */
	uint8_t part[BATCH(2)] = { 'B', 'T', 'C', 'H', 2, 0, 0, 0,
				   0xfd, 0xff, 0xff, 0xff };
	char log[192];
	off_t good;

	log_path(log, sizeof(log));
	set_range(s, 0, 3, 10);
	sync_ok(s);
	set_range(s, 0, 1, 20);
	sync_ok(s);
	seqstore_close(s);
	good = file_size(log);
	cr_assert_eq(good, LOG_HDR + BATCH(1));

	/* a batch cut short by a crash */
	append_bytes(log, part, 30);
	s = open_ok();
	expect_range(s, 0, 1, 20);
	expect_range(s, 1, 2, 10);
	cr_assert_eq(file_size(log), good, "the torn batch was cut off");
	seqstore_close(s);

	/* one at full length whose checksum was never written */
	append_bytes(log, part, sizeof(part));
	s = open_ok();
	cr_assert_eq(file_size(log), good);
	/* zeros where the size grew and no data came */
	seqstore_close(s);
	append_bytes(log, zeros, sizeof(zeros));
	s = open_ok();
	cr_assert_eq(file_size(log), good);
	expect_range(s, 0, 1, 20);
	set_range(s, 2, 1, 30);
	sync_ok(s);
	seqstore_close(s);
	s = open_ok();
	expect_range(s, 0, 1, 20);
	expect_range(s, 2, 1, 30);
	seqstore_close(s);
}

Test(seqstore, journal_corrupt_refused)
{
	struct seqstore *s = open_ok();
	struct seqstore *t = (void *)1;
	char log[192];

	log_path(log, sizeof(log));
	set_range(s, 0, 2, 10);
	sync_ok(s);
	set_range(s, 0, 1, 20);
	sync_ok(s);
	set_range(s, 1, 1, 30);
	sync_ok(s);
	seqstore_close(s);

	/* the first batch's value, a batch after it */
	flip_at(log, LOG_HDR + 16 + 32);
	cr_assert_eq(seqstore_open(&t, dir, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "seq.log: checksum mismatch"), "%s", err);
	flip_at(log, LOG_HDR + 16 + 32);
	/* its count (high bit: as if it ran past the end, a torn batch
	 * were it not for the complement) */
	flip_at(log, LOG_HDR + 7);
	cr_assert_eq(seqstore_open(&t, dir, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "bad batch"), "%s", err);
	flip_at(log, LOG_HDR + 7);
	/* the header's checksum of "seq": not taken for another seq's */
	flip_at(log, 20);
	cr_assert_eq(seqstore_open(&t, dir, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "bad header"), "%s", err);
	flip_at(log, 20);
	/* the last batch: written whole, then corrupted, is no torn one */
	flip_at(log, LOG_HDR + 2 * BATCH(1) - 1);
	cr_assert_eq(seqstore_open(&t, dir, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "checksum mismatch"), "%s", err);
	flip_at(log, LOG_HDR + 2 * BATCH(1) - 1);
	/* its header */
	flip_at(log, 0);
	cr_assert_eq(seqstore_open(&t, dir, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "bad header"), "%s", err);
	flip_at(log, 0);
	/* a batch's magic, with a batch after it */
	flip_at(log, LOG_HDR);
	cr_assert_eq(seqstore_open(&t, dir, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "bad batch"), "%s", err);
	flip_at(log, LOG_HDR);

	s = open_ok();
	expect_range(s, 0, 1, 20);
	expect_range(s, 1, 1, 30);
	seqstore_close(s);
}

Test(seqstore, journal_of_an_older_seq_ignored)
{
	struct seqstore *s = open_ok();
	char log[192], old[200];

	log_path(log, sizeof(log));
	snprintf(old, sizeof(old), "%s/old.log", tmpdir);
	set_range(s, 0, 2, 10);
	sync_ok(s);
	set_range(s, 0, 1, 50);
	sync_ok(s);
	copy_file(log, old);
	/* a compaction (a pruned record): a new "seq", then its journal */
	seqstore_set_keep_retired(s, 0);
	{
		uint8_t fp[SEQSTORE_FP_LEN];

		fp_of(1, fp);
		seqstore_retire(s, 1001, SEQSTORE_OUT, fp);
	}
	sync_ok(s);
	cr_assert_eq(file_size(log), LOG_HDR);
	seqstore_close(s);
	/* a crash between the two renames: the old journal is still there,
	 * and must not be applied to the new "seq" */
	copy_file(old, log);
	s = open_ok();
	expect_range(s, 0, 1, 50);
	{
		uint8_t fp[SEQSTORE_FP_LEN];
		uint64_t v;

		fp_of(1, fp);
		cr_assert_eq(seqstore_get(s, 1001, SEQSTORE_OUT, fp, &v), -ENOENT,
			     "the pruned record stays gone");
	}
	/* the next sync starts a journal of its own */
	set_range(s, 0, 1, 70);
	sync_ok(s);
	reopen_expect(s, 0, 1, 70);
}

Test(seqstore, version_1_read)
{
	struct seqstore *s = open_ok();
	uint8_t buf[32 + 40 + 32], v1[24 + 40 + 32];
	char log[192];
	int fd;

	log_path(log, sizeof(log));
	set_range(s, 0, 1, 42);
	sync_ok(s);
	seqstore_close(s);
	/* as an espressod without a journal wrote it: version 1, no
	 * generation */
	fd = open(file, O_RDWR);
	cr_assert_eq(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	cr_assert_eq(buf[8], 2, "written as version 2");
	cr_assert_eq(buf[24], 1, "generation 1");
	memcpy(v1, buf, 24);
	memcpy(v1 + 24, buf + 32, 40);
	v1[8] = 1;
	cr_assert(EVP_Digest(v1, sizeof(v1) - 32, v1 + sizeof(v1) - 32,
			     NULL, EVP_sha256(), NULL));
	cr_assert_eq(ftruncate(fd, 0), 0);
	cr_assert_eq(pwrite(fd, v1, sizeof(v1), 0), (ssize_t)sizeof(v1));
	close(fd);
	cr_assert_eq(unlink(log), 0);
	s = open_ok();
	expect_range(s, 0, 1, 42);
	set_range(s, 0, 1, 43);
	sync_ok(s);
	reopen_expect(s, 0, 1, 43);
	/* written again as version 2 */
	fd = open(file, O_RDONLY);
	cr_assert_eq(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	cr_assert_eq(buf[8], 2);
	cr_assert_eq(buf[24], 1);
}

/* Two "seq" alike but for their generation: a journal of the first is
 * never applied to the second (a lowered limit, raised back, compacted
 * into the same records, then a crash between the two renames). */
Test(seqstore, journal_bound_to_one_generation)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];
	char log[192], old[200];

	log_path(log, sizeof(log));
	snprintf(old, sizeof(old), "%s/old.log", tmpdir);
	fp_of(7, fp);
	cr_assert_eq(seqstore_set(s, 7, SEQSTORE_IN, fp, 200), 0);
	sync_ok(s);
	cr_assert_eq(seqstore_put(s, 7, SEQSTORE_IN, fp, 100), 0);
	sync_ok(s);
	/* a journal of generation 1 whose last word is 100 */
	copy_file(log, old);
	cr_assert_eq(seqstore_set(s, 7, SEQSTORE_IN, fp, 200), 0);
	sync_ok(s);
	/* 200 acknowledged; then compactions (a journal past its size)
	 * until one writes 200, the records of generation 1's "seq" */
	for (int r = 0; r < 7000; r++) {
		cr_assert_eq(seqstore_put(s, 7, SEQSTORE_IN, fp, 100), 0);
		sync_ok(s);
		cr_assert_eq(seqstore_set(s, 7, SEQSTORE_IN, fp, 200), 0);
		sync_ok(s);
		if (file_size(log) == LOG_HDR)
			break;
	}
	cr_assert_eq(file_size(log), LOG_HDR, "compacted");
	seqstore_close(s);
	copy_file(old, log);
	s = open_ok();
	cr_assert_eq(get_ok(s, 7, SEQSTORE_IN, fp), 200);
	seqstore_close(s);
}

/* Write a store of three records and return its size. */
static off_t make_store(void)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];

	for (uint32_t i = 0; i < 3; i++) {
		fp_of(i, fp);
		cr_assert_eq(seqstore_set(s, 10 + i, SEQSTORE_OUT, fp, 99), 0);
	}
	sync_ok(s);
	seqstore_close(s);
	return file_size(file);
}

static void expect_refused(const char *words)
{
	struct seqstore *s = (void *)1;
	int ret = seqstore_open(&s, dir, err, sizeof(err));

	cr_assert_eq(ret, -EINVAL, "open gave %d (%s)", ret, err);
	cr_assert_null(s);
	cr_assert(strstr(err, file), "message names the file: %s", err);
	cr_assert(strstr(err, words), "message says '%s': %s", words, err);
}

/* a bit of "seq" */
static void flip_byte(off_t off)
{
	flip_at(file, off);
}

Test(seqstore, corrupt_refused)
{
	off_t size = make_store();

	/* a value byte of the middle record */
	flip_byte(24 + 40 + 32);
	expect_refused("checksum mismatch");
	flip_byte(24 + 40 + 32);
	seqstore_close(open_ok()); /* flipped back: good again */

	/* checksum itself */
	flip_byte(size - 1);
	expect_refused("checksum mismatch");
	flip_byte(size - 1);

	flip_byte(0);
	expect_refused("bad magic");
	flip_byte(0);

	flip_byte(8);
	expect_refused("version");
	flip_byte(8);

	/* the count: the size no longer fits it */
	flip_byte(16);
	expect_refused("truncated");
}

Test(seqstore, truncated_refused)
{
	off_t size = make_store();

	/* one byte short: count and size disagree */
	cr_assert_eq(truncate(file, size - 1), 0);
	expect_refused("truncated");
	/* a whole record short: also a disagreement */
	cr_assert_eq(truncate(file, size - 40), 0);
	expect_refused("truncated");
	/* shorter than the header */
	cr_assert_eq(truncate(file, 10), 0);
	expect_refused("truncated");
	/* empty: never an empty store */
	cr_assert_eq(truncate(file, 0), 0);
	expect_refused("truncated");
}

Test(seqstore, trailing_garbage_refused)
{
	off_t size = make_store();

	cr_assert_eq(truncate(file, size + 40), 0);
	expect_refused("corrupt");
}

Test(seqstore, stale_temp_ignored_and_removed)
{
	char tmp[192];
	struct seqstore *s;
	uint8_t fp[SEQSTORE_FP_LEN];
	int fd;

	make_store();
	snprintf(tmp, sizeof(tmp), "%s/seq.tmp", dir);
	/* a crash half way through writing the temp file */
	fd = open(tmp, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "ESPSEQ1\ngarbage", 15), 15);
	close(fd);

	s = open_ok();
	cr_assert_eq(access(tmp, F_OK), -1, "temp file removed");
	cr_assert_eq(seqstore_count(s), 3);
	fp_of(1, fp);
	cr_assert_eq(get_ok(s, 11, SEQSTORE_OUT, fp), 99);
	seqstore_close(s);
}

Test(seqstore, second_open_busy)
{
	struct seqstore *a = open_ok(), *b = (void *)1;

	cr_assert_eq(seqstore_open(&b, dir, err, sizeof(err)), -EBUSY);
	cr_assert_null(b);
	cr_assert(strstr(err, dir), "%s", err);
	seqstore_close(a);
	b = open_ok();
	seqstore_close(b);
}

Test(seqstore, retired_survive_and_revive)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];

	fp_of(1, fp);
	cr_assert_eq(seqstore_set(s, 5, SEQSTORE_OUT, fp, 500), 0);
	cr_assert_eq(seqstore_set(s, 5, SEQSTORE_IN, fp, 50), 0);
	sync_ok(s);
	seqstore_retire(s, 5, SEQSTORE_OUT, fp);
	cr_assert(seqstore_dirty(s));
	/* retiring something unknown is a no-op */
	seqstore_retire(s, 6, SEQSTORE_OUT, fp);
	sync_ok(s);
	seqstore_close(s);

	s = open_ok();
	cr_assert_eq(seqstore_count(s), 2);
	cr_assert_eq(get_ok(s, 5, SEQSTORE_OUT, fp), 500);
	/* already retired: nothing changes */
	seqstore_retire(s, 5, SEQSTORE_OUT, fp);
	cr_assert_not(seqstore_dirty(s));
	/* the same key comes back: set revives it, even with a lower value */
	cr_assert_eq(seqstore_set(s, 5, SEQSTORE_OUT, fp, 1), 0);
	cr_assert(seqstore_dirty(s));
	cr_assert_eq(get_ok(s, 5, SEQSTORE_OUT, fp), 500);
	sync_ok(s);
	/* live again, so a cap of 0 retired keeps it */
	seqstore_set_keep_retired(s, 0);
	sync_ok(s);
	seqstore_close(s);

	s = open_ok();
	seqstore_set_keep_retired(s, 0);
	sync_ok(s);
	cr_assert_eq(seqstore_count(s), 2);
	cr_assert_eq(get_ok(s, 5, SEQSTORE_OUT, fp), 500);
	seqstore_close(s);
}

Test(seqstore, retired_pruned_beyond_cap)
{
	enum { N = 10, KEEP = 4 };
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];
	uint64_t v;

	for (uint32_t i = 0; i < N; i++) {
		fp_of(i, fp);
		cr_assert_eq(seqstore_set(s, 100 + i, SEQSTORE_OUT, fp, i + 1), 0);
	}
	fp_of(999, fp);
	cr_assert_eq(seqstore_set(s, 1, SEQSTORE_IN, fp, 7), 0); /* stays live */
	sync_ok(s);
	/* retire in order 0..N-1: the last KEEP are the newest */
	for (uint32_t i = 0; i < N; i++) {
		fp_of(i, fp);
		seqstore_retire(s, 100 + i, SEQSTORE_OUT, fp);
	}
	/* the cap applies at sync, not before */
	seqstore_set_keep_retired(s, KEEP);
	cr_assert_eq(seqstore_count(s), N + 1);
	sync_ok(s);
	cr_assert_eq(seqstore_count(s), KEEP + 1);
	seqstore_close(s);

	s = open_ok();
	cr_assert_eq(seqstore_count(s), KEEP + 1);
	for (uint32_t i = 0; i < N; i++) {
		fp_of(i, fp);
		if (i < N - KEEP)
			cr_assert_eq(seqstore_get(s, 100 + i, SEQSTORE_OUT, fp, &v),
				     -ENOENT, "record %u should be pruned", i);
		else
			cr_assert_eq(get_ok(s, 100 + i, SEQSTORE_OUT, fp), i + 1);
	}
	fp_of(999, fp);
	cr_assert_eq(get_ok(s, 1, SEQSTORE_IN, fp), 7);

	/* retire times were reloaded: a new retire is newer than all of them */
	fp_of(999, fp);
	seqstore_retire(s, 1, SEQSTORE_IN, fp);
	seqstore_set_keep_retired(s, 1);
	sync_ok(s);
	cr_assert_eq(seqstore_count(s), 1);
	cr_assert_eq(get_ok(s, 1, SEQSTORE_IN, fp), 7);
	seqstore_close(s);
}

Test(seqstore, table_grows_after_prune)
{
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN];

	for (uint32_t i = 0; i < 1000; i++) {
		fp_of(i, fp);
		cr_assert_eq(seqstore_set(s, i, SEQSTORE_OUT, fp, i), 0);
		if (i % 2)
			seqstore_retire(s, i, SEQSTORE_OUT, fp);
	}
	seqstore_set_keep_retired(s, 10);
	sync_ok(s);
	cr_assert_eq(seqstore_count(s), 510);
	for (uint32_t i = 1000; i < 3000; i++) {
		fp_of(i, fp);
		cr_assert_eq(seqstore_set(s, i, SEQSTORE_OUT, fp, i), 0);
	}
	cr_assert_eq(seqstore_count(s), 2510);
	for (uint32_t i = 0; i < 3000; i += 2) {
		fp_of(i, fp);
		cr_assert_eq(get_ok(s, i, SEQSTORE_OUT, fp), i);
	}
	seqstore_close(s);
}

/* A key's highest outbound value under any SPI, retired or not: after a
 * reopen (journal and compaction), a prune, and with many keys whose runs
 * in the table meet. */
Test(seqstore, get_key_any_spi)
{
	enum { N = 2000 };
	struct seqstore *s = open_ok();
	uint8_t fp[SEQSTORE_FP_LEN], other[SEQSTORE_FP_LEN];
	uint64_t v = 1;

	fp_of(1, fp);
	fp_of(2, other);
	cr_assert_eq(seqstore_get_key(s, SEQSTORE_OUT, fp, &v), -ENOENT);
	cr_assert_eq(v, 0);
	cr_assert_eq(seqstore_set(s, 10, SEQSTORE_OUT, fp, 300), 0);
	cr_assert_eq(seqstore_set(s, 11, SEQSTORE_OUT, fp, 700), 0);
	cr_assert_eq(seqstore_set(s, 12, SEQSTORE_OUT, fp, 500), 0);
	/* another direction, another key: not counted */
	cr_assert_eq(seqstore_set(s, 13, SEQSTORE_IN, fp, 9000), 0);
	cr_assert_eq(seqstore_set(s, 14, SEQSTORE_OUT, other, 8000), 0);
	/* many more keys, so that runs meet and the table grows */
	for (uint32_t i = 0; i < N; i++) {
		uint8_t f[SEQSTORE_FP_LEN];

		fp_of(1000 + i, f);
		cr_assert_eq(seqstore_set(s, 20 + i, SEQSTORE_OUT, f, i), 0);
	}
	cr_assert_eq(seqstore_get_key(s, SEQSTORE_OUT, fp, &v), 0);
	cr_assert_eq(v, 700);
	cr_assert_eq(seqstore_get_key(s, SEQSTORE_IN, fp, &v), 0);
	cr_assert_eq(v, 9000);
	seqstore_retire(s, 11, SEQSTORE_OUT, fp);
	sync_ok(s);
	cr_assert_eq(seqstore_set(s, 12, SEQSTORE_OUT, fp, 600), 0);
	sync_ok(s); /* a journal append */
	seqstore_close(s);

	s = open_ok();
	cr_assert_eq(seqstore_count(s), N + 5);
	cr_assert_eq(seqstore_get_key(s, SEQSTORE_OUT, fp, &v), 0);
	cr_assert_eq(v, 700, "the retired record counts");
	cr_assert_eq(seqstore_get_key(s, SEQSTORE_OUT, other, &v), 0);
	cr_assert_eq(v, 8000);
	for (uint32_t i = 0; i < N; i += 97) {
		uint8_t f[SEQSTORE_FP_LEN];

		fp_of(1000 + i, f);
		cr_assert_eq(seqstore_get_key(s, SEQSTORE_OUT, f, &v), 0);
		cr_assert_eq(v, i);
	}
	/* the retired one pruned (a compaction): the live ones remain */
	seqstore_set_keep_retired(s, 0);
	sync_ok(s);
	cr_assert_eq(seqstore_count(s), N + 4);
	cr_assert_eq(seqstore_get_key(s, SEQSTORE_OUT, fp, &v), 0);
	cr_assert_eq(v, 600);
	cr_assert_eq(get_ok(s, 10, SEQSTORE_OUT, fp), 300);
	seqstore_close(s);
}
