/* SPDX-License-Identifier: GPL-2.0 */
/*
 * frag: what to do with a packet too big for the tunnel. IPv4 fragmentation
 * (RFC 791), the ICMP "fragmentation needed" / ICMPv6 "packet too big"
 * answer that lets the host's path MTU adapt (RFC 1191, RFC 8201), and TCP
 * MSS clamping on SYNs so TCP never needs either.
 */
#ifndef ESPRESSO_FRAG_H
#define ESPRESSO_FRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* As gso_emit_fn: one fragment as headers + payload slice. */
typedef int (*frag_emit_fn)(void *arg, const uint8_t *hdr, size_t hlen,
			    const uint8_t *pl, size_t plen);

/*
 * Cut the IPv4 packet pkt (len bytes) into fragments of at most mtu bytes:
 * payload per fragment a multiple of 8, MF/offset right (a fragment of a
 * fragment keeps the original's offset and MF), options copied only when
 * their copy flag is set (first fragment: all), header checksum of each.
 * Does not look at DF (the caller decided). Returns the number of fragments,
 * -EINVAL for a malformed packet, -EMSGSIZE when mtu cannot hold the header
 * plus 8 bytes, or the callback's error.
 */
int frag_ip4(const uint8_t *pkt, size_t len, unsigned int mtu,
	     frag_emit_fn emit, void *arg);

/*
 * Build in out (cap bytes) the ICMP error answering pkt: IPv4 type 3 code 4
 * with the next-hop MTU, from src to pkt's source, quoting pkt's IP header
 * and the first 8 bytes beyond it (RFC 792); or ICMPv6 type 2 (packet too
 * big, RFC 4443) quoting as much of pkt as fits in 1280 bytes. Returns the
 * length built, 0 when no error may be sent (pkt is itself an ICMP error,
 * a fragment other than the first, from a multicast/broadcast/unspecified
 * source, or malformed).
 */
size_t frag_icmp4_needed(uint8_t *out, size_t cap, const uint8_t *pkt,
			 size_t len, uint16_t mtu, const void *src4);
/* The same for an IPv4 router whose TTL ran out: type 11 code 0. */
size_t frag_icmp4_time_exceeded(uint8_t *out, size_t cap, const uint8_t *pkt,
				size_t len, const void *src4);
size_t frag_icmp6_too_big(uint8_t *out, size_t cap, const uint8_t *pkt,
			  size_t len, uint32_t mtu, const void *src6);
/* ICMPv6 time exceeded (type 3 code 0), for a router whose hop limit ran
 * out; the same rules as frag_icmp6_too_big. */
size_t frag_icmp6_time_exceeded(uint8_t *out, size_t cap, const uint8_t *pkt,
				size_t len, const void *src6);

/*
 * If pkt (IPv4 or IPv6) is a TCP segment with SYN and an MSS option larger
 * than mss4 (IPv4) / mss6 (IPv6), lower it and fix the TCP checksum
 * incrementally. Returns true when it changed the packet.
 */
bool frag_mss_clamp(uint8_t *pkt, size_t len, uint16_t mss4, uint16_t mss6);

#endif
