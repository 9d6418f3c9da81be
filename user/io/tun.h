/* SPDX-License-Identifier: GPL-2.0 */
/* tun: the multi-queue tun toward the host stack, one queue per worker. */
#ifndef ESPRESSO_TUN_H
#define ESPRESSO_TUN_H

#include <stdbool.h>

#include "config/config.h"

/*
 * Create (or attach to) tun device name with nqueues queues
 * (IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE), fds[i] non-blocking. offload:
 * IFF_VNET_HDR, every packet preceded by a struct virtio_net_hdr, with
 * checksum, TSO4/6 (and USO where the kernel has it) turned on.
 * Returns 0 or -errno; on failure nothing stays open.
 */
int tun_open(const char *name, int nqueues, int *fds, bool offload);
/*
 * Bring the tun up with its MTU and addresses (the tunnels' routes come
 * and go with the live state: control/live.h). 0 or -errno, logged.
 */
int tun_setup(const struct cfg *c, int ifindex);
/* The same for a VRF's tun: the MTU of tun, the VRF's addresses. */
int tun_setup_vrf(const struct cfg *c, const struct cfg_vrf *v, int ifindex);
void tun_close(int *fds, int nqueues);
/*
 * Keep the tun (and the routes into it) when the last fd closes: while
 * espressod is down, packets to protected prefixes are dropped in the tun
 * instead of leaving in clear by another route. A clean stop turns it off.
 */
int tun_persist(int fd, bool on);

#endif
