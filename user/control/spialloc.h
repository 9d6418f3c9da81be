/* SPDX-License-Identifier: GPL-2.0 */
/*
 * spialloc: inbound SPIs handed out by "sa alloc" (charon's get_spi), so
 * that espressod, which knows every SPI in use, picks them and no two SAs
 * collide. A handed-out SPI is larval: reserved, not in any table, until
 * "sa add ... in spi SPI" takes it, or SPIALLOC_TTL_MS passes (an IKE
 * exchange that never finished).
 */
#ifndef ESPRESSO_SPIALLOC_H
#define ESPRESSO_SPIALLOC_H

#include <stdbool.h>
#include <stdint.h>

#define SPIALLOC_MAX 1024       /* reserved at once: exchanges in flight */
#define SPIALLOC_TTL_MS 180000  /* longer than IKE's retransmissions (165 s) */

struct live;

struct spialloc {
	struct {
		uint32_t spi;
		uint64_t until_ms; /* monotonic */
	} e[SPIALLOC_MAX];
	uint32_t n;
};

/* A random SPI (>= 0x100) that no inbound SA has and none reserved: 0, or
 * -ENOSPC when SPIALLOC_MAX are reserved, -EAGAIN if none was found. */
int spialloc_get(struct spialloc *a, struct live *l, uint32_t *spi);
/* spi is no longer larval (taken by an SA, or given up). */
void spialloc_put(struct spialloc *a, uint32_t spi);
bool spialloc_has(struct spialloc *a, uint32_t spi);

#endif
