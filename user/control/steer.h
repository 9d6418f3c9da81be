/* SPDX-License-Identifier: GPL-2.0 */
/*
 * steer: ask the NIC to deliver each SA's ESP to the queue of the worker
 * that owns it (ethtool ntuple, flow-type esp4 spi S action Q, through the
 * SIOCETHTOOL ioctl), so that software handoff is the exception. NICs that
 * cannot (veth among them) keep RSS, and the workers hand packets over.
 */
#ifndef ESPRESSO_STEER_H
#define ESPRESSO_STEER_H

#include <stdint.h>

struct tables;

#define STEER_MAX 1024

struct steer_state {
	uint32_t locs[STEER_MAX]; /* rule locations we inserted */
	int n;
};

/* Insert a rule per raw-ESP SA that has an owner. Logs once when the NIC
 * cannot; never fails the start-up. Returns the rules inserted. */
int steer_setup(struct steer_state *s, const struct tables *tb,
		const char *ifname);
/* Delete the rules steer_setup inserted. */
void steer_teardown(struct steer_state *s, const char *ifname);

#endif
