// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proto/gso.h"
#include "lib/caps.h"
#include "lib/log.h"
#include "core/fwd.h"
#include "core/pkt.h"
#include "core/rx.h"
#include "core/tx.h"
#include "core/worker.h"

uint64_t worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

void worker_kick_peers(struct worker *w)
{
	uint64_t one = 1, m = w->kick_mask;
	int i;

	for (i = 0; m; i++, m >>= 1)
		if ((m & 1) && write(w->env->workers[i].evfd, &one, 8) < 0)
			w->st.wakeups++; /* already pending: fine */
	w->kick_mask = 0;
}

int worker_tun_write(void *arg, const struct iovec *iov, int iovcnt)
{
	struct worker *w = arg;
	ssize_t want = 0, r;
	int i, skip = !w->vnet;

	for (i = skip; i < iovcnt; i++)
		want += iov[i].iov_len;
	r = writev(w->tun_fd, iov + skip, iovcnt - skip);
	if (r != want)
		return r < 0 ? -errno : -EIO;
	w->st.tun_tx++;
	return 0;
}

static void audit_if_asked(struct worker *w)
{
	if (!atomic_load_explicit(&w->audit_req, memory_order_acquire))
		return;
	int l;

	xsk_port_audit(&w->port, &w->audit);
	for (l = 0; l < w->env->nlans; l++) /* router mode: its LAN ports */
		if (w->lan[l].open)
			xsk_port_audit(&w->lan[l].port, &w->lan_audit[l]);
	atomic_store_explicit(&w->audit_req, 0, memory_order_relaxed);
	atomic_store_explicit(&w->audit_done, 1, memory_order_release);
}

/*
 * Test hook, for tests/e2e/test_notify.sh only: ESPRESSO_TEST_STALL_WORKER=Q
 * makes worker Q stop making progress a second after it starts, as a
 * worker stuck in a loop would, so that the watchdog's stall detection can
 * be seen to work. An environment variable rather than a control command:
 * read once before the threads start, nothing a running daemon can be
 * asked to do, no code in the control protocol.
 */
static uint64_t test_stall_at(int id)
{
	const char *s = getenv("ESPRESSO_TEST_STALL_WORKER");
	char *end;

	if (!s || !*s || strtol(s, &end, 10) != id || *end)
		return 0;
	log_warn("worker %d: ESPRESSO_TEST_STALL_WORKER is set: it stops "
		 "making progress in 1 s (a test hook, never for production)",
		 id);
	return worker_now_ms() + 1000;
}

/* Stuck, but still stopped by SIGTERM. */
static void test_stall(struct worker *w)
{
	struct timespec ts = { 0, 10 * 1000000 };

	while (!atomic_load_explicit(w->env->stop, memory_order_relaxed))
		nanosleep(&ts, NULL);
}

/* Router mode: LAN frames out for transmission or held. */
static bool lan_waits(const struct worker *w)
{
	int l;

	for (l = 0; l < w->env->nlans; l++)
		if (w->lan[l].nhold || w->lan[l].port.n_state[FRAME_TX])
			return true;
	return false;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pollfd pfd[3 + ESPRESSO_MAX_LAN + CFG_MAX_VRF] = {
		{ .fd = w->port.fd, .events = POLLIN },
		{ .fd = w->tun_fd, .events = POLLIN },
		{ .fd = w->evfd, .events = POLLIN },
	};
	int npfd = 3, l;
	uint64_t ev;

	for (l = 0; l < w->env->nlans; l++)
		if (w->lan[l].open)
			pfd[npfd++] = (struct pollfd){ .fd = w->lan[l].port.fd,
						       .events = POLLIN };
	for (l = 1; l < w->nvrf_fd; l++) /* the VRFs' tuns */
		if (w->vrf_fd[l] >= 0)
			pfd[npfd++] = (struct pollfd){ .fd = w->vrf_fd[l],
						       .events = POLLIN };

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
			log_warn("worker %d: cannot pin to CPU %d", w->id, w->cpu);
	}
	if (crypto_thread_init())
		log_warn("worker %d: crypto state shared with other workers "
			 "(slower with many workers)", w->id);
	/* the packet path needs no privilege: this thread gives up all */
	if (caps_keep(NULL, 0))
		log_warn("worker %d: cannot drop its capabilities", w->id);
	epoch_online(w->env->epoch, w->id);
	while (!atomic_load_explicit(w->env->stop, memory_order_relaxed)) {
		unsigned int work = 0;

		/* one table version per turn; nothing read from it is kept
		 * past the quiescent point below */
		w->tb = atomic_load_explicit(w->env->tables,
					     memory_order_acquire);
		w->now_ms = worker_now_ms();
		/* trace and pcap: as the tables, one load per turn */
		w->tap = atomic_load_explicit(&w->env->tap,
					      memory_order_acquire);
		if (__builtin_expect(w->tap != NULL, 0))
			tap_turn(w);
		if (w->stall_at_ms && w->now_ms >= w->stall_at_ms) {
			test_stall(w);
			break;
		}
		audit_if_asked(w);
		work += xsk_port_complete(&w->port);
		w->st.tx_completed += work;
		work += rx_burst(w);
		if (w->env->nworkers > 1) {
			work += rx_handoff_burst(w);
			work += rx_handoff_return(w);
		}
		work += tx_burst(w);
		if (w->nhold)
			work += tx_hold_flush(w);
		for (l = 0; l < w->env->nlans; l++) { /* router mode */
			if (!w->lan[l].open)
				continue;
			work += fwd_lan_rx_burst(w, l);
			if (w->lan[l].nhold)
				work += fwd_lan_hold_flush(w, l);
			work += fwd_lan_tx_service(w, l);
		}
		if (reasm_mem(w->reasm)) {
			uint64_t now = worker_now_ms();

			if (now - w->last_expire_ms >= 100) {
				reasm_expire(w->reasm, now);
				w->last_expire_ms = now;
			}
		}
		if (w->port.n_state[FRAME_TX] && xsk_port_kick(&w->port))
			w->st.wakeups++;
		w->tb = NULL;
		w->tap = NULL;
		epoch_quiescent(w->env->epoch, w->id);
		/* progress, for the watchdog: one plain store (one writer) */
		atomic_store_explicit(&w->loops, atomic_load_explicit(
			&w->loops, memory_order_relaxed) + 1,
			memory_order_relaxed);
		if (work || w->env->busy_poll)
			continue;
		/* Idle: sleep until the uplink or the tun has something.
		 * Completions do not wake poll(): come back soon if frames
		 * are still out for transmission. Asleep, the worker holds
		 * no table version: old ones may be freed meanwhile. */
		w->st.polls++;
		epoch_offline(w->env->epoch, w->id);
		poll(pfd, npfd, w->port.n_state[FRAME_TX] ? 1 :
				w->nhold || lan_waits(w) ? 10 : 100);
		epoch_online(w->env->epoch, w->id);
		if ((pfd[2].revents & POLLIN) && read(w->evfd, &ev, 8) < 0)
			continue;
	}
	epoch_offline(w->env->epoch, w->id);
	crypto_thread_exit();
	return NULL;
}

int worker_init(struct worker *w, int id, int cpu, const struct worker_env *env,
		int tun_fd)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cpu = cpu;
	w->env = env;
	w->tun_fd = tun_fd;
	w->vrf_fd[0] = tun_fd;
	w->nvrf_fd = 1;
	w->stall_at_ms = test_stall_at(id);
	w->ip_id = (uint16_t)(id << 12);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->vnet = env->offload;
	gro_init(&w->gro, env->offload);
	w->reasm = reasm_new(WORKER_REASM_MEM, WORKER_REASM_FRAGS,
			     WORKER_REASM_MS);
	w->big = malloc(GSO_MAX_PACKET + XSK_FRAME_SIZE);
	w->txb = calloc_lines(2 * WORKER_BATCH_MAX, sizeof(*w->txb));
	w->tap_tx = calloc(2 * WORKER_BATCH_MAX, sizeof(*w->tap_tx));
	if (!w->reasm || !w->big || !w->txb || !w->tap_tx || w->evfd < 0) {
		worker_free(w);
		return -ENOMEM;
	}
	return 0;
}

int worker_start(struct worker *w)
{
	int err = pthread_create(&w->thread, NULL, worker_main, w);

	if (err)
		return -err;
	w->started = true;
	return 0;
}

void worker_join(struct worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
}

void worker_free(struct worker *w)
{
	int i;

	free(w->big);
	free(w->txb);
	free(w->tap_tx);
	w->tap_tx = NULL;
	if (w->reasm)
		reasm_free(w->reasm);
	w->reasm = NULL;
	w->big = NULL;
	w->txb = NULL;
	xsk_port_close(&w->port);
	for (i = 0; i < ESPRESSO_MAX_LAN; i++)
		if (w->lan[i].open)
			xsk_port_close(&w->lan[i].port);
	if (w->evfd > 0)
		close(w->evfd);
	w->evfd = -1;
}

int worker_audit(struct worker *w, struct xsk_audit *out, int timeout_ms)
{
	struct timespec ts = { 0, 1000000 };
	int i;

	atomic_store_explicit(&w->audit_done, 0, memory_order_relaxed);
	atomic_store_explicit(&w->audit_req, 1, memory_order_release);
	for (i = 0; i < timeout_ms; i++) {
		if (atomic_load_explicit(&w->audit_done, memory_order_acquire)) {
			*out = w->audit;
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}
