// SPDX-License-Identifier: GPL-2.0
/*
 * tap_ctl: espressoctl trace and pcap, the control thread's side
 * (tap_ctl.h). The workers' side is core/tap.c.
 *
 * Turning something on or off publishes a new struct tap_cfg. Rings are
 * allocated before the cfg that names them is published, and freed only
 * after a cfg without them is published and every worker has passed a
 * quiescent point (epoch_retire): no worker can then still write into
 * them. pcap stop waits for that grace period (a few ms; at most 1 s, so
 * a stuck worker cannot hang the control thread), so that a capture's
 * last packets are drained into the file before it is closed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "control/cmd.h"
#include "control/daemon.h"
#include "control/pcapw.h"
#include "control/tap_ctl.h"
#include "lib/cacheline.h"
#include "lib/log.h"

#define TAP_POLL_MS 10 /* drain period while anything is on */

void tap_init(struct tap_state *t)
{
	memset(t, 0, sizeof(*t));
	t->trace_fd = -1;
}

/* ---- rings and the published cfg ---- */

static struct spsc_ring *rings_new(int n, uint32_t size, uint32_t elem)
{
	struct spsc_ring *r = calloc_lines(n, sizeof(*r));
	int i;

	if (!r)
		return NULL;
	for (i = 0; i < n; i++) {
		if (spsc_init(&r[i], size, elem)) {
			while (i--)
				spsc_free(&r[i]);
			free(r);
			return NULL;
		}
	}
	return r;
}

static void rings_free(struct spsc_ring *r, int n)
{
	int i;

	for (i = 0; r && i < n; i++)
		spsc_free(&r[i]);
	free(r);
}

struct rings_gone {
	struct spsc_ring *r;
	int n;
};

static void rings_retired(void *arg)
{
	struct rings_gone *g = arg;

	rings_free(g->r, g->n);
	free(g);
}

/* Free the rings once no worker can write into them any more. */
static void rings_retire(struct espd *d, struct spsc_ring *r)
{
	struct rings_gone *g = malloc(sizeof(*g));

	if (!g) {
		/* rare: wait for the grace period here instead */
		epoch_synchronize(&d->live.epoch);
		rings_free(r, d->nworkers);
		return;
	}
	g->r = r;
	g->n = d->nworkers;
	epoch_retire(&d->live.epoch, rings_retired, g);
}

/* A grace period, waited for at most ms: true when every worker has
 * passed a quiescent point since the call. */
struct grace_flag {
	bool done, abandoned;
};

static void grace_passed(void *arg)
{
	struct grace_flag *f = arg;

	if (f->abandoned)
		free(f);
	else
		f->done = true;
}

static bool grace_wait(struct espd *d, int ms)
{
	struct timespec ts = { 0, 1000000 };
	struct grace_flag *f = calloc(1, sizeof(*f));
	bool done;
	int i;

	if (!f) {
		epoch_synchronize(&d->live.epoch);
		return true;
	}
	epoch_retire(&d->live.epoch, grace_passed, f);
	for (i = 0; i < ms && !f->done; i++) {
		epoch_reclaim(&d->live.epoch);
		if (!f->done)
			nanosleep(&ts, NULL);
	}
	done = f->done;
	if (done)
		free(f);
	else
		f->abandoned = true; /* grace_passed frees it */
	return done;
}

/* Publish what t says; the previous cfg is freed after a grace period. */
static int publish(struct espd *d)
{
	struct tap_state *t = &d->tap;
	struct tap_cfg *c = NULL, *old = t->cur;
	uint32_t flags = (t->trace_fd >= 0 ? TAP_TRACE : 0) | t->pcap_flags;

	if (flags) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->flags = flags;
		c->snaplen = t->snaplen;
		c->filter = t->filter;
		c->trace = t->trace_fd >= 0 ? t->trace_rings : NULL;
		c->pcap = t->pcap_flags ? t->pcap_rings : NULL;
	}
	atomic_store_explicit(&d->env.tap, c, memory_order_release);
	t->cur = c;
	if (old)
		epoch_retire(&d->live.epoch, free, old);
	return 0;
}

/* ---- trace ---- */

void tap_trace_stop(struct espd *d)
{
	struct tap_state *t = &d->tap;

	if (t->trace_fd < 0)
		return;
	close(t->trace_fd);
	t->trace_fd = -1;
	publish(d);
	/* what is still in them is beyond N, or nobody reads it */
	rings_retire(d, t->trace_rings);
	t->trace_rings = NULL;
}

int tap_trace_start(struct espd *d, int fd, const struct cmd *c, char *err,
		    size_t errlen)
{
	struct tap_state *t = &d->tap;
	const struct cmd_tap *a = &c->tap;
	struct timespec ts;
	int ret;

	if (t->trace_fd >= 0) {
		snprintf(err, errlen, "trace: another trace is running (one at "
			 "a time)");
		return -EBUSY;
	}
	t->trace_rings = rings_new(d->nworkers, TAP_TRACE_RING,
				   sizeof(struct tap_trace));
	if (!t->trace_rings) {
		snprintf(err, errlen, "trace: out of memory");
		return -ENOMEM;
	}
	memset(&t->filter, 0, sizeof(t->filter));
	t->filter.spi = a->spi;
	t->filter.has_spi = a->has_spi;
	t->filter.drops_only = a->drops;
	t->filter.dir = (uint8_t)a->dir;
	snprintf(t->filter.tunnel, sizeof(t->filter.tunnel), "%s", a->tunnel);
	t->trace_fd = fd;
	t->trace_json = c->json;
	t->trace_left = a->count;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t->trace_end_ms = ts.tv_sec * 1000ull + ts.tv_nsec / 1000000 +
			  a->timeout_s * 1000ull;
	ret = publish(d);
	if (ret) {
		t->trace_fd = -1;
		rings_free(t->trace_rings, d->nworkers);
		t->trace_rings = NULL;
		snprintf(err, errlen, "trace: out of memory");
	}
	return ret;
}

/* Send what is formatted; false: the client is gone or stuck. */
static bool trace_send(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		/* the socket has a 1 s send timeout (ctl_serve) */
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		buf += n;
		len -= n;
	}
	return true;
}

static void trace_drain(struct espd *d, uint64_t now_ms)
{
	struct tap_state *t = &d->tap;
	char line[2048], *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	bool ok = true;
	char c;
	int q, n;

	for (q = 0; f && q < d->nworkers; q++) {
		struct spsc_ring *r = &t->trace_rings[q];
		const struct tap_trace *rec;

		while ((rec = tap_ring_peek(r))) {
			if (t->trace_left) {
				n = tap_format(rec, t->trace_json, line,
					       sizeof(line));
				if (n > 0 && (size_t)n < sizeof(line)) {
					fwrite(line, 1, n, f);
					t->trace_left--;
				}
			}
			tap_ring_pop(r);
		}
	}
	if (f) {
		fclose(f);
		ok = trace_send(t->trace_fd, out, outlen);
		free(out);
	}
	/* a client that went away (it sends nothing after its request) */
	n = recv(t->trace_fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
		ok = false;
	if (!ok || !t->trace_left || now_ms >= t->trace_end_ms)
		tap_trace_stop(d);
}

/* ---- pcap ---- */

static uint64_t pcap_lost_sum(struct espd *d)
{
	uint64_t s = 0;
	int q;

	for (q = 0; q < d->nworkers; q++)
		s += __atomic_load_n(&d->workers[q].st.pcap_lost,
				     __ATOMIC_RELAXED);
	return s;
}

static void pcap_drain(struct espd *d)
{
	struct tap_state *t = &d->tap;
	uint64_t before = t->written;
	int q;

	for (q = 0; q < d->nworkers; q++) {
		struct spsc_ring *r = &t->pcap_rings[q];
		struct tap_pkt *s;

		while ((s = tap_ring_peek(r))) {
			pcapw_write(t->pcap, s->ns, s->dir == TAP_DIR_IN,
				    s->data, s->caplen, s->len);
			t->written++;
			tap_ring_pop(r);
		}
	}
	if (t->written != before)
		pcapw_flush(t->pcap);
}

int tap_pcap_start(struct espd *d, const struct cmd *c, char *err,
		   size_t errlen)
{
	struct tap_state *t = &d->tap;
	const struct cmd_tap *a = &c->tap;
	char why[CMD_ERR_MAX - 64];
	int ret;

	if (t->pcap) {
		snprintf(err, errlen, "pcap start: already writing %s (pcap "
			 "stop first)", t->path);
		return -EBUSY;
	}
	t->snaplen = a->snaplen;
	t->pcap = pcapw_open(a->path, t->snaplen, why, sizeof(why));
	if (!t->pcap) {
		snprintf(err, errlen, "pcap start: %s", why);
		return -EINVAL;
	}
	t->pcap_rings = rings_new(d->nworkers, TAP_PCAP_RING,
				  (TAP_PKT_SLOT(t->snaplen) + 7) & ~7u);
	if (!t->pcap_rings) {
		pcapw_close(t->pcap);
		t->pcap = NULL;
		snprintf(err, errlen, "pcap start: out of memory");
		return -ENOMEM;
	}
	snprintf(t->path, sizeof(t->path), "%s", a->path);
	t->written = 0;
	t->lost_base = pcap_lost_sum(d);
	t->pcap_flags = a->dir == TAP_DIR_IN ? TAP_PCAP_IN :
			a->dir == TAP_DIR_OUT ? TAP_PCAP_OUT :
			TAP_PCAP_IN | TAP_PCAP_OUT;
	ret = publish(d);
	if (ret) {
		t->pcap_flags = 0;
		tap_pcap_stop(d, NULL, NULL, 0);
		snprintf(err, errlen, "pcap start: out of memory");
		return ret;
	}
	log_info("pcap: writing %s (%s, snaplen %u)", t->path,
		 a->dir == TAP_DIR_IN ? "in" : a->dir == TAP_DIR_OUT ? "out" :
		 "both", t->snaplen);
	return 0;
}

int tap_pcap_stop(struct espd *d, const char *path, char *msg, size_t len)
{
	struct tap_state *t = &d->tap;
	uint64_t lost;
	bool all;

	if (!t->pcap) {
		if (msg)
			snprintf(msg, len, "pcap stop: no capture is running");
		return -ENOENT;
	}
	if (path && *path && strcmp(path, t->path)) {
		if (msg)
			snprintf(msg, len, "pcap stop: %s is not being written "
				 "(%s is)", path, t->path);
		return -ENOENT;
	}
	t->pcap_flags = 0;
	publish(d);
	all = grace_wait(d, 1000);
	pcap_drain(d); /* what the workers wrote before they let go */
	lost = pcap_lost_sum(d) - t->lost_base;
	pcapw_close(t->pcap);
	rings_retire(d, t->pcap_rings);
	t->pcap_rings = NULL;
	t->pcap = NULL;
	log_info("pcap: %s closed, %" PRIu64 " packets, %" PRIu64 " lost%s",
		 t->path, t->written, lost, all ? "" : "; a worker made no "
		 "progress for 1 s: its last packets are not in the file");
	if (msg)
		snprintf(msg, len, "%s: %" PRIu64 " packets written, %" PRIu64
			 " lost (pcap ring full)%s\n", t->path, t->written, lost,
			 all ? "" : "; a worker made no progress for 1 s: its "
			 "last packets are not in the file");
	return 0;
}

/* ---- the control loop ---- */

void tap_poll(struct espd *d, uint64_t now_ms)
{
	struct tap_state *t = &d->tap;

	if (t->pcap_flags)
		pcap_drain(d);
	if (t->trace_fd >= 0)
		trace_drain(d, now_ms);
}

int tap_timeout_ms(const struct espd *d)
{
	return d->tap.cur ? TAP_POLL_MS : -1;
}

void tap_close(struct espd *d)
{
	tap_trace_stop(d);
	tap_pcap_stop(d, NULL, NULL, 0);
}
