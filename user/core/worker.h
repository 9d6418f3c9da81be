/* SPDX-License-Identifier: GPL-2.0 */
/*
 * worker: one thread per uplink queue. It owns its AF_XDP socket and UMEM,
 * its tun queue, its cipher contexts and its counters: nothing on its
 * packet path takes a lock. Each turn it takes a burst from the XSK
 * (inbound ESP) and one from the tun (outbound plaintext) and runs each
 * through three passes: prepare, crypto, post.
 */
#ifndef ESPRESSO_WORKER_H
#define ESPRESSO_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "proto/params.h"
#include "espresso/common.h"
#include "proto/crypto.h"
#include "proto/gro.h"
#include "proto/reasm.h"
#include "tables/epoch.h"
#include "tables/tables.h"
#include "core/stats.h"
#include "core/tap.h"
#include "io/xsk.h"

#define WORKER_BATCH_MAX 256
/* The inner packet read from the tun starts here in its frame. */
#define WORKER_TX_INNER_OFF 256
/* Packets a worker keeps while their next hop is resolved, and how long. */
#define WORKER_HOLD_MAX 64
#define WORKER_HOLD_MS 3000

/* A held packet finds its tunnel again by slot and id: the tunnel may be
 * gone (and freed) by the time the next hop resolves. */
struct held_pkt {
	uint64_t addr;
	uint32_t len;
	uint32_t tslot;
	uint64_t tid;
	uint64_t since_ms;
};

/*
 * A packet read from the tun whose route is being looked up, one load per
 * tun read (tx.c): its FIB walk, then its tunnel's slot, then the tunnel,
 * each prefetched while the next packet is read. It joins the batch when
 * its route is known, in the order read.
 */
#define TX_ROUTE_MAX 8
struct tx_routing {
	uint64_t addr;         /* the frame */
	const uint8_t *pkt;    /* the inner packet in it */
	uint32_t len;
	uint32_t slot;         /* once the FIB gave it: the tunnel slot + 1 */
	uint8_t stage;         /* tx.c enum route_stage */
	const uint8_t *dst;    /* in the frame */
	const struct fib *f;
	struct tunnel *t;      /* once done; NULL: no route */
	struct fib_walk k;
};

struct spsc_ring;
struct worker;
struct lan_neigh;
struct lan_neigh6;
struct spd_snap;

/*
 * Router mode: a LAN interface as the workers see it. Set up before they
 * start, never changed while they run (an address change on the LAN takes
 * a restart), but for the neighbour table, which has its own rules.
 */
#define LAN_PREFIX_MAX 8
struct lan_env {
	int ifindex;
	uint16_t vrf;  /* its VRF: plaintext routed, decrypted packets sent
			* out on it, in that VRF only */
	uint8_t mac[6];
	int mtu;
	uint32_t addr; /* its first IPv4 address (network order): ICMP source */
	int nprefix;   /* its on-link IPv4 prefixes, and the gateway's own */
	uint32_t net[LAN_PREFIX_MAX], mask[LAN_PREFIX_MAX], own[LAN_PREFIX_MAX];
	struct lan_neigh *neigh;
	struct spsc_ring *want; /* [worker]: addresses whose MAC is missing */
	/* IPv6: its first global address (ICMPv6 source; none: all zero),
	 * its on-link prefixes and the gateway's own, its neighbours */
	uint8_t addr6[16];
	int nprefix6;
	uint8_t net6[LAN_PREFIX_MAX][16], own6[LAN_PREFIX_MAX][16];
	uint8_t plen6[LAN_PREFIX_MAX];
	struct lan_neigh6 *neigh6;
	struct spsc_ring *want6; /* [worker]: 16-byte addresses */
};

/* A decrypted packet, in a LAN frame, waiting for its host's MAC. */
struct lan_held {
	uint64_t addr;
	uint32_t len;
	uint32_t ip;
	uint64_t since_ms;
	bool v6; /* its address is ip6 */
	uint8_t ip6[16];
};

/* A worker's XSK on one LAN (its own UMEM: see README, router mode). */
struct lan_port {
	struct xsk_port port;
	bool open; /* false: the LAN has fewer queues than this worker's id */
	struct lan_held hold[WORKER_HOLD_MAX];
	unsigned int nhold;
	/* this port's share of lan_rx..lan_tx_bytes (show lans), written by
	 * its worker only, read by the control thread as the stats are */
	uint64_t rx, rx_bytes, tx, tx_bytes;
};

struct worker_env {
	/* the published table version, and the grace periods of old ones */
	_Atomic(struct tables *) *tables;
	struct epoch *epoch;
	struct worker *workers;  /* all of them, for handoff */
	int nworkers;
	struct spsc_ring *hand;  /* [s * nworkers + d]: s hands frames to d */
	struct spsc_ring *back;  /* [d * nworkers + s]: d gives them back */
	bool busy_poll;
	uint8_t uplink_mac[6];
	int uplink_mtu;
	int batch;
	bool offload;   /* the tun has a virtio_net_hdr: GSO, GRO, csum */
	bool mss_clamp;
	_Atomic int *stop;
	/* espressoctl trace and pcap (core/tap.h): NULL while off */
	_Atomic(struct tap_cfg *) tap;
	struct lan_env lans[ESPRESSO_MAX_LAN]; /* router mode */
	int nlans;
	_Atomic(struct spd_snap *) *spd; /* router mode: its SPD, or NULL */
};

struct pkt;

/* Outer fragment reassembly bounds, per worker. */
#define WORKER_REASM_MEM (4u << 20)
#define WORKER_REASM_FRAGS 64
#define WORKER_REASM_MS 2000
_Static_assert(ESPRESSO_FRAG_TRAIN_NS == WORKER_REASM_MS * 1000000ull,
	       "the XDP program follows NAT-T trains as long as reasm keeps them");

struct worker {
	/* workers sit in one array: each starts on its own line */
	_Alignas(CACHELINE) int id; /* = uplink queue */
	int cpu; /* -1: not pinned */
	const struct worker_env *env;
	struct xsk_port port;
	int tun_fd; /* the tun being read or written now (VRF's or default) */
	/* this worker's queue of each VRF's tun: [0] the default tun, [v]
	 * VRF v's (-1: none); tun_fd is one of them while a burst of that
	 * VRF runs, [0] between bursts */
	int vrf_fd[1 + CFG_MAX_VRF];
	int nvrf_fd;          /* entries of vrf_fd in use */
	uint16_t cur_vrf;     /* the VRF of tun_fd */
	const struct tables *tb; /* this loop turn's version */
	const struct tap_cfg *tap; /* this turn's trace/pcap, NULL: off */
	uint64_t now_ms;         /* this loop turn's worker_now_ms() */
	struct queue_stats st;
	bool vnet;
	struct gro_table gro;
	struct reasm_table *reasm;
	uint8_t *big;         /* staging for super-packets from the tun */
	struct pkt *txb;      /* the outbound batch, 2 * WORKER_BATCH_MAX */
	unsigned int ntx;
	unsigned int tx_pend; /* txb index + 1 of the packet whose checks
			       * wait for its tunnel's prefetch (tx.c), 0 */
	/* the tunnel of the packet being cut into segments or inner
	 * fragments (emit_inner), and apart from it, since a flush may seal
	 * meanwhile, of the ESP packet being cut into outer fragments
	 * (emit_outer) with its next hop */
	struct tunnel *cur_t;
	struct tunnel *out_t;
	uint8_t out_mac[6];
	uint64_t last_expire_ms;
	uint16_t ip_id;
	uint32_t handoff_out[ESPRESSO_MAX_QUEUES]; /* frames lent to each owner */
	uint64_t kick_mask;   /* workers to wake after this burst */
	int evfd;             /* eventfd: another worker has work for us */
	struct held_pkt hold[WORKER_HOLD_MAX];
	unsigned int nhold;
	pthread_t thread;
	bool started;
	/* loop turns, written (relaxed) only by the worker, once per turn:
	 * the control thread feeds systemd's watchdog only while every
	 * worker's count moves (control/watchdog.c) */
	_Atomic uint64_t loops;
	uint64_t stall_at_ms; /* test hook: ESPRESSO_TEST_STALL_WORKER */
	/* frame audit, asked by the control thread, run by the worker */
	_Atomic int audit_req;
	_Atomic int audit_done;
	struct xsk_audit audit;
	uint64_t tap_ns;         /* this turn's time, while tapped */
	struct tap_snap *tap_tx; /* [2 * WORKER_BATCH_MAX] TX headers */
	struct lan_port lan[ESPRESSO_MAX_LAN]; /* router mode */
	struct xsk_audit lan_audit[ESPRESSO_MAX_LAN]; /* with audit */
	/* the time spent in each pass of the burst paths, in pass_clock()
	 * ticks (bench_spread -p); NULL: not measured (the daemon) */
	uint64_t *pass_ticks;
	/* TX: packets read whose route is being looked up (tx.c), a ring
	 * in read order; last, not to move the fields above */
	unsigned int routing_head, nrouting;
	struct tx_routing routing[TX_ROUTE_MAX];
};

/*
 * Where a burst's time goes, pass by pass (bench_spread -p): the passes
 * of rx_burst and of tx_burst_tun. One clock read a pass (and one where
 * the passes start) when a benchmark asks (w->pass_ticks), one
 * predictable branch when not.
 */
enum worker_pass {
	PASS_RX_PREFETCH, /* rx_prefetch: the SA chain of the burst */
	PASS_RX_PREPARE,  /* pass 1: metadata, SA, outer, replay check */
	PASS_RX_CRYPTO,   /* the cipher contexts' prefetch and pass 2 */
	PASS_RX_INNER,    /* rx_prefetch_inner: the inner source lookups */
	PASS_RX_POST,     /* pass 3 and the tun writes */
	PASS_TX_READ,     /* tun reads, routes, checks (prefetches) */
	PASS_TX_CRYPTO,   /* tx_prefetch_burst, sequence numbers, sealing */
	PASS_TX_POST,     /* Ethernet headers, the TX ring */
	PASS_MAX
};

/* the time stamp counter (no syscall); elsewhere the monotonic clock */
static inline uint64_t pass_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
#endif
}

static inline uint64_t pass_clock(const struct worker *w)
{
	return w->pass_ticks ? pass_now() : 0;
}

/* Add the time since *t to pass k and restart *t. */
static inline void pass_mark(struct worker *w, enum worker_pass k,
			     uint64_t *t)
{
	if (w->pass_ticks) {
		uint64_t now = pass_now();

		w->pass_ticks[k] += now - *t;
		*t = now;
	}
}

/* Allocate the worker's buffers. 0 or -errno. (SAs key their own
 * contexts for the workers that use them: tables/sa.h.) */
int worker_init(struct worker *w, int id, int cpu, const struct worker_env *env,
		int tun_fd);
int worker_start(struct worker *w);
void worker_join(struct worker *w);
/* Free the buffers and close the port. */
void worker_free(struct worker *w);
uint64_t worker_now_ms(void);
/* Wake the workers in w->kick_mask (handoff or returned frames). */
void worker_kick_peers(struct worker *w);
/* Write one packet to the tun: iov[0] the virtio_net_hdr, iov[1..] the
 * packet (the header is skipped when the tun has none). gro_out_fn. */
struct iovec;
int worker_tun_write(void *w, const struct iovec *iov, int iovcnt);
/* Ask the worker for a frame audit and wait (up to timeout_ms) for it. */
int worker_audit(struct worker *w, struct xsk_audit *out, int timeout_ms);

#endif
