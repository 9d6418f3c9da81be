// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of user/tables/epoch.c (QSBR reclamation), built alone with
 * ASan and UBSan (the Makefile's build/tests/test_epoch rule).
 *
 * basics:      one thread plays every reader: when a retired object may
 *              and may not be freed, offline readers, callback order,
 *              retire from a callback, destroy.
 * stress:      reader threads check every field of the version they read
 *              while a writer publishes STRESS_VERSIONS of them; freed
 *              versions are poisoned, so a use after free shows as a bad
 *              magic even without ASan. Every version freed exactly once,
 *              no reader sees generations go back, all see the last one.
 * synchronize: returns at once with readers offline, waits for a reader
 *              that is online and blocked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tables/epoch.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- basics ---- */

static int order[16];
static int norder;

/* may run in another thread (synchronize tests): no cr_assert here */
static void note(void *arg)
{
	if (norder < 16)
		order[norder] = (int)(intptr_t)arg;
	norder++;
}

static struct epoch *reentrant_e;

static void retire_again(void *arg)
{
	note(arg);
	cr_assert_eq(epoch_retire(reentrant_e, note, (void *)(intptr_t)99), 0);
}

static void reset_notes(void)
{
	norder = 0;
	memset(order, 0, sizeof(order));
}

Test(epoch, init_bounds)
{
	static struct epoch e;

	cr_assert_eq(epoch_init(&e, -1), -EINVAL);
	cr_assert_eq(epoch_init(&e, EPOCH_MAX_READERS + 1), -EINVAL);
	cr_assert_eq(epoch_init(&e, EPOCH_MAX_READERS), 0);
	epoch_destroy(&e);
	cr_assert_eq(epoch_init(&e, 0), 0);
	cr_assert_eq(epoch_retire(&e, note, (void *)1), 0);
	cr_assert_eq(epoch_reclaim(&e), 1);
	epoch_destroy(&e);
	cr_assert_eq(_Alignof(struct epoch), 64);
	cr_assert_eq((uintptr_t)&e.reader[1].seen % 64, 0);
	cr_assert_eq((uintptr_t)&e.reader[1].seen -
		     (uintptr_t)&e.reader[0].seen, 64);
}

Test(epoch, no_reader_online)
{
	struct epoch e;

	reset_notes();
	cr_assert_eq(epoch_init(&e, 4), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	cr_assert_eq(epoch_retire(&e, note, (void *)1), 0);
	cr_assert_eq(epoch_pending(&e), 1);
	cr_assert_eq(norder, 0, "retire must not run the callback itself");
	cr_assert_eq(epoch_reclaim(&e), 1);
	cr_assert_eq(norder, 1);
	cr_assert_eq(order[0], 1);
	cr_assert_eq(epoch_pending(&e), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	epoch_destroy(&e);
}

Test(epoch, online_reader_blocks_until_quiescent)
{
	struct epoch e;

	reset_notes();
	cr_assert_eq(epoch_init(&e, 2), 0);
	epoch_online(&e, 0);
	cr_assert_eq(epoch_retire(&e, note, (void *)1), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	cr_assert_eq(norder, 0);
	cr_assert_eq(epoch_pending(&e), 1);
	epoch_quiescent(&e, 0);
	cr_assert_eq(epoch_reclaim(&e), 1);
	cr_assert_eq(order[0], 1);

	/* quiescent before the retire does not count */
	epoch_quiescent(&e, 0);
	cr_assert_eq(epoch_retire(&e, note, (void *)2), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	epoch_quiescent(&e, 0);
	epoch_quiescent(&e, 0); /* fast path: nothing new */
	cr_assert_eq(epoch_reclaim(&e), 1);
	cr_assert_eq(order[1], 2);

	/* both readers online: each must pass */
	epoch_online(&e, 1);
	cr_assert_eq(epoch_retire(&e, note, (void *)3), 0);
	epoch_quiescent(&e, 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	epoch_quiescent(&e, 1);
	cr_assert_eq(epoch_reclaim(&e), 1);
	cr_assert_eq(order[2], 3);
	epoch_offline(&e, 0);
	epoch_offline(&e, 1);
	epoch_destroy(&e);
}

Test(epoch, offline_reader_does_not_block)
{
	struct epoch e;

	reset_notes();
	cr_assert_eq(epoch_init(&e, 3), 0);
	/* reader 0 online, 1 went offline, 2 never came online */
	epoch_online(&e, 0);
	epoch_online(&e, 1);
	epoch_offline(&e, 1);
	cr_assert_eq(epoch_retire(&e, note, (void *)1), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	epoch_quiescent(&e, 0);
	cr_assert_eq(epoch_reclaim(&e), 1);

	/* going offline is a quiescent point */
	cr_assert_eq(epoch_retire(&e, note, (void *)2), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	epoch_offline(&e, 0);
	cr_assert_eq(epoch_reclaim(&e), 1);

	/* quiescent while offline is a no-op: does not bring it online */
	epoch_quiescent(&e, 1);
	cr_assert_eq(epoch_retire(&e, note, (void *)3), 0);
	cr_assert_eq(epoch_reclaim(&e), 1);

	/* back online: a later retire waits for it again */
	epoch_online(&e, 1);
	cr_assert_eq(epoch_retire(&e, note, (void *)4), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	epoch_quiescent(&e, 1);
	cr_assert_eq(epoch_reclaim(&e), 1);
	cr_assert_eq(norder, 4);
	epoch_offline(&e, 1);
	epoch_destroy(&e);
}

Test(epoch, order_and_partial_reclaim)
{
	struct epoch e;
	int i;

	reset_notes();
	cr_assert_eq(epoch_init(&e, 1), 0);
	epoch_online(&e, 0);
	for (i = 1; i <= 3; i++)
		cr_assert_eq(epoch_retire(&e, note, (void *)(intptr_t)i), 0);
	epoch_quiescent(&e, 0); /* covers 1..3, not 4..5 */
	for (i = 4; i <= 5; i++)
		cr_assert_eq(epoch_retire(&e, note, (void *)(intptr_t)i), 0);
	cr_assert_eq(epoch_pending(&e), 5);
	cr_assert_eq(epoch_reclaim(&e), 3);
	cr_assert_eq(epoch_pending(&e), 2);
	epoch_quiescent(&e, 0);
	cr_assert_eq(epoch_reclaim(&e), 2);
	cr_assert_eq(norder, 5);
	for (i = 0; i < 5; i++)
		cr_assert_eq(order[i], i + 1);
	epoch_offline(&e, 0);
	epoch_destroy(&e);
}

Test(epoch, retire_from_callback)
{
	struct epoch e;

	reset_notes();
	cr_assert_eq(epoch_init(&e, 1), 0);
	reentrant_e = &e;
	epoch_online(&e, 0);
	cr_assert_eq(epoch_retire(&e, retire_again, (void *)1), 0);
	epoch_quiescent(&e, 0);
	cr_assert_eq(epoch_reclaim(&e), 1);
	/* the one it retired waits for a new grace period */
	cr_assert_eq(epoch_pending(&e), 1);
	cr_assert_eq(epoch_reclaim(&e), 0);
	epoch_quiescent(&e, 0);
	cr_assert_eq(epoch_reclaim(&e), 1);
	cr_assert_eq(norder, 2);
	cr_assert_eq(order[1], 99);
	epoch_offline(&e, 0);
	epoch_destroy(&e);
}

Test(epoch, destroy_runs_pending)
{
	struct epoch e;
	int i;

	reset_notes();
	cr_assert_eq(epoch_init(&e, 2), 0);
	epoch_online(&e, 0);
	for (i = 1; i <= 3; i++)
		cr_assert_eq(epoch_retire(&e, note, (void *)(intptr_t)i), 0);
	cr_assert_eq(epoch_reclaim(&e), 0);
	reentrant_e = &e;
	cr_assert_eq(epoch_retire(&e, retire_again, (void *)4), 0);
	epoch_destroy(&e); /* the reader is gone: all run, 99 included */
	cr_assert_eq(norder, 5);
	for (i = 0; i < 4; i++)
		cr_assert_eq(order[i], i + 1);
	cr_assert_eq(order[4], 99);
	cr_assert_eq(epoch_pending(&e), 0);
}

Test(epoch, synchronize_single_thread)
{
	struct epoch e;
	uint64_t t0;

	reset_notes();
	cr_assert_eq(epoch_init(&e, 2), 0);
	epoch_online(&e, 0);
	cr_assert_eq(epoch_retire(&e, note, (void *)1), 0);
	epoch_offline(&e, 0);
	t0 = now_ms();
	epoch_synchronize(&e);
	cr_assert_lt(now_ms() - t0, 100);
	cr_assert_eq(norder, 1);
	cr_assert_eq(epoch_pending(&e), 0);
	epoch_destroy(&e);
}

/* ---- stress ---- */

#define STRESS_READERS	4
#define STRESS_VERSIONS	50000
#define VERSION_MAGIC	0x76657273696f6e21ull
#define POISON		0xdb
#define NDATA		16

struct version {
	uint64_t magic;
	uint64_t gen;
	uint64_t data[NDATA];
	uint64_t sum; /* of data[] */
};

static struct epoch stress_e;
static _Atomic(struct version *) published;
static atomic_bool stop;
static size_t nalloc, nfree, freed_early; /* the writer's thread only */
static uint8_t *freed; /* [STRESS_VERSIONS + 1]: times each gen was freed */

struct reader_stats {
	int id;
	uint64_t loops, offline_naps;
	uint64_t bad_magic, bad_data, went_back;
	uint64_t last_gen;
};

static uint64_t data_of(uint64_t gen, int i)
{
	return (gen + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)i << 56 | gen);
}

static struct version *version_new(uint64_t gen)
{
	struct version *v = malloc(sizeof(*v));
	int i;

	cr_assert_not_null(v);
	v->magic = VERSION_MAGIC;
	v->gen = gen;
	v->sum = 0;
	for (i = 0; i < NDATA; i++) {
		v->data[i] = data_of(gen, i);
		v->sum += v->data[i];
	}
	nalloc++;
	return v;
}

static void version_free(void *arg)
{
	struct version *v = arg;

	cr_assert_eq(v->magic, VERSION_MAGIC, "double free or corrupt");
	cr_assert_leq(v->gen, STRESS_VERSIONS);
	freed[v->gen]++;
	memset(v, POISON, sizeof(*v));
	free(v);
	nfree++;
}

/* Checks the reader holds a consistent version; counts what is wrong. */
static void version_check(struct reader_stats *st, const struct version *v)
{
	/* volatile: read the object each time, as a freed one would be */
	const volatile struct version *vv = v;
	uint64_t gen, sum = 0;
	int i;

	if (vv->magic != VERSION_MAGIC) {
		st->bad_magic++;
		return;
	}
	gen = vv->gen;
	for (i = 0; i < NDATA; i++) {
		if (vv->data[i] != data_of(gen, i))
			st->bad_data++;
		sum += vv->data[i];
	}
	if (sum != vv->sum || vv->magic != VERSION_MAGIC)
		st->bad_data++;
	if (gen < st->last_gen)
		st->went_back++;
	st->last_gen = gen;
}

static void *stress_reader(void *arg)
{
	struct reader_stats *st = arg;
	struct version *v;

	epoch_online(&stress_e, st->id);
	while (!atomic_load_explicit(&stop, memory_order_acquire)) {
		v = atomic_load_explicit(&published, memory_order_acquire);
		version_check(st, v);
		version_check(st, v); /* still there a little later */
		epoch_quiescent(&stress_e, st->id);
		if (++st->loops % 512 == (unsigned int)st->id * 64) {
			epoch_offline(&stress_e, st->id);
			usleep(50 + 50 * st->id);
			epoch_online(&stress_e, st->id);
			st->offline_naps++;
		}
	}
	/* stop was stored after the last publish: this sees the last one */
	v = atomic_load_explicit(&published, memory_order_acquire);
	version_check(st, v);
	epoch_quiescent(&stress_e, st->id);
	epoch_offline(&stress_e, st->id);
	return NULL;
}

Test(epoch, stress, .timeout = 60)
{
	struct reader_stats st[STRESS_READERS] = { 0 };
	pthread_t tid[STRESS_READERS];
	struct version *v, *old;
	unsigned int syncs = 0;
	uint64_t gen, t0 = now_ms();
	int i;

	freed = calloc(STRESS_VERSIONS + 1, 1);
	cr_assert_not_null(freed);
	cr_assert_eq(epoch_init(&stress_e, STRESS_READERS), 0);
	atomic_store(&published, version_new(0));
	for (i = 0; i < STRESS_READERS; i++) {
		st[i].id = i;
		cr_assert_eq(pthread_create(&tid[i], NULL, stress_reader,
					    &st[i]), 0);
	}

	for (gen = 1; gen <= STRESS_VERSIONS; gen++) {
		v = version_new(gen);
		old = atomic_exchange_explicit(&published, v,
					       memory_order_acq_rel);
		cr_assert_eq(epoch_retire(&stress_e, version_free, old), 0);
		freed_early += epoch_reclaim(&stress_e);
		if (epoch_pending(&stress_e) > 2000 || gen % 5000 == 0) {
			epoch_synchronize(&stress_e);
			cr_assert_eq(epoch_pending(&stress_e), 0);
			freed_early = nfree;
			syncs++;
		}
		if (gen % 1024 == 0)
			sched_yield(); /* let readers see more versions */
	}
	atomic_store_explicit(&stop, true, memory_order_release);
	for (i = 0; i < STRESS_READERS; i++)
		pthread_join(tid[i], NULL);
	epoch_destroy(&stress_e);

	for (i = 0; i < STRESS_READERS; i++) {
		cr_log_info("reader %d: %lu loops, %lu naps", i,
			    (unsigned long)st[i].loops,
			    (unsigned long)st[i].offline_naps);
		cr_expect_eq(st[i].bad_magic, 0, "reader %d saw %lu freed", i,
			     (unsigned long)st[i].bad_magic);
		cr_expect_eq(st[i].bad_data, 0, "reader %d saw %lu torn", i,
			     (unsigned long)st[i].bad_data);
		cr_expect_eq(st[i].went_back, 0, "reader %d went back %lu", i,
			     (unsigned long)st[i].went_back);
		cr_expect_eq(st[i].last_gen, STRESS_VERSIONS,
			     "reader %d ended at gen %lu", i,
			     (unsigned long)st[i].last_gen);
		cr_expect_gt(st[i].loops, 0);
	}
	cr_log_info("%u synchronize, %zu of %zu freed before destroy, %lu ms",
		    syncs, freed_early, nfree,
		    (unsigned long)(now_ms() - t0));
	cr_expect_gt(freed_early, 0, "no grace period ended while running");

	/* the last one is still published: the test owns it */
	old = atomic_exchange(&published, NULL);
	cr_assert_eq(old->gen, STRESS_VERSIONS);
	version_free(old);
	cr_assert_eq(nalloc, STRESS_VERSIONS + 1);
	cr_assert_eq(nfree, nalloc);
	for (gen = 0; gen <= STRESS_VERSIONS; gen++)
		cr_assert_eq(freed[gen], 1, "gen %lu freed %u times",
			     (unsigned long)gen, freed[gen]);
	free(freed);
}

/* ---- synchronize with a reader thread ---- */

static struct epoch sync_e;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int reader_state; /* 1: online and holding, 2: released */
static bool release_by_offline;
static atomic_bool sync_done;

static void *blocked_reader(void *arg)
{
	(void)arg;
	epoch_online(&sync_e, 0);
	/* up to date: synchronize must still wait */
	epoch_quiescent(&sync_e, 0);
	pthread_mutex_lock(&lock);
	reader_state = 1;
	pthread_cond_broadcast(&cond);
	while (reader_state != 2)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	if (release_by_offline) {
		epoch_offline(&sync_e, 0);
		return NULL;
	}
	epoch_quiescent(&sync_e, 0);
	/* stay online, quiescent now and then, until synchronize is done */
	while (!atomic_load(&sync_done)) {
		sleep_ms(1);
		epoch_quiescent(&sync_e, 0);
	}
	epoch_offline(&sync_e, 0);
	return NULL;
}

static void *synchronizer(void *arg)
{
	(void)arg;
	epoch_synchronize(&sync_e);
	atomic_store(&sync_done, true);
	return NULL;
}

static void sync_waits_for_reader(bool by_offline)
{
	pthread_t rd, wr;
	uint64_t t0;

	reset_notes();
	release_by_offline = by_offline;
	reader_state = 0;
	atomic_store(&sync_done, false);
	cr_assert_eq(epoch_init(&sync_e, 2), 0);
	/* retired before the reader's quiescent point: only synchronize's own
	 * grace period keeps the reader from covering it */
	cr_assert_eq(epoch_retire(&sync_e, note, (void *)1), 0);
	cr_assert_eq(pthread_create(&rd, NULL, blocked_reader, NULL), 0);
	pthread_mutex_lock(&lock);
	while (reader_state != 1)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);

	/* the synchronize thread is the writer until joined */
	cr_assert_eq(pthread_create(&wr, NULL, synchronizer, NULL), 0);
	sleep_ms(200);
	cr_assert_not(atomic_load(&sync_done),
		      "synchronize returned with a reader online");
	cr_assert_eq(norder, 0);

	t0 = now_ms();
	pthread_mutex_lock(&lock);
	reader_state = 2;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(wr, NULL);
	cr_assert_lt(now_ms() - t0, 1000, "synchronize slow to notice");
	cr_assert(atomic_load(&sync_done));
	cr_assert_eq(norder, 1, "synchronize did not run the due callback");
	pthread_join(rd, NULL);
	epoch_destroy(&sync_e);
}

Test(epoch, synchronize_waits_for_quiescent, .timeout = 10)
{
	sync_waits_for_reader(false);
}

Test(epoch, synchronize_waits_for_offline, .timeout = 10)
{
	sync_waits_for_reader(true);
}

static void *offline_reader(void *arg)
{
	(void)arg;
	epoch_online(&sync_e, 1);
	epoch_quiescent(&sync_e, 1);
	epoch_offline(&sync_e, 1); /* then sleeps, as in poll() */
	pthread_mutex_lock(&lock);
	reader_state = 1;
	pthread_cond_broadcast(&cond);
	while (reader_state != 2)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

Test(epoch, synchronize_prompt_when_offline, .timeout = 10)
{
	pthread_t rd;
	uint64_t t0;
	int i;

	reset_notes();
	reader_state = 0;
	cr_assert_eq(epoch_init(&sync_e, 2), 0);
	cr_assert_eq(pthread_create(&rd, NULL, offline_reader, NULL), 0);
	pthread_mutex_lock(&lock);
	while (reader_state != 1)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);

	cr_assert_eq(epoch_retire(&sync_e, note, (void *)1), 0);
	t0 = now_ms();
	for (i = 0; i < 10; i++)
		epoch_synchronize(&sync_e);
	cr_assert_lt(now_ms() - t0, 50, "synchronize waited for no one");
	cr_assert_eq(norder, 1);

	pthread_mutex_lock(&lock);
	reader_state = 2;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(rd, NULL);
	epoch_destroy(&sync_e);
}
