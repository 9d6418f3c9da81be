// SPDX-License-Identifier: GPL-2.0
/*
 * The tops file (control/topmap.h): records that outlive the process in
 * the same boot, and only there; slots taken over, released and reused.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/topmap.h"

static char dir[64];
static char err[256];

static void setup(void)
{
	strcpy(dir, "/tmp/espresso-topmap.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void teardown(void)
{
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(topmap, .init = setup, .fini = teardown);

static struct topmap *open_as(const char *boot)
{
	struct topmap *m;
	int ret = topmap_open_boot(&m, dir, boot, err, sizeof(err));

	cr_assert_eq(ret, 0, "%d %s", ret, err);
	return m;
}

static const uint8_t FP1[TOPMAP_FP_LEN] = { 1 }, FP2[TOPMAP_FP_LEN] = { 2 };

Test(topmap, survives_in_the_same_boot_only)
{
	struct topmap *m = open_as("b1");
	_Atomic uint64_t *a, *b;
	uint64_t top;
	bool found;
	struct stat st;
	char path[128];

	snprintf(path, sizeof(path), "%s/tops", dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	a = topmap_claim(m, 0x100, FP1, 5, &top, &found);
	cr_assert_not_null(a);
	cr_assert_not(found);
	cr_assert_eq(top, 5u);
	/* the same SPI, another key: another record */
	b = topmap_claim(m, 0x100, FP2, 0, &top, &found);
	cr_assert_not_null(b);
	cr_assert_neq(a, b);
	cr_assert_not(found);
	atomic_store(a, 12345);
	atomic_store(b, 7);
	topmap_close(m); /* as a crash leaves it: nothing else written */

	m = open_as("b1");
	cr_assert_eq(topmap_count(m), 2u);
	cr_assert_eq(topmap_dropped(m), 0u);
	a = topmap_claim(m, 0x100, FP1, 0, &top, &found);
	cr_assert(found);
	cr_assert_eq(top, 12345u);
	b = topmap_claim(m, 0x100, FP2, 0, &top, &found);
	cr_assert(found);
	cr_assert_eq(top, 7u);
	topmap_close(m);

	m = open_as("b2"); /* a reboot */
	cr_assert_eq(topmap_dropped(m), 2u);
	cr_assert_eq(topmap_count(m), 0u);
	topmap_claim(m, 0x100, FP1, 3, &top, &found);
	cr_assert_not(found);
	cr_assert_eq(top, 3u);
	topmap_close(m);
}

Test(topmap, released_slot_reused)
{
	struct topmap *m = open_as("b1");
	_Atomic uint64_t *a, *b;
	uint64_t top;
	bool found;

	a = topmap_claim(m, 1, FP1, 9, &top, &found);
	topmap_release(m, a);
	cr_assert_eq(topmap_count(m), 0u);
	topmap_release(m, a); /* twice: nothing */
	b = topmap_claim(m, 2, FP2, 4, &top, &found);
	cr_assert_eq(a, b, "the released slot is taken first");
	cr_assert_not(found);
	topmap_close(m);

	/* the released record is not found again after a restart */
	m = open_as("b1");
	cr_assert_eq(topmap_count(m), 1u);
	topmap_claim(m, 1, FP1, 0, &top, &found);
	cr_assert_not(found);
	b = topmap_claim(m, 2, FP2, 0, &top, &found);
	cr_assert(found);
	cr_assert_eq(top, 4u);
	topmap_close(m);
}

/* Not a tops file (truncated, or anything else): started over. */
Test(topmap, foreign_file_started_over)
{
	char path[128];
	struct topmap *m;
	uint64_t top;
	bool found;
	int fd;

	snprintf(path, sizeof(path), "%s/tops", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "garbage", 7), 7);
	close(fd);
	m = open_as("b1");
	cr_assert_eq(topmap_count(m), 0u);
	cr_assert_not_null(topmap_claim(m, 1, FP1, 1, &top, &found));
	topmap_close(m);
}

Test(topmap, bad_dir)
{
	struct topmap *m;

	cr_assert_lt(topmap_open_boot(&m, "/nonexistent/espresso", "b1", err,
				      sizeof(err)),
		     0);
	cr_assert_null(m);
	cr_assert(strstr(err, "/nonexistent/espresso/tops"), "%s", err);
}

static void count_cb(void *arg, uint32_t spi, const uint8_t *fp, uint64_t top)
{
	uint64_t *sum = arg;

	(void)fp;
	*sum += spi * 1000 + top;
}

Test(topmap, each_then_reset)
{
	struct topmap *m = open_as("b1");
	uint64_t top, sum = 0;
	bool found;

	atomic_store(topmap_claim(m, 1, FP1, 0, &top, &found), 5);
	atomic_store(topmap_claim(m, 2, FP2, 0, &top, &found), 7);
	topmap_each(m, count_cb, &sum);
	cr_assert_eq(sum, 1005u + 2007u);
	topmap_reset(m);
	cr_assert_eq(topmap_count(m), 0u);
	topmap_claim(m, 1, FP1, 3, &top, &found);
	cr_assert_not(found);
	topmap_close(m);
	m = open_as("b1");
	cr_assert_eq(topmap_count(m), 1u, "only the record claimed after");
	topmap_close(m);
}
