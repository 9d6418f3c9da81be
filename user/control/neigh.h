/* SPDX-License-Identifier: GPL-2.0 */
/*
 * neigh: the next hops of the tunnels. Where does each tunnel's remote end
 * go (the kernel's route), and what is that gateway's MAC (the kernel's
 * neighbour table, resolved through the kernel). Tunnels whose remotes go
 * through one gateway share its next hop object.
 */
#ifndef ESPRESSO_NEIGH_H
#define ESPRESSO_NEIGH_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/live.h"

/* Each control loop turn: tunnels without a next hop or MAC, those a
 * worker asked about, and every tunnel when full is set. */
void neigh_refresh(struct live *l, int uplink_ifindex, const char *uplink,
		   bool full);
/* A neighbour table change from the kernel (mac NULL: gone). */
void neigh_update(struct live *l, int ifindex, struct in_addr ip,
		  const uint8_t *mac);

#endif
