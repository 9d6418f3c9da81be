/* SPDX-License-Identifier: GPL-2.0 */
/*
 * natt: NAT-T keepalives (RFC 3948 2.3) -- one byte 0xFF in UDP from our
 * port 4500 to the peer's NAT-T port, so that a NAT in between keeps its
 * mapping while the tunnel is idle. Sent by the control thread (live.c
 * decides when) through the kernel, on a send-only raw socket
 * (IPPROTO_RAW: it never receives, so nothing queues up on it): the
 * workers' XSKs stay out of it, and the kernel routes and resolves.
 * Following the peer when its mapping changes is live.c's (follow_peer).
 */
#ifndef ESPRESSO_NATT_H
#define ESPRESSO_NATT_H

#include <netinet/in.h>
#include <stdint.h>

/* The socket (needs CAP_NET_RAW: open it before capabilities go), or
 * -errno. */
int natt_open(void);
/* One keepalive from local:sport to peer:port (ports host order). 0 or
 * -errno. */
int natt_keepalive(int fd, struct in_addr local, uint16_t sport,
		   struct in_addr peer, uint16_t port);

#endif
