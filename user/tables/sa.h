/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sa: one security association, an object that outlives table versions.
 *
 * The control thread creates an SA (keys, wire parameters, replay window),
 * keys the cipher contexts of the workers that will use it, and only then
 * publishes it in a table version. Its mutable state -- the outbound
 * sequence counter, the replay window, the per-worker counters -- lives
 * here and carries over from version to version untouched: rebuilding a
 * table never resets a sequence number.
 *
 * Lifetime: a reference count that only the control thread touches (table
 * versions and tunnels hold references); when it drops to zero the SA is
 * freed, which only happens once every version that could show it to a
 * worker has passed its grace period (tables/epoch.h).
 *
 * With one pair per tunnel any worker uses an SA (a "fat tunnel": sequence
 * numbers and the replay window are lock-free). With several, pair i is
 * owned by worker i % queues: only it sends with the outbound SA, and
 * packets of the inbound SA that land elsewhere are handed over to it.
 */
#ifndef ESPRESSO_SA_H
#define ESPRESSO_SA_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/stats.h"
#include "espresso/common.h"
#include "lib/cacheline.h"
#include "proto/crypto.h"
#include "proto/esp.h"
#include "proto/params.h"
#include "proto/replay.h"
#include "tables/peer6.h"

enum sa_dir { SA_IN = 0, SA_OUT = 1 };

/* Larval: SPI reserved, not yet keyed. Mature: carries traffic. Dying:
 * replaced or expired, still decrypting in-flight packets. Dead: out of
 * every table, waiting for its grace period. */
enum sa_state { SA_LARVAL = 0, SA_MATURE, SA_DYING, SA_DEAD };

/* What one worker keeps of one SA: its cipher context and its counters. */
struct sa_worker {
	_Alignas(CACHELINE) struct esp_aead aead; /* ctx NULL: not keyed here */
	uint64_t packets;
	uint64_t bytes;
	uint64_t last_ms; /* worker_now_ms() of the last packet, 0: none */
	/* inbound, the inner source check's last answer (core/rx.c): the
	 * IPv4 sources in src_net/src_mask route to this SA's tunnel in
	 * table version src_gen (0: none); in the line of the counters
	 * above, written per packet anyway (a line further, each packet
	 * would wait for it in rx_post, between two tun writes) */
	uint64_t src_gen;
	uint32_t src_net, src_mask;
	uint64_t errors[DROP_MAX];
	/* inbound, NAT-T over IPv6: what peer_seen is for IPv4 (peer6.h) */
	struct peer6_slot peer6;
};

_Static_assert(__builtin_offsetof(struct sa_worker, src_mask) + 4 <= CACHELINE,
	       "a worker's SA context, counters and source check in one line");

/* Does the inbound source check's last answer (src_*) cover the IPv4
 * address src (4 bytes, network order) in table version gen? */
static inline bool sa_src_cached(const struct sa_worker *sw, uint64_t gen,
				 const uint8_t *src)
{
	uint32_t a;

	memcpy(&a, src, 4);
	/* gen 0: no version (a zeroed part's mask would match anything) */
	return sw->src_gen == gen && gen &&
	       !((a ^ sw->src_net) & sw->src_mask);
}

struct tunnel;

/*
 * Where inbound SAs ask the control thread for their next limit (one per
 * live state): a bit per slot, so that the control thread serves the SAs
 * that asked, not all of them (10,000 tunnels asked about 2,000 times a
 * second, and a scan of every SA per ask took a core), and an eventfd
 * written by the worker that finds no wake pending. The control thread
 * clears wake before it reads bits (sa_asks_clear, sa_asks_take).
 */
struct sa_asks {
	_Atomic uint64_t bits[ESPRESSO_MAX_SA / 64];
	_Atomic int wake;
	int fd; /* eventfd */
};

/* Control thread: the wake is read (the eventfd's count, 0 none); asks
 * from now on write it again. */
uint64_t sa_asks_clear(struct sa_asks *a);
/* Control thread: take the slots that asked, word by word (ESPRESSO_MAX_SA
 * / 64 words into out; out NULL: cleared only). */
void sa_asks_take(struct sa_asks *a, uint64_t *out);

/*
 * One allocation (sa_create): this struct, then the initial wire
 * parameters, the per-worker part and the replay window's slots. The
 * control thread's fields come first; the packet path's lines follow as
 * one run (line 0, the sequence line, the replay line, the wire, the
 * workers', the slots), so that a packet's misses fall on neighbouring
 * lines, which the hardware fetches faster than scattered ones.
 */
struct sa {
	uint64_t id;    /* unique for the daemon's life */
	uint8_t *key;          /* CFG_KEY_MAX bytes of lib/secret.h memory */
	size_t key_len;
	struct sa_life life;   /* from the control API or IKE */
	uint64_t created_ms;   /* monotonic */
	bool soft_fired;
	bool persist;          /* sequence state kept in the state directory */
	uint8_t fp[16];        /* the key's fingerprint there (seqstore.h) */
	/* which key it is, the salt and a pair's derivation left out: SAs
	 * of one "sa add" share it, no other SA may (control/live.c) */
	uint8_t kid[16];
	uint64_t persisted;    /* the value last written there */
	char origin[16];       /* "config", "ctl", "ike" */
	uint32_t reqid;        /* IKE's reqid (charon's plugin); 0: none */
	char child[32];        /* IKE's CHILD_SA name; "": none */
	int refs;              /* control thread only */
	/* the wire parameters sa_create set, in this block: never freed on
	 * their own when replaced (sa_wire_owned) */
	struct esp_sa_params *wire0;
	/* inbound, persisted, the rare part (the rest in the replay line):
	 * see rx_limit below */
	_Atomic int rx_asked;
	struct sa_asks *asks;  /* where it asks; NULL: none (ticks see it) */
	/* control thread only: the block and the rate it was sized by; the
	 * highest limit safe to publish without a sync (what is on disk, and
	 * after the next sync); a reservation waiting for that sync (0 none);
	 * a lowering waiting for its grace period (live.c) */
	uint64_t rx_block, rx_rate_top, rx_rate_ms;
	uint64_t rx_durable, rx_pending;
	bool rx_lowering;
	bool rel_listed; /* in live's list of limits to publish after a sync */

	/* line 0: what every packet reads */
	_Alignas(CACHELINE) uint32_t spi;
	uint32_t slot;  /* inbound: index in the tables and the BPF map */
	int nworkers;
	int pair;       /* in its tunnel */
	int owner;      /* the worker that uses it, -1 for any */
	enum sa_dir dir;
	enum sa_state state;
	enum cfg_cipher cipher;
	bool esn;
	/* outbound: what the packets carry; inbound: the outer addresses
	 * expected. Replaced whole (sa update: the peer moved), the old one
	 * freed after a grace period. */
	_Atomic(struct esp_sa_params *) wire;
	struct tunnel *tunnel; /* holds a reference */
	struct sa_worker *pw;  /* [nworkers], in this block */

	/* outbound: the last sequence number handed out; never wraps, and
	 * never passes seq_limit (what the state directory has reserved).
	 * Written per packet: a line of its own. */
	_Alignas(CACHELINE) _Atomic uint64_t seq;
	_Atomic uint64_t seq_limit;
	uint64_t seq_max;
	_Atomic int exhausted; /* set once by a worker, reported by control */
	/* inbound, NAT-T: the outer source (sa_peer_pack) of an authenticated
	 * packet, the newest of its SA, that is not where the tunnel sends;
	 * set by a worker only when it changes, taken by the control thread
	 * (live.c), which decides whether the tunnel follows. 0: none. */
	_Atomic uint64_t peer_seen;
	_Atomic int blocked;   /* seq_limit reached: control must reserve */
	/* inbound, written per packet: its own line */
	_Alignas(CACHELINE) struct replay_window replay;
	/*
	 * inbound, persisted (control/live.c): a number is accepted only up
	 * to rx_limit, which is on disk before it is published, so a restart
	 * after a reboot (top := the stored limit; in the same boot the exact
	 * top, rx_exact) never accepts one accepted before. A
	 * worker whose number reaches rx_ask (limit - block/2) sets rx_asked
	 * and, the first to, marks its slot in asks (sa_asks): once a
	 * block. rx_want: the highest authenticated number refused, so a gap
	 * larger than the block (lost packets) is covered by the next limit.
	 * Not persisted: both UINT64_MAX.
	 */
	_Atomic uint64_t rx_limit;
	_Atomic uint64_t rx_ask;
	/* inbound, persisted: this SA's record in the tops file, the exact
	 * top that outlives the process (control/topmap.h); NULL: none */
	_Atomic uint64_t *rx_exact;
	_Atomic uint64_t rx_want;
};

_Static_assert(__builtin_offsetof(struct sa, pw) + sizeof(void *) -
			       __builtin_offsetof(struct sa, spi) <= CACHELINE,
	       "the packet path's fields of an SA in its line 0");
_Static_assert(sizeof(struct replay_window) + 4 * sizeof(uint64_t) <= CACHELINE,
	       "the inbound packet path's per-packet fields in one line");

/* The first line every packet of the SA reads (prefetch.c). */
static inline const void *sa_line0(const struct sa *sa)
{
	return &sa->spi;
}

/* Whether w is a wire-parameter block of its own (malloc'd by an update),
 * to be freed when replaced, and not the one in the SA's block. */
static inline bool sa_wire_owned(const struct sa *sa,
				 const struct esp_sa_params *w)
{
	return w != sa->wire0;
}

struct sa_spec {
	uint32_t spi;
	struct esp_sa_params wire;
	enum sa_dir dir;
	int pair, owner;
	int npairs;      /* of its tunnel: outbound pair p serves workers q
			  * with q % npairs == p */
	enum cfg_cipher cipher;
	bool esn;
	uint32_t replay_window;
	const uint8_t *key;
	size_t key_len;
	struct sa_life life;
	const char *origin;
	uint32_t reqid;
	const char *child; /* NULL: none */
};

/*
 * A new SA with one reference, keyed for the workers that will use it:
 * the owner, or all of them for a shared SA (inbound SAs of per-queue pairs
 * too: a packet reassembled from outer fragments is decrypted where it
 * completes). 0 or -errno.
 */
int sa_create(struct sa **out, const struct sa_spec *s, struct tunnel *t,
	      int nworkers);
void sa_get(struct sa *sa);
/* Drop a reference; the last one wipes the keys and frees the SA. */
void sa_put(struct sa *sa);

/*
 * The key of SA pair i from the configured key (key_len bytes, salt
 * included): HKDF-SHA256 (RFC 5869) with no salt, the configured key as
 * input and "espresso sa" || SPI (big-endian) as info, key_len bytes out.
 * Both gateways derive the same key for the same SPI; no two SPIs share one.
 */
int sa_derive_key(const uint8_t *key, size_t key_len, uint32_t spi,
		  uint8_t *out);

/*
 * Reserve n consecutive outbound sequence numbers; returns the first. When
 * the SA's space would be exceeded, returns 0 and reserves nothing; the SA
 * is marked exhausted once not a single number is left (n == 0 returns 0
 * and marks nothing). A batch that does not fit can go on one by one.
 * Numbers past seq_limit (not yet persisted) are refused the same way and
 * mark the SA blocked instead.
 */
uint64_t sa_seq_reserve(struct sa *sa, uint32_t n);

#define SA_PEER_VALID (1ull << 48)
#define SA_PEER_V6 (1ull << 49) /* pkt->peer: the source is pkt->peer6 */

/* An outer IPv4 address and UDP port (both network order) in one word. */
static inline uint64_t sa_peer_pack(uint32_t addr_be, uint16_t port_be)
{
	return SA_PEER_VALID | (uint64_t)ntohl(addr_be) << 16 | ntohs(port_be);
}

static inline const struct esp_sa_params *sa_wire(const struct sa *sa)
{
	return atomic_load_explicit(&((struct sa *)sa)->wire,
				    memory_order_acquire);
}

/*
 * Inbound, after the ICV passed and before replay_update: may seq be
 * accepted, as far as the persisted limit goes? Past rx_ask it asks the
 * control thread for the next block (once; the slow path, out of line).
 */
bool sa_rx_limit_slow(struct sa *sa, uint64_t seq);
/* The same, then wait (at most SA_RX_WAIT_MS) for the control thread to
 * publish a limit that covers seq: the packet path's answer (sa.c). */
#define SA_RX_WAIT_MS 100
bool sa_rx_limit_wait(struct sa *sa, uint64_t seq);
/* Below rx_ask: accepted without a look at the limit (the fast path). */
static inline bool sa_rx_limit_fast(struct sa *sa, uint64_t seq)
{
	return __builtin_expect(seq < atomic_load_explicit(&sa->rx_ask,
							    memory_order_acquire),
				1);
}

static inline bool sa_rx_limit_ok(struct sa *sa, uint64_t seq)
{
	return sa_rx_limit_fast(sa, seq) || sa_rx_limit_slow(sa, seq);
}

/*
 * After replay_update accepted seq, before the packet goes on: the exact
 * top in the tops file (a store to a shared mapping; only when it rises).
 */
static inline void sa_rx_note(struct sa *sa, uint64_t seq)
{
	_Atomic uint64_t *t = sa->rx_exact;
	uint64_t cur;

	if (!t)
		return;
	cur = atomic_load_explicit(t, memory_order_relaxed);
	while (seq > cur &&
	       !atomic_compare_exchange_weak_explicit(t, &cur, seq,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

/* Counters summed over the workers (read by the control thread). */
void sa_sum(const struct sa *sa, struct sa_worker *sum);

#endif
