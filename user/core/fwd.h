/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fwd: router mode. Plaintext from a LAN's XSK (the XDP program found a
 * tunnel route for it) goes into the outbound path as if it came from the
 * tun; decrypted packets for a host on a LAN leave on that LAN's XSK with
 * the host's MAC from the kernel's neighbour table. Both hops decrement
 * the TTL and answer as a router would: ICMP time exceeded, fragmentation
 * needed. Nothing here needs the kernel's IP forwarding.
 */
#ifndef ESPRESSO_FWD_H
#define ESPRESSO_FWD_H

#include <stddef.h>
#include <stdint.h>

struct worker;
struct tunnel;

/* One burst from LAN l's XSK into the outbound batch. Frames taken. */
unsigned int fwd_lan_rx_burst(struct worker *w, int l);
/* Send the held packets of LAN l whose host MAC is known, expire others. */
unsigned int fwd_lan_hold_flush(struct worker *w, int l);
/* Completions, and a kick for what waits on LAN l's TX ring. */
unsigned int fwd_lan_tx_service(struct worker *w, int l);
/*
 * A decrypted packet (pkt, len) that came through tunnel t: when its
 * destination is on a LAN, send it there (or hold it) and return 0; return
 * a drop reason when it was for a LAN but cannot go; -1 when it is not for
 * a LAN (the tun takes it, host mode).
 */
int fwd_lan_out(struct worker *w, struct tunnel *t, const uint8_t *pkt,
		size_t len);
/* "Fragmentation needed" (next-hop MTU mtu) for pkt, which came in on LAN
 * l from src_mac, sent back to it. */
void fwd_lan_icmp_needed(struct worker *w, int l, const uint8_t src_mac[6],
			 const uint8_t *pkt, size_t len, unsigned int mtu);

#endif
