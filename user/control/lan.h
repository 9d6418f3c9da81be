/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lan: router mode on the control thread. At start-up, each LAN interface
 * of the config: its MAC, MTU and IPv4 prefixes (the destinations that
 * leave on it), the XDP program on it, its XSKs on the workers' queues;
 * the gateway's own addresses in the XDP map that keeps their traffic the
 * kernel's. While running: the MACs of the LAN hosts (lanneigh.h), from
 * the kernel's neighbour events and the workers' requests.
 */
#ifndef ESPRESSO_LAN_H
#define ESPRESSO_LAN_H

#include <netinet/in.h>
#include <stdint.h>

struct espd;
struct worker;

/* After the uplink's XDP program: fills d->env.lans. 0 or -errno (logged). */
int lan_setup(struct espd *d, const char *obj);
/* The worker's XSK on each LAN (after worker_init). 0 or -errno. */
int lan_open_ports(struct espd *d, struct worker *w);
/* Each control loop turn: resolve what the workers asked for. */
void lan_service(struct espd *d, uint64_t now_ms);
/* A neighbour event from the kernel (mac NULL: gone). */
void lan_on_neigh(struct espd *d, int ifindex, struct in_addr ip,
		  const uint8_t *mac);
/* The same for an IPv6 neighbour (a host in one of a LAN's IPv6 prefixes). */
void lan_on_neigh6(struct espd *d, int ifindex, const struct in6_addr *ip,
		   const uint8_t *mac);
/* After lost neighbour events: around a dump of the kernel's table (see
 * lan_neigh_sweep), each LAN host still known but no longer listed is
 * resolved again; returns how many. */
void lan_sync_begin(struct espd *d);
/* Does a LAN host (family, ifindex, addr: a struct in_addr or in6_addr)
 * have a MAC in its LAN's cache? */
bool lan_has_mac(const struct espd *d, int family, int ifindex,
		 const void *addr);
int lan_sweep(struct espd *d);
/* After the workers are gone. */
void lan_free(struct espd *d);

#endif
