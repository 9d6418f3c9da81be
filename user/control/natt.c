// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/natt.h"
#include "espresso/common.h"

int natt_open(void)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			IPPROTO_RAW);

	return fd < 0 ? -errno : fd;
}

int natt_keepalive(int fd, struct in_addr local, uint16_t sport,
		   struct in_addr peer, uint16_t port)
{
	struct {
		struct iphdr ip;
		struct udphdr udp;
		uint8_t ff;
	} __attribute__((packed)) pkt;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = peer };

	if (fd < 0)
		return -EBADF;
	memset(&pkt, 0, sizeof(pkt));
	/* IPPROTO_RAW implies IP_HDRINCL: the kernel fills in the total
	 * length, the checksum and (left 0) the identification */
	pkt.ip.version = 4;
	pkt.ip.ihl = 5;
	pkt.ip.ttl = 64;
	pkt.ip.protocol = IPPROTO_UDP;
	pkt.ip.saddr = local.s_addr;
	pkt.ip.daddr = peer.s_addr;
	pkt.udp.source = htons(sport);
	pkt.udp.dest = htons(port);
	pkt.udp.len = htons(sizeof(pkt.udp) + 1);
	pkt.udp.check = 0; /* RFC 3948 2.3: SHOULD be zero */
	pkt.ff = 0xff;
	if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
		   sizeof(to)) != (ssize_t)sizeof(pkt))
		return -errno;
	return 0;
}
