// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <string.h>

#include "proto/csum.h"
#include "proto/esp.h"
#include "espresso/common.h"

static inline void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static int build_aad(uint8_t *aad, uint32_t spi, uint64_t seq, bool esn)
{
	put32(aad, spi);
	if (!esn) {
		put32(aad + 4, (uint32_t)seq);
		return 8;
	}
	put32(aad + 4, seq >> 32); /* RFC 4106 5: SPI, 64-bit ESN */
	put32(aad + 8, (uint32_t)seq);
	return 12;
}

int esp_seal(struct esp_aead *a, uint32_t spi, uint64_t seq, bool esn,
	     const uint8_t iv[ESP_GCM_IV_LEN], uint8_t *esp, size_t pt_len)
{
	uint8_t aad[12];
	int aad_len = build_aad(aad, spi, seq, esn);
	uint8_t *pt = esp + ESP_HDR_LEN + ESP_GCM_IV_LEN;

	put32(esp, spi);
	put32(esp + 4, (uint32_t)seq);
	memcpy(esp + ESP_HDR_LEN, iv, ESP_GCM_IV_LEN);
	if (crypto_aead_seal(a, iv, aad, aad_len, pt, pt_len, pt + pt_len))
		return -EIO;
	return ESP_HDR_LEN + ESP_GCM_IV_LEN + pt_len + ESP_GCM_ICV_LEN;
}

int esp_open(struct esp_aead *a, uint64_t seq, bool esn, uint8_t *esp,
	     size_t len)
{
	uint8_t aad[12];
	int aad_len;
	size_t ct_len;
	uint32_t spi;

	if (len < ESP_MIN_LEN)
		return -EINVAL;
	memcpy(&spi, esp + 4, 4);
	if (ntohl(spi) != (uint32_t)seq)
		return -EBADMSG; /* seq must be the one on the wire */
	memcpy(&spi, esp, 4);
	aad_len = build_aad(aad, ntohl(spi), seq, esn);
	ct_len = len - ESP_HDR_LEN - ESP_GCM_IV_LEN - ESP_GCM_ICV_LEN;
	return crypto_aead_open(a, esp + ESP_HDR_LEN, aad, aad_len,
				esp + ESP_HDR_LEN + ESP_GCM_IV_LEN, ct_len,
				esp + len - ESP_GCM_ICV_LEN);
}

uint16_t esp_ip_csum(const void *hdr, unsigned int hlen)
{
	return csum_finish(csum_add(0, hdr, hlen));
}

int esp_seal_inner(const struct esp_sa_params *sp, struct esp_aead *a,
		   uint64_t seq, uint8_t *inner, size_t len, uint8_t *tos,
		   uint16_t *df)
{
	uint8_t iv[ESP_GCM_IV_LEN], next;
	unsigned int pad, i;
	uint64_t be;
	int esp_len;

	if (len < 1)
		return -DROP_tx_malformed;
	switch (inner[0] >> 4) {
	case 4:
		if (len < sizeof(struct iphdr))
			return -DROP_tx_malformed;
		next = IPPROTO_IPIP;
		*tos = inner[1];
		*df = ((uint16_t)inner[6] << 8 | inner[7]) & IP_DF;
		break;
	case 6:
		if (len < sizeof(struct ip6_hdr))
			return -DROP_tx_malformed;
		next = IPPROTO_IPV6;
		*tos = (uint8_t)(inner[0] << 4 | inner[1] >> 4);
		*df = IP_DF; /* IPv6 is never fragmented on the way */
		break;
	default:
		return -DROP_tx_malformed;
	}

	/* trailer: pad the plaintext + 2 to a multiple of 4 (RFC 4303 2.4) */
	pad = (4 - ((len + 2) & 3)) & 3;
	for (i = 0; i < pad; i++)
		inner[len + i] = i + 1;
	inner[len + pad] = pad;
	inner[len + pad + 1] = next;

	be = htobe64(seq); /* the sequence number is the IV (RFC 4106 3.1) */
	memcpy(iv, &be, sizeof(iv));
	esp_len = esp_seal(a, sp->spi, seq, sp->esn, iv,
			   inner - ESP_HDR_LEN - ESP_GCM_IV_LEN, len + pad + 2);
	return esp_len < 0 ? -DROP_tx_crypto : esp_len;
}

int esp_encap4(const struct esp_sa_params *sp, struct esp_aead *a,
	       uint64_t seq, uint16_t ip_id, uint8_t *inner, size_t len,
	       uint8_t **outer, size_t *outer_len)
{
	unsigned int hdr = ESP_IPV4_LEN + ESP_HDR_LEN + ESP_GCM_IV_LEN;
	uint16_t frag;
	struct iphdr *ip;
	uint8_t tos;
	int esp_len;

	esp_len = esp_seal_inner(sp, a, seq, inner, len, &tos, &frag);
	if (esp_len < 0)
		return -esp_len;
	frag = htons(frag);
	if (sp->encap == ENCAP_UDP)
		hdr += ESP_UDP_LEN;

	ip = (struct iphdr *)(inner - hdr);
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = tos;
	ip->tot_len = htons(hdr - ESP_HDR_LEN - ESP_GCM_IV_LEN + esp_len);
	ip->id = htons(ip_id);
	ip->frag_off = frag;
	ip->ttl = 64;
	ip->protocol = sp->encap == ENCAP_UDP ? IPPROTO_UDP : IPPROTO_ESP;
	ip->check = 0;
	ip->saddr = sp->local.s_addr;
	ip->daddr = sp->remote.s_addr;
	ip->check = esp_ip_csum(ip, sizeof(*ip));
	if (sp->encap == ENCAP_UDP) {
		struct udphdr *udp = (struct udphdr *)(ip + 1);

		udp->source = htons(sp->sport ? sp->sport : ESPRESSO_NATT_PORT);
		udp->dest = htons(sp->dport ? sp->dport : ESPRESSO_NATT_PORT);
		udp->len = htons(ESP_UDP_LEN + esp_len);
		udp->check = 0; /* RFC 3948 2.1: zero for IPv4 */
	}
	*outer = (uint8_t *)ip;
	*outer_len = ntohs(ip->tot_len);
	return 0;
}

int esp_decap_inner(const uint8_t *pt, size_t pt_len, struct esp_inner *in)
{
	const uint8_t *src, *dst;
	unsigned int pad, i;
	uint8_t next;
	size_t len;
	int family;

	if (pt_len < 2)
		return DROP_rx_short;
	pad = pt[pt_len - 2];
	next = pt[pt_len - 1];
	if (pad + 2 > pt_len)
		return DROP_rx_padding;
	len = pt_len - 2 - pad;
	for (i = 0; i < pad; i++) /* RFC 4303 2.4: 1, 2, 3, ... */
		if (pt[len + i] != i + 1)
			return DROP_rx_padding;
	switch (next) {
	/* the inner header sits where the ESP payload put it: not aligned
	 * for a struct access, so it is copied out (no undefined behaviour) */
	case IPPROTO_IPIP: {
		struct iphdr ip;

		if (len < sizeof(ip))
			return DROP_rx_inner_len;
		memcpy(&ip, pt, sizeof(ip));
		if (ip.version != 4 || ip.ihl < 5 || ntohs(ip.tot_len) != len ||
		    ip.ihl * 4u > len)
			return DROP_rx_inner_len;
		family = AF_INET;
		src = pt + offsetof(struct iphdr, saddr);
		dst = pt + offsetof(struct iphdr, daddr);
		break;
	}
	case IPPROTO_IPV6: {
		struct ip6_hdr ip6;

		if (len < sizeof(ip6))
			return DROP_rx_inner_len;
		memcpy(&ip6, pt, sizeof(ip6));
		if ((pt[0] >> 4) != 6 ||
		    ntohs(ip6.ip6_plen) + sizeof(ip6) != len)
			return DROP_rx_inner_len;
		family = AF_INET6;
		src = pt + offsetof(struct ip6_hdr, ip6_src);
		dst = pt + offsetof(struct ip6_hdr, ip6_dst);
		break;
	}
	case IPPROTO_NONE_ESP:
		return DROP_rx_dummy;
	default:
		return DROP_rx_next_hdr;
	}
	in->len = len;
	in->family = family;
	in->src = src;
	in->dst = dst;
	return 0;
}
