/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rig: one worker over tables the control code builds (control/live.c),
 * its tun a datagram socket pair (the test's end is sp[0]), its XSK rings
 * plain memory (fakexsk.h): for unit tests that drive the worker's own
 * tx_burst and rx_burst (test_txroute, test_rxcheck).
 */
#ifndef ESPRESSO_TESTS_RIG_H
#define ESPRESSO_TESTS_RIG_H

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/live.h"
#include "core/worker.h"
#include "fakexsk.h"

struct rig {
	struct live l;
	struct worker w;
	struct worker_env env;
	struct fport f;
	_Atomic int stop;
	int sp[2];
};

/* r->l built and committed: the worker up over its tables */
static inline void rig_worker_up(struct rig *r, int mtu, int batch,
				 bool offload)
{
	r->env.tables = &r->l.cur;
	r->env.epoch = &r->l.epoch;
	r->env.workers = &r->w;
	r->env.nworkers = 1;
	r->env.uplink_mtu = mtu;
	r->env.batch = batch;
	r->env.offload = offload;
	r->env.stop = &r->stop;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0,
				r->sp), 0);
	/* more packets queued than a batch reads (root: past wmem_max;
	 * else as far as wmem_max goes) */
	if (setsockopt(r->sp[0], SOL_SOCKET, SO_SNDBUFFORCE,
		       &(int){ 8 << 20 }, sizeof(int)))
		cr_assert_eq(setsockopt(r->sp[0], SOL_SOCKET, SO_SNDBUF,
					&(int){ 8 << 20 }, sizeof(int)), 0,
			     "SO_SNDBUF: %s", strerror(errno));
	cr_assert_eq(worker_init(&r->w, 0, -1, &r->env, r->sp[1]), 0);
	fport_init(&r->w.port, &r->f, 1024);
	r->w.tb = live_tables(&r->l);
	r->w.now_ms = worker_now_ms();
}

/* every frame back; then all freed */
static inline void rig_worker_down(struct rig *r)
{
	cr_assert_eq(r->w.port.n_state[FRAME_FREE] +
			     r->w.port.n_state[FRAME_FILL],
		     XSK_NUM_FRAMES, "every frame back");
	close(r->sp[0]);
	close(r->w.tun_fd);
	fport_free(&r->w.port, &r->f);
	worker_free(&r->w);
	live_destroy(&r->l);
}

#endif
