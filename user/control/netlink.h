/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netlink: rtnetlink over libmnl. Links, addresses and routes for the tun,
 * route and neighbour look-ups for the next hop of each tunnel, and the
 * RTNLGRP_NEIGH listener that keeps next-hop MACs current.
 * All functions return 0 or -errno; none is called on the packet path.
 */
#ifndef ESPRESSO_NETLINK_H
#define ESPRESSO_NETLINK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

/* Set a link up (and its MTU when mtu > 0). */
int nl_link_up(int ifindex, int mtu);
/* Read a link's MAC address (6 bytes) and MTU. */
int nl_link_info(int ifindex, uint8_t mac[6], int *mtu);
/* Read a link's kind (IFLA_INFO_KIND: "veth", "bridge"...); "" when it has
 * none, as a hardware NIC. */
int nl_link_kind(int ifindex, char *kind, size_t len);
/* Add an address (IPv4 or IPv6 prefix) to a link. -EEXIST is success. */
int nl_addr_add(int ifindex, const struct cfg_prefix *p);
/* Add or delete a route to prefix p through link ifindex (no gateway). */
int nl_route_add(int ifindex, const struct cfg_prefix *p);
int nl_route_del(int ifindex, const struct cfg_prefix *p);
/* The same in kernel routing table `table` (a VRF's), not main. */
int nl_route_add_table(int ifindex, uint32_t table, const struct cfg_prefix *p);
int nl_route_del_table(int ifindex, uint32_t table, const struct cfg_prefix *p);
/* Every route of ours (protocol ESPRESSO_RTPROT, main table) via ifindex. */
/* The same in kernel table `table` (a VRF's). */
int nl_route_dump_table(int ifindex, uint32_t table,
			void (*cb)(void *arg, const struct cfg_prefix *p),
			void *arg);
int nl_route_dump(int ifindex, void (*cb)(void *arg,
					  const struct cfg_prefix *p),
		  void *arg);

/*
 * Ask the kernel how it would reach IPv4 dst: the output link and the next
 * hop (the gateway, or dst itself when on-link).
 */
int nl_route_get4(struct in_addr dst, int *oif, struct in_addr *nexthop);

/*
 * Look up the MAC of IPv4 nexthop on link ifindex in the kernel's neighbour
 * table. Returns 0 with mac filled when the entry is usable (REACHABLE,
 * STALE, DELAY, PROBE, PERMANENT, NOARP), -ENOENT otherwise.
 */
int nl_neigh_get4(int ifindex, struct in_addr nexthop, uint8_t mac[6]);
/*
 * Ask the kernel to resolve nexthop (RTM_NEWNEIGH with NTF_USE, as
 * `ip neigh replace ADDR dev DEV use`): it sends the ARP request itself.
 */
int nl_neigh_resolve4(int ifindex, struct in_addr nexthop);

/*
 * Neighbour listener: a socket subscribed to RTNLGRP_NEIGH. nl_neigh_listen
 * returns the fd to poll (non-blocking); nl_neigh_read reads what is pending
 * and calls cb for each IPv4 neighbour that got a usable MAC, failed (mac
 * NULL: unreachable, or being resolved) or was deleted (mac ==
 * nl_neigh_deleted: the kernel's GC of a stale entry, ip neigh del, a
 * flush; the MAC it had may well be right still).
 */
struct nl_listener;
extern const uint8_t nl_neigh_deleted[6];
/*
 * What a neighbour message (type RTM_NEWNEIGH or RTM_DELNEIGH, its NUD_
 * state, its MAC or NULL) tells the callbacks: *out a usable MAC, NULL
 * (failed, or being resolved: an `ip neigh del` fails the entry first) or
 * nl_neigh_deleted (deleted otherwise: the kernel's garbage collection of
 * a stale entry). false: nothing (no MAC yet, a NUD_NONE entry).
 */
bool nl_neigh_event(uint16_t type, uint16_t state, const uint8_t *mac,
		    const uint8_t **out);
typedef void (*nl_neigh6_cb)(void *arg, int ifindex, const struct in6_addr *ip,
			     const uint8_t *mac);
struct nl_listener *nl_neigh_listen(void);
int nl_listener_fd(const struct nl_listener *l);
typedef void (*nl_neigh_cb)(void *arg, int ifindex, struct in_addr ip,
			    const uint8_t *mac);
int nl_neigh_read(struct nl_listener *l, nl_neigh_cb cb, void *arg);
/* The kernel's whole neighbour table (both families), each entry passed to
 * the callbacks as an event would be: after lost events. 0 or -errno. */
int nl_neigh_dump(struct nl_listener *l, nl_neigh_cb cb, void *arg);
void nl_listener_close(struct nl_listener *l);

/* The same for IPv6 (outer IPv6 tunnels): route, neighbour, resolution
 * (the kernel sends the solicitation), and a callback for IPv6 neighbour
 * events read by nl_neigh_read. */
int nl_route_get6(const struct in6_addr *dst, int *oif,
		  struct in6_addr *nexthop);
int nl_neigh_get6(int ifindex, const struct in6_addr *nexthop, uint8_t mac[6]);
int nl_neigh_resolve6(int ifindex, const struct in6_addr *nexthop);
/* Either, by family (AF_INET: addr is a struct in_addr, AF_INET6: an
 * in6_addr; both network order). */
int nl_neigh_resolve(int family, int ifindex, const void *addr);
void nl_neigh_listen6(struct nl_listener *l, nl_neigh6_cb cb, void *arg);

#endif
