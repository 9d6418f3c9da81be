// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/topmap.h"
#include "lib/hmap.h"

#define MAGIC "esptops1"
#define BOOT_LEN 40 /* a UUID's 36 characters, NUL padded */

struct hdr {
	char magic[8];
	char boot[BOOT_LEN];
	uint32_t nslots;
	uint32_t hwm; /* slots [0, hwm) may be in use: raised before one is */
	uint8_t pad[8];
};

struct slot {
	uint32_t spi;
	uint32_t used;
	uint8_t fp[TOPMAP_FP_LEN];
	_Atomic uint64_t top;
};

_Static_assert(sizeof(struct hdr) == 64, "header size");
_Static_assert(sizeof(struct slot) == 32, "slot size");

#define FILE_SIZE (sizeof(struct hdr) + (size_t)TOPMAP_SLOTS * sizeof(struct slot))

struct topmap {
	struct hdr *h;
	struct slot *slots;
	struct hmap idx;   /* hash(spi, fp) -> slot */
	uint32_t *free;    /* released slots below hwm */
	size_t nfree, free_cap;
	size_t n;
	size_t dropped;
};

static uint64_t key_hash(uint32_t spi, const uint8_t *fp)
{
	uint8_t k[4 + TOPMAP_FP_LEN];

	memcpy(k, &spi, 4);
	memcpy(k + 4, fp, TOPMAP_FP_LEN);
	return hmap_hash_bytes(k, sizeof(k));
}

static int read_boot(char boot[BOOT_LEN])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	char *nl;

	memset(boot, 0, BOOT_LEN);
	if (!f)
		return -errno;
	if (!fgets(boot, BOOT_LEN, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	nl = strchr(boot, '\n');
	if (nl)
		*nl = 0;
	memset(boot + strlen(boot), 0, BOOT_LEN - strlen(boot));
	return 0;
}

static int push_free(struct topmap *m, uint32_t i)
{
	if (m->nfree == m->free_cap) {
		size_t cap = m->free_cap ? 2 * m->free_cap : 64;
		uint32_t *f = realloc(m->free, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		m->free = f;
		m->free_cap = cap;
	}
	m->free[m->nfree++] = i;
	return 0;
}

/* A file of another boot, or not ours: every record goes. */
static bool valid_records(const struct hdr *h, const char *boot, off_t size)
{
	return size == (off_t)FILE_SIZE && !memcmp(h->magic, MAGIC, 8) &&
	       h->nslots == TOPMAP_SLOTS && h->hwm <= TOPMAP_SLOTS &&
	       !memcmp(h->boot, boot, BOOT_LEN);
}

static size_t count_used(const struct hdr *h, const struct slot *s,
			 off_t size)
{
	size_t n = 0;
	uint32_t i;

	if (size != (off_t)FILE_SIZE || memcmp(h->magic, MAGIC, 8) ||
	    h->hwm > TOPMAP_SLOTS)
		return 0;
	for (i = 0; i < h->hwm; i++)
		n += s[i].used == 1;
	return n;
}

int topmap_open_boot(struct topmap **out, const char *dir, const char *boot_in,
		     char *err, size_t errlen)
{
	char path[4096], boot[BOOT_LEN] = { 0 };
	struct topmap *m;
	struct stat st;
	void *p;
	int fd, ret;
	uint32_t i;

	*out = NULL;
	strncpy(boot, boot_in, BOOT_LEN - 1);
	if ((size_t)snprintf(path, sizeof(path), "%s/tops", dir) >=
	    sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	if (st.st_size < (off_t)FILE_SIZE && ftruncate(fd, FILE_SIZE)) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	p = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		goto fail;
	}
	m->h = p;
	m->slots = (struct slot *)((char *)p + sizeof(struct hdr));
	if (!valid_records(m->h, boot, st.st_size)) {
		m->dropped = count_used(m->h, m->slots, st.st_size);
		/* start over: a hole again (the pages go), then the header */
		if (ftruncate(fd, 0) || ftruncate(fd, FILE_SIZE)) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			munmap(p, FILE_SIZE);
			goto fail;
		}
		memcpy(m->h->magic, MAGIC, 8);
		memcpy(m->h->boot, boot, BOOT_LEN);
		m->h->nslots = TOPMAP_SLOTS;
		m->h->hwm = 0;
	}
	close(fd);
	for (i = 0; i < m->h->hwm; i++) {
		if (m->slots[i].used == 1)
			ret = hmap_add(&m->idx,
				       key_hash(m->slots[i].spi, m->slots[i].fp),
				       &m->slots[i]);
		else
			ret = push_free(m, i);
		if (ret) {
			snprintf(err, errlen, "%s: out of memory", path);
			topmap_close(m);
			return ret;
		}
		m->n += m->slots[i].used == 1;
	}
	*out = m;
	return 0;
fail:
	close(fd);
	free(m);
	return ret;
}

int topmap_open(struct topmap **out, const char *dir, char *err,
		size_t errlen)
{
	char boot[BOOT_LEN];
	int ret = read_boot(boot);

	if (ret) {
		*out = NULL;
		snprintf(err, errlen, "/proc/sys/kernel/random/boot_id: %s",
			 strerror(-ret));
		return ret;
	}
	return topmap_open_boot(out, dir, boot, err, errlen);
}

void topmap_close(struct topmap *m)
{
	if (!m)
		return;
	munmap(m->h, FILE_SIZE);
	hmap_free(&m->idx);
	free(m->free);
	free(m);
}

size_t topmap_dropped(const struct topmap *m)
{
	return m ? m->dropped : 0;
}

size_t topmap_count(const struct topmap *m)
{
	return m ? m->n : 0;
}

_Atomic uint64_t *topmap_claim(struct topmap *m, uint32_t spi,
			       const uint8_t fp[TOPMAP_FP_LEN], uint64_t init,
			       uint64_t *top, bool *found)
{
	uint64_t h = key_hash(spi, fp);
	struct slot *s;
	size_t it = 0;
	uint32_t i;

	*found = false;
	while ((s = hmap_next(&m->idx, h, &it)))
		if (s->spi == spi && !memcmp(s->fp, fp, TOPMAP_FP_LEN)) {
			*found = true;
			*top = atomic_load(&s->top);
			return &s->top;
		}
	if (m->nfree) {
		i = m->free[--m->nfree];
	} else if (m->h->hwm < TOPMAP_SLOTS) {
		i = m->h->hwm;
		/* raised first: a crash from here leaves a slot that is
		 * free (used 0) below it, never a record above it */
		m->h->hwm = i + 1;
	} else {
		return NULL;
	}
	s = &m->slots[i];
	if (hmap_add(&m->idx, h, s)) {
		push_free(m, i); /* cannot fail: it was just taken */
		return NULL;
	}
	s->spi = spi;
	memcpy(s->fp, fp, TOPMAP_FP_LEN);
	atomic_store(&s->top, init);
	/* the record counts only once it is whole */
	atomic_thread_fence(memory_order_release);
	s->used = 1;
	m->n++;
	*top = init;
	return &s->top;
}

void topmap_release(struct topmap *m, _Atomic uint64_t *top)
{
	struct slot *s;

	if (!m || !top)
		return;
	s = (struct slot *)((char *)top - offsetof(struct slot, top));
	if (!hmap_del(&m->idx, key_hash(s->spi, s->fp), s))
		return;
	s->used = 0;
	atomic_store(&s->top, 0);
	m->n--;
	push_free(m, (uint32_t)(s - m->slots));
}

void topmap_each(const struct topmap *m,
		 void (*cb)(void *arg, uint32_t spi,
			    const uint8_t fp[TOPMAP_FP_LEN], uint64_t top),
		 void *arg)
{
	uint32_t i;

	for (i = 0; m && i < m->h->hwm; i++)
		if (m->slots[i].used == 1)
			cb(arg, m->slots[i].spi, m->slots[i].fp,
			   atomic_load(&m->slots[i].top));
}

void topmap_reset(struct topmap *m)
{
	if (!m)
		return;
	memset(m->slots, 0, (size_t)m->h->hwm * sizeof(*m->slots));
	m->h->hwm = 0;
	hmap_free(&m->idx);
	memset(&m->idx, 0, sizeof(m->idx));
	m->nfree = 0;
	m->n = 0;
}
