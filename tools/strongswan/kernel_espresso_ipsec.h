/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kernel_espresso_ipsec: charon's kernel_ipsec_t implemented against
 * espressod's control socket. A CHILD_SA's reqid R is espresso tunnel
 * "ike-R"; its SAs are "sa add ike-R in|out ... reqid R"; its outbound
 * policy's remote selector is "route add PREFIX tunnel ike-R" (the route
 * is also the inner-source check of what arrives). The plugin keeps what
 * it installed (keys included, as charon and the kernel do) and installs
 * it again when espressod restarts.
 */
#ifndef KERNEL_ESPRESSO_IPSEC_H_
#define KERNEL_ESPRESSO_IPSEC_H_

#include <library.h>
#include <kernel/kernel_ipsec.h>

typedef struct kernel_espresso_ipsec_t kernel_espresso_ipsec_t;

struct kernel_espresso_ipsec_t {
	kernel_ipsec_t interface;
};

kernel_espresso_ipsec_t *kernel_espresso_ipsec_create(void);

#endif
