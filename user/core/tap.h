/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tap: what a worker copies out of its packet path for the operator, only
 * while asked to: trace records (each packet's way through the stages,
 * espressoctl trace) and inner packets (plaintext as sent into or received
 * from a tunnel, espressoctl pcap).
 *
 * Off, it costs one pointer load per loop turn (next to the table
 * version's) and a predicted-not-taken test per burst and per decrypted
 * packet: w->tap is NULL. The control thread turns it on by publishing an
 * immutable struct tap_cfg (one release store, the old one retired through
 * the epoch like a table version); workers load it once per turn.
 *
 * Each worker writes into its own single-producer/single-consumer rings
 * (one for trace records, one for packets), fixed-size slots written in
 * place; the control thread drains them (control/tap_ctl.c) and does all
 * formatting and file I/O. A full ring loses the copy, never the packet:
 * counted in queue_stats trace_lost / pcap_lost.
 *
 * Nothing copied is key material: SPIs, sequence numbers, addresses, the
 * tunnel's name, and inner packets once decrypted (or before encryption).
 */
#ifndef ESPRESSO_TAP_H
#define ESPRESSO_TAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/handoff.h"

struct worker;
struct pkt;

enum {
	TAP_TRACE = 1,   /* trace records */
	TAP_PCAP_IN = 2, /* inner packets after decryption */
	TAP_PCAP_OUT = 4, /* inner packets before encryption */
};

enum tap_dir { TAP_DIR_ANY = 0, TAP_DIR_IN = 1, TAP_DIR_OUT = 2 };

#define TAP_NAME_MAX 32

/* Which packets a trace records; the worker tests it (a full ring of
 * uninteresting records would hide the interesting ones). */
struct tap_filter {
	uint32_t spi;      /* with has_spi */
	bool has_spi;
	bool drops_only;
	uint8_t dir;       /* enum tap_dir */
	char tunnel[TAP_NAME_MAX]; /* "" any */
};

/* Published by the control thread, never changed once published. */
struct tap_cfg {
	uint32_t flags;            /* TAP_* */
	uint32_t snaplen;          /* bytes of a packet kept */
	struct tap_filter filter;
	struct spsc_ring *trace;   /* [nworkers]: struct tap_trace slots */
	struct spsc_ring *pcap;    /* [nworkers]: TAP_PKT_SLOT(snaplen) */
};

/* Trace record flags. */
enum {
	TAP_F_HANDED = 1,   /* RX: lent to the SA's owning worker */
	TAP_F_FRAG = 2,     /* RX: an outer fragment, to reassembly */
	TAP_F_REASM = 4,    /* RX: an ESP packet completed from fragments */
	TAP_F_HELD = 8,     /* TX: waits for its next hop's MAC */
	TAP_F_RAW = 16,     /* TX: an outer fragment of an ESP packet */
	TAP_F_SPLIT = 32,   /* TX: replaced by its inner fragments */
	TAP_F_INNER = 64,   /* hdr holds the inner packet's first bytes */
	TAP_F_OUTER = 128,  /* RX: outer addresses known */
};

#define TAP_HDR_MAX 64

/* One packet's way, as the worker saw it at the end of its burst. */
struct tap_trace {
	uint64_t ns;        /* CLOCK_REALTIME at the start of the turn */
	uint64_t seq;       /* ESP sequence number (0: none yet) */
	uint32_t spi;       /* 0: none */
	int16_t drop;       /* enum espresso_drop; 0: not dropped */
	uint16_t flags;     /* TAP_F_* */
	uint8_t dir;        /* TAP_DIR_IN or TAP_DIR_OUT */
	uint8_t worker;
	uint8_t from;       /* RX: the worker whose queue received it */
	uint8_t hdr_len;
	uint8_t owner;      /* RX, handed: the SA's owning worker */
	uint8_t pad[3];
	uint32_t len;       /* RX: the frame; TX: the inner packet */
	uint32_t inner_len; /* RX: decrypted inner length (0: not known) */
	uint32_t outer_src, outer_dst; /* RX, network order */
	uint8_t mac[6];     /* TX: the next hop's */
	char tunnel[TAP_NAME_MAX];
	uint8_t hdr[TAP_HDR_MAX];
};

/* A packet slot: this header, room for the capture's link header
 * (written by the control thread), then snaplen bytes. */
struct tap_pkt {
	uint64_t ns;
	uint32_t len;     /* of the packet */
	uint32_t caplen;  /* bytes kept */
	uint8_t dir;      /* TAP_DIR_IN or TAP_DIR_OUT */
	uint8_t pad[7];
	uint8_t link[16]; /* room for the capture's link header (pcapw) */
	uint8_t data[];
};

/* TX: an inner packet's first bytes, taken before encryption overwrites
 * them, for its trace record after the batch is sent. */
struct tap_snap {
	uint8_t len;
	uint8_t hdr[TAP_HDR_MAX];
};

#define TAP_SNAPLEN_MAX 2048
#define TAP_SNAPLEN_DEFAULT 2048
#define TAP_PKT_SLOT(snaplen) ((uint32_t)(sizeof(struct tap_pkt) + (snaplen)))
#define TAP_TRACE_RING 1024
#define TAP_PCAP_RING 1024

/* Producer side of an SPSC ring, in place: the next free slot or NULL
 * (full), then tap_ring_push once it is written. */
static inline void *tap_ring_slot(struct spsc_ring *r)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (h - t == r->size)
		return NULL;
	return (char *)r->slots + (size_t)(h & (r->size - 1)) * r->elem;
}

static inline void tap_ring_push(struct spsc_ring *r)
{
	atomic_store_explicit(&r->head, atomic_load_explicit(
		&r->head, memory_order_relaxed) + 1, memory_order_release);
}

/* Consumer side: the oldest slot or NULL (empty), then tap_ring_pop. */
static inline void *tap_ring_peek(struct spsc_ring *r)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);

	if (h == t)
		return NULL;
	return (char *)r->slots + (size_t)(t & (r->size - 1)) * r->elem;
}

static inline void tap_ring_pop(struct spsc_ring *r)
{
	atomic_store_explicit(&r->tail, atomic_load_explicit(
		&r->tail, memory_order_relaxed) + 1, memory_order_release);
}

/*
 * Worker hooks, each called only when w->tap is set.
 */
/* Turn start: the capture's timestamp. */
void tap_turn(struct worker *w);
/* RX, end of a burst: trace records for pkts[0..n). */
void tap_rx_burst(struct worker *w, const struct pkt *pkts, unsigned int n);
/* RX: a decrypted inner packet, as it goes to the tun. */
void tap_rx_inner(struct worker *w, const uint8_t *inner, uint32_t len);
/* TX, before the batch's encryption: inner packets and header summaries. */
void tap_tx_pre(struct worker *w);
/* TX, after the batch went to the TX ring: trace records. */
void tap_tx_post(struct worker *w);
/* TX: a packet dropped outside the batch (a super-packet before it was
 * cut, a held packet whose next hop never came): its trace record. */
void tap_tx_lone(struct worker *w, const struct pkt *p);

#endif
