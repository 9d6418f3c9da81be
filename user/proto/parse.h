/* SPDX-License-Identifier: GPL-2.0 */
/*
 * parse: the userspace twin of the XDP classifier's header parsing, for
 * frames that reach a worker without metadata, and for tests and fuzzing.
 */
#ifndef ESPRESSO_PARSE_H
#define ESPRESSO_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "espresso/common.h"

/*
 * Parse Ethernet (up to two VLAN tags), IPv4/IPv6 and ESP or UDP-4500 ESP
 * in frame (len bytes). Fills m (but sa_index) and *l3_len (the outer IP
 * packet's length from its header). Returns 0, or -1 when the frame is not
 * well-formed ESP.
 */
int parse_outer(const uint8_t *frame, size_t len, struct espresso_meta *m,
		size_t *l3_len);

#endif
