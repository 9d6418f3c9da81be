// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/secret.h"

#define CHUNK_BYTES (64u << 10)
/* Once a size class holds this much, it grows by chunks of this size in
 * transparent huge pages: with thousands of SAs carrying traffic, each
 * packet's key schedule is on a page of its own, and 4 KiB pages cost a
 * TLB miss each. Small deployments keep 64 KiB chunks (locked memory). */
#define HUGE_BYTES (2u << 20)
#define NCLASS 7 /* 64 .. 4096 */

_Static_assert(SECRET_SLOT_MIN << (NCLASS - 1) == SECRET_SLOT_MAX,
	       "size classes");
_Static_assert(CHUNK_BYTES % SECRET_SLOT_MAX == 0, "chunk of whole slots");

/* The free slots of one size, a stack with room for every slot of that
 * size ever carved, so that freeing never allocates. */
struct class {
	void **free;
	size_t nfree, cap;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct class classes[NCLASS];
static struct secret_stats stats;
static bool warned_dump;

static int class_of(size_t size)
{
	int c = 0;

	while ((size_t)SECRET_SLOT_MIN << c < size)
		c++;
	return c;
}

static size_t page_round(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (size + page - 1) / page * page;
}

/* New pages for secrets: locked, out of core dumps, zero in a child. */
static void *map_secret(size_t len, bool huge)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* before mlock faults the pages in; a hint only (THP may be off) */
	if (huge)
		(void)madvise(p, len, MADV_HUGEPAGE);
	if (mlock(p, len) && !stats.lock_failed) {
		stats.lock_failed = true;
		log_warn("secret: cannot lock key memory in RAM (%s): keys may "
			 "be written to swap; raise RLIMIT_MEMLOCK "
			 "(LimitMEMLOCK=infinity, as the systemd unit does)",
			 strerror(errno));
	}
	if (madvise(p, len, MADV_DONTDUMP) && !warned_dump) {
		warned_dump = true;
		log_warn("secret: cannot keep key memory out of core dumps "
			 "(madvise MADV_DONTDUMP: %s)", strerror(errno));
	}
#ifdef MADV_WIPEONFORK
	(void)madvise(p, len, MADV_WIPEONFORK); /* Linux >= 4.14 */
#endif
	stats.bytes_mapped += len;
	return p;
}

/* Carves a new chunk into free slots of class c. 0 or -ENOMEM. */
static int grow(struct class *k, int c)
{
	size_t slot = (size_t)SECRET_SLOT_MIN << c, i;
	bool huge = k->cap * slot >= HUGE_BYTES;
	size_t n = (huge ? HUGE_BYTES : CHUNK_BYTES) / slot;
	void **nf = realloc(k->free, (k->cap + n) * sizeof(*nf));
	uint8_t *chunk;

	if (!nf)
		return -ENOMEM;
	k->free = nf;
	chunk = map_secret(n * slot, huge);
	if (!chunk)
		return -ENOMEM;
	k->cap += n;
	for (i = n; i-- > 0;) /* lowest address on top */
		k->free[k->nfree++] = chunk + i * slot;
	return 0;
}

void *secret_alloc(size_t size)
{
	struct class *k;
	void *p = NULL;
	int c;

	if (!size) {
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&lock);
	if (size > SECRET_SLOT_MAX) {
		size = page_round(size);
		p = map_secret(size, false);
		goto out;
	}
	c = class_of(size);
	k = &classes[c];
	size = (size_t)SECRET_SLOT_MIN << c;
	if (!k->nfree && grow(k, c))
		goto out;
	p = k->free[--k->nfree]; /* zero: fresh, or wiped when freed */
out:
	if (p) {
		stats.slots_used++;
		stats.bytes_used += size;
	}
	pthread_mutex_unlock(&lock);
	if (!p)
		errno = ENOMEM;
	return p;
}

void secret_free(void *p, size_t size)
{
	struct class *k;

	if (!p)
		return;
	if (size > SECRET_SLOT_MAX) {
		size = page_round(size);
		explicit_bzero(p, size);
		munmap(p, size);
		pthread_mutex_lock(&lock);
		stats.bytes_mapped -= size;
		stats.slots_used--;
		stats.bytes_used -= size;
		pthread_mutex_unlock(&lock);
		return;
	}
	k = &classes[class_of(size ? size : 1)];
	size = (size_t)SECRET_SLOT_MIN << class_of(size ? size : 1);
	explicit_bzero(p, size);
	pthread_mutex_lock(&lock);
	k->free[k->nfree++] = p; /* cap counts every slot: always room */
	stats.slots_used--;
	stats.bytes_used -= size;
	pthread_mutex_unlock(&lock);
}

void secret_get_stats(struct secret_stats *st)
{
	pthread_mutex_lock(&lock);
	*st = stats;
	pthread_mutex_unlock(&lock);
}
