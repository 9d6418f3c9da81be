/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tap_ctl: the control thread's side of espressoctl trace and pcap. It
 * publishes what the workers copy (core/tap.h: a struct tap_cfg, swapped
 * and retired like a table version), drains their rings every control
 * loop turn while anything is on, formats trace records for the client
 * and writes packets to the capture file with libpcap's writer. All file
 * and socket I/O is here, on the control thread.
 *
 *   trace: one session at a time; the client's connection streams one line
 *          (or JSON object) per packet and is closed after N packets, at
 *          the timeout, or when the client goes.
 *   pcap:  one capture file at a time, Linux cooked headers (DLT_LINUX_SLL)
 *          in front of the inner IP packets: packet type "to us" (0) for
 *          what was decrypted, "outgoing" (4) for what was about to be
 *          encrypted. Created mode 0600: it holds plaintext.
 */
#ifndef ESPRESSO_TAP_CTL_H
#define ESPRESSO_TAP_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tap.h"

struct espd;
struct cmd;

struct tap_state {
	struct tap_cfg *cur;       /* published in env.tap; NULL: off */
	/* trace */
	int trace_fd;              /* the client; -1: none */
	bool trace_json;
	uint32_t trace_left;
	uint64_t trace_end_ms;
	struct tap_filter filter;
	struct spsc_ring *trace_rings; /* [nworkers] */
	/* pcap */
	struct pcapw *pcap;        /* the capture file; NULL: none */
	char path[1024];
	uint32_t pcap_flags;       /* TAP_PCAP_IN | TAP_PCAP_OUT */
	uint32_t snaplen;
	uint64_t written;
	uint64_t lost_base;        /* sum of pcap_lost at the start */
	struct spsc_ring *pcap_rings; /* [nworkers] */
};

void tap_init(struct tap_state *t);
/* Start a trace streamed to fd (kept by tap_ctl until the trace ends).
 * 0, or -errno with err saying why (fd is then the caller's). */
int tap_trace_start(struct espd *d, int fd, const struct cmd *c, char *err,
		    size_t errlen);
/* End the trace now (its fd is closed). */
void tap_trace_stop(struct espd *d);
int tap_pcap_start(struct espd *d, const struct cmd *c, char *err,
		   size_t errlen);
/* Stop the capture (path, when not NULL or "", must be its file); msg
 * says what was written, or why not. 0 or -errno. */
int tap_pcap_stop(struct espd *d, const char *path, char *msg, size_t len);
/* Each control loop turn: drain the rings, end a trace that is done. */
void tap_poll(struct espd *d, uint64_t now_ms);
/* How soon tap_poll wants to run again, ms; -1: never. */
int tap_timeout_ms(const struct espd *d);
/* Stop everything (espressod stops). */
void tap_close(struct espd *d);

/* tap_fmt.c: one trace record as a line of text or a JSON object (with
 * "\n"), for the client. The length written (as snprintf). */
int tap_format(const struct tap_trace *r, bool json, char *buf, size_t len);

#endif
