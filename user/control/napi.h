/* SPDX-License-Identifier: GPL-2.0 */
/*
 * napi: where the uplink's receive path runs. With uplink.threaded_napi
 * on, the kernel polls the uplink's queues (XDP program, redirect into our
 * AF_XDP sockets) in kernel threads of their own, "napi/DEV-ID", which the
 * scheduler places on whatever CPU is free; off, in softirq context.
 *
 * "auto" turns it on for veth only. A veth runs its peer's receive path
 * inline, on the sending CPU, at the end of each transmit: the process
 * that sends to us does our XDP and AF_XDP receive work on top of its own
 * (in the tests' two namespaces, the other gateway's worker did 65% of
 * its CPU time in ours), and an idle CPU cannot help. A hardware NIC's
 * NAPI runs where its interrupt lands, which the administrator chose;
 * auto leaves it alone.
 *
 * The setting is /sys/class/net/DEV/threaded; the value found is written
 * back at exit.
 */
#ifndef ESPRESSO_NAPI_H
#define ESPRESSO_NAPI_H

#include <stdbool.h>

#include "config/config.h"

struct napi_state {
	bool changed; /* napi_setup wrote the setting... */
	int saved;    /* ...and found this value there */
};

/* Apply c->uplink.threaded_napi. Fails (-errno, logged) only when "on" or
 * "off" was asked for and cannot be set; auto logs and goes on. */
int napi_setup(struct napi_state *s, const struct cfg *c);
/* Write back the value napi_setup found, if it changed it. */
void napi_restore(struct napi_state *s, const struct cfg *c);

#endif
