/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gso: packets read from the tun with a virtio_net_hdr (IFF_VNET_HDR) become
 * packets the tunnel can carry: a TCP or UDP super-packet (up to 64 KB) is
 * segmented just before encryption, and a partial checksum
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM) is completed.
 */
#ifndef ESPRESSO_GSO_H
#define ESPRESSO_GSO_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>

/* UDP segmentation (kernel 6.2), newer than Debian 12's headers. */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

/* The largest packet the tun hands over with offloads on. */
#define GSO_MAX_PACKET 65536
/* The largest header (IPv6 + options/extension headers + TCP options). */
#define GSO_MAX_HDR 256

/*
 * Receives one finished packet as two parts: its headers (hdr, hlen) and a
 * slice of payload (pl, plen), to be copied out back to back. Return 0 to
 * go on, negative to stop (gso_segment then returns that value).
 */
typedef int (*gso_emit_fn)(void *arg, const uint8_t *hdr, size_t hlen,
			   const uint8_t *pl, size_t plen);

/*
 * vh: the header that came with the packet; pkt/len: the IPv4/IPv6 packet
 * after it (the checksum field may be written to). mtu: the largest packet
 * to emit (the tunnel MTU).
 *  - GSO_NONE: completes the checksum if NEEDS_CSUM, emits the packet as is
 *    (even if bigger than mtu: fragmentation is the caller's decision);
 *  - TCPV4/TCPV6 (ECN bit allowed): segments at min(gso_size, mtu - headers):
 *    IPv4 total length, id (+1 per segment) and header checksum, IPv6
 *    payload length, TCP sequence number, flags (CWR on the first only,
 *    FIN and PSH on the last only), TCP checksum over each segment;
 *  - UDP_L4 (USO): one datagram per gso_size: UDP length and checksum, IP
 *    lengths/ids (each may exceed mtu; caller fragments or answers ICMP).
 * Returns the number of packets emitted, -EINVAL for a malformed packet or
 * header (nothing emitted), or the emit callback's error.
 */
int gso_segment(const struct virtio_net_hdr *vh, uint8_t *pkt, size_t len,
		unsigned int mtu, gso_emit_fn emit, void *arg);

/*
 * Complete a partial checksum in place (VIRTIO_NET_HDR_F_NEEDS_CSUM: the
 * field at csum_start + csum_offset holds the pseudo-header sum; a result
 * of 0 is stored as 0xffff). 0, or -EINVAL when the field is outside pkt.
 */
int gso_csum_complete(const struct virtio_net_hdr *vh, uint8_t *pkt,
		      size_t len);

#endif
