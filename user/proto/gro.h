/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gro: decrypted TCP segments of one flow that follow each other in a burst
 * are merged into one super-packet, written to the tun with a
 * virtio_net_hdr (gso_type TCPV4/TCPV6, gso_size, NEEDS_CSUM with
 * csum_start/csum_offset), so the host stack handles one packet instead of
 * dozens. UDP datagrams of one flow with the same payload length are merged
 * likewise into one UDP GSO packet (gso_type UDP_L4, kernel 6.2+; where the
 * tun refuses it, the table stops merging UDP: udp_off). Nothing is held
 * past the end of a burst (gro_flush).
 *
 * The merged packet is never copied: gro keeps pointers to the packets it
 * was given (they must stay valid until the flow is flushed) and writes
 * them with one writev: [virtio_net_hdr][first packet][payload 2]...
 */
#ifndef ESPRESSO_GRO_H
#define ESPRESSO_GRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define GRO_MAX_FLOWS 8
#define GRO_MAX_SEGS 64 /* and the merged IP packet stays <= 65535 bytes */

/* Writes one packet given as iov[0] = struct virtio_net_hdr, iov[1..] the
 * packet. Returns 0 or -errno. */
typedef int (*gro_out_fn)(void *arg, const struct iovec *iov, int iovcnt);

struct gro_flow {
	uint8_t *pkt;      /* first packet; its headers are rewritten at flush */
	size_t len;        /* of the first packet */
	uint8_t family;    /* 4 or 6 */
	uint8_t hlen;      /* IP + TCP (or UDP) header length */
	uint16_t mss;      /* payload length of the first segment/datagram */
	uint32_t next_seq; /* TCP sequence number expected next */
	uint32_t total;    /* IP packet length once merged */
	int nsegs;
	struct iovec segs[GRO_MAX_SEGS]; /* payloads of segments 2..n */
	uint8_t proto;     /* IPPROTO_TCP or IPPROTO_UDP */
};

struct gro_stats {
	uint64_t merged;    /* segments merged into another */
	uint64_t written;   /* packets written (merged or not) */
	uint64_t flushes;   /* flows flushed by a rule before the burst end */
};

struct gro_table {
	bool enabled;
	int nflows;
	struct gro_flow flows[GRO_MAX_FLOWS];
	struct gro_stats st;
	/* Set when a merged UDP packet (UDP_L4) was refused with EINVAL (a
	 * kernel older than 6.2): its datagrams were then written one by
	 * one, and UDP is no longer merged by this table. */
	bool udp_off;
};

void gro_init(struct gro_table *t, bool enabled);
/*
 * Offer one decrypted IPv4/IPv6 packet (pkt, len). It joins a held flow,
 * starts one (TCP or UDP with payload), or is written at once through out
 * (after the flow it belongs to, if any, is flushed, so nothing is
 * reordered). Flush rules: PSH, FIN, RST, URG, SYN, a segment longer than
 * the flow's first, a shorter one (merged as the last), changed TCP
 * options, IP options, TTL/hop limit, TOS/traffic class, DF, a sequence
 * gap, the size limits; for UDP: a longer datagram, a shorter one (merged
 * as the last), no checksum (0), IP fields or limits as for TCP, and for
 * IPv4 without DF an IP id that is not the next one. Returns 0, or the
 * error of a write (the packet is then lost and the caller counts it).
 */
int gro_add(struct gro_table *t, uint8_t *pkt, size_t len, gro_out_fn out,
	    void *arg);
/* Write every held flow (call at the end of each burst). 0 or an error. */
int gro_flush(struct gro_table *t, gro_out_fn out, void *arg);

#endif
