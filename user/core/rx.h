/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rx: the inbound path of a worker: ESP from the XSK, frames handed over by
 * other workers, and frames given back to their owner.
 */
#ifndef ESPRESSO_RX_H
#define ESPRESSO_RX_H

struct worker;

/* One burst from the XSK. Returns the frames taken. */
unsigned int rx_burst(struct worker *w);
/* Frames handed over by other workers, and frames given back. */
unsigned int rx_handoff_burst(struct worker *w);
unsigned int rx_handoff_return(struct worker *w);

#endif
