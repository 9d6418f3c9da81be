// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "control/live.h"
#include "control/spialloc.h"
#include "tables/sa.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/* Forget reservations whose time is up. Allocations are rare (one per
 * CHILD_SA), so a scan of the array is cheap enough. */
static void expire(struct spialloc *a, uint64_t now)
{
	uint32_t i = 0;

	while (i < a->n) {
		if (a->e[i].until_ms <= now)
			a->e[i] = a->e[--a->n];
		else
			i++;
	}
}

bool spialloc_has(struct spialloc *a, uint32_t spi)
{
	uint32_t i;

	for (i = 0; i < a->n; i++)
		if (a->e[i].spi == spi)
			return true;
	return false;
}

int spialloc_get(struct spialloc *a, struct live *l, uint32_t *spi)
{
	uint64_t now = mono_ms();
	int tries;

	expire(a, now);
	if (a->n == SPIALLOC_MAX)
		return -ENOSPC;
	/* random, as the kernel's: an SPI says nothing about how many SAs
	 * came before it. SPIs below 256 are reserved (RFC 4303). */
	for (tries = 0; tries < 64; tries++) {
		uint32_t v;

		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			return -EAGAIN;
		if (v < 0x100 || live_sa_find(l, v, SA_IN) ||
		    spialloc_has(a, v))
			continue;
		a->e[a->n].spi = v;
		a->e[a->n++].until_ms = now + SPIALLOC_TTL_MS;
		*spi = v;
		return 0;
	}
	return -EAGAIN;
}

void spialloc_put(struct spialloc *a, uint32_t spi)
{
	uint32_t i;

	for (i = 0; i < a->n; i++) {
		if (a->e[i].spi == spi) {
			a->e[i] = a->e[--a->n];
			return;
		}
	}
}
