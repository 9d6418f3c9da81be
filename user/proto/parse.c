// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <string.h>

#include "proto/parse.h"

#define IP_MF_OFF 0x3fff
#define PARSE_IP6_EXT_MAX 4 /* IP6_EXT_MAX in bpf/espresso.bpf.c */

int parse_outer(const uint8_t *frame, size_t len, struct espresso_meta *m,
		size_t *l3_len)
{
	size_t off = ETH_HLEN, hlen;
	uint16_t proto;
	uint8_t l4;
	int vlans, i;

	if (len < ETH_HLEN)
		return -1;
	memcpy(&proto, frame + 12, 2);
	for (vlans = 0; vlans < 2 && (proto == htons(ETH_P_8021Q) ||
				      proto == htons(ETH_P_8021AD)); vlans++) {
		if (len < off + 4)
			return -1;
		memcpy(&proto, frame + off + 2, 2);
		off += 4;
	}
	memset(m, 0, sizeof(*m));
	m->l3_off = off;
	if (proto == htons(ETH_P_IP)) {
		struct iphdr ip;

		if (len < off + sizeof(ip))
			return -1;
		memcpy(&ip, frame + off, sizeof(ip));
		hlen = ip.ihl * 4u;
		if (ip.version != 4 || ip.ihl < 5 || ntohs(ip.tot_len) < hlen ||
		    off + ntohs(ip.tot_len) > len ||
		    (ip.frag_off & htons(IP_MF_OFF)))
			return -1;
		*l3_len = ntohs(ip.tot_len);
		l4 = ip.protocol;
		m->l3_proto = 4;
	} else if (proto == htons(ETH_P_IPV6)) {
		struct ip6_hdr ip6;

		if (len < off + sizeof(ip6))
			return -1;
		memcpy(&ip6, frame + off, sizeof(ip6));
		hlen = sizeof(ip6);
		if ((frame[off] >> 4) != 6 ||
		    off + hlen + ntohs(ip6.ip6_plen) > len)
			return -1;
		*l3_len = hlen + ntohs(ip6.ip6_plen);
		l4 = ip6.ip6_nxt;
		m->l3_proto = 6;
		/* hop-by-hop, routing, destination options: skipped as the
		 * XDP program does, at most PARSE_IP6_EXT_MAX of them */
		for (i = 0; i < PARSE_IP6_EXT_MAX &&
			    (l4 == 0 || l4 == 43 || l4 == 60); i++) {
			if (off + hlen + 2 > len)
				return -1;
			l4 = frame[off + hlen];
			hlen += (frame[off + hlen + 1] + 1u) * 8;
		}
	} else {
		return -1;
	}
	off += hlen;
	if (l4 == IPPROTO_UDP) {
		struct udphdr udp;

		if (m->l3_off + *l3_len < off + sizeof(udp) + 8)
			return -1;
		memcpy(&udp, frame + off, sizeof(udp));
		/* any port: the XDP program chose it (4500 or a tunnel's
		 * local_port); rx_check matches it with the SA's tunnel */
		(void)udp;
		if (!memcmp(frame + off + sizeof(udp), "\0\0\0\0", 4))
			return -1;
		off += sizeof(udp);
		m->encap = 1;
	} else if (l4 != IPPROTO_ESP ||
		   m->l3_off + *l3_len < off + 8) {
		return -1;
	}
	m->esp_off = off;
	memcpy(&m->spi, frame + off, 4);
	m->spi = ntohl(m->spi);
	m->magic = ESPRESSO_META_MAGIC;
	m->verdict = ESPRESSO_V_ESP_IN;
	return 0;
}
