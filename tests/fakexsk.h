/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fakexsk: an XSK port (io/xsk.h) whose rings are plain memory, for
 * programs that run the worker's burst paths without a kernel socket
 * (bench_spread, unit tests): the caller plays the kernel's side, taking
 * frames off the TX ring and completing them, or writing RX descriptors.
 * No XDP_RING_NEED_WAKEUP: the worker never kicks.
 */
#ifndef ESPRESSO_TESTS_FAKEXSK_H
#define ESPRESSO_TESTS_FAKEXSK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "espresso/common.h"
#include "io/xsk.h"

/* XDP_PACKET_HEADROOM: where copy mode puts a received frame's data */
#define FAKEXSK_HEADROOM 256

struct mring {
	uint32_t prod, cons, flags; /* what the kernel shares */
	uint32_t mask;              /* size - 1 */
	void *descs;
};

struct fport {
	struct mring fill, comp, rx, tx;
};

static inline void fakexsk_die(const char *what)
{
	fprintf(stderr, "fakexsk: %s: out of memory\n", what);
	abort();
}

static inline void mring_init(struct mring *m, void *r, bool prod,
			      uint32_t size, size_t esize)
{
	struct xsk_ring_prod *x = r; /* same layout as xsk_ring_cons */

	memset(m, 0, sizeof(*m));
	m->mask = size - 1;
	m->descs = calloc(size, esize);
	if (!m->descs)
		fakexsk_die("ring");
	x->producer = &m->prod;
	x->consumer = &m->cons;
	x->flags = &m->flags;
	x->ring = m->descs;
	x->mask = size - 1;
	x->size = size;
	x->cached_prod = 0;
	x->cached_cons = prod ? size : 0;
}

/* p: every frame free, the fill ring filled as xsk_port_refill does */
static inline void fport_init(struct xsk_port *p, struct fport *f,
			      uint32_t fill_size)
{
	size_t size = (size_t)XSK_NUM_FRAMES * XSK_FRAME_SIZE;

	memset(p, 0, sizeof(*p));
	p->area = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	p->free_stack = calloc(XSK_NUM_FRAMES, sizeof(*p->free_stack));
	p->owner = calloc(XSK_NUM_FRAMES, sizeof(*p->owner));
	if (p->area == MAP_FAILED || !p->free_stack || !p->owner)
		fakexsk_die("UMEM");
	p->fd = -1;
	mring_init(&f->fill, &p->fill, true, fill_size, sizeof(uint64_t));
	mring_init(&f->comp, &p->comp, false, XSK_COMP_SIZE, sizeof(uint64_t));
	mring_init(&f->rx, &p->rx, false, XSK_RX_SIZE, sizeof(struct xdp_desc));
	mring_init(&f->tx, &p->tx, true, XSK_TX_SIZE, sizeof(struct xdp_desc));
	xsk_port_frames_init(p);
}

static inline void fport_free(struct xsk_port *p, struct fport *f)
{
	munmap(p->area, (size_t)XSK_NUM_FRAMES * XSK_FRAME_SIZE);
	free(p->free_stack);
	free(p->owner);
	free(f->fill.descs);
	free(f->comp.descs);
	free(f->rx.descs);
	free(f->tx.descs);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

/* The next frame on the TX ring (its descriptor), or NULL when empty;
 * fport_tx_done completes it (the completion ring), as the kernel would
 * once sent. */
static inline const struct xdp_desc *fport_tx_peek(struct fport *f)
{
	if (f->tx.cons == f->tx.prod)
		return NULL;
	return (const struct xdp_desc *)f->tx.descs +
	       (f->tx.cons & (XSK_TX_SIZE - 1));
}

static inline void fport_tx_done(struct fport *f, uint64_t addr)
{
	uint64_t *comp = f->comp.descs;

	comp[f->comp.prod++ & (XSK_COMP_SIZE - 1)] = addr;
	f->tx.cons++;
}

/* The next fill frame, as the kernel takes one to receive into (its
 * data goes at FAKEXSK_HEADROOM); aborts when the fill ring is empty. */
static inline uint64_t fport_fill_take(struct fport *f)
{
	if (f->fill.cons == f->fill.prod) {
		fprintf(stderr, "fakexsk: fill ring empty\n");
		abort();
	}
	return ((uint64_t *)f->fill.descs)[f->fill.cons++ & f->fill.mask];
}

/* An Ethernet/IPv4/ESP frame of len bytes received into the fill frame at
 * addr (its data at FAKEXSK_HEADROOM, data pointing there): the metadata
 * the XDP program writes in front of it (the SPI and the slot its map
 * gave), then its descriptor on the RX ring. */
static inline void fport_rx_esp4(struct fport *f, uint8_t *data,
				 uint64_t addr, uint32_t len, uint32_t spi,
				 uint32_t slot)
{
	struct espresso_meta *m = (void *)(data - sizeof(*m));
	struct xdp_desc *d;

	memset(m, 0, sizeof(*m));
	m->magic = ESPRESSO_META_MAGIC;
	m->verdict = ESPRESSO_V_ESP_IN;
	m->l3_proto = 4;
	m->l3_off = 14;
	m->esp_off = 14 + 20;
	m->spi = spi;
	m->sa_index = slot;
	d = (struct xdp_desc *)f->rx.descs + (f->rx.prod & f->rx.mask);
	d->addr = addr + FAKEXSK_HEADROOM;
	d->len = len;
	f->rx.prod++;
}

#endif
