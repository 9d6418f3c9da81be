// SPDX-License-Identifier: GPL-2.0
/*
 * esp6: ESP tunnel mode over an outer IPv6 header (6in6, 4in6), raw or
 * UDP-encapsulated. The transform and the trailer are esp.c's; only the
 * outer header differs:
 *
 *   IPv6 (40) | [UDP (8), checksum computed] | SPI | seq | IV | inner ... | trailer | ICV
 *
 * Routers never fragment IPv6 (RFC 8200 5), and espresso does not either:
 * a packet too big for the tunnel gets an ICMP error back (tx.c).
 */
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/esp.h"
#include "espresso/common.h"

int esp_encap6(const struct esp_sa_params *sp, struct esp_aead *a,
	       uint64_t seq, uint8_t *inner, size_t len, uint8_t **outer,
	       size_t *outer_len)
{
	unsigned int hdr = ESP_IPV6_LEN + ESP_HDR_LEN + ESP_GCM_IV_LEN;
	uint8_t tclass, *ip6;
	struct ip6_hdr h;
	uint16_t df; /* outer IPv6 is never fragmented: DF does not apply */
	uint32_t plen;
	int esp_len;

	esp_len = esp_seal_inner(sp, a, seq, inner, len, &tclass, &df);
	if (esp_len < 0)
		return -esp_len;
	if (sp->encap == ENCAP_UDP)
		hdr += ESP_UDP_LEN;

	ip6 = inner - hdr;
	plen = hdr - ESP_IPV6_LEN - ESP_HDR_LEN - ESP_GCM_IV_LEN + esp_len;
	memset(&h, 0, sizeof(h));
	h.ip6_flow = htonl(6u << 28 | (uint32_t)tclass << 20);
	h.ip6_plen = htons(plen);
	h.ip6_nxt = sp->encap == ENCAP_UDP ? IPPROTO_UDP : IPPROTO_ESP;
	h.ip6_hlim = 64;
	h.ip6_src = sp->local6;
	h.ip6_dst = sp->remote6;
	memcpy(ip6, &h, sizeof(h));
	if (sp->encap == ENCAP_UDP) {
		struct udphdr u = {
			.source = htons(sp->sport ? sp->sport
						  : ESPRESSO_NATT_PORT),
			.dest = htons(sp->dport ? sp->dport
						: ESPRESSO_NATT_PORT),
			.len = htons(plen),
		};
		uint32_t sum;
		uint16_t c;

		memcpy(ip6 + ESP_IPV6_LEN, &u, sizeof(u));
		sum = csum_pseudo6(&h.ip6_src, &h.ip6_dst, IPPROTO_UDP, plen);
		c = csum_finish(csum_add(sum, ip6 + ESP_IPV6_LEN, plen));
		if (!c)
			c = 0xffff; /* RFC 768: zero means "none" */
		memcpy(ip6 + ESP_IPV6_LEN + 6, &c, 2);
	}
	*outer = ip6;
	*outer_len = ESP_IPV6_LEN + plen;
	return 0;
}

bool esp_outer6_match(const struct esp_sa_params *sp, const uint8_t *ip6,
		      bool udp)
{
	if (memcmp(ip6 + offsetof(struct ip6_hdr, ip6_dst), &sp->local6, 16))
		return false;
	return udp ||
	       !memcmp(ip6 + offsetof(struct ip6_hdr, ip6_src), &sp->remote6, 16);
}

size_t esp_outer_len(const uint8_t *l3, int l3_proto)
{
	if (l3_proto == 6)
		return ESP_IPV6_LEN + ((size_t)l3[4] << 8 | l3[5]);
	return (size_t)l3[2] << 8 | l3[3];
}

#define IP6_EXT_MAX 8

int esp_outer_parse(const uint8_t *ip, size_t len, struct espresso_meta *m)
{
	size_t off, tot;
	uint8_t l4;
	int i;

	if (len < 20)
		return -1;
	memset(m, 0, sizeof(*m));
	if ((ip[0] >> 4) == 4) {
		off = (ip[0] & 0xf) * 4u;
		tot = esp_outer_len(ip, 4);
		l4 = ip[9];
		m->l3_proto = 4;
		if (off < 20)
			return -1;
	} else if ((ip[0] >> 4) == 6 && len >= ESP_IPV6_LEN) {
		off = ESP_IPV6_LEN;
		tot = esp_outer_len(ip, 6);
		l4 = ip[6];
		m->l3_proto = 6;
		/* hop-by-hop, routing, destination options */
		for (i = 0; i < IP6_EXT_MAX && (l4 == 0 || l4 == 43 || l4 == 60);
		     i++) {
			if (off + 8 > tot || tot > len)
				return -1;
			l4 = ip[off];
			off += (ip[off + 1] + 1u) * 8;
		}
	} else {
		return -1;
	}
	if (tot > len || off > tot)
		return -1;
	if (l4 == IPPROTO_UDP) {
		/* any port (a train the XDP program took as NAT-T):
		 * rx_check matches it with the SA's tunnel */
		if (off + ESP_UDP_LEN + ESP_HDR_LEN > tot ||
		    !memcmp(ip + off + ESP_UDP_LEN, "\0\0\0\0", 4))
			return -1;
		off += ESP_UDP_LEN;
		m->encap = 1;
	} else if (l4 != IPPROTO_ESP || off + ESP_HDR_LEN > tot) {
		return -1;
	}
	m->esp_off = off;
	m->spi = (uint32_t)ip[off] << 24 | (uint32_t)ip[off + 1] << 16 |
		 (uint32_t)ip[off + 2] << 8 | ip[off + 3];
	return 0;
}
