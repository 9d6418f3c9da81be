/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2mp: point-to-multipoint tunnels, VPP's "one tunnel interface, many
 * peers, the peer chosen by the route's next hop" (its TEIB).
 *
 * A P2MP tunnel (a "hub") is a template: local address, encapsulation,
 * cipher, replay window... and no remote. Each peer is added with an
 * overlay next hop and its underlay address, and becomes internally an
 * ordinary tunnel named "HUB/NEXTHOP" (own SAs, own underlay next hop and
 * neighbour, own NAT-T state), so the packet path is that of a
 * point-to-point tunnel and nothing in the tables knows about hubs:
 *   route add PREFIX tunnel HUB via NEXTHOP  = route add PREFIX tunnel HUB/NEXTHOP
 *   sa add HUB in|out ... peer NEXTHOP       = sa add HUB/NEXTHOP in|out ...
 * Inbound, SAs are found by SPI as for any tunnel, and the inner-source
 * check uses that peer's routes. Names given by users never have a '/',
 * so a peer's name is never a user's tunnel.
 *
 * Hubs live in struct live (control thread only); every change goes
 * through live_tunnel_add/del and takes effect at the next live_commit.
 */
#ifndef ESPRESSO_P2MP_H
#define ESPRESSO_P2MP_H

#include <stddef.h>

#include "config/config.h"

struct live;

/* The template of a hub: a cfg_tunnel without remote, SAs or routes. */
struct live_hub {
	struct cfg_tunnel tmpl;
};

struct live_hub *p2mp_find(struct live *l, const char *hub);
/* A hub named tmpl->name (no tunnel nor hub of that name may exist). */
int p2mp_add(struct live *l, const struct cfg_tunnel *tmpl, char *err,
	     size_t errlen);
/* The hub with all its peers (their SAs and routes). */
int p2mp_del(struct live *l, const char *hub, char *err, size_t errlen);
/* "HUB/NEXTHOP" into out; nh is an IPv4 or IPv6 address as text. The hub
 * must exist; the peer need not (the caller's lookup says so). */
int p2mp_peer_name(struct live *l, const char *hub, const char *nh,
		   char out[CFG_NAME_MAX], char *err, size_t errlen);
/* A peer: remote (remote4 or remote6 by family) behind overlay next hop nh;
 * remote_port 0: the hub's. */
int p2mp_peer_add(struct live *l, const char *hub, const char *nh,
		  int family, struct in_addr remote4,
		  const struct in6_addr *remote6, uint16_t remote_port,
		  char *err, size_t errlen);
int p2mp_peer_del(struct live *l, const char *hub, const char *nh,
		  char *err, size_t errlen);
/* The peers of hub now. */
int p2mp_peer_count(struct live *l, const char *hub);
/* Whether name is a peer's ("HUB/NEXTHOP"): *hub_len = strlen(HUB). */
bool p2mp_is_peer(const char *name, size_t *hub_len);

#endif
