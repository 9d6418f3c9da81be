// SPDX-License-Identifier: GPL-2.0
/*
 * The secret pool (user/lib/secret.c): slots zeroed when handed out and
 * wiped when freed, aligned to their size, reused; many at once; large
 * sizes; and the kernel's view of the pages in /proc/self/smaps: locked
 * ("lo" in VmFlags, Locked: the whole mapping) and left out of core dumps
 * ("dd").
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/secret.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The smaps block of the mapping that holds p: its VmFlags line and its
 * Locked: size in kB (-1: not found). */
static long smaps_of(const void *p, char *flags, size_t flen)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	uintptr_t a = (uintptr_t)p, lo, hi;
	char line[512];
	bool in = false;
	long locked = -1;

	cr_assert_not_null(f);
	flags[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			if (in)
				break;
			in = a >= lo && a < hi;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "Locked:", 7))
			locked = strtol(line + 7, NULL, 10);
		if (!strncmp(line, "VmFlags:", 8))
			snprintf(flags, flen, "%.*s", (int)flen - 1, line + 8);
	}
	fclose(f);
	return locked;
}

static bool has_flag(const char *flags, const char *flag)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", flags);
	for (tok = strtok_r(buf, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, flag))
			return true;
	return false;
}

Test(secret, zeroed_aligned_and_wiped_on_free)
{
	struct secret_stats st0, st;
	uint8_t *p, *q;

	secret_get_stats(&st0);
	p = secret_alloc(36);
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)p % 64, 0u, "a 36-byte slot is 64-aligned");
	cr_assert(all_zero(p, 64));
	memset(p, 0xa5, 64);
	secret_get_stats(&st);
	cr_assert_eq(st.slots_used, st0.slots_used + 1);
	cr_assert_eq(st.bytes_used, st0.bytes_used + 64, "a 64-byte slot");
	secret_free(p, 36);
	secret_get_stats(&st);
	cr_assert_eq(st.bytes_used, st0.bytes_used);
	/* still mapped (the pool keeps its chunks): the bytes are gone */
	cr_assert(all_zero(p, 64), "the whole slot is wiped on free");
	q = secret_alloc(40); /* the same class: the slot comes back */
	cr_assert_eq(q, p);
	cr_assert(all_zero(q, 64));
	secret_free(q, 40);
	secret_free(NULL, 36); /* a no-op */
	cr_assert_null(secret_alloc(0));
}

Test(secret, size_classes_are_aligned_to_their_size)
{
	static const size_t sizes[] = { 1, 64, 65, 200, 1008, 1024, 2049, 4096 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = secret_alloc(sizes[i]);
		size_t slot = 64;

		while (slot < sizes[i])
			slot *= 2;
		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)p % slot, 0u, "size %zu", sizes[i]);
		memset(p, 0xff, sizes[i]);
		secret_free(p, sizes[i]);
		cr_assert(all_zero(p, slot), "size %zu wiped", sizes[i]);
	}
}

Test(secret, many_slots_distinct_and_intact)
{
	enum { N = 5000 };
	uint8_t **p = calloc(N, sizeof(*p));
	int i, j;

	cr_assert_not_null(p);
	for (i = 0; i < N; i++) {
		p[i] = secret_alloc(36);
		cr_assert_not_null(p[i], "slot %d", i);
		memset(p[i], i & 0xff, 36);
		p[i][36] = (uint8_t)(i >> 8);
	}
	for (i = 0; i < N; i++) {
		for (j = 0; j < 36; j++)
			cr_assert_eq(p[i][j], (uint8_t)(i & 0xff), "slot %d", i);
		cr_assert_eq(p[i][36], (uint8_t)(i >> 8));
	}
	for (i = 0; i < N; i += 2) /* free half, take it back */
		secret_free(p[i], 36);
	for (i = 0; i < N; i += 2) {
		p[i] = secret_alloc(36);
		cr_assert(all_zero(p[i], 64));
		memset(p[i], i & 0xff, 36);
	}
	for (i = 1; i < N; i += 2)
		for (j = 0; j < 36; j++)
			cr_assert_eq(p[i][j], (uint8_t)(i & 0xff), "slot %d", i);
	for (i = 0; i < N; i++)
		secret_free(p[i], 36);
	free(p);
}

Test(secret, large_sizes_get_their_own_mapping)
{
	size_t n = 3 * 4096 + 5;
	uint8_t *p = secret_alloc(n);
	char flags[256];

	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)p % 4096, 0u);
	cr_assert(all_zero(p, n));
	memset(p, 1, n);
	smaps_of(p, flags, sizeof(flags));
	cr_assert(has_flag(flags, "dd"), "VmFlags:%s", flags);
	secret_free(p, n);
}

Test(secret, pages_locked_and_out_of_core_dumps)
{
	struct rlimit rl;
	uint8_t *p = secret_alloc(36);
	char flags[256];
	long locked;

	cr_assert_not_null(p);
	locked = smaps_of(p, flags, sizeof(flags));
	cr_assert(flags[0], "the slot's mapping is in /proc/self/smaps");
	cr_assert(has_flag(flags, "dd"), "MADV_DONTDUMP: VmFlags:%s", flags);
	cr_assert(has_flag(flags, "wf"), "MADV_WIPEONFORK: VmFlags:%s", flags);
	getrlimit(RLIMIT_MEMLOCK, &rl);
#ifdef __SANITIZE_ADDRESS__
	/* ASan's mlock() is a no-op that returns 0 (make check SANITIZE=1) */
	rl.rlim_cur = 0;
#endif
	if (rl.rlim_cur >= (64u << 10)) { /* room for one 64 KiB chunk */
		cr_assert(has_flag(flags, "lo"), "mlock: VmFlags:%s", flags);
		cr_assert_geq(locked, 64, "Locked: %ld kB", locked);
	}
	secret_free(p, 36);
}

static void *churn(void *arg)
{
	int i, k;

	(void)arg;
	for (i = 0; i < 2000; i++) {
		uint8_t *p = secret_alloc(36 + (i % 3) * 100);

		if (!p)
			return (void *)1;
		for (k = 0; k < 36; k++)
			if (p[k])
				return (void *)2; /* handed out dirty: a race */
		memset(p, 0x5a, 36);
		secret_free(p, 36 + (i % 3) * 100);
	}
	return NULL;
}

Test(secret, threads)
{
	pthread_t t[4];
	void *rc;
	int i;

	for (i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, churn, NULL), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &rc);
		cr_assert_null(rc, "thread %d: %p", i, rc);
	}
}
