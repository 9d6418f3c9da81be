/* SPDX-License-Identifier: GPL-2.0 */
/*
 * watchdog: systemd's watchdog, fed only while every worker makes progress.
 * Each worker counts its loop turns (struct worker.loops); an idle one
 * sleeps in poll() for at most 100 ms, so a healthy worker's count moves
 * at least ten times a second, busy or not. Before each WATCHDOG=1 the
 * control loop looks at every count: one that has not moved for half the
 * watchdog interval is a stuck worker. espressod then says which (log and
 * STATUS=) and stops feeding the watchdog, and systemd restarts it after
 * WatchdogSec= (the restart adopts what this run left). Without a systemd
 * watchdog a worker stuck for 5 s is still logged.
 */
#ifndef ESPRESSO_WATCHDOG_H
#define ESPRESSO_WATCHDOG_H

#include <stdint.h>

#include "espresso/common.h"

struct worker;

struct watchdog {
	uint64_t interval_ms; /* WATCHDOG=1 this often; 0: no watchdog */
	uint64_t stall_ms;    /* a count still this long: stuck */
	uint64_t fed_ms;      /* the last WATCHDOG=1 */
	struct worker *workers;
	int n;
	int nstuck;           /* at the last check */
	uint64_t seen[ESPRESSO_MAX_QUEUES];     /* each worker's count ... */
	uint64_t moved_ms[ESPRESSO_MAX_QUEUES]; /* ... and when it last moved */
};

/* Reads WATCHDOG_USEC (sd_watchdog_enabled(3)); the workers run already. */
void watchdog_init(struct watchdog *wd, struct worker *workers, int n,
		   uint64_t now_ms);
/* How long the control loop may sleep: up to max_ms, less when the next
 * WATCHDOG=1 is due sooner. */
int watchdog_timeout_ms(const struct watchdog *wd, uint64_t now_ms,
			int max_ms);
/* Check the workers; WATCHDOG=1 when it is due and none is stuck. */
void watchdog_tick(struct watchdog *wd, uint64_t now_ms);

#endif
