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

#endif
