/* SPDX-License-Identifier: GPL-2.0 */
/*
 * metrics: the Prometheus endpoint, GET /metrics in the text format (0.0.4),
 * when the config has a metrics group (config/example.conf).
 *
 * libmicrohttpd runs without a thread of its own: its epoll fd sits in the
 * control loop's poll set and metrics_serve() runs it there. So a scrape
 * reads the tables on the control thread, the only one that changes or frees
 * tunnels and SAs: no lock, no race. The workers' counters are each written
 * by one worker and read here with relaxed atomic loads (what a plain
 * aligned 64-bit load is on x86-64).
 */
#ifndef ESPRESSO_METRICS_H
#define ESPRESSO_METRICS_H

#include <stdio.h>

struct espd;
struct metrics;

/*
 * Listen where d->cfg.metrics says. 0 with *m NULL when metrics are off;
 * -errno (logged, *m NULL) when the address cannot be bound.
 */
int metrics_open(struct metrics **m, struct espd *d);
/* The fd to poll for POLLIN; -1 when m is NULL. */
int metrics_fd(const struct metrics *m);
/* Accept, read, answer, time out what is ready; never blocks. Once per
 * control loop turn (and when metrics_fd is readable). NULL: nothing. */
void metrics_serve(struct metrics *m);
/* Stop listening and drop open connections. NULL is fine. */
void metrics_close(struct metrics *m);

/* A scrape's body into f. 0, or -ENOMEM. */
int metrics_write(FILE *f, struct espd *d);

#endif
