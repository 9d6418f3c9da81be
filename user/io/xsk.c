// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <linux/if_xdp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include "config/config.h"
#include "lib/log.h"
#include "io/xsk.h"

static int socket_create(struct xsk_port *p, const char *ifname, int queue,
			 bool zc)
{
	struct xsk_socket_config cfg = {
		.rx_size = XSK_RX_SIZE,
		.tx_size = XSK_TX_SIZE,
		/* our own program and XSKMAP, not libxdp's default one */
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY),
	};

	return xsk_socket__create(&p->xsk, ifname, queue, p->umem, &p->rx,
				  &p->tx, &cfg);
}

int xsk_port_open(struct xsk_port *p, const char *ifname, int queue,
		  int zerocopy, int xsks_map_fd, uint32_t fill_size)
{
	return xsk_port_open_key(p, ifname, queue, zerocopy, xsks_map_fd,
				 queue, fill_size);
}

int xsk_port_open_key(struct xsk_port *p, const char *ifname, int queue,
		      int zerocopy, int xsks_map_fd, uint32_t key,
		      uint32_t fill_size)
{
	struct xsk_umem_config ucfg = {
		.fill_size = fill_size,
		.comp_size = XSK_COMP_SIZE,
		.frame_size = XSK_FRAME_SIZE,
		.frame_headroom = 0,
	};
	size_t size = (size_t)XSK_NUM_FRAMES * XSK_FRAME_SIZE;
	int err;

	memset(p, 0, sizeof(*p));
	p->area = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->area == MAP_FAILED) {
		p->area = NULL;
		log_err("queue %d: cannot map %zu bytes of UMEM: %s", queue,
			size, strerror(errno));
		return -ENOMEM;
	}
	p->free_stack = calloc(XSK_NUM_FRAMES, sizeof(*p->free_stack));
	p->owner = calloc(XSK_NUM_FRAMES, sizeof(*p->owner));
	if (!p->free_stack || !p->owner) {
		xsk_port_close(p);
		return -ENOMEM;
	}
	err = xsk_umem__create(&p->umem, p->area, size, &p->fill, &p->comp,
			       &ucfg);
	if (err) {
		log_err("queue %d: xsk_umem__create: %s (is the memlock limit "
			"too low?)", queue, strerror(-err));
		xsk_port_close(p);
		return err;
	}
	err = -EOPNOTSUPP;
	if (zerocopy != CFG_OFF) {
		err = socket_create(p, ifname, queue, true);
		if (!err)
			p->zerocopy = true;
		else if (zerocopy == CFG_ON)
			log_err("%s queue %d: zero-copy bind failed: %s "
				"(set uplink.zerocopy = \"auto\" to fall back "
				"to copy mode)", ifname, queue, strerror(-err));
		else
			log_info("%s queue %d: no zero-copy (%s), using copy "
				 "mode", ifname, queue, strerror(-err));
	}
	if (err && zerocopy != CFG_ON)
		err = socket_create(p, ifname, queue, false);
	if (err) {
		if (zerocopy != CFG_ON)
			log_err("%s queue %d: AF_XDP socket: %s", ifname, queue,
				strerror(-err));
		xsk_port_close(p);
		return err;
	}
	p->fd = xsk_socket__fd(p->xsk);
	err = bpf_map_update_elem(xsks_map_fd, &key, &p->fd, 0) ? -errno : 0;
	if (err) {
		log_err("%s queue %d: cannot add the socket to the XSKMAP: %s",
			ifname, queue, strerror(-err));
		xsk_port_close(p);
		return err;
	}
	xsk_port_frames_init(p);
	return 0;
}

void xsk_port_frames_init(struct xsk_port *p)
{
	uint32_t i;

	for (i = 0; i < XSK_NUM_FRAMES; i++)
		p->free_stack[i] = (uint64_t)(XSK_NUM_FRAMES - 1 - i) *
				   XSK_FRAME_SIZE;
	p->nfree = XSK_NUM_FRAMES;
	p->n_state[FRAME_FREE] = XSK_NUM_FRAMES;
	xsk_port_refill(p);
}

void xsk_port_close(struct xsk_port *p)
{
	if (p->xsk)
		xsk_socket__delete(p->xsk);
	if (p->umem)
		xsk_umem__delete(p->umem);
	if (p->area)
		munmap(p->area, (size_t)XSK_NUM_FRAMES * XSK_FRAME_SIZE);
	free(p->free_stack);
	free(p->owner);
	memset(p, 0, sizeof(*p));
}

int xsk_port_busy_poll(struct xsk_port *p, int budget)
{
	int one = 1, usecs = 20;

	if (setsockopt(p->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one,
		       sizeof(one)) ||
	    setsockopt(p->fd, SOL_SOCKET, SO_BUSY_POLL, &usecs,
		       sizeof(usecs)) ||
	    setsockopt(p->fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget,
		       sizeof(budget))) {
		log_warn("busy polling on the AF_XDP socket: %s (needs "
			 "CAP_NET_ADMIN; kernel 5.11+)", strerror(errno));
		return -errno;
	}
	return 0;
}

unsigned int xsk_port_refill(struct xsk_port *p)
{
	uint32_t n = xsk_prod_nb_free(&p->fill, p->nfree), idx, i;

	if (n > p->nfree)
		n = p->nfree;
	if (!n || xsk_ring_prod__reserve(&p->fill, n, &idx) != n)
		return 0;
	for (i = 0; i < n; i++) {
		uint64_t addr = p->free_stack[--p->nfree];

		frame_move(p, addr, FRAME_FILL);
		*xsk_ring_prod__fill_addr(&p->fill, idx + i) = addr;
	}
	xsk_ring_prod__submit(&p->fill, n);
	return n;
}

unsigned int xsk_port_complete(struct xsk_port *p)
{
	uint32_t idx, n, i;

	n = xsk_ring_cons__peek(&p->comp, XSK_COMP_SIZE, &idx);
	for (i = 0; i < n; i++) {
		uint64_t addr = *xsk_ring_cons__comp_addr(&p->comp, idx + i);

		addr -= addr % XSK_FRAME_SIZE;
		frame_move(p, addr, FRAME_FREE);
		p->free_stack[p->nfree++] = addr;
	}
	if (n)
		xsk_ring_cons__release(&p->comp, n);
	return n;
}

bool xsk_port_kick(struct xsk_port *p)
{
	int i;

	if (!xsk_ring_prod__needs_wakeup(&p->tx))
		return false;
	/*
	 * Copy mode sends at most 32 frames per sendto(), synchronously: go on
	 * until the ring is drained (bounded). Zero-copy drivers send on their
	 * own once woken. EAGAIN/EBUSY/ENOBUFS: the frames stay queued.
	 */
	for (i = 0; i < (p->zerocopy ? 1 : XSK_TX_SIZE / 32); i++) {
		if (sendto(p->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != ENOBUFS)
			break;
		if (xsk_prod_nb_free(&p->tx, XSK_TX_SIZE) == XSK_TX_SIZE)
			break;
	}
	return true;
}

/* Mark the frames a ring holds between its consumer and producer. */
static void walk_ring(const struct xsk_port *p, void *ring, uint32_t mask,
		      uint32_t cons, uint32_t prod, bool is_desc,
		      enum frame_state expect, uint8_t *seen, uint64_t *count,
		      struct xsk_audit *a)
{
	uint32_t i;

	for (i = cons; i != prod; i++) {
		uint64_t addr = is_desc ? ((struct xdp_desc *)ring)[i & mask].addr
					: ((uint64_t *)ring)[i & mask];
		uint32_t f = addr / XSK_FRAME_SIZE;

		if (f >= XSK_NUM_FRAMES) {
			a->misplaced++;
			continue;
		}
		if (seen[f]++)
			a->duplicates++;
		if (p->owner[f] != expect)
			a->misplaced++;
		(*count)++;
	}
}

void xsk_port_audit(const struct xsk_port *p, struct xsk_audit *a)
{
	uint8_t *seen = calloc(XSK_NUM_FRAMES, 1);
	uint64_t counted[FRAME_NSTATES] = { 0 }, total = 0, held, seen_in_rings;
	uint32_t i;

	memset(a, 0, sizeof(*a));
	a->frames = XSK_NUM_FRAMES;
	memcpy(a->n_state, p->n_state, sizeof(a->n_state));
	if (!seen) {
		a->count_errors = 1;
		return;
	}
	for (i = 0; i < XSK_NUM_FRAMES; i++)
		counted[p->owner[i]]++;
	for (i = 0; i < FRAME_NSTATES; i++)
		if (counted[i] != p->n_state[i])
			a->count_errors++;
	for (i = 0; i < p->nfree; i++) {
		uint32_t f = p->free_stack[i] / XSK_FRAME_SIZE;

		if (seen[f]++)
			a->duplicates++;
		if (p->owner[f] != FRAME_FREE)
			a->misplaced++;
	}
	if (p->nfree != p->n_state[FRAME_FREE])
		a->count_errors++;
	/*
	 * The kernel publishes its consumer index of the fill and TX rings
	 * lazily, so a frame it already took may still show in their
	 * windows: only count those. The RX and completion rings are written
	 * by the kernel and consumed by us, so their windows are exact.
	 */
	a->in_fill_ring = *p->fill.producer - *p->fill.consumer;
	a->in_tx_ring = *p->tx.producer - *p->tx.consumer;
	walk_ring(p, p->rx.ring, p->rx.mask, *p->rx.consumer, *p->rx.producer,
		  true, FRAME_FILL, seen, &a->in_rx_ring, a);
	walk_ring(p, p->comp.ring, p->comp.mask, *p->comp.consumer,
		  *p->comp.producer, false, FRAME_TX, seen, &a->in_comp_ring, a);
	for (i = 0; i < FRAME_NSTATES; i++)
		total += p->n_state[i];
	if (total != XSK_NUM_FRAMES)
		a->count_errors++;
	seen_in_rings = a->in_fill_ring + a->in_rx_ring + a->in_tx_ring +
			a->in_comp_ring;
	held = p->n_state[FRAME_FILL] + p->n_state[FRAME_TX];
	a->kernel_held = held > seen_in_rings ? held - seen_in_rings : 0;
	free(seen);
}
