/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tx: the outbound path of a worker: plaintext from the tun, encrypted
 * toward the uplink, and the packets held while their next hop resolves.
 */
#ifndef ESPRESSO_TX_H
#define ESPRESSO_TX_H

struct worker;

/* One burst from the tun. Returns the packets read. */
unsigned int tx_burst(struct worker *w);
/* Send the held packets whose next hop is known, expire others. */
unsigned int tx_hold_flush(struct worker *w);

/*
 * Router mode (core/fwd.c). One IPv4 packet for tunnel t, copied into a
 * frame of the batch and checked as one from the tun: MSS, size, next hop.
 * lan: the LAN index + 1 it came in on (its ICMP errors go back there, to
 * src_mac), 0 for a packet of the gateway's own (an ICMP error it makes).
 */
#include <stddef.h>
#include <stdint.h>
struct tunnel;
void tx_lan_input(struct worker *w, struct tunnel *t, const uint8_t *ip,
		  size_t len, int lan, const uint8_t src_mac[6]);
/* Encrypt and send the batch now. */
void tx_flush_now(struct worker *w);

#endif
