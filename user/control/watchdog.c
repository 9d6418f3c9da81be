// SPDX-License-Identifier: GPL-2.0
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "control/watchdog.h"
#include "core/worker.h"
#include "lib/log.h"

/* without a systemd watchdog, a worker still this long is logged */
#define STALL_DEFAULT_MS 5000
/* never less: three of an idle worker's 100 ms polls */
#define STALL_MIN_MS 300

void watchdog_init(struct watchdog *wd, struct worker *workers, int n,
		   uint64_t now_ms)
{
	uint64_t usec = 0;
	int q;

	memset(wd, 0, sizeof(*wd));
	if (sd_watchdog_enabled(0, &usec) <= 0)
		usec = 0;
	/* fed four times per interval: a late turn of the control loop (an
	 * fsync of the state directory on a busy disk, a long batch of
	 * commands) costs no restart */
	wd->interval_ms = usec / 4000;
	if (usec && !wd->interval_ms)
		wd->interval_ms = 1;
	wd->stall_ms = usec ? usec / 2000 : STALL_DEFAULT_MS;
	if (wd->stall_ms < STALL_MIN_MS)
		wd->stall_ms = STALL_MIN_MS;
	wd->fed_ms = now_ms;
	wd->workers = workers;
	wd->n = n < ESPRESSO_MAX_QUEUES ? n : ESPRESSO_MAX_QUEUES;
	for (q = 0; q < wd->n; q++) {
		wd->seen[q] = atomic_load_explicit(&workers[q].loops,
						   memory_order_relaxed);
		wd->moved_ms[q] = now_ms;
	}
	if (usec)
		log_info("systemd watchdog: %.1f s, fed every %.1f s while "
			 "every worker makes progress", usec / 1e6,
			 wd->interval_ms / 1e3);
}

int watchdog_timeout_ms(const struct watchdog *wd, uint64_t now_ms,
			int max_ms)
{
	uint64_t due = wd->fed_ms + wd->interval_ms;

	if (!wd->interval_ms || wd->nstuck)
		return max_ms;
	if (due <= now_ms)
		return 0;
	return due - now_ms < (uint64_t)max_ms ? (int)(due - now_ms) : max_ms;
}

void watchdog_tick(struct watchdog *wd, uint64_t now_ms)
{
	char who[256];
	uint64_t worst = 0;
	size_t len = 0;
	int q, nstuck = 0;

	who[0] = 0;
	for (q = 0; q < wd->n; q++) {
		uint64_t l = atomic_load_explicit(&wd->workers[q].loops,
						  memory_order_relaxed);

		if (l != wd->seen[q]) {
			wd->seen[q] = l;
			wd->moved_ms[q] = now_ms;
			continue;
		}
		if (now_ms - wd->moved_ms[q] <= wd->stall_ms)
			continue;
		if (now_ms - wd->moved_ms[q] > worst)
			worst = now_ms - wd->moved_ms[q];
		if (len < sizeof(who))
			len += snprintf(who + len, sizeof(who) - len, "%s%d",
					nstuck ? ", " : "", wd->workers[q].id);
		nstuck++;
	}
	if (nstuck) {
		log_rl(LOG_LVL_ERR, 10, "worker%s %s (uplink queue%s %s) made "
		       "no progress for %.1f s: stuck; %s", nstuck > 1 ? "s" : "",
		       who, nstuck > 1 ? "s" : "", who, worst / 1e3,
		       wd->interval_ms ? "the systemd watchdog is no longer "
		       "fed: systemd restarts espressod after WatchdogSec="
		       : "restart espressod");
		if (!wd->nstuck)
			sd_notifyf(0, "STATUS=worker%s %s stuck",
				   nstuck > 1 ? "s" : "", who);
	} else if (wd->nstuck) {
		log_warn("every worker makes progress again%s",
			 wd->interval_ms ? ": the watchdog is fed again" : "");
		sd_notify(0, "STATUS=running");
	}
	wd->nstuck = nstuck;
	if (nstuck || !wd->interval_ms || now_ms - wd->fed_ms < wd->interval_ms)
		return;
	sd_notify(0, "WATCHDOG=1");
	wd->fed_ms = now_ms;
}
