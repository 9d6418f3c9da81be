/* SPDX-License-Identifier: GPL-2.0 */
/*
 * esp: ESP tunnel mode (RFC 4303) with AES-GCM (RFC 4106), outer IPv4,
 * raw or UDP-encapsulated (RFC 3948). The packet is transformed in place:
 * the caller leaves ESP_HEADROOM bytes in front of the inner packet and
 * ESP_TAILROOM behind it.
 *
 *   outer IPv4 | [UDP] | SPI | seq | IV (8) | inner ... | pad | padlen | nh | ICV (16)
 *                        \_________ AAD _/   \____________ encrypted ______/
 */
#ifndef ESPRESSO_ESP_H
#define ESPRESSO_ESP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/crypto.h"
#include "proto/params.h"
#include "core/stats.h"
#include "espresso/common.h"

#define ESP_HDR_LEN 8 /* SPI + sequence number */
#define ESP_IPV4_LEN 20
#define ESP_UDP_LEN 8
#define ESP_HEADROOM (ESP_IPV4_LEN + ESP_UDP_LEN + ESP_HDR_LEN + ESP_GCM_IV_LEN)
#define ESP_TAILROOM (3 + 2 + ESP_GCM_ICV_LEN)
/* ESP header + IV + padlen + next header + ICV: the least an ESP packet has */
#define ESP_MIN_LEN (ESP_HDR_LEN + ESP_GCM_IV_LEN + 2 + ESP_GCM_ICV_LEN)

#define IPPROTO_NONE_ESP 59 /* "no next header": a dummy packet */

/* Worst-case bytes added to an inner packet (outer IP, UDP, ESP, trailer). */
static inline unsigned int esp_overhead(enum cfg_encap encap)
{
	return ESP_IPV4_LEN + (encap == ENCAP_UDP ? ESP_UDP_LEN : 0) +
	       ESP_HDR_LEN + ESP_GCM_IV_LEN + ESP_TAILROOM;
}

/*
 * The largest inner packet whose ESP packet fits outer_mtu: the padded
 * payload (inner + 2) is a multiple of 4 (RFC 4303 2.4).
 */
static inline unsigned int esp_max_inner(unsigned int outer_mtu,
					 enum cfg_encap encap)
{
	unsigned int room = outer_mtu - ESP_IPV4_LEN -
			    (encap == ENCAP_UDP ? ESP_UDP_LEN : 0) -
			    ESP_HDR_LEN - ESP_GCM_IV_LEN - ESP_GCM_ICV_LEN;

	return (room & ~3u) - 2;
}

/*
 * The RFC 4106 transform itself. esp points at the ESP header; the
 * plaintext, trailer included, is at esp + 16 for pt_len bytes. Writes SPI,
 * the low 32 bits of seq and iv, encrypts, appends the ICV.
 * Returns the ESP length (header to ICV) or -EIO.
 */
int esp_seal(struct esp_aead *a, uint32_t spi, uint64_t seq, bool esn,
	     const uint8_t iv[ESP_GCM_IV_LEN], uint8_t *esp, size_t pt_len);
/*
 * Verify and decrypt len bytes of ESP (header to ICV) in place, with the
 * full sequence number seq (its high half goes in the AAD when esn).
 * Returns 0 (plaintext at esp + 16, len - ESP_HDR_LEN - 8 - 16 bytes with
 * the trailer), -EBADMSG on ICV failure, -EINVAL when too short.
 */
int esp_open(struct esp_aead *a, uint64_t seq, bool esn, uint8_t *esp,
	     size_t len);

/* What the wire format of one outbound SA needs. */
struct esp_sa_params {
	uint32_t spi;
	bool esn;
	enum cfg_encap encap;
	struct in_addr local, remote; /* outer IPv4 */
	uint16_t sport, dport; /* UDP encapsulation ports, host order; 0: 4500 */
	int family; /* 0 or AF_INET: outer IPv4; AF_INET6: local6/remote6 */
	struct in6_addr local6, remote6;
};

/*
 * The part of encapsulation both outer families share: check the inner
 * packet (IPv4 or IPv6), write the ESP trailer after it and seal it in
 * place (the ESP header and IV go just before inner). Returns the ESP
 * length, or minus a DROP_tx_* reason; *tos is the inner TOS / traffic
 * class, *df the DF bit for an outer IPv4 header in host order (the inner
 * IPv4 packet's; always set for inner IPv6).
 */
int esp_seal_inner(const struct esp_sa_params *sp, struct esp_aead *a,
		   uint64_t seq, uint8_t *inner, size_t len, uint8_t *tos,
		   uint16_t *df);

/*
 * Tunnel-mode encapsulation of the inner IPv4/IPv6 packet at inner (len
 * bytes) for the SA described by sp, with sequence number seq. Writes
 * *outer (start of the outer IPv4 header) and *outer_len. ip_id: outer
 * IPv4 identification. Returns 0 or a drop reason.
 */
int esp_encap4(const struct esp_sa_params *sp, struct esp_aead *a,
	       uint64_t seq, uint16_t ip_id, uint8_t *inner, size_t len,
	       uint8_t **outer, size_t *outer_len);

/* ---- outer IPv6 (esp6.c) ---- */

#define ESP_IPV6_LEN 40
#define ESP_HEADROOM6 (ESP_IPV6_LEN + ESP_UDP_LEN + ESP_HDR_LEN + ESP_GCM_IV_LEN)

static inline unsigned int esp_overhead6(enum cfg_encap encap)
{
	return esp_overhead(encap) - ESP_IPV4_LEN + ESP_IPV6_LEN;
}

/* esp_max_inner for an outer IPv6 header. */
static inline unsigned int esp_max_inner6(unsigned int outer_mtu,
					  enum cfg_encap encap)
{
	return esp_max_inner(outer_mtu - (ESP_IPV6_LEN - ESP_IPV4_LEN), encap);
}

/*
 * esp_encap4 with an outer IPv6 header (sp->family AF_INET6): next header
 * 50, or UDP 17 with its checksum computed (RFC 8200 8.1: mandatory over
 * IPv6). Never fragmented: the caller keeps the result within the MTU.
 * The caller leaves ESP_HEADROOM6 bytes in front of inner.
 */
int esp_encap6(const struct esp_sa_params *sp, struct esp_aead *a,
	       uint64_t seq, uint8_t *inner, size_t len, uint8_t **outer,
	       size_t *outer_len);

/* Does the outer IPv6 header ip6 (40 bytes, unaligned) carry the SA's
 * addresses? Destination always; the source for raw ESP only (NAT-T peers
 * may move, as for IPv4). */
bool esp_outer6_match(const struct esp_sa_params *sp, const uint8_t *ip6,
		      bool udp);

/* The outer IP packet's length from its header at l3 (l3_proto 4 or 6). */
size_t esp_outer_len(const uint8_t *l3, int l3_proto);

/*
 * A whole outer IP packet (out of reassembly: no Ethernet header) at ip,
 * len bytes: IPv4, or IPv6 with its extension headers (bounded), carrying
 * ESP or UDP-encapsulated ESP (NAT-T port, no zero marker). Fills m's
 * l3_proto, l3_off (0), esp_off, encap and spi. Returns 0 or -1.
 */
int esp_outer_parse(const uint8_t *ip, size_t len, struct espresso_meta *m);

/* The inner packet of a decrypted payload. */
struct esp_inner {
	size_t len;               /* without the trailer */
	int family;               /* AF_INET or AF_INET6 */
	const uint8_t *src, *dst; /* inner addresses (4 or 16 bytes) inside pt */
};

/*
 * After esp_open: check the trailer of the plaintext pt (pt_len bytes with
 * trailer) and the inner header (version, lengths). Returns 0 with *in
 * filled, or a drop reason (rx_short, rx_padding, rx_next_hdr, rx_dummy,
 * rx_inner_len) with *in untouched. The caller checks the inner addresses
 * against its routing table (DROP_rx_inner_src, DROP_rx_inner_dst).
 */
int esp_decap_inner(const uint8_t *pt, size_t pt_len, struct esp_inner *in);

/* The IPv4 header checksum of hdr (hlen bytes, checksum field zero). */
uint16_t esp_ip_csum(const void *hdr, unsigned int hlen);

#endif
