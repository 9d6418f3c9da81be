/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xsk: one AF_XDP socket with its own UMEM, and the accounting of its
 * frames. Every frame has exactly one owner at every moment:
 *
 *   FREE   on the worker's LIFO free stack
 *   FILL   given to the kernel: fill ring, the kernel, or the RX ring
 *   WORKER in the worker's hands during a burst
 *   TX     given to the kernel: TX ring, the kernel, or the completion ring
 *   HELD   read from the tun, waiting for its next hop's MAC (worker's list)
 *   HANDOFF lent to the worker that owns its SA, until it comes back
 *
 * owner[] records the state of each frame; n_state[] counts them. The
 * audit recounts owner[], and walks the free stack and the RX and completion
 * rings checking that every frame there is found once, where its owner says.
 */
#ifndef ESPRESSO_XSK_H
#define ESPRESSO_XSK_H

#include <stdbool.h>
#include <stdint.h>

#include <xdp/xsk.h>

#define XSK_FRAME_SIZE 4096
#define XSK_NUM_FRAMES 8192
#define XSK_RX_SIZE 2048
#define XSK_TX_SIZE 2048
/* The fill ring's size is the config's workers.fill_ring, up to this. */
#define XSK_FILL_MAX 4096
#define XSK_COMP_SIZE (2 * XSK_TX_SIZE)

_Static_assert((XSK_NUM_FRAMES & (XSK_NUM_FRAMES - 1)) == 0, "power of 2");
_Static_assert(XSK_FILL_MAX + XSK_TX_SIZE < XSK_NUM_FRAMES,
	       "fill ring and TX ring together must leave free frames");

enum frame_state {
	FRAME_FREE,
	FRAME_FILL,
	FRAME_WORKER,
	FRAME_TX,
	FRAME_HELD,
	FRAME_HANDOFF,
	FRAME_NSTATES
};

struct xsk_port {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	void *area;
	int fd;
	bool zerocopy;
	uint64_t *free_stack; /* frame addresses */
	uint32_t nfree;
	uint8_t *owner;       /* enum frame_state, by frame index */
	uint64_t n_state[FRAME_NSTATES];
};

struct xsk_audit {
	uint64_t frames;
	uint64_t n_state[FRAME_NSTATES];
	uint64_t in_fill_ring, in_rx_ring, in_tx_ring, in_comp_ring;
	uint64_t kernel_held; /* FILL or TX frames in no ring: inside the kernel */
	uint64_t duplicates;  /* a frame found twice */
	uint64_t misplaced;   /* found where its owner says it is not */
	uint64_t count_errors; /* n_state[] disagrees with owner[] */
};

/*
 * Create the UMEM and the socket on ifname/queue and put it into the XSKMAP
 * xsks_map_fd. zerocopy: CFG_AUTO tries zero-copy then copy mode.
 * fill_size: the fill ring (a power of 2 up to XSK_FILL_MAX), which the
 * worker keeps full: the frames the kernel can receive into before the
 * worker next runs. Like a NIC's RX ring: deeper rides out longer stalls,
 * shallower cycles fewer frames, so they are still in cache when the
 * kernel copies into them again.
 * Returns 0 or -errno (message logged).
 */
int xsk_port_open(struct xsk_port *p, const char *ifname, int queue,
		  int zerocopy, int xsks_map_fd, uint32_t fill_size);
/* The same with the socket at key in the XSKMAP (router mode: a LAN's
 * sockets sit after the uplink's, ESPRESSO_XSK_KEY). */
int xsk_port_open_key(struct xsk_port *p, const char *ifname, int queue,
		      int zerocopy, int xsks_map_fd, uint32_t key,
		      uint32_t fill_size);
void xsk_port_close(struct xsk_port *p);

static inline uint8_t *xsk_port_frame(const struct xsk_port *p, uint64_t addr)
{
	return (uint8_t *)p->area + addr;
}

static inline void frame_move(struct xsk_port *p, uint64_t addr,
			      enum frame_state to)
{
	uint32_t i = addr / XSK_FRAME_SIZE;

	p->n_state[p->owner[i]]--;
	p->owner[i] = to;
	p->n_state[to]++;
}

/* Take a free frame (WORKER now); false when none is left. */
static inline bool xsk_port_alloc(struct xsk_port *p, uint64_t *addr)
{
	if (!p->nfree)
		return false;
	*addr = p->free_stack[--p->nfree];
	frame_move(p, *addr, FRAME_WORKER);
	return true;
}

/* Give a WORKER frame back to the free stack. */
static inline void xsk_port_free(struct xsk_port *p, uint64_t addr)
{
	addr -= addr % XSK_FRAME_SIZE;
	frame_move(p, addr, FRAME_FREE);
	p->free_stack[p->nfree++] = addr;
}

/* SO_PREFER_BUSY_POLL, SO_BUSY_POLL and SO_BUSY_POLL_BUDGET on the socket. */
int xsk_port_busy_poll(struct xsk_port *p, int budget);
/* Free stack -> fill ring, as much as fits. Returns frames given. */
unsigned int xsk_port_refill(struct xsk_port *p);
/* Every frame free, then the fill ring filled: for a port just set up,
 * its free stack allocated and its counts zero (xsk_port_open; a port
 * whose rings are plain memory, tests/fakexsk.h). */
void xsk_port_frames_init(struct xsk_port *p);
/* Completion ring -> free stack. Returns frames completed. */
unsigned int xsk_port_complete(struct xsk_port *p);
/* Kick the kernel to send when the TX ring asks for it. */
bool xsk_port_kick(struct xsk_port *p);
/* Check every frame is where its owner says (call with none in WORKER). */
void xsk_port_audit(const struct xsk_port *p, struct xsk_audit *a);

#endif
